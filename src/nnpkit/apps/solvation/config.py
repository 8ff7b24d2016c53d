"""Typed configs of the solvation application (``nnpkit solvation umbrella|metad``)."""

from __future__ import annotations

import os
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from nnpkit.typed_config import StrictConfig, load_typed_config

__all__ = ["SolvationConfig", "SystemConfig", "CVConfig", "WallConfig", "SolvationMDConfig",
           "GuardConfig", "ProfileAnalysisConfig", "WindowsConfig", "MetadynamicsConfig",
           "UmbrellaConfig", "MetadConfig", "load_umbrella_config", "load_metad_config"]


class SystemConfig(StrictConfig):
    """The solvated ion: built (an ion in a water cluster) or read from a file."""

    ion: str = Field("Na", description="The ion's element symbol.")
    n_waters: int = Field(24, ge=1, description="Water molecules of the built cluster.")
    charge: int = Field(1, description="Total charge, e (for xTB/DFT and the labels).")
    structure: str | None = Field(None, description="A structure file to start from instead "
                                                    "of building the cluster.")
    seed: int = Field(0, description="Seed of the cluster's random placement.")
    density_g_per_cm3: float = Field(1.0, gt=0, description="Water density of the cluster.")


class CVConfig(StrictConfig):
    """The collective variable: the ion's coordination number or an ion–atom distance."""

    kind: Literal["coordination", "distance"] = Field(
        "coordination", description="PLUMED COORDINATION, or the distance to one atom.")
    center: str | int = Field("Na", description="The centre: a species (one atom) or index.")
    group: str | list[int] = Field("O", description="The group: a species or atom indices "
                                                    "(distance: exactly one atom).")
    r0_A: float = Field(3.0, gt=0, description="Switching length r0, Å.")
    d0_A: float = Field(0.0, ge=0, description="Switching offset d0, Å.")
    n: int = Field(6, ge=1, description="Switching exponent n.")
    m: int = Field(0, ge=0, description="Switching exponent m (0: 2n, PLUMED's default).")


class WallConfig(StrictConfig):
    """A soft spherical wall about the cluster's centre keeps the waters together."""

    enabled: bool = Field(True, description="Apply the wall.")
    radius_A: float | None = Field(None, gt=0, description="Radius, Å (default: the "
                                                           "cluster's radius + 2 Å).")
    spring_constant_eV_per_A2: float = Field(2.0, gt=0, description="Wall stiffness, eV/Å².")


class SolvationMDConfig(StrictConfig):
    """Langevin NVT of all windows (walkers) in one batch."""

    temperature_K: float = Field(300.0, gt=0, description="Temperature, K.")
    timestep_fs: float = Field(0.5, gt=0, description="Time step, fs.")
    steps: int = Field(20_000, ge=1, description="MD steps per window.")
    equilibration_steps: int = Field(2_000, ge=0, description="Steps left out of the "
                                                              "analysis.")
    friction_per_fs: float = Field(0.01, gt=0, description="Langevin friction, 1/fs.")
    sample_interval: int = Field(10, ge=1, description="Steps between CV samples.")
    chunk_steps: int = Field(2_000, ge=1, description="Steps between checkpoints.")
    trajectory_interval: int | None = Field(100, ge=1, description="Steps between frames "
                                                                   "(null: none).")
    seed: int = Field(0, description="Seed of the velocities and the Langevin noise.")
    device: str = Field("cpu", description="Torch device of an nnpkit model.")
    dtype: Literal["float32", "float64"] | None = Field(
        None, description="Precision of an nnpkit model (default: its own).")

    @model_validator(mode="after")
    def _intervals(self) -> SolvationMDConfig:
        for name in ("sample_interval", "trajectory_interval"):
            interval = getattr(self, name)
            if interval is not None and self.chunk_steps % interval:
                raise ValueError(f"{name} ({interval}) must divide chunk_steps "
                                 f"({self.chunk_steps})")
        if self.equilibration_steps >= self.steps:
            raise ValueError(f"equilibration_steps ({self.equilibration_steps}) must be "
                             f"below steps ({self.steps})")
        return self


class GuardConfig(StrictConfig):
    """The committee's force spread in the biased MD (a committee calculator only)."""

    max_force_std_eV_per_A: float | None = Field(None, gt=0, description="Threshold, eV/Å.")
    action: Literal["flag", "stop"] = Field("flag", description="Flag the window and go on, "
                                                                "or stop the run.")
    interval: int = Field(10, ge=1, description="Steps between checks.")
    use_flagged_windows: bool = Field(False, description="Keep flagged windows in the "
                                                         "profile (they are reported anyway).")


