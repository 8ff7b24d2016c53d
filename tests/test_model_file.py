"""Tests for nnpkit.models.model_file: round trip, metadata, and refusing bad files."""

from __future__ import annotations

import copy
import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from conftest import cuau_triclinic, ethanol, statistics_for
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import nnpkit
from nnpkit.calculators import NNPCalculator
from nnpkit.data.stats import DatasetStatistics
from nnpkit.errors import ModelFileError
from nnpkit.models.model_file import FORMAT_NAME, FORMAT_VERSION, load_model, save_model


def _predict(model, atoms: Atoms) -> tuple[float, np.ndarray, np.ndarray | None]:
    atoms = atoms.copy()
    atoms.calc = NNPCalculator(model, dtype=torch.float32)
    stress = atoms.get_stress() if atoms.pbc.all() else None
    return atoms.get_potential_energy(), atoms.get_forces(), stress


def _header(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata())


@pytest.fixture
def saved_alloy(make_model, tmp_path: Path) -> tuple[Path, object]:
    """A Cu/Au model saved to ``tmp_path/model.nnp`` and the model itself (float32)."""
    model = make_model(["Cu", "Au"])
    path = save_model(tmp_path / "model.nnp", model, statistics_for(["Cu", "Au"]),
                      {"epoch": 7, "note": "test"})
    return path, model


@pytest.mark.parametrize(
    ("elements", "builder"), [(["Cu", "Au"], cuau_triclinic), (["H", "C", "O"], ethanol)])
def test_round_trip_gives_identical_predictions(make_model, tmp_path: Path, elements, builder
                                                ) -> None:
    model = make_model(elements)
    reference = _predict(copy.deepcopy(model), builder())
    path = save_model(tmp_path / "m.nnp", model, statistics_for(elements))
    loaded = load_model(path)
    assert type(loaded) is type(model)
    assert not loaded.training
    assert next(loaded.parameters()).dtype == torch.float32
    original_state = model.state_dict()
    for name, value in loaded.state_dict().items():
        torch.testing.assert_close(value, original_state[name], rtol=0, atol=0)
    predicted = _predict(loaded, builder())
    assert predicted[0] == reference[0]
    np.testing.assert_array_equal(predicted[1], reference[1])
    assert (reference[2] is None) == (builder is ethanol)  # stress for the periodic cell only
    np.testing.assert_array_equal(predicted[2], reference[2])  # None == None for ethanol


def test_metadata(saved_alloy) -> None:
    path, model = saved_alloy
    loaded = load_model(path)
    metadata = loaded.metadata
    assert metadata["elements"] == ["Cu", "Au"] == loaded.elements
    assert metadata["cutoff_A"] == model.cutoff == loaded.cutoff
    assert metadata["kind"] == "bpnn" == loaded.kind
    assert metadata["nnpkit_version"] == nnpkit.__version__
    assert metadata["hyperparameters"] == model.hyperparameters()
    assert DatasetStatistics.from_dict(metadata["statistics"]) == statistics_for(["Cu", "Au"])
    assert metadata["units"]["energy"] == "eV"
    assert metadata["epoch"] == 7 and metadata["note"] == "test"
    header = _header(path)
    assert header["nnpkit_format"] == FORMAT_NAME
    assert header["format_version"] == str(FORMAT_VERSION) == "1"
    assert json.loads(header["metadata"]) == metadata
    torch.testing.assert_close(loaded.reference_energies,
                               torch.tensor([-3.5, -3.2], dtype=torch.float64), rtol=0, atol=1e-6)


def test_run_directory_is_accepted(saved_alloy) -> None:
    path, _ = saved_alloy
    assert path.name == "model.nnp"
    from_dir = load_model(path.parent)
    metadata_dir = from_dir.metadata
    from_file = load_model(path)
    metadata_file = from_file.metadata
    assert metadata_dir == metadata_file
    atoms = cuau_triclinic()
    assert _predict(from_dir, atoms)[0] == _predict(from_file, atoms)[0]
    assert nnpkit.load_model(str(path.parent)).elements == ["Cu", "Au"]


def test_no_temporary_files_left(saved_alloy) -> None:
    path, model = saved_alloy
    save_model(path, model, statistics_for(["Cu", "Au"]))  # overwrite in place
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.nnp"]


