"""The calculations of the ``rates neb`` pipeline: one named state, one step.

:func:`compute_state` relaxes a state (:func:`nnpkit.paths.neb.relax`) and takes its
finite-difference modes; :func:`compute_step` runs a step's climbing-image NEB
(:func:`nnpkit.paths.neb.run_neb`, end points relaxed), evaluates the committee
members on every image of the final band, and takes the modes of the NEB's initial
state, saddle (the highest, climbing, image) and final state. A failed calculation (one
of :data:`~nnpkit.errors.REFERENCE_FAILURES`) is recorded with its error; any other
error propagates. Hessians are only computed once the relaxation or band converged
(an unconverged record is redone on the next run anyway).

With a :class:`~nnpkit.calculators.CommitteeCalculator`, the energies are the members'
mean and each member's own total energy (``results["member_energies"]``) is recorded
next to it; with any other calculator the member lists are None.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator

from nnpkit.apps.rates.neb_config import NebNetworkConfig, StateSpec, StepSpec
from nnpkit.apps.rates.network_records import StateRecord, StepRecord, state_file_stem
from nnpkit.errors import REFERENCE_FAILURES, ConfigError
from nnpkit.file_writes import atomic_write

__all__ = ["total_energies", "vibration_indices", "reaction_coordinate_A", "gas_mode_count",
           "compute_state", "compute_step"]

#: Vibrational degrees of freedom per geometry: 3N − this (monatomic: none).
_EXTERNAL_MODES = {"linear": 5, "nonlinear": 6}


def total_energies(atoms: Atoms, calculator: Calculator) -> tuple[float, list[float] | None]:
    """``(energy_eV, member_energies_eV)`` of ``atoms`` (not modified): the calculator's
    energy and, for a committee, each member's own ([M], eV), else None."""
    work = atoms.copy()
    work.calc = calculator
    energy = float(work.get_potential_energy())
    members = calculator.results.get("member_energies")
    return energy, None if members is None else [float(e) for e in members]


def vibration_indices(atoms: Atoms, config: NebNetworkConfig, slab: Atoms | None,
                      what: str) -> list[int] | None:
    """The atoms whose displacements enter the Hessian: None (every atom not fixed) for
    ``vibrations.atoms: free`` or a gas (``slab`` None); the atoms after the slab's for
    ``adsorbate``.

    Raises:
        ConfigError: ``adsorbate`` on a structure that does not start with the slab's atoms.
    """
    if slab is None or config.vibrations.atoms == "free":
        return None
    head = atoms.get_chemical_symbols()[:len(slab)]
    if len(atoms) < len(slab) or head != slab.get_chemical_symbols():
        raise ConfigError(f"{what}: vibrations.atoms: adsorbate needs the structure to list "
                          f"the slab's {len(slab)} atoms first, in the slab's order")
    return list(range(len(slab), len(atoms)))


def reaction_coordinate_A(images: Sequence[Atoms]) -> list[float]:
    """Distance along the band (Å, minimum image): the cumulative norm of the 3N-vector
    between consecutive images; [n_images + 2], starting at 0."""
    from ase.geometry import find_mic

    path = [0.0]
    for before, after in zip(images[:-1], images[1:], strict=True):
        step, _ = find_mic(after.positions - before.positions, before.cell, before.pbc)
        path.append(path[-1] + float(np.sqrt((step**2).sum())))
    return path


def gas_mode_count(n_atoms: int, geometry: str) -> int:
    """Vibrational modes of a gas molecule: 3N − 5 (linear), 3N − 6 (nonlinear), 0."""
    return 0 if geometry == "monatomic" else max(3 * n_atoms - _EXTERNAL_MODES[geometry], 0)


def _modes(atoms: Atoms, calculator: Calculator, indices: Sequence[int] | None,
           config: NebNetworkConfig):  # noqa: ANN202 (VibrationalModes of nnpkit.paths)
    from nnpkit.paths.vibrations import vibrational_modes

    return vibrational_modes(atoms, calculator, indices=indices,
                             delta_A=config.vibrations.delta_A,
                             imaginary_threshold_cm1=config.vibrations.imaginary_threshold_cm1)


def _write_structures(path: Path, images: list[Atoms], energies: Sequence[float]) -> None:
    from ase.io import write

    frames = []
    for image, energy in zip(images, energies, strict=True):
        frame = image.copy()
        for key in [k for k, v in frame.info.items() if isinstance(v, dict)]:
            del frame.info[key]  # e.g. ase.build's adsorbate_info: extxyz cannot hold it
        if math.isfinite(energy):
            frame.calc = SinglePointCalculator(frame, energy=float(energy))
        frames.append(frame)
    atomic_write(path, lambda tmp: write(tmp, frames, format="extxyz"))


