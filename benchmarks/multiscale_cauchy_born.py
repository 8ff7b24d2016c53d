"""Cauchy–Born stiffness against the crystals elastic tensor (Cu model and EMT).

    OMP_NUM_THREADS=1 python benchmarks/multiscale_cauchy_born.py
"""
import torch
from ase.calculators.emt import EMT

from nnpkit.apps.crystals import elastic_tensor
from nnpkit.apps.multiscale import CalculatorCauchyBorn, CauchyBorn, relaxed_primitive_cell
from nnpkit.calculators import load_calculator

calc = load_calculator("tests/data/cu100_adatom.nnp", dtype=torch.float64)
for name, c, cb in [("model", calc, lambda cell: CauchyBorn(cell, calc.model)), ("EMT", EMT(), lambda cell: CalculatorCauchyBorn(cell, EMT()))]:
    cell = relaxed_primitive_cell("Cu", c)
    C = cb(cell).stiffness_GPa()
    ref = elastic_tensor(cell, c, relaxed_ion=False).clamped_ion_GPa
    print(name, [f"{C[i,j]:.2f} vs {ref[i,j]:.2f} ({100*(C[i,j]/ref[i,j]-1):+.2f} %)" for i, j in [(0,0),(0,1),(3,3)]])
