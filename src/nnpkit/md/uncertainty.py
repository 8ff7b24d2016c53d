"""The uncertainty guard: an MD observer that stops or flags a run the model is unsure of.

Attach it to :func:`~nnpkit.md.runner.run_md` (``observers=[guard.observer()]``) or to any
ASE dynamics (``dyn.attach(guard, interval=guard.interval)``). On each call it reads
``max_force_std`` (eV/Å) from a committee calculator; above the threshold it either raises
:class:`UncertaintyExceeded` (``action="stop"``) or records the step (``action="flag"``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from ase import Atoms
from ase.calculators.calculator import Calculator

from nnpkit.errors import ConfigError, NNPKitError

__all__ = ["UncertaintyExceeded", "UncertaintyGuard"]


class UncertaintyExceeded(NNPKitError, RuntimeError):
    """MD was stopped because the committee's ``max_force_std`` passed the threshold.

    Attributes:
        step: the MD step at which it happened.
        max_force_std: the value there, eV/Å.
        threshold: the guard's threshold, eV/Å.
    """

    def __init__(self, step: int, max_force_std: float, threshold: float) -> None:
        super().__init__(
            f"MD stopped at step {step}: max_force_std {max_force_std:.4g} eV/Å exceeds "
            f"the threshold {threshold:.4g} eV/Å")
        self.step = step
        self.max_force_std = max_force_std
        self.threshold = threshold


class UncertaintyGuard:
    """Observer that watches ``max_force_std`` of a committee calculator.

    Args:
        calculator: a calculator with ``max_force_std`` among its implemented properties
            (:class:`~nnpkit.calculators.CommitteeCalculator`).
        atoms: if given, the value is asked of the calculator for these Atoms (computed
            if stale); if None, the calculator's last results are read, which during MD
            are those of the current step (what :func:`run_md` needs, as it integrates a
            copy of the caller's Atoms).
        max_force_std: threshold, eV/Å.
        action: ``"stop"`` raises :class:`UncertaintyExceeded`; ``"flag"`` records the
            step and lets the run go on.
        interval: steps between calls (the guard's k-th call is step ``k * interval``).

    Attributes:
        flags: ``(step, max_force_std)`` of every call above the threshold.
        history: ``(step, max_force_std)`` of every call.

    Raises:
        ConfigError: a calculator without ``max_force_std``, a threshold <= 0, an unknown
            action or an interval < 1.
    """

    def __init__(self, calculator: Calculator, atoms: Atoms | None, max_force_std: float,
                 action: Literal["stop", "flag"] = "stop", interval: int = 1) -> None:
        if "max_force_std" not in getattr(calculator, "implemented_properties", ()):
            raise ConfigError(
                f"the uncertainty guard needs a committee calculator (one that gives "
                f"max_force_std); got {type(calculator).__name__}")
        if not max_force_std > 0:
            raise ConfigError(f"max_force_std must be > 0 eV/Å, got {max_force_std}")
        if action not in ("stop", "flag"):
            raise ConfigError(f"unknown uncertainty action {action!r}; choose 'stop' or 'flag'")
        if interval < 1:
            raise ConfigError(f"interval must be >= 1, got {interval}")
        self.calculator = calculator
        self.atoms = atoms
        self.threshold = float(max_force_std)
        self.action = action
        self.interval = int(interval)
        self.flags: list[tuple[int, float]] = []
        self.history: list[tuple[int, float]] = []
        self._calls = 0

    def observer(self) -> tuple[Callable[[], None], int]:
        """``(self, interval)``, the pair :func:`run_md`'s ``observers`` takes."""
        return self, self.interval

    def current_value(self) -> float:
        """``max_force_std`` of the current structure, eV/Å."""
        if self.atoms is not None:
            return float(self.calculator.get_property("max_force_std", self.atoms))
        if "max_force_std" not in self.calculator.results:
            raise ConfigError("the calculator has no max_force_std result yet; attach the "
                              "guard to dynamics that have computed forces")
        return float(self.calculator.results["max_force_std"])

    def __call__(self) -> None:
        step = self._calls * self.interval
        self._calls += 1
        value = self.current_value()
        self.history.append((step, value))
        if value > self.threshold:
            self.flags.append((step, value))
            if self.action == "stop":
                raise UncertaintyExceeded(step, value, self.threshold)
