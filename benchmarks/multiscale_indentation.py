"""Spherical indentation of Cu(100): coupled (bqce) against fully atomistic, and the error
against the atomistic radius and the handshake width.

    OMP_NUM_THREADS=1 python benchmarks/multiscale_indentation.py [--cells 12 12 6]
        [--radii 7 10] [--widths 5 8] [--depths 0.4 0.8 1.2] [--levels 4] [--margin A]

The potential is the EMT-trained copper BPNN the tests ship (tests/data/cu100_adatom.nnp,
float64), in both models. The block is clamped on its sides and bottom; a rigid sphere
(R = 8 Å, K = 10 eV/Å³) is lowered to each depth below the relaxed surface and every
state relaxed to fmax 2 meV/Å with the same solver (ASE L-BFGS on the free nodes). For
each (radius, width): the loads, their difference from the fully atomistic loads (%),
the free degrees of freedom and wall times of both, and their ratios; the Hertz fit of
the fully atomistic curve against the Vlassak–Nix modulus of the Cauchy–Born stiffness.
Writes ``benchmarks/out/multiscale_indentation.json``, ``…_load.png`` and ``…_error.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT_DIR, machine_info, reproduce_command, set_thread_env, write_results  # noqa: E402

MODEL = Path(__file__).resolve().parents[1] / "tests" / "data" / "cu100_adatom.nnp"
FACES = ("x0", "x1", "y0", "y1", "z0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs=3, default=[12, 12, 6])
    parser.add_argument("--radii", type=float, nargs="+", default=[7.0, 10.0])
    parser.add_argument("--widths", type=float, nargs="+", default=[5.0, 8.0])
    parser.add_argument("--depths", type=float, nargs="+", default=[0.4, 0.8, 1.2])
    parser.add_argument("--levels", type=int, default=4)
    parser.add_argument("--fmax", type=float, default=2e-3)
    parser.add_argument("--margin", type=float, default=None,
                        help="fine mesh beyond the handshake, Å (default: the padding)")
    args = parser.parse_args()
    set_thread_env(1)
    import numpy as np
    import torch

    from nnpkit.apps.multiscale import plots
    from nnpkit.apps.multiscale.geometry import AtomisticRegion, FccBlock
    from nnpkit.apps.multiscale.hertz import fit_hertz, indentation_modulus_GPa
    from nnpkit.apps.multiscale.indentation import indent
    from nnpkit.apps.multiscale.indenter import SphericalIndenter
    from nnpkit.apps.multiscale.system import (
        coupled_system,
        fcc_lattice_constant_A,
        fully_atomistic_region,
        reference_cell,
    )
    from nnpkit.calculators import load_calculator
    from nnpkit.errors import ConfigError

    calc = load_calculator(MODEL, dtype=torch.float64)
    cell = reference_cell("Cu", calc)
    block = FccBlock("Cu", fcc_lattice_constant_A(cell), tuple(args.cells))
    size = block.size_A
    centre = (float(size[0] / 2), float(size[1] / 2), float(size[2]))
    indenter = SphericalIndenter(radius_A=8.0, centre_x_A=centre[0], centre_y_A=centre[1])
    settings = {"fmax_eV_per_A": args.fmax, "progress": True}
    full_system = coupled_system(calc, block, fully_atomistic_region(block, centre, 5.0), "bqce",
                                 FACES, cell, indenter=indenter, coarsening_levels=0)
    full = indent(full_system, args.depths, **settings)
    rows = []
    curves = {"fully atomistic": (full.depths_A, full.loads_eV_per_A)}
    for radius in args.radii:
        for width in args.widths:
            region = AtomisticRegion(centre_A=centre, radius_A=radius, blend_width_A=width,
                                     padding_A=5.0)
            try:
                system = coupled_system(calc, block, region, "bqce", FACES, cell,
                                        indenter=indenter, coarsening_levels=args.levels,
                                        fine_margin_A=args.margin)
            except ConfigError as error:  # the region does not fit this block
                rows.append({"atomistic_radius_A": radius, "blend_width_A": width,
                             "refused": str(error)})
                continue
            coupled = indent(system, args.depths, **settings)
            error = 100 * (coupled.loads_eV_per_A - full.loads_eV_per_A) / full.loads_eV_per_A
            curves[f"bqce r={radius:g} Å, L={width:g} Å"] = (coupled.depths_A,
                                                             coupled.loads_eV_per_A)
            rows.append({
                "atomistic_radius_A": radius, "blend_width_A": width,
                "loads_eV_per_A": coupled.loads_eV_per_A.tolist(),
                "load_error_percent": error.tolist(),
                "max_abs_load_error_percent": float(np.abs(error).max()),
                "free_dofs": coupled.degrees_of_freedom["free_dofs"],
                "dof_ratio": full.degrees_of_freedom["free_dofs"]
                / coupled.degrees_of_freedom["free_dofs"],
                "wall_s": coupled.wall_s, "wall_time_ratio": full.wall_s / coupled.wall_s,
                "degrees_of_freedom": coupled.degrees_of_freedom})
    stiffness = full_system.model.continuum.stiffness_GPa()  # type: ignore[attr-defined]
    moduli = indentation_modulus_GPa(stiffness)
    hertz = fit_hertz(full.depths_A, full.loads_eV_per_A, indenter.radius_A, max(args.depths))
    results = {
        "command": reproduce_command("multiscale_indentation.py"), "machine": machine_info(),
        "cells": args.cells, "depths_A": args.depths, "fmax_eV_per_A": args.fmax,
        "lattice_constant_A": block.lattice_constant_A,
        "fully_atomistic": {"loads_eV_per_A": full.loads_eV_per_A.tolist(),
                            "free_dofs": full.degrees_of_freedom["free_dofs"],
                            "wall_s": full.wall_s,
                            "contact_radius_A": full.contact_radius_A.tolist()},
        "coupled": rows,
        "hertz": {**hertz, "vlassak_nix_modulus_GPa": moduli["vlassak_nix_modulus_GPa"],
                  "hill_effective_modulus_GPa": moduli["effective_modulus_GPa"],
                  "fitted_over_vlassak_nix": hertz["effective_modulus_GPa"]
                  / moduli["vlassak_nix_modulus_GPa"]},
        "elastic_constants_GPa": np.asarray(stiffness).tolist(),
    }
    plots.load_displacement_png(OUT_DIR / "multiscale_indentation_load.png", curves, None)
    table = [row for row in rows if "refused" not in row]
    if table:
        plots.error_vs_size_png(OUT_DIR / "multiscale_indentation_error.png", table,
                                "atomistic_radius_A", "max_abs_load_error_percent",
                                "blend_width_A")
    print(write_results("multiscale_indentation", results))


if __name__ == "__main__":
    main()