class ProfileAnalysisConfig(StrictConfig):
    """The profile, the named states and the shell structure."""

    bins: int | list[float] = Field(40, description="Bins over the sampled CV range, or edges.")
    min_overlap: float = Field(0.03, ge=0, le=1, description="Warn below this MBAR overlap "
                                                              "of neighbouring windows.")
    states: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {"CN4": (3.5, 4.5), "CN5": (4.5, 5.5), "CN6": (5.5, 6.5)},
        description="Named CV intervals [low, high) for free energies of states.")
    delta_F: list[tuple[str, str]] | None = Field(
        None, description="(A, B) pairs for ΔF = F_B − F_A (default: consecutive states).")
    rdf_r_max_A: float = Field(8.0, gt=0, description="Outer edge of the RDF, Å.")
    rdf_bins: int = Field(80, ge=2, description="RDF shells.")
    shell_cutoff_A: float | None = Field(None, gt=0, description="First-shell radius, Å "
                                                                 "(default: g's first minimum).")
    residence_tolerance_frames: int = Field(0, ge=0, description="Excursions this short do "
                                                                 "not end a stay.")

    @model_validator(mode="after")
    def _states(self) -> ProfileAnalysisConfig:
        for name, (low, high) in self.states.items():
            if not high > low:
                raise ValueError(f"state {name}: need low < high, got [{low}, {high})")
        for pair in self.delta_F or []:
            unknown = [name for name in pair if name not in self.states]
            if unknown:
                raise ValueError(f"delta_F {list(pair)}: unknown state(s) {unknown}; states: "
                                 f"{sorted(self.states)}")
        return self


class WindowsConfig(StrictConfig):
    """Umbrella windows: explicit centres, or ``n`` evenly from ``start`` to ``stop``."""

    centers: list[float] | None = Field(None, description="Window centres, CV units.")
    start: float = Field(2.0, description="First centre (without centers).")
    stop: float = Field(8.0, description="Last centre (without centers).")
    n: int = Field(16, ge=2, description="Number of windows (without centers).")
    spring_constant: float = Field(5.0, gt=0, description="K, eV per CV unit².")

    def center_values(self) -> list[float]:
        """The window centres."""
        if self.centers is not None:
            return list(self.centers)
        return np.linspace(self.start, self.stop, self.n).tolist()


class MetadynamicsConfig(StrictConfig):
    """Well-tempered metadynamics walkers (one batch)."""

    n_walkers: int = Field(8, ge=1, description="Walkers.")
    walkers: Literal["shared", "independent"] = Field("shared", description="One bias for "
                                                                           "all, or one each.")
    height_eV: float = Field(0.01, gt=0, description="Initial hill height, eV.")
    sigma: float = Field(0.1, gt=0, description="Hill width, CV units.")
    bias_factor: float = Field(10.0, gt=1, description="γ = (T + ΔT)/T.")
    pace_steps: int = Field(50, ge=1, description="Steps between hills.")
    grid: tuple[float, float, int] | None = Field(
        (0.0, 12.0, 1201), description="(min, max, points) of the bias grid (null: sums).")
    profile_points: int = Field(121, ge=2, description="Points of the reported profile.")


class SolvationConfig(StrictConfig):
    """What umbrella sampling and metadynamics share: system, potential, CV, MD, output."""

    system: SystemConfig = Field(default_factory=SystemConfig, description="The ion.")
    calculator: str = Field("gfn2", description="A model file, committee or run directory, "
                                                "or a reference method (gfn2, ...).")
    calculator_options: dict = Field(default_factory=dict, description="Reference-method "
                                     "options (the system's charge is added).")
    cv: CVConfig = Field(default_factory=CVConfig, description="The collective variable.")
    md: SolvationMDConfig = Field(default_factory=SolvationMDConfig, description="The MD.")
    wall: WallConfig = Field(default_factory=WallConfig, description="The spherical wall.")
    uncertainty: GuardConfig = Field(default_factory=GuardConfig,
                                     description="The committee guard.")
    analysis: ProfileAnalysisConfig = Field(default_factory=ProfileAnalysisConfig,
                                            description="Profile and structure analysis.")
    output: str = Field("runs/solvation", description="The run directory.")
    plots: bool = Field(True, description="Write PNGs.")
    progress: bool = Field(True, description="Show progress bars.")


class UmbrellaConfig(SolvationConfig):
    """``nnpkit solvation umbrella``: windows on the CV, MBAR."""

    windows: WindowsConfig = Field(default_factory=WindowsConfig, description="The windows.")


class MetadConfig(SolvationConfig):
    """``nnpkit solvation metad``: well-tempered metadynamics."""

    metad: MetadynamicsConfig = Field(default_factory=MetadynamicsConfig,
                                      description="The metadynamics bias.")


def load_umbrella_config(source: str | os.PathLike | dict,
                         overrides: list[str] | None = None) -> UmbrellaConfig:
    """Read and validate an umbrella config (YAML path or dict)."""
    return load_typed_config(source, UmbrellaConfig, overrides)


def load_metad_config(source: str | os.PathLike | dict,
                      overrides: list[str] | None = None) -> MetadConfig:
    """Read and validate a metadynamics config (YAML path or dict)."""
    return load_typed_config(source, MetadConfig, overrides)