def compute_state(name: str, spec: StateSpec, atoms: Atoms, calculator: Calculator,
                  config: NebNetworkConfig, slab: Atoms | None, fingerprint: str,
                  out_dir: Path) -> StateRecord:
    """Relax a copy of ``atoms`` and take its modes; the relaxed structure is written to
    ``out_dir/states/<name>.extxyz``.

    For a gas (``spec.gas``) the modes kept are the 3N−5 or 3N−6 highest of the full
    Hessian (translations and rotations dropped) and ``n_imaginary_modes`` counts the
    imaginary ones among them; for a surface state, all real modes of the free (or
    adsorbate) atoms, and the imaginary ones counted.
    """
    from nnpkit.paths.neb import relax

    started = time.perf_counter()
    stem = state_file_stem(name)
    record = StateRecord(name=name, fingerprint=fingerprint, converged=False,
                         structure_file=f"states/{stem}.extxyz")
    work = atoms.copy()
    try:
        relaxed = relax(work, calculator, config.relax.fmax_eV_per_A, config.relax.max_steps,
                        config.relax.optimizer)
        record.energy_eV, record.member_energies_eV = total_energies(work, calculator)
        if relaxed:
            indices = vibration_indices(work, config, None if spec.gas else slab, name)
            if indices != []:
                modes = _modes(work, calculator, indices, config)
                record.frequencies_cm1 = [float(f) for f in modes.frequencies_cm1]
                if spec.gas is None:
                    record.n_imaginary_modes = int(modes.n_imaginary)
                    record.vibrations_eV = [float(e) for e in modes.real_energies_eV()]
                else:
                    kept = gas_mode_count(len(work), spec.gas.geometry)
                    top = np.asarray(modes.frequencies_cm1)[len(modes.frequencies_cm1) - kept:]
                    energies = np.asarray(modes.energies_eV)[len(modes.energies_eV) - kept:]
                    threshold = config.vibrations.imaginary_threshold_cm1
                    record.n_imaginary_modes = int((top < -threshold).sum())
                    record.vibrations_eV = [float(e) for e in energies if e > 0]
            else:
                record.n_imaginary_modes = 0
        record.converged = bool(relaxed)
    except REFERENCE_FAILURES as error:  # a failed calculation: recorded, redone next run
        record.error = f"{type(error).__name__}: {error}"
    _write_structures(out_dir / record.structure_file, [work], [record.energy_eV])
    record.seconds = time.perf_counter() - started
    return record


def compute_step(step: StepSpec, initial: Atoms, final: Atoms,
                 make_calculator: Callable[[], Calculator], config: NebNetworkConfig,
                 slab: Atoms | None, fingerprint: str, out_dir: Path) -> StepRecord:
    """The NEB of one step, the members' energies along its band and the modes of its
    initial state, saddle and final state; the band goes to ``steps/<name>_band.extxyz``.

    ``converged`` is True only when the band and both end points converged and the three
    Hessians were computed; ``n_imaginary_modes_saddle`` is recorded whatever its value
    (the saddle check is applied when the energy tables are built).
    """
    from nnpkit.paths.neb import run_neb

    started = time.perf_counter()
    neb = config.neb
    result = run_neb(initial, final, make_calculator, n_images=neb.n_images, climb=neb.climb,
                     method=neb.method, interpolation=neb.interpolation,
                     optimizer=neb.optimizer, fmax_eV_per_A=neb.fmax_eV_per_A,
                     max_steps=neb.max_steps, relax_end_points=True, progress=False)
    record = StepRecord(
        name=step.name, fingerprint=fingerprint, converged=False, error=result.error,
        barrier_forward_eV=float(result.barrier_forward_eV),
        barrier_reverse_eV=float(result.barrier_reverse_eV),
        saddle_index=int(result.saddle_index),
        band_energies_eV=[float(e) for e in result.energies_eV], neb=result.to_json(),
        reaction_coordinate_A=reaction_coordinate_A(result.images),
        band_file=f"steps/{step.name}_band.extxyz")
    if result.error is None and result.converged:
        try:
            calculator = make_calculator()
            members = [total_energies(image, calculator)[1] for image in result.images]
            if all(m is not None for m in members):
                record.member_band_energies_eV = [list(band) for band in
                                                  zip(*members, strict=True)]  # [M][images]
            where = {"initial": 0, "saddle": result.saddle_index, "final": -1}
            for label, index in where.items():
                image = result.images[index]
                indices = vibration_indices(image, config, slab, f"step {step.name}")
                modes = _modes(image, calculator, indices, config)
                record.frequencies_cm1[label] = [float(f) for f in modes.frequencies_cm1]
                setattr(record, f"n_imaginary_modes_{label}", int(modes.n_imaginary))
                if label == "saddle":
                    record.saddle_vibrations_eV = [float(e) for e in modes.real_energies_eV()]
            record.converged = True
        except REFERENCE_FAILURES as error:
            record.error = f"{type(error).__name__}: {error}"
    _write_structures(out_dir / record.band_file, result.images, result.energies_eV)
    record.seconds = time.perf_counter() - started
    return record
