"""Minimum-energy paths: end-point relaxation and the climbing-image NEB (one driver).

:func:`run_neb` is the one NEB of nnpkit; the applications (growth's barrier catalogue,
rates) call it with any ASE calculator. It builds the band from copies of the end points
(IDPP or linear interpolation), gives every image its own calculator, keeps the
constraints of the initial state (fixed slab layers) on every image, and optimises with
ASE's ``improvedtangent`` NEB. Convergence is reported (:attr:`NEBResult.converged`, the
steps taken, the largest NEB force left), never assumed.

With ``climb=True`` the band is first brought to a looser force limit without a climbing
image (:data:`PRE_CLIMB_FMAX_FACTOR` × ``fmax_eV_per_A``) and the climbing image is
switched on after that: the highest image only climbs once the band has found the
path, so it does not run up a wrong ridge from a poor interpolated guess. Both stages
share the ``max_steps`` budget. On the systems of the tests it is neutral (the same
saddle; Müller–Brown 189 vs 158 FIRE steps, the Cu(100) hop 39 vs 42 and exchange 53 vs
55, against climbing from the start).

FIRE is the default band optimiser; BFGS on a band can diverge on steep surfaces (it
does on Müller–Brown from the straight line) and is offered for smooth ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.constraints import FixAtoms
from ase.optimize import BFGS, FIRE, LBFGS, MDMin
from tqdm.auto import tqdm

from nnpkit.errors import REFERENCE_FAILURES, ConfigError, DataError, LabelingError

__all__ = ["NEBResult", "relax", "run_neb", "OPTIMIZERS", "PRE_CLIMB_FMAX_FACTOR"]

#: The optimisers :func:`relax` and :func:`run_neb` accept, by name.
OPTIMIZERS: dict[str, Any] = {"FIRE": FIRE, "BFGS": BFGS, "LBFGS": LBFGS, "MDMin": MDMin}
#: Without a climbing image the band is first converged to this many times the final fmax.
PRE_CLIMB_FMAX_FACTOR = 4.0
_METHODS = ("aseneb", "improvedtangent", "eb", "spline", "string")
_INTERPOLATIONS = ("idpp", "linear")


@dataclass
class NEBResult:
    """The outcome of one :func:`run_neb`: the band, its energies and its convergence."""

    images: list[Atoms]            # the final band (copies, no calculator); first/last: ends
    energies_eV: list[float]       # [n_images + 2] energy of every image on the band
    converged: bool                # band reached fmax within max_steps, end points relaxed
    n_steps: int                   # optimiser steps the band took (both stages)
    max_force_eV_per_A: float      # largest NEB force on the band at the end
    saddle_index: int              # argmax of energies_eV (the climbing image); -1 on error
    barrier_forward_eV: float      # energies[saddle] - energies[0]
    barrier_reverse_eV: float      # energies[saddle] - energies[-1]
    error: str | None = None       # a recorded REFERENCE_FAILURES error; numbers then nan
    end_points_converged: bool = True  # both end-point relaxations reached fmax (or none ran)
    fmax_eV_per_A: float = field(default=math.nan)  # the force limit the band was run to

    def to_json(self) -> dict:
        """Everything but the images, JSON-ready (nan becomes ``None``)."""
        record = {key: value for key, value in asdict(self).items() if key != "images"}
        record["energies_eV"] = [_finite_or_none(e) for e in self.energies_eV]
        for key in ("max_force_eV_per_A", "barrier_forward_eV", "barrier_reverse_eV",
                    "fmax_eV_per_A"):
            record[key] = _finite_or_none(record[key])
        return record


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _optimizer_class(name: str) -> Any:
    for key, value in OPTIMIZERS.items():
        if key.lower() == name.lower():
            return value
    raise ConfigError(f"optimizer {name!r} is not one of {sorted(OPTIMIZERS)}")


def relax(atoms: Atoms, calculator: Calculator, fmax_eV_per_A: float = 0.05,
          max_steps: int = 500, optimizer: str = "BFGS") -> bool:
    """Relax ``atoms`` **in place** (attaching ``calculator``) to ``fmax_eV_per_A``.

    The caller passes its own copy; constraints on ``atoms`` are honoured. Returns whether
    the largest force fell below ``fmax_eV_per_A`` (eV/Å) within ``max_steps`` steps of
    ``optimizer`` (a name of :data:`OPTIMIZERS`). Calculator errors propagate.
    """
    optimizer_class = _optimizer_class(optimizer)
    atoms.calc = calculator
    with optimizer_class(atoms, logfile=None) as dynamics:
        return bool(dynamics.run(fmax=fmax_eV_per_A, steps=max_steps))


def _validate(initial: Atoms, final: Atoms, n_images: int, method: str, interpolation: str,
              optimizer: str, fmax_eV_per_A: float, max_steps: int) -> None:
    if n_images < 1:
        raise ConfigError(f"n_images must be at least 1, got {n_images}")
    if method not in _METHODS:
        raise ConfigError(f"NEB method {method!r} is not one of {list(_METHODS)}")
    if interpolation not in _INTERPOLATIONS:
        raise ConfigError(f"interpolation {interpolation!r} is not one of "
                          f"{list(_INTERPOLATIONS)}")
    _optimizer_class(optimizer)
    if not fmax_eV_per_A > 0 or max_steps < 1:
        raise ConfigError(f"fmax_eV_per_A must be > 0 and max_steps >= 1, got "
                          f"{fmax_eV_per_A} and {max_steps}")
    if initial.get_chemical_symbols() != final.get_chemical_symbols():
        raise DataError("the initial and final states of the NEB differ in their atoms "
                        f"({initial.get_chemical_formula()} vs "
                        f"{final.get_chemical_formula()}, or their order)")
    periodic = np.asarray(initial.pbc, dtype=bool)  # [3]
    if list(initial.pbc) != list(final.pbc) or not np.allclose(
            initial.cell[periodic], final.cell[periodic]):
        raise DataError("the initial and final states of the NEB differ in their periodic "
                        "cell vectors or pbc")
    fixed = [int(i) for constraint in initial.constraints
             if isinstance(constraint, FixAtoms) for i in constraint.get_indices()]
    moved = [i for i in fixed
             if np.linalg.norm(final.positions[i] - initial.positions[i]) > 1e-6]
    if moved:
        raise DataError(f"atoms {moved[:10]} are fixed (FixAtoms on the initial state) but "
                        "sit elsewhere in the final state; fixed atoms must coincide")


def _max_force(forces: np.ndarray) -> float:
    return float(np.sqrt((forces**2).sum(axis=1)).max()) if len(forces) else 0.0


def _band(initial: Atoms, final: Atoms, n_images: int) -> list[Atoms]:
    """Copies of the end points with ``initial``'s constraints, and the interior images."""
    start, end = initial.copy(), final.copy()
    end.set_constraint([constraint.copy() for constraint in initial.constraints])
    return [start] + [start.copy() for _ in range(n_images)] + [end]


