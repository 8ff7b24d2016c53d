"""The reaction network: species and elementary steps parsed, checked and compiled.

Names carry the kind: ``CO_g`` is a gas, ``CO*`` an adsorbate on one site (``O2**`` on
two), ``*`` the free site; a ``species:`` declaration overrides kind, composition and
sites. Equations read ``"O2_g + 2* -> 2O*"``. Every step must balance in atoms and in
sites; errors name the step and the species. The compiled :class:`Mechanism` holds the
reaction orders as matrices and evaluates the mean-field rates.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from ase.data import chemical_symbols
from ase.formula import Formula

from nnpkit.apps.rates.energies import StateEnergy
from nnpkit.apps.rates.mechanism_config import MechanismConfig, SpeciesConfig, StepConfig
from nnpkit.errors import ConfigError
from nnpkit.typed_config import load_typed_config

__all__ = ["Species", "Step", "Mechanism", "load_mechanism", "build_mechanism", "FREE_SITE"]

FREE_SITE = "*"
_TERM = re.compile(r"^\s*(\d*)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Species:
    """One species: ``kind`` is "gas", "adsorbate" or "site"."""

    name: str
    kind: str
    composition: dict[str, int]
    sites: int          # sites it occupies (the free site: 1, gases: 0)


@dataclass(frozen=True)
class Step:
    """One elementary step with its stoichiometry (name → coefficient on each side)."""

    name: str
    equation: str
    kind: str
    transition_state: str | None
    sticking_coefficient: float
    reversible: bool
    reactants: dict[str, int]
    products: dict[str, int]


def _parse_side(side: str, step: str) -> dict[str, int]:
    terms: dict[str, int] = {}
    for term in side.split("+"):
        match = _TERM.match(term)
        if not match:
            raise ConfigError(f"step {step!r}: cannot read the term {term!r}")
        count, name = int(match.group(1) or 1), match.group(2)
        terms[name] = terms.get(name, 0) + count
    return terms


def _species(name: str, declared: SpeciesConfig | None, step: str) -> Species:
    if name == FREE_SITE:
        return Species(FREE_SITE, "site", {}, 1)
    kind = declared.kind if declared and declared.kind else (
        "gas" if name.endswith("_g") else "adsorbate" if name.endswith("*") else None)
    if kind is None:
        raise ConfigError(f"step {step!r}: unknown species {name!r} (name gases with the suffix "
                          "'_g', adsorbates with '*', or declare it under mechanism.species)")
    stripped = name.removesuffix("_g").rstrip("*")
    if declared and declared.composition is not None:
        composition = {k: int(v) for k, v in declared.composition.items() if v}
    else:
        try:
            composition = dict(Formula(stripped).count()) if stripped else {}
        except ValueError:
            composition = {"?": 0}
        if any(element not in chemical_symbols[1:] for element in composition):
            raise ConfigError(f"step {step!r}: species {name!r} is not a formula; declare its "
                              "composition under mechanism.species")
    sites = 0 if kind == "gas" else (declared.sites if declared and declared.sites else
                                     max(1, len(name) - len(name.rstrip("*"))))
    return Species(name, kind, composition, sites)


def _check_balance(step: Step, species: Mapping[str, Species]) -> None:
    def totals(side: dict[str, int]) -> dict[str, int]:
        counts: dict[str, int] = {"sites": 0}
        for name, n in side.items():
            for element, k in species[name].composition.items():
                counts[element] = counts.get(element, 0) + n * k
            counts["sites"] += n * species[name].sites
        return counts

    left, right = totals(step.reactants), totals(step.products)
    for key in sorted(set(left) | set(right)):
        if left.get(key, 0) != right.get(key, 0):
            what = "sites" if key == "sites" else f"{key} atoms"
            raise ConfigError(f"step {step.name!r} ({step.equation}) does not balance: "
                              f"{left.get(key, 0)} {what} on the left, {right.get(key, 0)} "
                              "on the right")


def _check_kind(step: Step, species: Mapping[str, Species]) -> None:
    gas_in = [n for n in step.reactants if species[n].kind == "gas"]
    gas_out = [n for n in step.products if species[n].kind == "gas"]
    where = f"step {step.name!r} ({step.equation})"
    if step.kind == "adsorption" and (not gas_in or gas_out):
        raise ConfigError(f"{where}: an adsorption step has gases on the left only")
    if step.kind == "desorption" and (not gas_out or gas_in):
        raise ConfigError(f"{where}: a desorption step has gases on the right only")
    gases = gas_in if step.kind == "adsorption" else gas_out
    if step.kind != "surface" and step.transition_state is None and (
            len(gases) != 1 or (step.reactants | step.products)[gases[0]] != 1):
        raise ConfigError(f"{where}: collision theory needs exactly one gas molecule; give a "
                          "transition_state for this step")


@dataclass(frozen=True)
class Mechanism:
    """A compiled network. Surface species are the adsorbates then ``*`` (last).

    Matrices ``[n_surface, n_steps]`` / ``[n_gas, n_steps]``: reaction orders of each
    species as a reactant and as a product.
    """

    species: dict[str, Species]
    steps: tuple[Step, ...]
    tof_of: str | None
    gases: tuple[str, ...]
    surface: tuple[str, ...]
    surface_reactant_orders: np.ndarray
    surface_product_orders: np.ndarray
    gas_reactant_orders: np.ndarray
    gas_product_orders: np.ndarray

    @property
    def adsorbates(self) -> tuple[str, ...]:
        """The intermediates (surface species but the free site)."""
        return self.surface[:-1]

    @property
    def transition_states(self) -> tuple[str, ...]:
        """Distinct transition-state names in step order."""
        return tuple(dict.fromkeys(s.transition_state for s in self.steps if s.transition_state))

    @property
    def sites(self) -> np.ndarray:
        """``[n_surface]`` sites each surface species occupies."""
        return np.array([self.species[n].sites for n in self.surface], dtype=float)

    @property
    def surface_stoichiometry(self) -> np.ndarray:
        """``[n_surface, n_steps]`` net change of each surface species per forward event."""
        return self.surface_product_orders - self.surface_reactant_orders

    def state_names(self) -> tuple[str, ...]:
        """Every state an energy table needs: gases, surface species, transition states."""
        return (*self.gases, *self.surface, *self.transition_states)

    def check_energies(self, table: Mapping[str, StateEnergy], what: str = "energies") -> None:
        """Refuse a table that lacks a state, or gas data collision theory needs (names it)."""
        for step in self.steps:
            for name in (*step.reactants, *step.products):
                if name != FREE_SITE and name not in table:
                    raise ConfigError(f"{what}: no entry for species {name!r} (step {step.name!r})")
            if step.transition_state and step.transition_state not in table:
                raise ConfigError(f"{what}: no entry for transition state "
                                  f"{step.transition_state!r} of step {step.name!r}")
            if step.kind != "surface" and step.transition_state is None:
                gas = next(n for n in (*step.reactants, *step.products)
                           if self.species[n].kind == "gas")
                if table[gas].gas is None:
                    raise ConfigError(f"{what}: {gas!r} needs gas data (geometry, mass_amu) for "
                                      f"the collision theory of step {step.name!r}")
        for name in self.gases:
            state = table[name]
            if state.gas is None and state.free_energy_eV is None:
                raise ConfigError(f"{what}: gas {name!r} needs geometry, symmetry_number and "
                                  "spin (ideal gas), or free_energy_eV")

    def rates(self, theta: np.ndarray, activities: np.ndarray, forward_per_s: np.ndarray,
              reverse_per_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forward and reverse rates ``[n_steps]`` (1/s per site) at coverages ``[n_surface]``
        and gas activities P/P° ``[n_gas]``."""
        gas_f = np.prod(activities[:, None] ** self.gas_reactant_orders, axis=0)
        gas_r = np.prod(activities[:, None] ** self.gas_product_orders, axis=0)
        surf_f = np.prod(theta[:, None] ** self.surface_reactant_orders, axis=0)
        surf_r = np.prod(theta[:, None] ** self.surface_product_orders, axis=0)
        return forward_per_s * gas_f * surf_f, reverse_per_s * gas_r * surf_r

    def populated(self, forward: np.ndarray, reverse: np.ndarray,
                  activities: np.ndarray) -> np.ndarray:
        """``[n_surface]`` bool: the species some sequence of nonzero rates makes from the
        clean surface (the others stay exactly 0)."""
        reactant, product = self.surface_reactant_orders > 0, self.surface_product_orders > 0
        present = np.zeros(len(self.surface), dtype=bool)
        present[-1] = True
        gas_f = np.all((activities[:, None] > 0) | (self.gas_reactant_orders == 0), axis=0)
        gas_r = np.all((activities[:, None] > 0) | (self.gas_product_orders == 0), axis=0)
        while True:
            before = present.copy()
            for j in range(len(self.steps)):
                if forward[j] > 0 and gas_f[j] and np.all(present[reactant[:, j]]):
                    present |= product[:, j]
                if reverse[j] > 0 and gas_r[j] and np.all(present[product[:, j]]):
                    present |= reactant[:, j]
            if np.array_equal(present, before):
                return present

    def tof_per_s(self, forward: np.ndarray, reverse: np.ndarray) -> float:
        """Net production rate of the ``tof_of`` gas, or net rate of the ``tof_of`` step."""
        net = forward - reverse
        if self.tof_of in self.gases:
            g = self.gases.index(self.tof_of)
            return float((self.gas_product_orders[g] - self.gas_reactant_orders[g]) @ net)
        index = [s.name for s in self.steps].index(str(self.tof_of))
        return float(net[index])


