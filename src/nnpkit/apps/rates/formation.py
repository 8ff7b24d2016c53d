"""Formation energies of the named states and transition states: the EnergyTable.

The zero of energy is the clean slab plus the gas-phase reference molecules
(``references``). With ``n_r`` the number of reference molecules ``r`` whose atoms make
up a state's atoms (beyond the slab's), solved from the compositions:

- clean slab: ``E_f(*) = 0``;
- adsorbate state: ``E_f(X*) = E(X*) − E(*) − Σ_r n_r·E(r)``;
- gas state: ``E_f(X_g) = E(X_g) − Σ_r n_r·E(r)`` (so every reference has ``E_f = 0``);
- transition state of a step whose NEB initial state stands for the states ``Σ c_k·k``:
  ``E_f(TS) = Σ_k c_k·E_f(k) + barrier_forward``, the barrier measured on the NEB from
  its own relaxed initial state. The NEB's end points may differ from the sum of the
  separately relaxed states (co-adsorbates interact on one slab); that difference,
  ``interaction_initial_eV`` / ``interaction_final_eV``, is reported per step. The
  backward barrier a microkinetic model derives from the table is
  ``E_f(TS) − Σ E_f(final states)``; it differs from the NEB's ``barrier_reverse_eV`` by
  ``interaction_final_eV − interaction_initial_eV``.

With a committee, each member's table uses that member's own total energies of every
state (``member_energies``) and its own barriers along the final band (its highest image
minus its first), so the members' errors stay correlated; vibrations (and gas
properties) are the mean's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import numpy as np
from ase import Atoms

from nnpkit.apps.rates.neb_config import NebNetworkConfig, StepSpec, parse_state_sum
from nnpkit.errors import ConfigError

__all__ = ["Compositions", "state_compositions", "check_step_balance", "formation_energies",
           "state_sum_energy", "transition_state_energy", "interaction_energy",
           "surface_copies"]

Compositions = dict[str, Counter]
#: Reference coefficients are snapped to multiples of 1/_SNAP (halves, thirds, ... sixths).
_SNAP = 720


def _formula(composition: Mapping[str, int]) -> str:
    return "".join(f"{e}{n if n != 1 else ''}" for e, n in sorted(composition.items()) if n)


def _minus(whole: Counter, part: Counter, what: str) -> Counter:
    left = Counter(whole)
    left.subtract(part)
    if any(n < 0 for n in left.values()):
        raise ConfigError(f"{what}: its atoms ({_formula(whole)}) do not contain the clean "
                          f"slab's ({_formula(part)})")
    return +left


def state_compositions(config: NebNetworkConfig, structures: Mapping[str, Atoms]
                       ) -> Compositions:
    """The atoms each state adds to the zero of energy: beyond the slab's for a surface
    state (the slab itself: none), all of them for a gas."""
    slab = Counter(structures[config.slab].get_chemical_symbols())
    result: Compositions = {}
    for name, spec in config.states.items():
        atoms = Counter(structures[name].get_chemical_symbols())
        result[name] = atoms if spec.gas is not None else _minus(atoms, slab, f"state {name}")
    return result


def _sum_composition(text: str, compositions: Compositions) -> Counter:
    total: Counter = Counter()
    for count, name in parse_state_sum(text, text):
        for element, n in compositions[name].items():
            total[element] += count * n
    return +total


def check_step_balance(config: NebNetworkConfig, step: StepSpec, initial: Atoms, final: Atoms,
                       slab: Atoms, compositions: Compositions) -> None:
    """The NEB structures of ``step`` hold the slab plus exactly the atoms of the states
    they stand for, and each side names at least one surface state (``*`` included).

    Raises:
        ConfigError: naming the step, the side and both formulas.
    """
    slab_atoms = Counter(slab.get_chemical_symbols())
    for side, atoms, text in (("initial", initial, step.initial), ("final", final, step.final)):
        if surface_copies(config, text) == 0:
            raise ConfigError(f"step {step.name}.{side}: {text!r} names no surface state; "
                              "write the free sites it takes, e.g. 'O2_g + 2*'")
        beyond = _minus(Counter(atoms.get_chemical_symbols()), slab_atoms,
                        f"step {step.name}.{side}_structure")
        expected = _sum_composition(text, compositions)
        if beyond != expected:
            raise ConfigError(
                f"step {step.name}: the {side} structure holds the slab plus "
                f"{_formula(beyond) or 'nothing'}, but {side}: {text!r} stands for "
                f"{_formula(expected) or 'nothing'}")


def _coefficients(config: NebNetworkConfig, compositions: Compositions
                  ) -> dict[str, dict[str, float]]:
    """Per state, ``{reference: n_r}`` with ``Σ_r n_r·composition(r) = composition``."""
    references = list(config.references)
    elements = sorted({e for c in compositions.values() for e in c})
    matrix = np.array([[compositions[r][e] for r in references] for e in elements], float)
    if references and np.linalg.matrix_rank(matrix) < len(references):
        raise ConfigError(f"references: {', '.join(references)} are not independent (one "
                          "is made of the others' atoms)")
    result: dict[str, dict[str, float]] = {}
    for name, composition in compositions.items():
        target = np.array([composition[e] for e in elements], float)
        if not target.any():
            result[name] = {}
            continue
        if not references:
            raise ConfigError(f"state {name} adds {_formula(composition)} to the slab: "
                              "name gas states in references to measure it from")
        n = np.linalg.lstsq(matrix, target, rcond=None)[0]
        if np.abs(matrix @ n - target).max() > 1e-9:
            raise ConfigError(f"state {name}: its atoms {_formula(composition)} cannot be "
                              f"made from the references {', '.join(references)}")
        snapped = np.round(n * _SNAP) / _SNAP
        n = np.where(np.abs(snapped - n) < 1e-9, snapped, n)
        result[name] = {r: float(k) for r, k in zip(references, n, strict=True) if k != 0}
    return result


def formation_energies(config: NebNetworkConfig, compositions: Compositions,
                       energies_eV: Mapping[str, float]) -> dict[str, float]:
    """``E_f`` (eV) of every state from the total energies ``energies_eV`` (eV) of the
    relaxed states (see the module docstring)."""
    coefficients = _coefficients(config, compositions)
    slab = energies_eV[config.slab]
    result = {}
    for name, spec in config.states.items():
        if name == config.slab:
            result[name] = 0.0
            continue
        base = energies_eV[name] - (0.0 if spec.gas is not None else slab)
        result[name] = base - sum(n * energies_eV[r] for r, n in coefficients[name].items())
    return result


def state_sum_energy(text: str, formation_eV: Mapping[str, float]) -> float:
    """``Σ_k c_k·E_f(k)`` (eV) of a sum of states such as ``"CO* + O*"``."""
    return sum(count * formation_eV[name] for count, name in parse_state_sum(text, text))


def transition_state_energy(step: StepSpec, formation_eV: Mapping[str, float],
                            barrier_forward_eV: float) -> float:
    """``E_f(TS) = Σ_k c_k·E_f(k) + barrier_forward`` over the step's initial states."""
    return state_sum_energy(step.initial, formation_eV) + barrier_forward_eV


def interaction_energy(config: NebNetworkConfig, text: str, end_energy_eV: float,
                       energies_eV: Mapping[str, float]) -> float:
    """How much the NEB end point (total energy ``end_energy_eV``, one slab) lies above the
    separately relaxed states it stands for: ``E_end − E(*) − Σ_k c_k·(E_k − [k on the
    surface]·E(*))`` (eV); 0 when the states do not interact."""
    slab = energies_eV[config.slab]
    total = end_energy_eV - slab
    for count, name in parse_state_sum(text, text):
        on_surface = config.states[name].gas is None
        total -= count * (energies_eV[name] - (slab if on_surface else 0.0))
    return total


def surface_copies(config: NebNetworkConfig, text: str) -> int:
    """Slabs a sum of states stands for: the count of its surface states (``*`` included)."""
    return sum(count for count, name in parse_state_sum(text, text)
               if config.states[name].gas is None)
