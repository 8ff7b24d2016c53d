"""``nnpkit response properties``: one JSON object per structure from a model file, and
the model file round trip of the charge-aware family."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import molecule
from ase.io import write

from nnpkit.apps.response.properties import response_properties
from nnpkit.calculators import NNPCalculator
from nnpkit.cli.main import main
from nnpkit.data.stats import DatasetStatistics
from nnpkit.errors import ConfigError
from nnpkit.models.charge_aware import ChargeAwareConfig, ChargeAwarePotential
from nnpkit.models.model_file import load_model, save_model
from nnpkit.units import E_A2_PER_V_TO_A3, E_A_TO_DEBYE

ELEMENTS = ["H", "C", "O"]


def _charge_model() -> ChargeAwarePotential:
    torch.manual_seed(0)
    model = ChargeAwarePotential(ELEMENTS, ChargeAwareConfig(hidden=[8], n_radial=4,
                                                             n_polarizability_radial=3))
    with torch.no_grad():
        for network in model.element_networks:
            network[-1].weight.normal_(0.0, 0.5)
    model.record_training_charges(torch.tensor([0.0, 1.0]))
    return model.double()


def _model_file(path: Path, model: ChargeAwarePotential | None = None) -> Path:
    statistics = DatasetStatistics(elements=tuple(ELEMENTS),
                                   reference_energies_eV=(-13.6, -1000.0, -2000.0),
                                   energy_scale_eV=1.0, residual_energy_std_eV_per_atom=0.1)
    return save_model(path, model or _charge_model(), statistics)


def test_model_file_round_trip_keeps_predictions_and_the_training_charges(tmp_path: Path
                                                                          ) -> None:
    model = _charge_model()
    loaded = load_model(_model_file(tmp_path / "charge.nnp", model))
    assert loaded.kind == "charge_aware"
    assert float(loaded.max_training_abs_charge) == 1.0
    atoms = molecule("H2CO")
    original = NNPCalculator(model).get_polarizability(atoms)
    np.testing.assert_array_equal(NNPCalculator(loaded).get_polarizability(atoms), original)


def test_properties_command_prints_one_object_per_structure(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _model_file(tmp_path / "charge.nnp")
    structures = [molecule("H2CO"), molecule("CH3OH")]
    structures[1].info["charge"] = 1
    write(tmp_path / "two.extxyz", structures)
    assert main(["response", "properties", str(path), str(tmp_path / "two.extxyz"),
                 "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [entry["formula"] for entry in printed] == ["CH2O", "CH4O"]
    calculator = NNPCalculator(load_model(path))
    for entry, atoms in zip(printed, structures, strict=True):
        atoms.calc = calculator
        dipole = atoms.get_dipole_moment()
        np.testing.assert_allclose(entry["dipole_eA"], dipole, rtol=1e-10)
        assert entry["dipole_D"] == pytest.approx(np.linalg.norm(dipole) * E_A_TO_DEBYE)
        alpha = calculator.get_polarizability(atoms) * E_A2_PER_V_TO_A3
        np.testing.assert_allclose(entry["polarizability_A3"], alpha, rtol=1e-10)
        assert entry["alpha_iso_A3"] == pytest.approx(np.trace(alpha) / 3)
        assert np.shape(entry["born_charges_e"]) == (len(atoms), 3, 3)
        assert entry["born_sum_rule_e"] < 1e-8
        assert sum(entry["charges_e"]) == pytest.approx(atoms.info.get("charge", 0), abs=1e-10)


def test_properties_refuse_periodic_structures_naming_the_index(tmp_path: Path) -> None:
    from ase.build import bulk

    calculator = NNPCalculator(load_model(_model_file(tmp_path / "charge.nnp")))
    diamond = bulk("C", "diamond", a=3.57)
    with pytest.raises(ConfigError, match="structure 1: .*periodic boundary conditions"):
        response_properties([molecule("H2CO"), diamond], calculator)


def test_ir_command_writes_the_harmonic_spectrum_of_the_model(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`nnpkit response ir` relaxes nothing itself: it takes the minimum it is given, and
    its JSON frequencies and intensities are those of harmonic_ir with the same model."""
    from ase.optimize import BFGS

    from nnpkit.apps.response.ir import harmonic_ir

    path = _model_file(tmp_path / "charge.nnp")
    atoms = molecule("H2CO")
    atoms.calc = NNPCalculator(load_model(path))
    BFGS(atoms, logfile=None).run(fmax=1e-4, steps=500)
    write(tmp_path / "minimum.traj", atoms)
    assert main(["response", "ir", str(path), str(tmp_path / "minimum.traj"), "--out",
                 str(tmp_path / "ir"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    for name in ("ir.csv", "ir.png", "ir.json"):
        assert (tmp_path / "ir" / name).is_file()
    direct = harmonic_ir(atoms, NNPCalculator(load_model(path)))
    np.testing.assert_allclose(printed["frequencies_cm1"],
                               direct.frequencies_cm1, rtol=1e-8)
    np.testing.assert_allclose(printed["intensities_km_per_mol"],
                               direct.intensities_km_per_mol, rtol=1e-6, atol=1e-9)
    raman = printed["raman"]  # the charge-aware model gives α, so Raman comes with it
    assert len(raman["activities_A4_per_amu"]) == len(direct.frequencies_cm1) == 6
    assert all(activity > 0 for activity in raman["activities_A4_per_amu"])
    assert all(0 <= ratio <= 0.75 + 1e-9 for ratio in raman["depolarization_ratios"])


@pytest.mark.parametrize("engine", ["batched", "ase"])
def test_md_in_a_field_from_the_command_line(engine: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """``nnpkit md --field``: NVE of a charge-aware model in 0.2 V/Å on either engine keeps
    the total energy (the field's part included) within 2 meV over 100 steps of 0.25 fs
    (the refusal of a model without a field coupling is in tests/workflow/test_cli.py)."""
    model = _model_file(tmp_path / "q.nnp")
    atoms = molecule("H2CO")
    atoms.rattle(0.05, seed=1)
    write(tmp_path / "h2co.xyz", atoms)
    out = tmp_path / f"md_{engine}.extxyz"
    assert main(["md", str(model), str(tmp_path / "h2co.xyz"), "--temperature-K", "300",
                 "--steps", "100", "--timestep-fs", "0.25", "--ensemble", "nve",
                 "--field", "0", "0.12", "0.16", "--engine", engine, "--out", str(out),
                 "--log-interval", "5", "--seed", "2"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["engine"] == engine
    assert summary["external_field_V_per_A"] == [0.0, 0.12, 0.16]
    log = json.loads(Path(summary["log"]).read_text())["log"]
    total = np.asarray(log["total_energy_eV"])
    assert len(total) == 21 and np.ptp(total) < 2e-3, np.ptp(total)
