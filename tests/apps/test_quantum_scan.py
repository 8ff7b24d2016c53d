"""Bond scans with a real ASE calculator (GFN2-xTB) as the reference of a GP surface."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units

from nnpkit.apps.quantum.active import learn_actively
from nnpkit.apps.quantum.eigenstates import grid_eigenstates
from nnpkit.apps.quantum.scan import ScanReference, load_scan_config
from nnpkit.apps.quantum.workflow import AMU_AU, converged_levels
from nnpkit.errors import ConfigError
from nnpkit.wavepackets.grid import Grid

pytest.importorskip("tblite")
EXAMPLE = "examples/quantum/water_oh_scan.yaml"


def test_scan_energies_and_projected_gradients_are_consistent() -> None:
    reference = ScanReference(load_scan_config(EXAMPLE))
    start = reference.equilibrium()
    assert 0.9 < start[0] * units.Bohr < 1.0  # relaxed O-H bond, Å
    energy, gradient = reference(start)
    assert abs(energy) < 1e-6 and abs(gradient[0]) < 5e-4  # the relaxed structure
    q = start + 0.15
    step = 1e-4
    numeric = (reference(q + step)[0] - reference(q - step)[0]) / (2 * step)
    assert reference(q)[1][0] == pytest.approx(numeric, rel=1e-4)
    moved = reference.structure_at(q)
    assert moved.get_distance(0, 1) == pytest.approx(q[0] * units.Bohr)
    assert np.allclose(moved.positions[[0, 2]], reference.atoms.positions[[0, 2]])
    assert reference.moved_masses_amu() == [pytest.approx(1.008)]


def test_scan_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="coordinates.0: upper_A must exceed lower_A"):
        load_scan_config({"coordinates": [{"atoms": [0, 1], "lower_A": 1.5, "upper_A": 1.0}]})
    with pytest.raises(ConfigError, match=r"coordinates.0.atoms \(0, 7\)"):
        ScanReference(load_scan_config({"coordinates": [{"atoms": [0, 7]}], "relax": False}))


def test_water_oh_stretch_learned_actively_matches_the_dense_scan(capsys) -> None:
    config = load_scan_config(EXAMPLE)
    reference = ScanReference(config)
    mass = reference.moved_masses_amu()[0] * AMU_AU
    q, energies = reference.dense_scan(config.dense_points)
    spacing = q[1] - q[0]
    dense = grid_eigenstates(Grid([q[0]], [q[-1] + spacing], [len(q)]), energies, mass, 5)
    result = learn_actively(reference, reference.bounds(), use_gradients=True, budget=15,
                            energy_cutoff=config.energy_cutoff_eV / units.Hartree)
    learned, _, _, _ = converged_levels(result.model, mass, 5, reference.bounds())
    error_cm = (learned - dense.energies) / (units.invcm / units.Hartree)
    with capsys.disabled():
        print(f"\nwater O-H stretch (GFN2-xTB), {len(result.energies)} points: level errors "
              f"{np.round(error_cm, 2).tolist()} cm^-1; fundamental "
              f"{(dense.energies[1] - dense.energies[0]) * 219474.63:.1f} cm^-1")
    assert np.max(np.abs(error_cm)) < 1.0
