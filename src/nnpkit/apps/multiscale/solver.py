"""Equilibrium of the coupled model: minimisation over the free nodal displacements.

The free displacements are handed to ASE's optimisers as an ``Optimizable``: L-BFGS for
the energy couplings (``bqce``, ``sharp``, and the fully atomistic limit), FIRE for the
force-based ``bqcf``, which has no energy (FIRE needs only forces; it also serves the
energy couplings on request). Both limit the step of any node, so no trial state leaves
the range where the Cauchy–Born continuum is defined. Convergence is the ASE criterion,
the largest nodal force below ``fmax_eV_per_A``; a run that stops short raises
:class:`~nnpkit.errors.ConvergenceError` with the residual, so an unconverged state is
never reported as a result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from ase.optimize import FIRE, LBFGS
from ase.optimize.optimize import Optimizable

from nnpkit.apps.multiscale.coupling import CoupledEvaluation, CoupledModel
from nnpkit.errors import ConfigError, ConvergenceError

__all__ = ["Equilibrium", "minimise", "MINIMISERS"]

#: Minimisers by name.
MINIMISERS: tuple[str, ...] = ("lbfgs", "fire")


@dataclass
class Equilibrium:
    """A converged state.

    Attributes:
        displacement_A: nodal displacements [n_nodes, 3], Å.
        evaluation: the model's energy, forces and parts there.
        max_force_eV_per_A: the largest free nodal force.
        n_evaluations: model evaluations used.
    """

    displacement_A: np.ndarray
    evaluation: CoupledEvaluation
    max_force_eV_per_A: float
    n_evaluations: int


class _CoupledOptimizable(Optimizable):
    """The free displacements as an ASE Optimizable (FIRE reads forces only)."""

    def __init__(self, model: CoupledModel, displacement_A: np.ndarray, tip_z_A: float | None):
        self.model, self.tip_z_A = model, tip_z_A
        self.free = ~model.clamped
        self.displacement = displacement_A.copy()
        self.n_evaluations = 0
        self._cache: CoupledEvaluation | None = None

    def evaluation(self) -> CoupledEvaluation:
        if self._cache is None:
            self._cache = self.model.evaluate(self.displacement, self.tip_z_A)
            self.n_evaluations += 1
        return self._cache

    def ndofs(self) -> int:
        return int(3 * self.free.sum())

    def get_x(self) -> np.ndarray:
        return self.displacement[self.free].reshape(-1).copy()

    def set_x(self, x: np.ndarray) -> None:
        self.displacement[self.free] = x.reshape(-1, 3)
        self._cache = None

    def get_gradient(self) -> np.ndarray:
        return -self.evaluation().forces[self.free].reshape(-1)

    def get_value(self) -> float:
        return self.evaluation().energy_eV  # NaN for bqcf: FIRE only logs it

    def iterimages(self):  # type: ignore[no-untyped-def]  # ASE's signature
        return iter(())


def _max_force(evaluation: CoupledEvaluation, free: np.ndarray) -> float:
    forces = evaluation.forces[free]
    return float(np.linalg.norm(forces, axis=1).max()) if len(forces) else 0.0


def minimise(model: CoupledModel, displacement_A: np.ndarray, tip_z_A: float | None = None,
             method: str = "lbfgs", fmax_eV_per_A: float = 1e-3, max_steps: int = 2000,
             max_step_A: float = 0.1) -> Equilibrium:
    """Relax the free nodes from ``displacement_A`` [n_nodes, 3] (clamped nodes keep theirs).

    Args:
        model: the coupled model.
        displacement_A: start [n_nodes, 3], Å; not modified.
        tip_z_A: the indenter's height, if the model has one.
        method: ``lbfgs`` (energy couplings only) or ``fire``.
        fmax_eV_per_A: force tolerance.
        max_steps: iteration limit.
        max_step_A: the largest move of a node in one step, Å (keeps trial states
            inside the Cauchy–Born range).

    Raises:
        ConvergenceError: the tolerance was not reached; carries the residual.
    """
    if method not in MINIMISERS:
        raise ConfigError(f"unknown minimiser {method!r}; choose one of {', '.join(MINIMISERS)}")
    if method == "lbfgs" and model.coupling == "bqcf":
        raise ConfigError("the force-based coupling bqcf is not the gradient of an energy, "
                          "which L-BFGS's curvature model assumes; use method 'fire'")
    problem = _CoupledOptimizable(model, np.asarray(displacement_A, dtype=float), tip_z_A)
    optimizer = FIRE if method == "fire" else LBFGS
    target: Any = problem  # ASE takes any object with __ase_optimizable__; typed as Atoms
    logfile: Any = None
    optimizer(target, logfile=logfile, maxstep=max_step_A).run(fmax=fmax_eV_per_A,
                                                               steps=max_steps)
    evaluation = problem.evaluation()
    residual = _max_force(evaluation, problem.free)
    if residual > fmax_eV_per_A:
        raise ConvergenceError(
            f"{model.coupling} minimisation ({method}) stopped after "
            f"{problem.n_evaluations} evaluations with a largest force of {residual:.3g} "
            f"eV/Å > fmax {fmax_eV_per_A:g} eV/Å", residual)
    return Equilibrium(displacement_A=problem.displacement.copy(), evaluation=evaluation,
                       max_force_eV_per_A=residual, n_evaluations=problem.n_evaluations)
