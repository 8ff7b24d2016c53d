"""Thermal expansion in the quasi-harmonic approximation, with phonopy's QHA.

The equation of state (cell shape relaxed at each volume,
:func:`~nnpkit.apps.crystals.eos.equation_of_state`) gives the static energies; phonons
at every EOS volume (same supercell) give the harmonic free energies; phonopy's QHA
minimises F(V; T) = E(V) + F_vib(V; T) at each temperature. Reported: V(T), the
volumetric coefficient β(T) = (1/V) dV/dT, the linear one α = β/3 (cubic crystals; the
mean over directions otherwise) and B(T); also the classical QHA (classical phonon free
energy, no zero point), the like-for-like comparison for classical MD
(:func:`~nnpkit.apps.crystals.npt.npt_thermal_expansion`). A volume with imaginary
modes has no harmonic free energy: it is left out, warned and listed in ``failed``.

Units: K, Å³/atom, 1/K, GPa.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from nnpkit.apps.crystals.eos import EquationOfState, equation_of_state
from nnpkit.apps.crystals.phonons import force_constants, supercell_matrix_for
from nnpkit.errors import ConfigError, DataError

__all__ = ["QHAResult", "quasi_harmonic"]


@dataclass
class QHAResult:
    """The outcome of :func:`quasi_harmonic`; arrays [nT] over ``temperatures_K``.

    Attributes:
        volume_A3_per_atom: equilibrium volume V(T).
        volumetric_expansion_per_K: β(T); ``linear_expansion_per_K`` is β/3.
        bulk_modulus_GPa: isothermal B(T).
        classical_volumetric_expansion_per_K: β(T) of the classical QHA.
        volumes_A3_per_atom: [nV] the EOS volumes used.
        failed: volumes left out, ``{"volume_A3_per_atom", "error"}``.
        eos: the equation of state the QHA is built on.
    """

    temperatures_K: np.ndarray
    volume_A3_per_atom: np.ndarray
    volumetric_expansion_per_K: np.ndarray
    bulk_modulus_GPa: np.ndarray
    classical_volumetric_expansion_per_K: np.ndarray
    volumes_A3_per_atom: np.ndarray
    eos: EquationOfState
    failed: list[dict] = field(default_factory=list)

    @property
    def linear_expansion_per_K(self) -> np.ndarray:
        """α(T) = β(T)/3, 1/K."""
        return self.volumetric_expansion_per_K / 3.0

    def at(self, temperature_K: float) -> dict[str, float]:
        """The quantities at one temperature (linear interpolation)."""
        def value(series: np.ndarray) -> float:
            return float(np.interp(temperature_K, self.temperatures_K, series))
        return {"temperature_K": float(temperature_K),
                "volume_A3_per_atom": value(self.volume_A3_per_atom),
                "linear_expansion_per_K": value(self.linear_expansion_per_K),
                "volumetric_expansion_per_K": value(self.volumetric_expansion_per_K),
                "classical_linear_expansion_per_K":
                    value(self.classical_volumetric_expansion_per_K) / 3.0,
                "bulk_modulus_GPa": value(self.bulk_modulus_GPa)}

    def to_dict(self) -> dict:
        """JSON-ready numbers."""
        return {"temperatures_K": self.temperatures_K.tolist(),
                "volume_A3_per_atom": self.volume_A3_per_atom.tolist(),
                "linear_expansion_per_K": self.linear_expansion_per_K.tolist(),
                "classical_linear_expansion_per_K":
                    (self.classical_volumetric_expansion_per_K / 3.0).tolist(),
                "bulk_modulus_GPa": self.bulk_modulus_GPa.tolist(),
                "volumes_A3_per_atom": self.volumes_A3_per_atom.tolist(),
                "failed_volumes": self.failed}


def _phonopy_qha(volumes: np.ndarray, energies: np.ndarray, temperatures: np.ndarray,
                 thermal: list[tuple[np.ndarray, np.ndarray, np.ndarray]], t_max: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """V(T) (per cell), β(T), B(T) from phonopy's QHA; thermal per cell in phonopy units."""
    from phonopy import PhonopyQHA

    free, entropy, heat = (np.array([entry[k] for entry in thermal]).T for k in range(3))
    with warnings.catch_warnings():
        # PhonopyQHA is deprecated in phonopy 4 in favour of run_qha, which cannot take
        # the classical free energies; it still gives the same numbers
        warnings.filterwarnings("ignore", message="PhonopyQHA is deprecated")
        qha = PhonopyQHA(volumes=volumes, electronic_energies=energies,
                         temperatures=temperatures, free_energy=free, cv=heat,
                         entropy=entropy, eos="vinet", t_max=t_max)
    n = len(qha.thermal_expansion)
    return (np.asarray(qha.volume_temperature)[:n], np.asarray(qha.thermal_expansion),
            np.asarray(qha.bulk_modulus_temperature)[:n])