def build_mechanism(config: MechanismConfig) -> Mechanism:
    """Parse and check every step; errors name the step and the species."""
    species: dict[str, Species] = {}
    steps = []
    names = [s.name for s in config.steps]
    for duplicate in {n for n in names if names.count(n) > 1}:
        raise ConfigError(f"mechanism.steps: the name {duplicate!r} is used twice")
    for raw in config.steps:
        step = _step(raw, config, species)
        _check_kind(step, species)
        _check_balance(step, species)
        steps.append(step)
    for name in config.species:
        if name not in species:
            raise ConfigError(f"mechanism.species: {name!r} is in no step")
    gases = tuple(n for n in species if species[n].kind == "gas")
    surface = (*[n for n in species if species[n].kind == "adsorbate"], FREE_SITE)
    clash = set(species) & {s.transition_state for s in steps}
    if clash:
        raise ConfigError(f"mechanism: {sorted(clash)} named both a species and a TS")
    if config.tof_of is not None and config.tof_of not in gases and config.tof_of not in names:
        raise ConfigError(f"mechanism.tof_of: {config.tof_of!r} is neither a gas nor a step")

    def orders(which: tuple[str, ...], side: str) -> np.ndarray:
        return np.array([[getattr(s, side).get(n, 0) for s in steps] for n in which],
                        dtype=float).reshape(len(which), len(steps))

    return Mechanism(species, tuple(steps), config.tof_of, gases, surface,
                     orders(surface, "reactants"), orders(surface, "products"),
                     orders(gases, "reactants"), orders(gases, "products"))


