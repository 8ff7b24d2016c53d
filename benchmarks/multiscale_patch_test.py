"""Patch test in 3D: ghost forces of bqce, bqcf and sharp against the handshake width.

    OMP_NUM_THREADS=1 python benchmarks/multiscale_patch_test.py [--cells 14]
        [--widths 5 7.5 10 12.5 15]

The EMT-trained copper BPNN (tests/data/cu100_adatom.nnp, float64, cutoff 5 Å), a cubic
block of ``cells³`` conventional cells clamped on all faces at three uniform deformations
(tension, shear, mixed; ``nnpkit.apps.multiscale.UNIFORM_STRAINS``), the atomistic ball
(radius 3 Å) at its centre. bqce at each width with a one-cutoff padding; bqcf (two-cutoff
padding) and sharp at each width too. Reports the largest ghost force per coupling and
width and the log-log slope of bqce's against the width. Writes
``benchmarks/out/multiscale_patch_test.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT_DIR, machine_info, reproduce_command, set_thread_env, write_results  # noqa: E402

MODEL = Path(__file__).resolve().parents[1] / "tests" / "data" / "cu100_adatom.nnp"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=14)
    parser.add_argument("--widths", type=float, nargs="+", default=[5.0, 7.5, 10.0, 12.5, 15.0])
    parser.add_argument("--radius", type=float, default=3.0)
    args = parser.parse_args()
    set_thread_env(1)
    import numpy as np
    import torch

    from nnpkit.apps.multiscale import plots
    from nnpkit.apps.multiscale.geometry import FccBlock
    from nnpkit.apps.multiscale.patch_test import patch_test
    from nnpkit.apps.multiscale.system import fcc_lattice_constant_A, reference_cell
    from nnpkit.calculators import load_calculator

    calc = load_calculator(MODEL, dtype=torch.float64)
    cell = reference_cell("Cu", calc)
    block = FccBlock("Cu", fcc_lattice_constant_A(cell), (args.cells,) * 3)
    energy = patch_test(calc, block, args.radius, args.widths, 5.0, cell,
                        couplings=("bqce", "sharp"))
    force = patch_test(calc, block, args.radius, [w for w in args.widths
                                                  if args.radius + w + 10.0 < args.cells
                                                  * block.lattice_constant_A / 2],
                       10.0, cell, couplings=("bqcf",))
    rows = energy["table"] + force["table"]
    by_coupling = {c: np.asarray([r["max_ghost_force_eV_per_A"] for r in rows
                                  if r["coupling"] == c]) for c in ("bqce", "sharp")}
    results = {"command": reproduce_command("multiscale_patch_test.py"),
               "machine": machine_info(), "cells": args.cells, "radius_A": args.radius,
               "lattice_constant_A": block.lattice_constant_A, "table": rows,
               "bqce_width_slope": energy["bqce_width_slope"],
               "bqcf_max_ghost_force_eV_per_A": max(r["max_ghost_force_eV_per_A"]
                                                    for r in force["table"])}
    plots.ghost_force_png(OUT_DIR / "multiscale_patch_test.png", np.asarray(args.widths),
                          by_coupling)
    print(write_results("multiscale_patch_test", results))


if __name__ == "__main__":
    main()
