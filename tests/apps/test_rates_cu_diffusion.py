"""A Cu adatom on Cu(100): the EMT diffusion barriers reproduced by a potential trained on
EMT data (issue 16, verification): hop and exchange, |ΔE‡| < 30 meV, one imaginary mode.

The potential is the shipped fixture ``tests/data/cu100_adatom.nnp`` (a float64 BPNN
trained on EMT-labelled samples along both paths; regenerate it with
``tests/data/make_cu100_adatom_model.py``). Both NEBs run here with the same settings
on EMT and on the model, so the comparison is of like with like.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ase.calculators.emt import EMT

import nnpkit
from nnpkit.paths import check_saddle, run_neb, vibrational_modes
from nnpkit.paths.surfaces import (
    EMT_EXCHANGE_BARRIER_eV,
    EMT_HOP_BARRIER_eV,
    cu100_adatom_exchange,
    cu100_adatom_hop,
)

MODEL_PATH = Path(__file__).parents[1] / "data" / "cu100_adatom.nnp"
#: The issue's tolerance on each barrier, eV.
TOLERANCE_eV = 0.030
#: Band settings shared by both calculators.
NEB_SETTINGS = {"n_images": 5, "fmax_eV_per_A": 0.02, "max_steps": 2000}


def _model():
    return nnpkit.load_calculator(MODEL_PATH)


def _compare(builder, emt_barrier_eV: float) -> None:  # noqa: ANN001
    initial, final = builder()
    reference = run_neb(initial, final, EMT, **NEB_SETTINGS)
    learned = run_neb(initial, final, _model, **NEB_SETTINGS)
    assert reference.converged and learned.converged
    # the EMT band at 5 images reproduces PATHS's converged reference value to 5 meV
    assert reference.barrier_forward_eV == pytest.approx(emt_barrier_eV, abs=0.005)
    assert abs(learned.barrier_forward_eV - reference.barrier_forward_eV) < TOLERANCE_eV
    assert abs(learned.barrier_reverse_eV - reference.barrier_reverse_eV) < TOLERANCE_eV
    saddle = learned.images[learned.saddle_index]
    modes = vibrational_modes(saddle, _model())
    check_saddle(modes, f"{builder.__name__} saddle on the model")
    assert modes.n_imaginary == 1


def test_hop_barrier_reproduced_by_the_trained_potential() -> None:
    _compare(cu100_adatom_hop, EMT_HOP_BARRIER_eV)


def test_exchange_barrier_reproduced_by_the_trained_potential() -> None:
    _compare(cu100_adatom_exchange, EMT_EXCHANGE_BARRIER_eV)


def test_model_file_is_small_and_loads_through_load_calculator() -> None:
    assert MODEL_PATH.stat().st_size < 1_000_000
    calculator = nnpkit.load_calculator(MODEL_PATH)
    initial, _ = cu100_adatom_hop()
    initial.calc = calculator
    assert calculator.parameters is not None
    assert initial.get_forces().shape == (len(initial), 3)