def _step(raw: StepConfig, config: MechanismConfig, species: dict[str, Species]) -> Step:
    if raw.equation.count("->") != 1:
        raise ConfigError(f"step {raw.name!r}: the equation {raw.equation!r} needs one '->'")
    left, right = raw.equation.split("->")
    reactants, products = _parse_side(left, raw.name), _parse_side(right, raw.name)
    for name in (*reactants, *products):
        if name not in species:
            species[name] = _species(name, config.species.get(name), raw.name)
    if reactants == products:
        raise ConfigError(f"step {raw.name!r}: the equation {raw.equation!r} changes nothing")
    return Step(raw.name, raw.equation, raw.kind, raw.transition_state,
                raw.sticking_coefficient or 1.0, raw.reversible, reactants, products)


def load_mechanism(source: str | os.PathLike | Mapping | MechanismConfig) -> Mechanism:
    """Load a mechanism from YAML or a dict: the mapping itself, or its ``mechanism:`` block."""
    if isinstance(source, MechanismConfig):
        return build_mechanism(source)
    if not isinstance(source, Mapping):
        import yaml

        try:
            with open(source) as handle:
                raw = yaml.safe_load(handle) or {}
        except OSError as error:
            raise ConfigError(f"mechanism file not readable: {source} ({error})") from error
        except yaml.YAMLError as error:
            raise ConfigError(f"{source}: not valid YAML ({error})") from error
        name = str(source)
    else:
        raw, name = dict(source), "<dict>"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{name}: a mechanism must be a mapping")
    if isinstance(raw, Mapping) and "mechanism" in raw:
        raw = raw["mechanism"]
    config = load_typed_config(dict(raw), MechanismConfig)
    try:
        return build_mechanism(config)
    except ConfigError as error:
        raise ConfigError(f"{name}: {error}") from error