def run_neb(initial: Atoms, final: Atoms, make_calculator: Callable[[], Calculator], *,
            n_images: int = 7, climb: bool = True, method: str = "improvedtangent",
            interpolation: str = "idpp", optimizer: str = "FIRE",
            fmax_eV_per_A: float = 0.05, max_steps: int = 1000,
            relax_end_points: bool = True, progress: bool = False) -> NEBResult:
    """A (climbing-image) nudged elastic band between two states of the same atoms.

    Args:
        initial, final: the end points (same atoms in the same order, same cell); neither
            is modified. The constraints of ``initial`` (``FixAtoms`` on slab layers) are
            put on every image, the final state included.
        make_calculator: returns a new ASE calculator; called once per image.
        n_images: interior images (the band has ``n_images + 2``).
        climb: climbing image on the highest image (after a non-climbing stage to
            :data:`PRE_CLIMB_FMAX_FACTOR` × ``fmax_eV_per_A``).
        method: ASE's NEB tangent method (``improvedtangent``, ``aseneb``, ``eb``, ...).
        interpolation: ``idpp`` (image-dependent pair potential) or ``linear``.
        optimizer: ``FIRE``, ``BFGS``, ``LBFGS`` or ``MDMin`` for the band.
        fmax_eV_per_A: force limit (eV/Å) of the band and of the end-point relaxations.
        max_steps: optimiser steps of the band in all (and of each end-point relaxation).
        relax_end_points: relax both end points (BFGS) before building the band.
        progress: a progress bar over the band's optimiser steps.

    Returns:
        The :class:`NEBResult`; ``converged`` is False when the band or an end point did
        not reach ``fmax_eV_per_A``. A calculator error of
        :data:`~nnpkit.errors.REFERENCE_FAILURES` (or non-finite energies) is recorded
        in ``error`` with nan numbers.

    Raises:
        ConfigError: a bad setting; DataError: end points of different atoms or cells.
        Any calculator error not in ``REFERENCE_FAILURES`` propagates.
    """
    _validate(initial, final, n_images, method, interpolation, optimizer, fmax_eV_per_A,
              max_steps)
    from ase.mep import NEB

    images = _band(initial, final, n_images)
    state = {"n_steps": 0, "ends": True}
    try:
        if relax_end_points:
            for end in (images[0], images[-1]):
                state["ends"] &= relax(end, make_calculator(), fmax_eV_per_A, max_steps)
        for image in images:
            if image.calc is None:
                image.calc = make_calculator()
        neb = NEB(images, climb=False, method=method)
        neb.interpolate(method=interpolation, mic=bool(initial.pbc.any()),
                        apply_constraint=False)  # fixed atoms coincide on both ends
        band_converged = _optimise(neb, climb, optimizer, fmax_eV_per_A, max_steps,
                                   progress, state)
        energies = [float(image.get_potential_energy()) for image in images]
        if not all(math.isfinite(e) for e in energies):
            raise LabelingError(f"non-finite energies on the NEB band: {energies}")
        max_force = _max_force(neb.get_forces())
    except REFERENCE_FAILURES as error:  # a failed calculation; anything else propagates
        nan = math.nan
        return NEBResult([image.copy() for image in images], [nan] * len(images), False,
                         int(state["n_steps"]), nan, -1, nan, nan,
                         error=f"{type(error).__name__}: {error}",
                         end_points_converged=bool(state["ends"]),
                         fmax_eV_per_A=fmax_eV_per_A)
    saddle = int(np.argmax(energies))
    return NEBResult(
        images=[image.copy() for image in images], energies_eV=energies,
        converged=bool(band_converged and state["ends"]), n_steps=int(state["n_steps"]),
        max_force_eV_per_A=max_force, saddle_index=saddle,
        barrier_forward_eV=energies[saddle] - energies[0],
        barrier_reverse_eV=energies[saddle] - energies[-1],
        end_points_converged=bool(state["ends"]), fmax_eV_per_A=fmax_eV_per_A)


