"""Harmonic phonons with phonopy: finite displacements through any ASE calculator.

:func:`force_constants` builds phonopy's supercell, displaces atoms (phonopy's symmetry-
reduced set), evaluates all displaced supercells in one call of
:func:`~nnpkit.calculators.batch.predict_structures` (batched model calls for nnpkit
calculators) and returns the ``Phonopy`` object with its force constants.
:func:`phonons` adds the band structure along ASE's standard path of phonopy's primitive
cell, frequencies at the path's special points, DOS, harmonic thermodynamics and the
imaginary modes with their q-points.

Units: frequencies THz (negative = imaginary), force constants eV/Å², free energy
eV/atom, entropy and heat capacity k_B/atom, temperatures K, q-points in reduced
coordinates of the primitive reciprocal lattice.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from nnpkit.apps.crystals.inputs import require_periodic
from nnpkit.calculators.batch import predict_structures
from nnpkit.errors import ConfigError

__all__ = ["PhononResult", "force_constants", "phonons", "supercell_matrix_for",
           "perpendicular_widths", "to_phonopy_atoms", "to_ase_atoms"]

#: kJ/mol in eV, and the gas constant in J/(K mol) (phonopy's thermal units).
_KJ_PER_MOL_IN_EV = 1.0 / 96.48533212
_GAS_CONSTANT = 8.314462618


def perpendicular_widths(cell: np.ndarray) -> np.ndarray:
    """Distances between opposite faces of a cell [3], Å (the room for an image)."""
    cell = np.asarray(cell, dtype=float)
    volume = abs(float(np.linalg.det(cell)))
    return np.array([volume / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3]))
                     for i in range(3)])


def supercell_matrix_for(atoms: Atoms, supercell: Sequence[int] | np.ndarray | None,
                         min_width_A: float) -> np.ndarray:
    """The supercell matrix [3, 3]: the given repeats (3 integers) or matrix, checked to
    be at least ``min_width_A`` wide, or the smallest diagonal one that is.

    Raises:
        ConfigError: the supercell is narrower than ``min_width_A`` (the message gives
            its width) or not a valid matrix.
    """
    widths = perpendicular_widths(atoms.cell.array)
    if supercell is None:
        return np.diag(np.ceil(min_width_A / widths - 1e-9).astype(int))
    matrix = np.asarray(supercell)
    if matrix.shape == (3,):
        matrix = np.diag(matrix)
    if matrix.shape != (3, 3) or not np.allclose(matrix, np.round(matrix)) or \
            round(abs(np.linalg.det(matrix))) < 1:
        raise ConfigError(f"supercell must be 3 positive integers or an integer 3x3 matrix "
                          f"with a non-zero determinant, got {np.asarray(supercell).tolist()}")
    matrix = np.round(matrix).astype(int)
    width = float(perpendicular_widths(matrix @ atoms.cell.array).min())
    if width < min_width_A:
        raise ConfigError(
            f"the supercell {matrix.tolist()} of {atoms.get_chemical_formula()} is only "
            f"{width:.2f} Å wide (between opposite faces), less than min_supercell_width_A "
            f"= {min_width_A} Å: periodic images would fold into the force constants; "
            f"use a larger supercell")
    return matrix


def to_phonopy_atoms(atoms: Atoms) -> Any:
    """``PhonopyAtoms`` of an ASE structure (symbols, cell, fractional positions, masses)."""
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=atoms.cell.array,
                        scaled_positions=atoms.get_scaled_positions(), masses=atoms.get_masses())


def to_ase_atoms(cell: Any) -> Atoms:
    """A periodic ASE structure of a ``PhonopyAtoms``."""
    return Atoms(symbols=list(cell.symbols), cell=cell.cell, scaled_positions=cell.scaled_positions,
                 masses=cell.masses, pbc=True)


def force_constants(atoms: Atoms, calculator: Calculator,
                    supercell: Sequence[int] | np.ndarray | None = None,
                    min_supercell_width_A: float = 10.0, displacement_A: float = 0.01,
                    batch_size: int = 32, symprec: float = 1e-5) -> Any:
    """A ``phonopy.Phonopy`` with force constants from finite displacements.

    Args:
        atoms: the unit cell, relaxed (periodic; not modified).
        calculator: any ASE calculator.
        supercell: repeats (3 integers) or a 3×3 matrix; default the smallest diagonal
            one at least ``min_supercell_width_A`` wide.
        min_supercell_width_A: refuse supercells narrower than this, Å.
        displacement_A: phonopy's displacement amplitude, Å.
        batch_size: displaced supercells per model call (nnpkit calculators).
        symprec: phonopy's symmetry tolerance, Å.

    Raises:
        DataError: not periodic. ConfigError: a bad or too small supercell.
    """
    try:
        from phonopy import Phonopy
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("phonons need phonopy: pip install 'nnpkit[crystals]'") from error

    require_periodic(atoms, "phonons")
    matrix = supercell_matrix_for(atoms, supercell, min_supercell_width_A)
    with warnings.catch_warnings():
        # phonopy 4 warns that 'auto' (our explicit choice) differs from phonopy 3's default
        warnings.filterwarnings("ignore", message="primitive_matrix defaulted")
        phonon = Phonopy(to_phonopy_atoms(atoms), supercell_matrix=matrix,
                         primitive_matrix="auto", symprec=symprec)
    phonon.generate_displacements(distance=displacement_A)
    displaced = [to_ase_atoms(cell) for cell in phonon.supercells_with_displacements or []]
    results = predict_structures(calculator, displaced, batch_size=batch_size, stress=False)
    phonon.forces = np.array([result["forces"] for result in results])
    phonon.produce_force_constants(show_drift=False)
    return phonon


@dataclass
class PhononResult:
    """The outcome of :func:`phonons` (the ``Phonopy`` object in ``phonopy``).

    Attributes:
        path: ASE's path string (``"GXWKGLUWLK,UX"``); segments joined by ``,`` break.
        special_points: label → ``{"q": [3], "frequencies_THz": [3 n_prim]}``.
        band_segments: per segment ``(distances [n], frequencies [n, 3 n_prim])``.
        band_labels: per segment ``(start, end)`` labels.
        dos_frequencies_THz, dos: [m] the total DOS (states/THz per primitive cell).
        temperatures_K, free_energy_eV_per_atom, entropy_kB_per_atom,
        heat_capacity_kB_per_atom: [nT] harmonic thermodynamics (zero point included).
        acoustic_gamma_THz: [3] the three lowest |frequencies| at Γ.
        acoustic_sum_rule_eV_per_A2: max |Σ_j Φ_ij| over atoms i and Cartesian pairs.
        imaginary_modes: ``{"q", "frequency_THz"}`` below ``-imaginary_tolerance_THz``
            on the path and the mesh (each q once), most negative first.
    """

    phonopy: Any
    path: str
    special_points: dict[str, dict]
    band_segments: list[tuple[np.ndarray, np.ndarray]]
    band_labels: list[tuple[str, str]]
    dos_frequencies_THz: np.ndarray
    dos: np.ndarray
    temperatures_K: np.ndarray
    free_energy_eV_per_atom: np.ndarray
    entropy_kB_per_atom: np.ndarray
    heat_capacity_kB_per_atom: np.ndarray
    acoustic_gamma_THz: np.ndarray
    acoustic_sum_rule_eV_per_A2: float
    imaginary_modes: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready numbers (the band segments are left to the plot)."""
        return {"path": self.path, "special_points": self.special_points,
                "supercell_matrix": np.asarray(self.phonopy.supercell_matrix).tolist(),
                "n_displacements": len(self.phonopy.supercells_with_displacements),
                "acoustic_gamma_THz": self.acoustic_gamma_THz.tolist(),
                "acoustic_sum_rule_eV_per_A2": self.acoustic_sum_rule_eV_per_A2,
                "imaginary_modes": self.imaginary_modes,
                "thermal": {"temperatures_K": self.temperatures_K.tolist(),
                            "free_energy_eV_per_atom": self.free_energy_eV_per_atom.tolist(),
                            "entropy_kB_per_atom": self.entropy_kB_per_atom.tolist(),
                            "heat_capacity_kB_per_atom": self.heat_capacity_kB_per_atom.tolist()}}


