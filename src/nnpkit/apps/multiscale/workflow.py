"""``nnpkit multiscale run`` and ``patch-test``: configs in, JSON and PNGs out.

``run``: the potential's relaxed fcc cell, a block with the atomistic hemisphere under the
indenter, the load–displacement curve of the coupled model, optionally the fully
atomistic one on the same block (same code path, same tolerance), their difference, the
Hertz fit with the modulus from the Cauchy–Born stiffness, and the degrees of freedom and
wall times of both. ``patch-test``: the ghost forces of each coupling under uniform
strains. Results are written atomically; a relaxation that does not converge raises
:class:`~nnpkit.errors.ConvergenceError` and nothing is written for it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator

from nnpkit.apps.multiscale import plots
from nnpkit.apps.multiscale.config import (
    MultiscaleConfig,
    PatchTestConfig,
    load_multiscale_config,
    load_patch_test_config,
)
from nnpkit.apps.multiscale.geometry import AtomisticRegion, FccBlock
from nnpkit.apps.multiscale.hertz import fit_hertz, hertz_load_eV_per_A, indentation_modulus_GPa
from nnpkit.apps.multiscale.indentation import IndentationResult, indent
from nnpkit.apps.multiscale.indenter import SphericalIndenter
from nnpkit.apps.multiscale.patch_test import patch_test
from nnpkit.apps.multiscale.system import (
    coupled_system,
    fcc_lattice_constant_A,
    fully_atomistic_region,
    reference_cell,
)
from nnpkit.file_writes import atomic_write
from nnpkit.labeling.reference import resolve_calculator

__all__ = ["multiscale_run", "multiscale_patch_test"]

_INDENTATION_FACES = ("x0", "x1", "y0", "y1", "z0")


def _setup(cfg: MultiscaleConfig | PatchTestConfig
           ) -> tuple[Calculator, float | None, float, Atoms, FccBlock]:
    """The calculator, the model's own cutoff (None for another calculator), the cutoff
    used, the reference cell and the block of a config."""
    calculator = resolve_calculator(cfg.potential, dtype=torch.float64)
    model = getattr(calculator, "model", None)
    model_cutoff = float(model.cutoff) if model is not None else None
    cell = reference_cell(cfg.block.symbol, calculator, cfg.block.lattice_constant_A)
    a = cfg.block.lattice_constant_A or fcc_lattice_constant_A(cell)
    block = FccBlock(cfg.block.symbol, a, cfg.block.n_cells)
    cutoff = model_cutoff if model_cutoff is not None else cfg.cutoff_A
    return calculator, model_cutoff, cutoff, cell, block


def _write_json(path: Path, data: dict) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2) + "\n"))


def multiscale_run(config: MultiscaleConfig | dict | str | os.PathLike,
                   overrides: list[str] | None = None) -> dict[str, Any]:
    """Indentation with the coupled model (and the fully atomistic reference).

    Returns (and writes as ``summary.json``): ``coupled`` and ``fully_atomistic`` (the
    load–displacement tables, degrees of freedom, wall time), ``load_difference_percent``
    per depth and its largest value, ``dof_ratio``, ``wall_time_ratio``, ``hertz``
    (fitted and Cauchy–Born effective moduli and their ratio), ``elastic_constants_GPa``,
    ``files``.
    """
    cfg = config if isinstance(config, MultiscaleConfig) else \
        load_multiscale_config(config, overrides)
    out = Path(cfg.output_dir)
    calculator, model_cutoff, cutoff, cell, block = _setup(cfg)
    size = block.size_A
    centre = (float(size[0] / 2), float(size[1] / 2), float(size[2]))
    indenter = SphericalIndenter(radius_A=cfg.indenter.radius_A, centre_x_A=centre[0],
                                 centre_y_A=centre[1],
                                 stiffness_eV_per_A3=cfg.indenter.stiffness_eV_per_A3)
    padding = cfg.region.padding_A or cutoff * (2 if cfg.coupling == "bqcf" else 1)
    region = AtomisticRegion(centre_A=centre, radius_A=cfg.region.radius_A,
                             blend_width_A=cfg.region.blend_width_A, padding_A=padding)
    method = cfg.minimiser.method or ("fire" if cfg.coupling == "bqcf" else "lbfgs")
    settings: dict[str, Any] = {"method": method, "fmax_eV_per_A": cfg.minimiser.fmax_eV_per_A,
                "max_steps": cfg.minimiser.max_steps, "progress": cfg.progress}
    system = coupled_system(calculator, block, region, cfg.coupling, _INDENTATION_FACES, cell,
                            indenter=indenter, cutoff_A=cutoff,
                            coarsening_levels=cfg.coarsening_levels,
                            fine_margin_A=cfg.region.fine_margin_A)
    coupled = indent(system, cfg.indenter.depths_A, **settings)
    curves = {f"coupled ({cfg.coupling})": (coupled.depths_A, coupled.loads_eV_per_A)}
    summary: dict[str, Any] = {"coupling": cfg.coupling, "potential": cfg.potential,
                               "lattice_constant_A": block.lattice_constant_A,
                               "coupled": _result_dict(coupled)}
    if cfg.fully_atomistic_reference:
        full_system = coupled_system(calculator, block,
                                     fully_atomistic_region(block, centre, cutoff), "bqce"
                                     if model_cutoff is not None else "bqcf",
                                     _INDENTATION_FACES, cell, indenter=indenter,
                                     cutoff_A=cutoff, coarsening_levels=0)
        full = indent(full_system, cfg.indenter.depths_A, **settings)
        curves["fully atomistic"] = (full.depths_A, full.loads_eV_per_A)
        difference = 100 * (coupled.loads_eV_per_A - full.loads_eV_per_A) / full.loads_eV_per_A
        summary.update(
            fully_atomistic=_result_dict(full),
            load_difference_percent=difference.tolist(),
            max_abs_load_difference_percent=float(np.abs(difference).max()),
            dof_ratio=full.degrees_of_freedom["free_dofs"]
            / coupled.degrees_of_freedom["free_dofs"],
            wall_time_ratio=full.wall_s / coupled.wall_s)
    stiffness = system.model.continuum.stiffness_GPa()  # type: ignore[attr-defined]
    moduli = indentation_modulus_GPa(stiffness)
    fit = fit_hertz(coupled.depths_A, coupled.loads_eV_per_A, cfg.indenter.radius_A,
                    cfg.hertz_max_depth_A)
    modulus = moduli.get("vlassak_nix_modulus_GPa", moduli["effective_modulus_GPa"])
    summary["elastic_constants_GPa"] = np.asarray(stiffness).tolist()
    summary["hertz"] = {**fit, "cauchy_born_indentation_modulus_GPa": modulus,
                        "hill_effective_modulus_GPa": moduli["effective_modulus_GPa"],
                        "fitted_over_cauchy_born": fit["effective_modulus_GPa"] / modulus}
    depth_grid = np.linspace(0, max(cfg.indenter.depths_A), 50)
    hertz_curve = (depth_grid, hertz_load_eV_per_A(depth_grid, cfg.indenter.radius_A, modulus))
    files = {
        "load_displacement": plots.load_displacement_png(out / "load_displacement.png", curves,
                                                         hertz_curve),
        "displacement_field": plots.displacement_field_png(
            out / "displacement_field.png", system.mesh.nodes_A, coupled.displacement_A,
            plane_y_A=centre[1], tolerance_A=0.5 * block.lattice_constant_A),
        "regions": plots.regions_png(out / "regions.png", system.mesh.nodes_A,
                                     system.model.node_weights, plane_y_A=centre[1],
                                     tolerance_A=0.5 * block.lattice_constant_A,
                                     elements=system.mesh.elements),
    }
    summary["files"] = {key: str(path) for key, path in files.items()}
    _write_json(out / "summary.json", summary)
    return summary


def _result_dict(result: IndentationResult) -> dict[str, Any]:
    return {"load_displacement": result.table(), "degrees_of_freedom": result.degrees_of_freedom,
            "wall_s": result.wall_s, "n_evaluations": result.n_evaluations,
            "surface_z_A": result.surface_z_A}


def multiscale_patch_test(config: PatchTestConfig | dict | str | os.PathLike,
                          overrides: list[str] | None = None) -> dict[str, Any]:
    """Ghost forces of each coupling under uniform strains; writes ``patch_test.json`` and
    ``ghost_forces.png``. Returns ``max_ghost_force_eV_per_A`` {coupling: eV/Å} and the
    table."""
    cfg = config if isinstance(config, PatchTestConfig) else \
        load_patch_test_config(config, overrides)
    out = Path(cfg.output_dir)
    calculator, _, cutoff, cell, block = _setup(cfg)
    result = patch_test(calculator, block, cfg.radius_A, cfg.blend_widths_A,
                        cfg.padding_A or 2 * cutoff, cell, couplings=cfg.couplings,
                        cutoff_A=cutoff, progress=cfg.progress)
    widths = np.asarray(cfg.blend_widths_A)
    by_coupling: dict[str, np.ndarray] = {
        str(c): np.asarray([row["max_ghost_force_eV_per_A"] for row in result["table"]
                            if row["coupling"] == c]) for c in cfg.couplings}
    path = plots.ghost_force_png(out / "ghost_forces.png", widths, by_coupling)
    result["files"] = {"ghost_forces": str(path)}
    _write_json(out / "patch_test.json", result)
    return result
