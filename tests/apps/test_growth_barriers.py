"""The NEB catalogue and the barrier network: a tiny real NEB run, failure records, the
shipped Cu(100) catalogue and the held-out MAE target (≤ 50 meV)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from conftest import build_small_model, statistics_for

from nnpkit.apps.growth import BarrierConfig, BarrierModel, build_barriers, load_catalogue
from nnpkit.apps.growth.barrier_model import catalogue_arrays, split_catalogue
from nnpkit.apps.growth.catalogue import neb_environment, random_environments
from nnpkit.errors import DataError, ModelFileError

SHIPPED = Path(str(resources.files("nnpkit.data") / "growth_cu100_catalogue.json"))


def test_tiny_catalogue_with_emt_and_a_recorded_failure(tmp_path: Path) -> None:
    config = BarrierConfig(n_environments=3, n_images=1, fmax_eV_per_A=0.1, max_steps=150,
                           lattice_constant_A=3.59, output=str(tmp_path), progress=False,
                           epochs=50, hidden=[8], down_hop_fraction=0.0, seed=4)
    summary = build_barriers(config)
    records = json.loads((tmp_path / "catalogue.json").read_text())
    assert len(records) == 3 and summary["n_environments"] == 3
    good = [r for r in records if r["error"] is None]
    assert good, records
    for record in good:  # in-layer hops on Cu(100) with EMT: 0.1–1 eV, E_fwd−E_rev = ΔE
        assert 0.1 < record["barrier_forward_eV"] < 1.0
        energies = record["energies_eV"]
        assert record["barrier_forward_eV"] - record["barrier_reverse_eV"] == \
            pytest.approx(energies[-1] - energies[0], abs=1e-9)
    assert (tmp_path / "saddles.extxyz").is_file() and (tmp_path / "parity.png").is_file()
    model = BarrierModel.load(summary["model"])
    features, barriers, _ = catalogue_arrays(good)
    assert model.predict(features[:, :6], features[:, 6]).shape == barriers.shape
    # An NEB that cannot converge in 2 steps is kept, with its error.
    environment = random_environments(config)[0]
    from ase.calculators.emt import EMT

    failed = neb_environment(environment, EMT, 3.59,
                             config.model_copy(update={"max_steps": 2}))
    assert failed["barrier_forward_eV"] is None and "not converged" in failed["error"]


def test_shipped_catalogue_model_meets_the_held_out_target(tmp_path: Path) -> None:
    records = load_catalogue(SHIPPED)
    assert len(records) >= 60
    kinds = {record["kind"] for record in records}
    assert kinds == {"in_layer", "down_step"}
    config = BarrierConfig(catalogue=str(SHIPPED), output=str(tmp_path), progress=False)
    summary = build_barriers(config)
    assert summary["test_mae_meV"] <= 50.0, summary
    assert summary["test_mae_meV"] < summary["linear_test_mae_meV"]
    model = BarrierModel.load(summary["model"])
    free_hop = model.predict(np.zeros((1, 6)), 0.0)[0]
    free_neb = [r["barrier_forward_eV"] for r in records
                if r["forward_descriptors"] == [0] * 6 and r["strain_percent"] == 0.0]
    assert len(free_neb) == 1  # the shipped catalogue has the unstrained free-adatom hop
    # 50 meV: the held-out MAE target, applied to the one hop every growth run relies on
    assert free_hop == pytest.approx(free_neb[0], abs=0.05)


def test_bad_catalogue_and_model_files_name_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"kind": "in_layer"}]))
    with pytest.raises(DataError, match="environment 0 lacks"):
        load_catalogue(bad)
    with pytest.raises(DataError, match="not found"):
        load_catalogue(tmp_path / "missing.json")
    with pytest.raises(DataError, match="no successful NEB"):
        catalogue_arrays([{"error": "boom", "barrier_forward_eV": None}])
    with pytest.raises(DataError, match="at least 2"):
        split_catalogue(np.zeros(2, dtype=np.int64), 0.2, 0)
    not_model = tmp_path / "model.safetensors"
    not_model.write_bytes(b"junk")
    with pytest.raises(ModelFileError, match="model.safetensors"):
        BarrierModel.load(not_model)


def test_neb_runs_on_an_nnpkit_model_file(tmp_path: Path) -> None:
    """``calculator: <model file>`` reaches ASE's NEB through nnpkit's calculator: both end
    points and every image are evaluated by the model loaded from the file, so the record
    equals that of the same NEB with the model's calculator built in-process (an untrained
    but normalised Cu model here; NEB's convergence to a known barrier through the
    calculator is tests/test_neb.py, the physics of the barriers is tested with EMT)."""
    from nnpkit.apps.growth.catalogue import calculator_factory
    from nnpkit.calculators import NNPCalculator
    from nnpkit.errors import ModelFileError
    from nnpkit.models.model_file import load_model, save_model

    path = save_model(tmp_path / "cu.nnp", build_small_model(["Cu"]), statistics_for(["Cu"]))
    make_calculator = calculator_factory(str(path))
    assert isinstance(make_calculator(), NNPCalculator)
    config = BarrierConfig(n_environments=2, n_images=1, fmax_eV_per_A=0.5, max_steps=100,
                           lattice_constant_A=3.6, down_hop_fraction=0.0, progress=False)
    record = neb_environment(random_environments(config)[0], make_calculator, 3.6, config)
    assert record["error"] is None, record["error"]
    energies = record["energies_eV"]  # 2 end points + 1 image, from the model file
    assert len(energies) == 3 and all(-400 < e < -200 for e in energies)  # ~80 Cu atoms
    assert record["barrier_forward_eV"] == pytest.approx(max(energies) - energies[0])
    assert record["barrier_forward_eV"] - record["barrier_reverse_eV"] == \
        pytest.approx(energies[-1] - energies[0], abs=1e-9)
    in_process = neb_environment(random_environments(config)[0],
                                 lambda: NNPCalculator(load_model(path)), 3.6, config)
    # the same model, precision and path: the same NEB to rounding (1e-9 eV)
    np.testing.assert_allclose(record["energies_eV"], in_process["energies_eV"], rtol=0,
                               atol=1e-9)
    assert record["barrier_forward_eV"] == pytest.approx(in_process["barrier_forward_eV"],
                                                         abs=1e-9)
    with pytest.raises(ModelFileError, match="missing.nnp"):
        calculator_factory(str(tmp_path / "missing.nnp"))