def test_failed_write_keeps_old_file_and_leaves_no_temporary(saved_alloy, monkeypatch
                                                             ) -> None:
    """A crash half-way through writing leaves the old file and no temporary behind."""
    import nnpkit.tensor_file as tensor_file

    path, model = saved_alloy
    before = path.read_bytes()

    def crash_half_way(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(tensor_file, "save_file", crash_half_way)
    with pytest.raises(OSError, match="disk full"):
        save_model(path, model, statistics_for(["Cu", "Au"]))
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.nnp"]


def test_save_creates_parent_directories(make_model, tmp_path: Path) -> None:
    path = tmp_path / "runs" / "a" / "model.nnp"
    save_model(path, make_model(["Cu"]), statistics_for(["Cu"]))
    assert load_model(path.parent).metadata["elements"] == ["Cu"]


# --- refusing bad files -------------------------------------------------------------------


def _assert_refused(path: Path, match: str) -> ModelFileError:
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    assert str(path) in str(info.value)
    assert match in str(info.value)
    return info.value


def test_missing_path_names_the_path(tmp_path: Path) -> None:
    _assert_refused(tmp_path / "nowhere.nnp", "model file not found")
    with pytest.raises(ModelFileError, match="model.nnp"):
        load_model(tmp_path)  # a directory without model.nnp


@pytest.mark.parametrize("content", [b"", b"hello, this is not a model\n" * 10,
                                     b"\x00" * 64])
def test_not_safetensors_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.nnp"
    path.write_bytes(content)
    _assert_refused(path, "is not an nnpkit model file")


def test_safetensors_without_nnpkit_header_is_refused(saved_alloy, tmp_path: Path) -> None:
    path, _ = saved_alloy
    plain = tmp_path / "plain.safetensors"
    save_file(load_file(str(path)), str(plain))
    _assert_refused(plain, "no nnpkit header")
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(other), metadata={"format": "pt"})
    _assert_refused(other, "no nnpkit header")


@pytest.mark.parametrize("version", ["0", "2", "99"])
def test_wrong_format_version_is_refused(saved_alloy, tmp_path: Path, version: str) -> None:
    path, _ = saved_alloy
    future = tmp_path / "future.nnp"
    save_file(load_file(str(path)), str(future), metadata={**_header(path),
                                                          "format_version": version})
    error = _assert_refused(future, f"version {version}")
    assert str(FORMAT_VERSION) in str(error)


def test_non_integer_format_version_is_refused(saved_alloy, tmp_path: Path) -> None:
    path, _ = saved_alloy
    odd = tmp_path / "odd.nnp"
    save_file(load_file(str(path)), str(odd), metadata={**_header(path),
                                                       "format_version": "1.0"})
    _assert_refused(odd, "format version 1.0")


def test_header_without_metadata_is_refused(saved_alloy, tmp_path: Path) -> None:
    path, _ = saved_alloy
    header = {k: v for k, v in _header(path).items() if k != "metadata"}
    stripped = tmp_path / "stripped.nnp"
    save_file(load_file(str(path)), str(stripped), metadata=header)
    _assert_refused(stripped, "lacks its metadata or checksum")


def test_one_changed_byte_in_tensor_data_is_refused(saved_alloy, tmp_path: Path) -> None:
    path, _ = saved_alloy
    raw = bytearray(path.read_bytes())
    header_length = struct.unpack("<Q", raw[:8])[0]
    data_start = 8 + header_length
    assert len(raw) > data_start + 100
    for offset in (data_start + 3, len(raw) - 1):  # first tensor and last byte
        tampered = bytearray(raw)
        tampered[offset] ^= 0x01
        tampered_path = tmp_path / f"tampered_{offset}.nnp"
        tampered_path.write_bytes(bytes(tampered))
        _assert_refused(tampered_path, "checksum")


def test_modified_weights_with_original_header_are_refused(saved_alloy, tmp_path: Path) -> None:
    path, _ = saved_alloy
    tensors = load_file(str(path))
    name = next(k for k in sorted(tensors) if "element_networks" in k and "weight" in k)
    tensors[name] = tensors[name] * 1.01
    resaved = tmp_path / "resaved.nnp"
    save_file(tensors, str(resaved), metadata=_header(path))
    _assert_refused(resaved, "checksum")


def test_modified_metadata_is_refused(saved_alloy, tmp_path: Path) -> None:
    path, _ = saved_alloy
    header = _header(path)
    metadata = json.loads(header["metadata"])
    metadata["cutoff_A"] = 3.0
    edited = tmp_path / "edited.nnp"
    save_file(load_file(str(path)), str(edited),
              metadata={**header, "metadata": json.dumps(metadata, sort_keys=True)})
    _assert_refused(edited, "checksum")


def test_truncated_file_is_refused(saved_alloy, tmp_path: Path) -> None:
    path, _ = saved_alloy
    truncated = tmp_path / "truncated.nnp"
    truncated.write_bytes(path.read_bytes()[:-50])
    _assert_refused(truncated, "is not an nnpkit model file")


class _Booby:
    """Unpickling this touches a marker file: proof that something was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_is_never_loaded(make_model, tmp_path: Path, monkeypatch) -> None:
    marker = tmp_path / "unpickled"
    booby = tmp_path / "booby.nnp"
    booby.write_bytes(pickle.dumps({"model": _Booby(marker)}))
    _assert_refused(booby, "is not an nnpkit model file")
    torch_file = tmp_path / "torch.nnp"
    torch.save({"state": make_model(["Cu"]).state_dict(), "x": _Booby(marker)}, torch_file)
    _assert_refused(torch_file, "is not an nnpkit model file")
    assert not marker.exists()

    # and a valid file loads with every unpickling entry point disabled
    def forbidden(*args, **kwargs):
        raise AssertionError("load_model unpickled something")

    valid = save_model(tmp_path / "valid.nnp", make_model(["Cu"]), statistics_for(["Cu"]))
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    model = load_model(valid)
    assert model.elements == ["Cu"]
