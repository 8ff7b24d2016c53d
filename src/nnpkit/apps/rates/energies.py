"""Energies of the states of a mechanism and their free energies at a temperature.

An :data:`EnergyTable` maps every state name (gas species ``CO_g``, adsorbates ``CO*``,
the free site ``*`` and transition states) to a :class:`StateEnergy`: the electronic
formation energy relative to the mechanism's references (clean slab + gas references)
and the real harmonic modes. Free energies (eV) come from ASE's thermochemistry through
:mod:`nnpkit.paths.thermochemistry`: harmonic (Helmholtz) for adsorbates and transition
states, ideal gas (Gibbs) at the standard pressure P° = 1 bar for gases; pressures enter
the rates as activities P/P°. A state may instead carry ``free_energy_eV`` directly (the
users' own free energies, taken as given at every temperature, at P° for gases).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from ase import Atoms
from pydantic import BaseModel, ConfigDict, Field, model_validator

from nnpkit.apps.rates.constants import (
    BAR_PA,
    ELEMENTARY_CHARGE_C,
    PLANCK_J_S,
    STANDARD_PRESSURE_BAR,
)
from nnpkit.errors import ConfigError

__all__ = [
    "GasProperties", "StateEnergy", "EnergyTable", "EnergyEntryConfig", "energy_table_from_config",
    "free_energies_eV", "state_energy_value_eV", "with_energy_values", "CM1_TO_EV",
]

#: eV per cm⁻¹ (h·c, exact SI constants).
CM1_TO_EV: float = PLANCK_J_S * 299792458.0 * 100.0 / ELEMENTARY_CHARGE_C


@dataclass(frozen=True)
class GasProperties:
    """Ideal-gas data of a gas-phase species."""

    atoms: Atoms | None      # the molecule (moments of inertia); None with geometry="monatomic"
    geometry: str            # "monatomic" | "linear" | "nonlinear"
    symmetry_number: int
    spin: float              # total spin S (O2: 1)
    mass_amu: float          # for collision theory


@dataclass(frozen=True)
class StateEnergy:
    """Energies of one state (species or transition state)."""

    formation_energy_eV: float               # electronic energy relative to the references
    vibrations_eV: tuple[float, ...] = ()    # real harmonic modes (TS: without the imaginary one)
    gas: GasProperties | None = None         # set for gas-phase species
    free_energy_eV: float | None = None      # given directly: no thermochemistry (P° for gases)


EnergyTable = dict[str, StateEnergy]


class EnergyEntryConfig(BaseModel):
    """One state in the YAML ``energies`` block (gas fields only for gases)."""

    model_config = ConfigDict(extra="forbid")

    formation_energy_eV: float | None = Field(None, description="Electronic formation energy, eV.")
    free_energy_eV: float | None = Field(
        None, description="Free energy given directly (at P° = 1 bar for gases), eV.")
    vibrations_eV: list[float] = Field(default_factory=list, description="Real modes, eV.")
    vibrations_cm1: list[float] = Field(default_factory=list, description="Real modes, cm⁻¹.")
    geometry: Literal["monatomic", "linear", "nonlinear"] | None = Field(
        None, description="Set for a gas: its ideal-gas rotor.")
    symmetry_number: int = Field(1, ge=1, description="Rotational symmetry number (gas).")
    spin: float = Field(0.0, ge=0, description="Total electronic spin S (gas; O2: 1).")
    mass_amu: float | None = Field(None, gt=0, description="Mass (gas; default: from atoms).")
    formula: str | None = Field(None, description="ase.build.molecule name (gas geometry).")
    atoms: str | None = Field(None, description="Structure file of the gas molecule.")

    @model_validator(mode="after")
    def _consistent(self) -> EnergyEntryConfig:
        if self.formation_energy_eV is None and self.free_energy_eV is None:
            raise ValueError("give formation_energy_eV or free_energy_eV")
        if self.vibrations_eV and self.vibrations_cm1:
            raise ValueError("give vibrations_eV or vibrations_cm1, not both")
        if any(not v > 0 for v in [*self.vibrations_eV, *self.vibrations_cm1]):
            raise ValueError("vibrations must be real and positive (drop the imaginary mode)")
        if self.geometry is None and (self.formula or self.atoms or self.mass_amu):
            raise ValueError("formula, atoms and mass_amu are gas data: set geometry too")
        return self


def _gas_atoms(name: str, entry: EnergyEntryConfig, base_dir: Path) -> Atoms | None:
    if entry.atoms is not None:
        from ase.io import read

        path = Path(entry.atoms) if Path(entry.atoms).is_absolute() else base_dir / entry.atoms
        if not path.is_file():
            raise ConfigError(f"energies.{name}.atoms: file not found: {path}")
        structure = read(path)
        return structure if isinstance(structure, Atoms) else structure[-1]
    formula = entry.formula or name.removesuffix("_g")
    if entry.geometry == "monatomic":
        try:
            return Atoms(formula)
        except (KeyError, ValueError):
            return None
    from ase.build import molecule

    try:
        return molecule(formula)
    except KeyError as error:
        raise ConfigError(f"energies.{name}: {formula!r} is not an ase.build.molecule name; "
                          "give formula or atoms for its moments of inertia") from error


def energy_table_from_config(entries: Mapping[str, EnergyEntryConfig],
                             base_dir: str | os.PathLike = ".") -> EnergyTable:
    """Build an :data:`EnergyTable` from the YAML entries (atoms files relative to base_dir)."""
    table: EnergyTable = {}
    for name, entry in entries.items():
        vibrations = tuple(entry.vibrations_eV) or tuple(
            v * CM1_TO_EV for v in entry.vibrations_cm1)
        gas = None
        if entry.geometry is not None:
            atoms = _gas_atoms(name, entry, Path(base_dir))
            mass = entry.mass_amu or (
                float(atoms.get_masses().sum()) if atoms is not None else None)
            if mass is None:
                raise ConfigError(f"energies.{name}: give mass_amu (or formula/atoms)")
            gas = GasProperties(atoms=atoms, geometry=entry.geometry,
                                symmetry_number=entry.symmetry_number, spin=entry.spin,
                                mass_amu=mass)
        formation = entry.formation_energy_eV
        if formation is None:
            formation = entry.free_energy_eV
        table[name] = StateEnergy(
            formation_energy_eV=float(formation),  # type: ignore[arg-type]
            vibrations_eV=vibrations, gas=gas, free_energy_eV=entry.free_energy_eV)
    return table


def _free_energy(name: str, state: StateEnergy, temperature_K: float) -> float:
    if state.free_energy_eV is not None:
        return float(state.free_energy_eV)
    from nnpkit.paths.thermochemistry import harmonic_free_energy_eV, ideal_gas_free_energy_eV

    try:
        if state.gas is not None:
            gas = state.gas
            atoms = gas.atoms if gas.atoms is not None else Atoms("X", masses=[gas.mass_amu])
            thermal = ideal_gas_free_energy_eV(
                atoms, list(state.vibrations_eV), temperature_K, STANDARD_PRESSURE_BAR * BAR_PA,
                gas.geometry, gas.symmetry_number, gas.spin)
        elif state.vibrations_eV:
            thermal = harmonic_free_energy_eV(list(state.vibrations_eV), temperature_K)
        else:
            thermal = 0.0
    except ConfigError as error:
        raise ConfigError(f"energies.{name}: {error}") from error
    return float(state.formation_energy_eV) + float(thermal)


def free_energies_eV(table: Mapping[str, StateEnergy], names: Iterable[str],
                     temperature_K: float) -> dict[str, float]:
    """Free energy (eV) of each named state at ``temperature_K`` (gases at P° = 1 bar).

    The free site ``*`` is 0 when the table has no entry for it (the clean-slab reference).
    Raises ConfigError naming a state missing from the table.
    """
    result = {}
    for name in names:
        if name not in table:
            if name == "*":
                result[name] = 0.0
                continue
            raise ConfigError(f"energies: no entry for {name!r}")
        result[name] = _free_energy(name, table[name], temperature_K)
    return result


def state_energy_value_eV(state: StateEnergy) -> float:
    """The energy a committee member varies: the free energy where given, else the formation."""
    return float(state.free_energy_eV if state.free_energy_eV is not None
                 else state.formation_energy_eV)


def with_energy_values(table: Mapping[str, StateEnergy],
                       values_eV: Mapping[str, float]) -> EnergyTable:
    """A copy of ``table`` whose named states take the given energy values (see above)."""
    result = dict(table)
    for name, value in values_eV.items():
        if name not in table:
            raise ConfigError(f"uncertainty: {name!r} is not in the energies")
        state = table[name]
        if state.free_energy_eV is not None:
            result[name] = replace(state, free_energy_eV=float(value))
        else:
            result[name] = replace(state, formation_energy_eV=float(value))
    return result
