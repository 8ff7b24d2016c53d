"""Cauchy–Born stiffness against the crystals elastic tensor (Cu model and EMT).

    OMP_NUM_THREADS=1 python benchmarks/multiscale_cauchy_born.py

The tangent of W(F) at F = I (autograd for the EMT-trained copper BPNN of the tests,
central differences of the stress for EMT) against the clamped-ion
``nnpkit.apps.crystals.elastic_tensor`` on the same relaxed primitive cell.
"""

from __future__ import annotations

from pathlib import Path

MODEL = Path(__file__).resolve().parents[1] / "tests" / "data" / "cu100_adatom.nnp"


def main() -> None:
    import torch
    from ase.calculators.emt import EMT

    from nnpkit.apps.crystals import elastic_tensor
    from nnpkit.apps.multiscale import CalculatorCauchyBorn, CauchyBorn, relaxed_primitive_cell
    from nnpkit.calculators import load_calculator

    model_calculator = load_calculator(MODEL, dtype=torch.float64)
    emt = EMT()
    cases = [("Cu BPNN", model_calculator, lambda cell: CauchyBorn(cell, model_calculator.model)),
             ("EMT", emt, lambda cell: CalculatorCauchyBorn(cell, emt))]
    for name, calculator, continuum in cases:
        cell = relaxed_primitive_cell("Cu", calculator)
        stiffness = continuum(cell).stiffness_GPa()
        reference = elastic_tensor(cell, calculator, relaxed_ion=False).clamped_ion_GPa
        cells = [f"{label} {stiffness[i, j]:.2f} vs {reference[i, j]:.2f} GPa "
                 f"({100 * (stiffness[i, j] / reference[i, j] - 1):+.2f} %)"
                 for label, (i, j) in (("C11", (0, 0)), ("C12", (0, 1)), ("C44", (3, 3)))]
        print(name, "; ".join(cells))


if __name__ == "__main__":
    main()