def _optimise(neb: Any, climb: bool, optimizer: str, fmax_eV_per_A: float, max_steps: int,
              progress: bool, state: dict) -> bool:
    """Run the band (two stages with ``climb``), counting steps into ``state``."""
    optimizer_class = _optimizer_class(optimizer)
    stages = [(False, PRE_CLIMB_FMAX_FACTOR * fmax_eV_per_A), (True, fmax_eV_per_A)] \
        if climb else [(False, fmax_eV_per_A)]
    converged = False
    with tqdm(total=max_steps, desc="NEB", disable=not progress) as bar:
        for climbing, fmax in stages:
            left = max_steps - state["n_steps"]
            neb.climb = climbing
            # a fresh optimiser per stage: the climbing image changes the force field
            with optimizer_class(neb, logfile=None) as dynamics:
                dynamics.attach(_ticker(bar, dynamics))
                converged = bool(dynamics.run(fmax=fmax, steps=left))
                state["n_steps"] += dynamics.nsteps
            if not converged:
                return False
    return converged


def _ticker(bar: Any, dynamics: Any) -> Callable[[], None]:
    """An observer advancing ``bar`` once per optimiser step (not at step 0)."""
    def tick() -> None:
        if dynamics.nsteps:
            bar.update(1)
    return tick
