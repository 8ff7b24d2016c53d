"""Typed configs of ``nnpkit multiscale run|patch-test``."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field

from nnpkit.typed_config import StrictConfig, load_typed_config

__all__ = ["BlockConfig", "RegionConfig", "IndenterConfig", "MinimiserConfig",
           "MultiscaleConfig", "PatchTestConfig", "load_multiscale_config",
           "load_patch_test_config"]


class BlockConfig(StrictConfig):
    """The body: a block of fcc conventional cells, its top a free (100) surface."""

    symbol: str = Field("Cu", description="The element.")
    n_cells: tuple[int, int, int] = Field((12, 12, 6), description="Cells along x, y, z.")
    lattice_constant_A: float | None = Field(
        None, gt=0, description="Cubic lattice constant, Å (default: relaxed with the potential).")


class RegionConfig(StrictConfig):
    """The atomistic region and the handshake."""

    radius_A: float = Field(7.0, ge=0, description="Radius of the fully atomistic ball, Å.")
    blend_width_A: float = Field(5.0, gt=0, description="Handshake width, Å (≥ the cutoff).")
    padding_A: float | None = Field(
        None, gt=0, description="Padding of full atoms beyond the handshake, Å (default: one "
                                "cutoff for energy couplings, two for bqcf).")
    fine_margin_A: float | None = Field(
        None, ge=0, description="The mesh stays atomistic this far beyond the handshake, Å "
                                "(default: the padding, so that no atom is interpolated).")


class IndenterConfig(StrictConfig):
    """The rigid spherical indenter, on the top face's centre."""

    radius_A: float = Field(8.0, gt=0, description="Sphere radius, Å.")
    stiffness_eV_per_A3: float = Field(10.0, gt=0, description="Wall constant K of K(R−r)³.")
    depths_A: list[float] = Field([0.4, 0.8, 1.2], description="Depths below the relaxed "
                                                                 "surface, Å, increasing.")


class MinimiserConfig(StrictConfig):
    """Relaxation at every depth."""

    method: Literal["lbfgs", "fire"] | None = Field(
        None, description="lbfgs (energy couplings) or fire; default: fire for bqcf, else lbfgs.")
    fmax_eV_per_A: float = Field(2e-3, gt=0, description="Force tolerance, eV/Å.")
    max_steps: int = Field(5000, ge=1, description="Iteration limit per relaxation.")


class MultiscaleConfig(StrictConfig):
    """``nnpkit multiscale run``: indentation with the coupled model (and the reference)."""

    potential: str = Field("emt", description="An nnpkit model file (every coupling) or a "
                                              "reference method name such as emt (bqcf only).")
    cutoff_A: float = Field(5.0, gt=0, description="Interaction range of a non-nnpkit "
                                                   "calculator, Å (a model gives its own).")
    coupling: Literal["bqce", "bqcf", "sharp"] = Field("bqce", description="The coupling.")
    block: BlockConfig = Field(default_factory=BlockConfig)
    region: RegionConfig = Field(default_factory=RegionConfig)
    indenter: IndenterConfig = Field(default_factory=IndenterConfig)
    minimiser: MinimiserConfig = Field(default_factory=MinimiserConfig)
    coarsening_levels: int = Field(4, ge=0, description="Coarse grids (2a, 4a, …) at most.")
    fully_atomistic_reference: bool = Field(
        True, description="Also solve the whole block atomistically and compare.")
    hertz_max_depth_A: float = Field(1.0, gt=0, description="Depths fitted by Hertz's law.")
    output_dir: str = Field("multiscale_run", description="Directory of the results.")
    progress: bool = Field(True, description="Show progress bars.")


class PatchTestConfig(StrictConfig):
    """``nnpkit multiscale patch-test``: ghost forces under uniform strains."""

    potential: str = Field("emt", description="As in MultiscaleConfig (EMT: bqcf only).")
    cutoff_A: float = Field(5.0, gt=0, description="Range of a non-nnpkit calculator, Å.")
    couplings: list[Literal["bqce", "bqcf", "sharp"]] = Field(
        ["bqce", "bqcf", "sharp"], description="Couplings to test.")
    block: BlockConfig = Field(default_factory=lambda: BlockConfig(n_cells=(12, 12, 12)))
    radius_A: float = Field(4.0, ge=0, description="Radius of the atomistic ball, Å.")
    blend_widths_A: list[float] = Field([5.0, 7.5, 10.0], description="Handshake widths, Å.")
    padding_A: float | None = Field(None, gt=0, description="Padding, Å (default two cutoffs).")
    output_dir: str = Field("multiscale_patch_test", description="Directory of the results.")
    progress: bool = Field(True, description="Show progress bars.")


def load_multiscale_config(source: str | os.PathLike | dict,
                           overrides: list[str] | None = None) -> MultiscaleConfig:
    """Read and validate a run config (errors name the file and the key)."""
    return load_typed_config(source, MultiscaleConfig, overrides)


def load_patch_test_config(source: str | os.PathLike | dict,
                           overrides: list[str] | None = None) -> PatchTestConfig:
    """Read and validate a patch-test config."""
    return load_typed_config(source, PatchTestConfig, overrides)
