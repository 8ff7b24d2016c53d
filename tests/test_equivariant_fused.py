"""The fused equivariant model (nnpkit.models.equivariant_fused) against e3nn's evaluation.

Both compute the same maps in float64 with different summation orders, so energies,
forces and stress agree to round-off (1e-12 relative; measured ~1e-14). In float32 the
energy is within 1e-6 relative of float64 e3nn's, or, where float32 e3nn itself is not
(the 3-layer l_max = 3 variant's atomic energies of ±50 eV cancel to a few eV: 3e-6),
within twice float32 e3nn's error; forces and stress must be as accurate as float32 e3nn,
both measured against float64 e3nn (the rule of tests/test_fast_path.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from conftest import calculator_results, copper_cubic, copper_slab, cuau_triclinic, ethanol

from nnpkit.calculators import CommitteeCalculator, NNPCalculator
from nnpkit.models.committee import Committee
from nnpkit.models.equivariant import EquivariantConfig, EquivariantPotential
from nnpkit.models.equivariant_fused import FusedEquivariant
from nnpkit.testing import run_all_checks

#: small variants of every option the fused layers handle differently
CONFIGS = {
    "default": {},
    "correlation3": {"correlation": 3, "l_max": 1},
    "messages-only": {"correlation": 1, "n_layers": 1},
    "lmax3-3layers": {"l_max": 3, "n_layers": 3},
}


def _model(elements: list[str], seed: int = 0, **options: object) -> EquivariantPotential:
    """A small model with O(1) weights everywhere (e3nn's biases start at zero)."""
    torch.manual_seed(seed)
    config = EquivariantConfig(cutoff_A=4.0, n_channels=8, product_channels=4,
                               **options)  # type: ignore[arg-type]
    model = EquivariantPotential(elements, config).double()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
        model.avg_num_neighbors.fill_(6.0)
        model.energy_scale.fill_(0.5)
        model.reference_energies.copy_(torch.linspace(-3.0, -1.0, len(elements)))
    return model


ELEMENTS = ["H", "C", "O", "Cu", "Au"]
STRUCTURES = {"ethanol": ethanol, "slab": copper_slab,
              "triclinic": lambda: cuau_triclinic().repeat((2, 1, 1))}


@pytest.mark.parametrize("variant", list(CONFIGS))
def test_fused_model_equals_e3nn(variant: str) -> None:
    """One model per variant (five elements), each structure, float64 and float32."""
    model = _model(ELEMENTS, **CONFIGS[variant])
    calculators = {(dtype, fused): NNPCalculator(model, dtype=dtype, fast_path=fused)
                   for dtype in (torch.float64, torch.float32) for fused in (None, False)}
    for (_, fused), calculator in calculators.items():
        assert isinstance(calculator.model,
                          FusedEquivariant if fused is None else EquivariantPotential)
    for structure, build in STRUCTURES.items():
        atoms = build()
        truth = calculator_results(calculators[torch.float64, False], atoms)
        got = calculator_results(calculators[torch.float64, None], atoms)
        assert ("stress" in got) == bool(atoms.pbc.all())
        np.testing.assert_allclose(got["energy"], truth["energy"], rtol=1e-12)
        for key in truth:
            np.testing.assert_allclose(got[key], truth[key], rtol=0,
                                       atol=1e-12 * np.abs(truth[key]).max(),
                                       err_msg=f"{variant}, {structure}: {key}, float64")
        got = calculator_results(calculators[torch.float32, None], atoms)
        expected = calculator_results(calculators[torch.float32, False], atoms)
        energy_error = abs(float(got["energy"] - truth["energy"]))
        assert energy_error <= max(1e-6 * abs(float(truth["energy"])),
                                   2.0 * abs(float(expected["energy"] - truth["energy"]))), (
            f"{variant}, {structure}: float32 energy error {energy_error:.3g} eV")
        for key in ("energies", "forces", "stress"):
            if key in truth:
                e3nn_error = np.abs(expected[key] - truth[key]).max()
                fused_error = np.abs(got[key] - truth[key]).max()
                assert fused_error <= 2.0 * e3nn_error + 1e-7 * np.abs(truth[key]).max(), (
                    f"{variant}, {structure}: float32 {key} error {fused_error:.3g} vs "
                    f"e3nn's {e3nn_error:.3g}")


def test_fused_model_passes_every_physics_check() -> None:
    calculator = NNPCalculator(_model(["H", "C", "O", "Cu", "Au"]), dtype=torch.float64)
    assert isinstance(calculator.model, FusedEquivariant)
    run_all_checks(calculator, molecule=ethanol(), crystal=cuau_triclinic())


def test_fused_model_copies_the_weights() -> None:
    """Changing the model after making a calculator does not change the calculator."""
    model = _model(["Cu"])
    calculator = NNPCalculator(model, dtype=torch.float64)
    before = calculator_results(calculator, copper_cubic())["energy"]
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(1.5)
    calculator.reset()
    assert calculator_results(calculator, copper_cubic())["energy"] == before
    assert not any(p.requires_grad for p in calculator.model.parameters())


def test_committee_of_equivariant_models_is_fused_with_the_same_spread() -> None:
    committee = Committee([_model(["H", "C", "O"], seed=seed) for seed in range(2)])
    fused = CommitteeCalculator(committee, dtype=torch.float64)
    e3nn = CommitteeCalculator(committee, dtype=torch.float64, fast_path=False)
    assert all(isinstance(m, FusedEquivariant) for m in fused.committee.potentials)
    got, expected = ethanol(), ethanol()
    got.calc, expected.calc = fused, e3nn
    np.testing.assert_allclose(got.get_forces(), expected.get_forces(), rtol=0, atol=1e-11)
    np.testing.assert_allclose(fused.results["forces_std"], e3nn.results["forces_std"],
                               rtol=0, atol=1e-11)
    np.testing.assert_allclose(fused.results["member_energies"],
                               e3nn.results["member_energies"], rtol=1e-12)


def test_batched_engine_runs_the_fused_model_on_e3nn_s_trajectory() -> None:
    """Two replicas (a molecule and a crystal of the same elements' model) through the
    engine: fused by default, the same trajectory as e3nn's graph (1e-9 Å, 30 steps)."""
    from nnpkit.md import run_batched_md

    model = _model(["Cu", "Au"])
    crystal = cuau_triclinic()
    cluster = Atoms("Cu3Au", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0], [1.2, 1.2, 2.0]])
    runs = [run_batched_md(model, [crystal, cluster], ensemble="nvt", timestep_fs=1.0,
                           temperature_K=300.0, steps=30, dtype=torch.float64,
                           progress=False, fast_path=fast) for fast in (None, False)]
    for fused, e3nn in zip(runs[0].atoms, runs[1].atoms, strict=True):
        np.testing.assert_allclose(fused.positions, e3nn.positions, rtol=0, atol=1e-9)
    np.testing.assert_allclose(runs[0].log["potential_energy_eV"],
                               runs[1].log["potential_energy_eV"], rtol=0, atol=1e-9)
