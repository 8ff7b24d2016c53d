"""Keyed model-file signatures (HMAC-SHA256) against the unkeyed integrity checksum.

The checksum (``sha256`` in the header) only catches accidents: anyone who edits a file on
purpose can recompute it, which :func:`_forge` does here with nothing but the documented
algorithm. A signature made with a secret key cannot be recomputed without the key, so
``load_model(path, key=...)`` must refuse a file that is unsigned, signed with another
key, or edited after signing, and accept the signed original bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import pytest
import torch
from conftest import build_small_model, statistics_for
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from nnpkit.calculators import load_calculator
from nnpkit.cli.main import main
from nnpkit.errors import ModelFileError
from nnpkit.models.model_file import load_model, save_model, sign_model

KEY = b"a secret only the model's owner holds"
OTHER_KEY = b"somebody else's secret"


def _header(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata())


def _forge(path: Path, out: Path, edit_metadata=None, edit_tensors=None) -> Path:
    """What an attacker does: edit metadata or weights and recompute the (unkeyed) SHA-256
    over the metadata JSON and every tensor's name, dtype, shape and bytes, in name order.
    Written from the documented format, independently of nnpkit's code. The header's
    other entries (the HMAC signature included) are kept."""
    header = _header(path)
    tensors = load_file(str(path))
    metadata = json.loads(header["metadata"])
    if edit_metadata is not None:
        edit_metadata(metadata)
    if edit_tensors is not None:
        edit_tensors(tensors)
    metadata_json = json.dumps(metadata, sort_keys=True)
    digest = hashlib.sha256(metadata_json.encode())
    for name in sorted(tensors):
        tensor = tensors[name].contiguous()
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode() + str(tuple(tensor.shape)).encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    save_file(tensors, str(out), metadata={**header, "metadata": metadata_json,
                                           "sha256": digest.hexdigest()})
    return out


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.key"
    path.write_bytes(KEY + b"\n")  # a trailing newline, as an editor leaves it
    return path


@pytest.fixture
def unsigned(tmp_path: Path) -> Path:
    return save_model(tmp_path / "run" / "model.nnp", build_small_model(["Cu"]),
                      statistics_for(["Cu"]), {"note": "original"})


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    state_b = b.state_dict()
    for name, value in a.state_dict().items():  # bit for bit: nothing may change on signing
        torch.testing.assert_close(value, state_b[name], rtol=0, atol=0)


def test_signed_file_loads_with_its_key(unsigned: Path, key_file: Path, tmp_path: Path
                                        ) -> None:
    original = load_model(unsigned)
    sign_model(unsigned, key_file)
    for key in (KEY, key_file, str(key_file)):  # bytes, a path, a path as text
        _same_weights(load_model(unsigned, key=key), original)
    assert load_model(unsigned).metadata == original.metadata  # still loads without a key
    calculator = load_calculator(unsigned.parent, key=key_file)  # a run directory
    assert calculator.model.elements == ["Cu"]
    signed_at_save = save_model(tmp_path / "at_save.nnp", build_small_model(["Cu"]),
                                statistics_for(["Cu"]), key=KEY)
    _same_weights(load_model(signed_at_save, key=key_file), original)


def test_unsigned_file_is_refused_with_a_key(unsigned: Path) -> None:
    assert load_model(unsigned).elements == ["Cu"]  # fine without a key
    with pytest.raises(ModelFileError, match="is not signed") as info:
        load_model(unsigned, key=KEY)
    assert str(unsigned) in str(info.value)
    with pytest.raises(ModelFileError, match="is not signed"):
        load_calculator(unsigned, key=KEY)


def test_wrong_key_is_refused(unsigned: Path) -> None:
    sign_model(unsigned, KEY)
    with pytest.raises(ModelFileError, match="does not match this key"):
        load_model(unsigned, key=OTHER_KEY)
    sign_model(unsigned, OTHER_KEY)  # re-signing replaces the signature
    assert load_model(unsigned, key=OTHER_KEY).elements == ["Cu"]
    with pytest.raises(ModelFileError, match="does not match this key"):
        load_model(unsigned, key=KEY)


def test_edit_after_signing_passes_the_checksum_but_not_the_key(unsigned: Path,
                                                                 tmp_path: Path) -> None:
    sign_model(unsigned, KEY)

    def metadata_edit(metadata: dict) -> None:
        metadata["note"] = "edited"
        metadata["statistics"]["reference_energies_eV"] = [-99.0]

    def weight_edit(tensors: dict) -> None:
        name = next(k for k in sorted(tensors) if "weight" in k)
        tensors[name] = tensors[name] * 1.5

    forged_metadata = _forge(unsigned, tmp_path / "forged_metadata.nnp",
                             edit_metadata=metadata_edit)
    forged_weights = _forge(unsigned, tmp_path / "forged_weights.nnp", edit_tensors=weight_edit)
    # the recomputed checksum is accepted without a key (the edits took effect) ...
    assert load_model(forged_metadata).metadata["note"] == "edited"
    original, edited = load_model(unsigned).state_dict(), load_model(forged_weights).state_dict()
    assert any(not torch.equal(original[k], edited[k]) for k in original)
    for forged in (forged_metadata, forged_weights):
        assert "hmac_sha256" in _header(forged)  # the old signature is still there
        with pytest.raises(ModelFileError, match="does not match this key"):
            load_model(forged, key=KEY)  # ... and refused with the key


def test_signing_checks_integrity_first(unsigned: Path, tmp_path: Path) -> None:
    raw = bytearray(unsigned.read_bytes())
    raw[-1] ^= 0x01
    corrupted = tmp_path / "corrupted.nnp"
    corrupted.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="checksum"):
        sign_model(corrupted, KEY)
    assert "hmac_sha256" not in _header(corrupted)


def test_loading_and_signing_never_unpickle(unsigned: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    def forbidden(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("something was unpickled")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    sign_model(unsigned, KEY)
    assert load_model(unsigned, key=KEY).elements == ["Cu"]
    assert load_calculator(unsigned, key=KEY).model.elements == ["Cu"]


def test_cli_sign(unsigned: Path, key_file: Path, tmp_path: Path,
                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sign", str(unsigned.parent), "--key-file", str(key_file)]) == 0
    assert json.loads(capsys.readouterr().out) == {"signed": str(unsigned)}
    assert load_model(unsigned, key=KEY).elements == ["Cu"]  # the file's bytes, stripped
    assert main(["sign", str(unsigned), "--key-file", str(tmp_path / "nokey")]) == 2
    assert "key file not found" in capsys.readouterr().err
    empty = tmp_path / "empty.key"
    empty.write_bytes(b"\n")
    assert main(["sign", str(unsigned), "--key-file", str(empty)]) == 2
    assert "is empty" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # --key-file is required
        main(["sign", str(unsigned)])
