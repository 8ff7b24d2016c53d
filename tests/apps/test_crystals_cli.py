"""``nnpkit crystal eos|elastic|phonons|qha`` and the structure / calculator inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write
from conftest import build_small_model, statistics_for

from nnpkit.apps.crystals import elastic_tensor, read_structure
from nnpkit.calculators import NNPCalculator
from nnpkit.cli.main import main
from nnpkit.errors import ConfigError, DataError
from nnpkit.labeling.reference import resolve_calculator
from nnpkit.models.model_file import save_model


def _run(argv: list[str], capsys: pytest.CaptureFixture) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_elastic_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    summary = _run(["crystal", "elastic", "Cu:fcc", "--calculator", "emt", "--json",
                    "--out", str(tmp_path)], capsys)
    for key in ("elastic_constants_GPa", "clamped_ion_elastic_constants_GPa",
                "bulk_modulus_hill_GPa", "shear_modulus_hill_GPa", "born_stable"):
        assert key in summary
    c = np.array(summary["elastic_constants_GPa"])
    expected = elastic_tensor(bulk("Cu", "fcc"), EMT()).stiffness_GPa
    np.testing.assert_allclose(c, expected, rtol=0, atol=1e-9)  # the same computation
    assert summary["born_stable"] is True
    assert summary["bulk_modulus_hill_GPa"] == pytest.approx((c[0, 0] + 2 * c[0, 1]) / 3)
    assert summary["symmetry"]["space_group"] == "Fm-3m (225)"


def test_eos_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    summary = _run(["crystal", "eos", "Cu:fcc:3.6", "--calculator", "emt", "--json",
                    "--out", str(tmp_path)], capsys)
    for key in ("V0_A3_per_atom", "E0_eV_per_atom", "B0_GPa", "B0_prime"):
        assert isinstance(summary[key], float)
    assert summary["bulk_modulus_check"]["relative_difference"] < 0.01  # as in the EOS tests
    assert (tmp_path / "eos.png").stat().st_size > 10_000


def test_phonons_json_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("phonopy")
    structure = tmp_path / "cu.extxyz"
    write(structure, bulk("Cu", "fcc", a=3.6, cubic=True))
    summary = _run(["crystal", "phonons", str(structure), "--calculator", "emt", "--json",
                    "--supercell", "3", "3", "3", "--mesh", "6", "6", "6", "--out",
                    str(tmp_path)], capsys)
    x = summary["special_points"]["X"]["frequencies_THz"]
    # EMT Cu at X: TA 5.53 THz, LA 8.14 THz (the module, see test_crystals_phonons)
    assert x == pytest.approx([5.53, 5.53, 8.14], abs=0.01)
    for name in ("phonon_bands.png", "phonon_dos.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_qha_text_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("phonopy")
    assert main(["crystal", "qha", "Cu:fcc:cubic", "--calculator", "emt", "--supercell", "3",
                 "3", "3", "--mesh", "6", "6", "6", "--t-max", "400", "--volumes", "5", "--out",
                 str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "QHA at 300 K: alpha 2." in out  # EMT Cu: 2.1e-05 /K
    assert (tmp_path / "thermal_expansion.png").exists()


def test_model_file_calculator_and_autograd_check(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    model = build_small_model(["Cu"])
    path = save_model(tmp_path / "run" / "model.nnp", model, statistics_for(["Cu"]))
    calculator = resolve_calculator(str(path.parent))
    assert isinstance(calculator, NNPCalculator)
    summary = _run(["crystal", "elastic", "Cu:fcc", "--calculator", str(path), "--json",
                    "--strains", "0.0005", "0.001"], capsys)
    assert summary["calculator"] == "NNPCalculator (float64)"
    exact = np.array(summary["clamped_ion_autograd_GPa"])
    # relaxed reference (zero stress): autograd Hessian = stress-strain slope; strains of
    # 0.05-0.1 % leave non-linearity of ~1e-4 of the constants
    assert summary["autograd_vs_stress_strain_max_GPa"] < 1e-3 * float(np.abs(exact).max())


def test_errors_name_the_input(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    pytest.importorskip("phonopy")
    assert main(["crystal", "eos", "Cu", "--calculator", "emt"]) == 2
    assert "structure 'Cu' is neither a file nor a bulk spec" in capsys.readouterr().err
    assert main(["crystal", "elastic", "Cu:fcc", "--calculator", "nonsense"]) == 2
    assert "nonsense" in capsys.readouterr().err
    assert main(["crystal", "phonons", "Cu:fcc:cubic", "--calculator", "emt",
                 "--supercell", "1", "1", "1", "--out", str(tmp_path)]) == 2
    assert "is only 3.59 Å wide" in capsys.readouterr().err  # EMT's relaxed cubic cell


def test_structure_specs() -> None:
    assert read_structure("Cu:fcc").cell.cellpar()[0] == pytest.approx(3.61 / 2**0.5)
    assert len(read_structure("Cu:fcc:3.5:cubic")) == 4
    assert read_structure("Ti:hcp").get_chemical_formula() == "Ti2"
    with pytest.raises(DataError, match=r"'x' is neither a lattice constant"):
        read_structure("Cu:fcc:x")
    with pytest.raises(DataError, match="ase.build.bulk refused it"):
        read_structure("Cu:nonsense")
    with pytest.raises(ConfigError):
        resolve_calculator("no-such-method")