def thermal_per_atom(phonon: Any, temperatures_K: np.ndarray, classical: bool = False
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Free energy (eV/atom), entropy and heat capacity (k_B/atom) at ``temperatures_K``
    from phonopy's per-primitive-cell kJ/mol and J/(K mol); needs ``run_mesh`` first."""
    phonon.run_thermal_properties(temperatures=temperatures_K, classical=classical,
                                  exclude_gamma_acoustic=True)
    thermal = phonon.thermal_properties
    n_atoms = len(phonon.primitive)
    return (np.asarray(thermal.free_energy) * _KJ_PER_MOL_IN_EV / n_atoms,
            np.asarray(thermal.entropy) / _GAS_CONSTANT / n_atoms,
            np.asarray(thermal.heat_capacity) / _GAS_CONSTANT / n_atoms)


def _bands(phonon: Any, npoints: int) -> tuple[str, dict, list, list]:
    from ase.dft.kpoints import parse_path_string

    path = to_ase_atoms(phonon.primitive).cell.bandpath(npoints=0)
    special = {label: np.asarray(q, dtype=float) for label, q in path.special_points.items()}
    rows = parse_path_string(path.path)
    pairs = [(row[k], row[k + 1]) for row in rows for k in range(len(row) - 1)]
    qpoints = [np.linspace(special[a], special[b], npoints) for a, b in pairs]
    connections = [pairs[k][1] == pairs[k + 1][0] for k in range(len(pairs) - 1)] + [False]
    phonon.run_band_structure(qpoints, path_connections=connections)
    band = phonon.band_structure
    segments = [(np.asarray(d), np.asarray(f))
                for d, f in zip(band.distances, band.frequencies, strict=True)]
    used = list(dict.fromkeys(label for pair in pairs for label in pair))
    phonon.run_qpoints([special[label] for label in used])
    at_points = {label: {"q": special[label].tolist(),
                         "frequencies_THz": np.sort(phonon.qpoints.frequencies[k]).tolist()}
                 for k, label in enumerate(used)}
    return path.path, at_points, segments, pairs


def phonons(atoms: Atoms, calculator: Calculator,
            supercell: Sequence[int] | np.ndarray | None = None,
            min_supercell_width_A: float = 10.0, displacement_A: float = 0.01,
            mesh: Sequence[int] = (16, 16, 16), temperatures_K: Sequence[float] | None = None,
            npoints: int = 51, imaginary_tolerance_THz: float = 0.05, batch_size: int = 32,
            symprec: float = 1e-5) -> PhononResult:
    """Phonon band structure, DOS, thermodynamics and imaginary modes of a crystal.

    Args:
        atoms: the unit cell, relaxed (periodic; not modified).
        calculator: any ASE calculator.
        supercell, min_supercell_width_A, displacement_A, batch_size, symprec: as for
            :func:`force_constants`.
        mesh: Γ-centred q-mesh of the DOS and thermodynamics.
        temperatures_K: default 0–1000 K in steps of 10 K.
        npoints: q-points per path segment.
        imaginary_tolerance_THz: frequencies below minus this count as imaginary.
    """
    phonon = force_constants(atoms, calculator, supercell, min_supercell_width_A,
                             displacement_A, batch_size, symprec)
    path, at_points, segments, pairs = _bands(phonon, npoints)
    phonon.run_mesh(list(mesh), is_gamma_center=True)
    phonon.run_total_dos()
    temperatures = (np.arange(0.0, 1001.0, 10.0) if temperatures_K is None
                    else np.asarray(temperatures_K, dtype=float))
    free, entropy, heat = thermal_per_atom(phonon, temperatures)
    phonon.run_qpoints([[0.0, 0.0, 0.0]])
    gamma = np.sort(np.abs(phonon.qpoints.frequencies[0]))[:3]
    fc = np.asarray(phonon.force_constants)  # [n, n, 3, 3]
    asr = float(max(np.abs(fc.sum(axis=0)).max(), np.abs(fc.sum(axis=1)).max()))
    candidates = [(q, f) for (_, frequencies), (a, b) in zip(segments, pairs, strict=True)
                  for q, f in zip(np.linspace(at_points[a]["q"], at_points[b]["q"],
                                              len(frequencies)), frequencies.min(1),
                                  strict=True)]
    candidates += list(zip(phonon.mesh.qpoints, phonon.mesh.frequencies.min(1), strict=True))
    unique = {tuple(np.round(q, 6) + 0.0): float(f) for q, f in candidates
              if f < -imaginary_tolerance_THz}  # + 0.0: no "-0.0" duplicates
    imaginary = [{"q": [float(x) for x in q], "frequency_THz": f}
                 for q, f in sorted(unique.items(), key=lambda item: item[1])]
    return PhononResult(
        phonopy=phonon, path=path, special_points=at_points, band_segments=segments,
        band_labels=pairs, dos_frequencies_THz=np.asarray(phonon.total_dos.frequency_points),
        dos=np.asarray(phonon.total_dos.dos), temperatures_K=temperatures,
        free_energy_eV_per_atom=free, entropy_kB_per_atom=entropy,
        heat_capacity_kB_per_atom=heat, acoustic_gamma_THz=gamma,
        acoustic_sum_rule_eV_per_A2=asr, imaginary_modes=imaginary)