def quasi_harmonic(atoms: Atoms, calculator: Calculator, eos: EquationOfState | None = None,
                   volume_range: float = 0.06, n_volumes: int = 9,
                   supercell: Sequence[int] | np.ndarray | None = None,
                   min_supercell_width_A: float = 10.0, displacement_A: float = 0.01,
                   mesh: Sequence[int] = (16, 16, 16), t_max_K: float = 1000.0,
                   t_step_K: float = 10.0, imaginary_tolerance_THz: float = 0.05,
                   batch_size: int = 32) -> QHAResult:
    """QHA thermal expansion of a crystal with any ASE calculator.

    Args:
        atoms: the crystal (periodic; not modified).
        calculator: any ASE calculator.
        eos: an equation of state already computed with ``calculator`` (its relaxed
            structures are used); default: computed here over ``volume_range``,
            ``n_volumes``. The volumes must bracket V(T) up to ``t_max_K``.
        supercell, min_supercell_width_A, displacement_A, batch_size: as for
            :func:`~nnpkit.apps.crystals.phonons.force_constants`; the same supercell
            matrix at every volume (chosen on the smallest).
        mesh: Γ-centred q-mesh of the free energies.
        t_max_K, t_step_K: the temperature grid 0..t_max (two more steps are computed
            for phonopy's finite differences).
        imaginary_tolerance_THz: a volume with a mesh frequency below minus this is
            left out.

    Raises:
        DataError: fewer than 5 volumes left. ConfigError: a bad temperature grid.
    """
    if t_max_K <= 0 or t_step_K <= 0 or t_step_K > t_max_K:
        raise ConfigError(f"need 0 < t_step_K <= t_max_K, got {t_step_K} and {t_max_K}")
    if eos is None:
        eos = equation_of_state(atoms, calculator, volume_range=volume_range,
                                n_points=n_volumes)
    matrix = supercell_matrix_for(eos.structures[0], supercell, min_supercell_width_A)
    temperatures = np.arange(0.0, t_max_K + 2.5 * t_step_K, t_step_K)
    quantum: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    classical: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    used: list[int] = []
    failed: list[dict] = []
    n_primitive = 1
    for index, structure in enumerate(eos.structures):
        phonon = force_constants(structure, calculator, matrix, 0.0, displacement_A,
                                 batch_size)
        phonon.run_mesh(list(mesh), is_gamma_center=True)
        lowest = float(phonon.mesh.frequencies.min())
        volume = float(eos.volumes_A3_per_atom[index])
        if lowest < -imaginary_tolerance_THz:
            message = (f"volume {volume:.4f} Å³/atom has an imaginary mode "
                       f"({lowest:.3f} THz) on the q-mesh; left out of the QHA")
            warnings.warn(message, stacklevel=2)
            failed.append({"volume_A3_per_atom": volume, "error": message})
            continue
        n_primitive = len(phonon.primitive)
        for flag, store in ((False, quantum), (True, classical)):
            phonon.run_thermal_properties(temperatures=temperatures, classical=flag,
                                          exclude_gamma_acoustic=True)
            thermal = phonon.thermal_properties
            store.append((np.asarray(thermal.free_energy), np.asarray(thermal.entropy),
                          np.asarray(thermal.heat_capacity)))
        used.append(index)
    if len(used) < 5:
        raise DataError(f"the QHA has {len(used)} volumes without imaginary modes (needs "
                        f"5); left out: {[entry['volume_A3_per_atom'] for entry in failed]}")
    volumes = eos.volumes_A3_per_atom[used] * n_primitive
    energies = eos.energies_eV_per_atom[used] * n_primitive
    volume_t, beta, bulk = _phonopy_qha(volumes, energies, temperatures, quantum, t_max_K)
    _, beta_classical, _ = _phonopy_qha(volumes, energies, temperatures, classical, t_max_K)
    n = min(len(beta), len(beta_classical))
    return QHAResult(temperatures_K=temperatures[:n], volume_A3_per_atom=volume_t[:n] / n_primitive,
                     volumetric_expansion_per_K=beta[:n], bulk_modulus_GPa=bulk[:n],
                     classical_volumetric_expansion_per_K=beta_classical[:n],
                     volumes_A3_per_atom=eos.volumes_A3_per_atom[used], eos=eos, failed=failed)
