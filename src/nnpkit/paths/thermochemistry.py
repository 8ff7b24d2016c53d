"""Harmonic and ideal-gas thermochemistry: thin, validated wrappers over ASE's.

- :func:`zero_point_energy_eV`: ``Σ ħω/2``.
- :func:`harmonic_free_energy_eV`: the Helmholtz energy of an adsorbate or a transition
  state in the harmonic approximation (``ase.thermochemistry.HarmonicThermo``):
  ``E + Σ [ħω/2 + kT ln(1 − e^{−ħω/kT})]``.
- :func:`ideal_gas_free_energy_eV`: the Gibbs energy of an ideal-gas molecule
  (``ase.thermochemistry.IdealGasThermo``): translations, rigid rotations, harmonic
  vibrations, electronic spin degeneracy ``2S+1``, at the given pressure.

Every vibrational energy (eV, ``ħω``) must be finite and positive: an imaginary mode (a
negative or complex number) is refused with :class:`~nnpkit.errors.ConfigError` naming
the value, never silently dropped, because thermochemistry of a structure that is not a
minimum is meaningless (a transition state's imaginary mode is removed by the caller).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from ase import Atoms

from nnpkit.errors import ConfigError

__all__ = ["zero_point_energy_eV", "harmonic_free_energy_eV", "ideal_gas_free_energy_eV"]

_GEOMETRIES = ("monatomic", "linear", "nonlinear")


def _energies(vibrations_eV: Sequence[float] | np.ndarray, what: str) -> list[float]:
    """The modes as floats; refuses complex, non-finite, zero or negative ones."""
    checked = []
    for index, value in enumerate(np.ravel(np.asarray(vibrations_eV))):
        if np.iscomplexobj(value) and value.imag != 0:
            raise ConfigError(f"{what}: vibrational energy {index} is imaginary ({value} "
                              "eV); remove it (a transition state's reaction mode) or "
                              "relax the structure")
        real = float(np.real(value))
        if not math.isfinite(real) or real <= 0:
            raise ConfigError(f"{what}: vibrational energy {index} is {real} eV; every "
                              "mode must be a positive real hbar*omega (imaginary modes "
                              "are refused)")
        checked.append(real)
    return checked


def _temperature(temperature_K: float, what: str) -> float:
    if not (math.isfinite(temperature_K) and temperature_K > 0):
        raise ConfigError(f"{what}: temperature_K must be positive, got {temperature_K}")
    return float(temperature_K)


def zero_point_energy_eV(vibrations_eV: Sequence[float]) -> float:
    """``Σ ħω/2`` (eV) over the real modes ``vibrations_eV`` (eV)."""
    return 0.5 * math.fsum(_energies(vibrations_eV, "zero-point energy"))


def harmonic_free_energy_eV(vibrations_eV: Sequence[float], temperature_K: float,
                            potential_energy_eV: float = 0.0) -> float:
    """Harmonic Helmholtz energy (eV) at ``temperature_K``:
    ``E + Σ [ħω/2 + kT ln(1 − e^{−ħω/kT})]`` (``HarmonicThermo.get_helmholtz_energy``).

    Args:
        vibrations_eV: the real modes' ħω (eV), every one positive.
        temperature_K: positive temperature (K).
        potential_energy_eV: the electronic energy ``E`` (eV).
    """
    from ase.thermochemistry import HarmonicThermo

    energies = _energies(vibrations_eV, "harmonic free energy")
    temperature = _temperature(temperature_K, "harmonic free energy")
    thermo = HarmonicThermo(vib_energies=energies, potentialenergy=potential_energy_eV)
    return float(thermo.get_helmholtz_energy(temperature, verbose=False))


def ideal_gas_free_energy_eV(atoms: Atoms, vibrations_eV: Sequence[float],
                             temperature_K: float, pressure_Pa: float, geometry: str,
                             symmetry_number: int, spin: float,
                             potential_energy_eV: float = 0.0) -> float:
    """Ideal-gas Gibbs energy (eV) of one molecule (``IdealGasThermo.get_gibbs_energy``).

    Args:
        atoms: the molecule (masses and moments of inertia); one atom for monatomic.
        vibrations_eV: exactly its ``3N−5`` (linear) / ``3N−6`` (nonlinear) internal
            modes' ħω (eV), none for monatomic; see
            :func:`nnpkit.paths.vibrations.internal_modes`.
        temperature_K: positive temperature (K).
        pressure_Pa: positive partial pressure (Pa).
        geometry: ``monatomic``, ``linear`` or ``nonlinear``.
        symmetry_number: rotational symmetry number σ (≥ 1; 2 for O₂, 1 for CO).
        spin: total electronic spin S (0 for closed shells, 1 for O₂).
        potential_energy_eV: the electronic energy (eV).

    Raises:
        ConfigError: a bad value, naming it (a mode that is not positive and real, the
            wrong number of modes for the geometry, ...).
    """
    from ase.thermochemistry import IdealGasThermo

    what = "ideal-gas free energy"
    if not isinstance(atoms, Atoms) or len(atoms) == 0:
        raise ConfigError(f"{what}: needs the molecule as ASE Atoms, got {atoms!r}")
    if geometry not in _GEOMETRIES:
        raise ConfigError(f"{what}: geometry must be one of {list(_GEOMETRIES)}, got "
                          f"{geometry!r}")
    n_atoms = len(atoms)
    expected = {"monatomic": 0, "linear": 3 * n_atoms - 5,
                "nonlinear": 3 * n_atoms - 6}[geometry]
    if (geometry == "monatomic") != (n_atoms == 1) or expected < 0:
        raise ConfigError(f"{what}: a {geometry} molecule cannot have {n_atoms} atoms")
    energies = _energies(vibrations_eV, what)
    if len(energies) != expected:
        raise ConfigError(f"{what}: a {geometry} {atoms.get_chemical_formula()} has "
                          f"{expected} internal modes, got {len(energies)} vibrational "
                          "energies (drop translations and rotations with "
                          "nnpkit.paths.vibrations.internal_modes)")
    temperature = _temperature(temperature_K, what)
    if not (math.isfinite(pressure_Pa) and pressure_Pa > 0):
        raise ConfigError(f"{what}: pressure_Pa must be positive, got {pressure_Pa}")
    if int(symmetry_number) != symmetry_number or symmetry_number < 1:
        raise ConfigError(f"{what}: symmetry_number must be a positive integer, got "
                          f"{symmetry_number}")
    if not (math.isfinite(spin) and spin >= 0 and float(2 * spin).is_integer()):
        raise ConfigError(f"{what}: spin (total S) must be 0, 0.5, 1, ..., got {spin}")
    thermo = IdealGasThermo(vib_energies=energies, geometry=geometry,  # type: ignore[arg-type]
                            potentialenergy=potential_energy_eV, atoms=atoms,
                            symmetrynumber=int(symmetry_number), spin=float(spin),
                            vib_selection="exact")
    return float(thermo.get_gibbs_energy(temperature, pressure_Pa, verbose=False))
