"""The typed config of ``nnpkit rates neb CONFIG.yaml``: states, steps and NEB settings.

One config names everything; the same config runs on a reference method by changing the
one key ``calculator`` (``emt``, ``gfn2``, ``<model.nnp>``, ``<committee.json>``)::

    calculator: emt
    output: runs/rates_neb
    slab: "*"                      # the clean-slab state (formation energy 0)
    references: [CO_g, O2_g]       # gas states whose atoms are the zero of energy
    states:
      "*":   {structure: slab.extxyz}
      "CO*": {structure: co.extxyz}
      "O*":  {structure: o.extxyz}
      CO_g:  {structure: co_gas.extxyz, gas: {geometry: linear, symmetry_number: 1}}
      O2_g:  {structure: o2.extxyz, gas: {geometry: linear, symmetry_number: 2, spin: 1}}
    steps:
      - name: co_oxidation
        initial_structure: co_o.extxyz
        final_structure: co2.extxyz
        initial: "CO* + O*"        # the states the NEB's initial state stands for
        final: "CO2_g + 2*"
        transition_state: TS_CO_O
    neb: {n_images: 5, fmax_eV_per_A: 0.05, climb: true}
    vibrations: {delta_A: 0.01, atoms: free}

Structure paths are relative to the config file's directory (``base_dir``); ``output`` is
relative to the working directory, like the other applications' outputs. A sum of
states is ``"[n] NAME + [n] NAME ..."`` with the ``+`` between spaces (``"2O*"`` and
``"2 O*"`` are both two ``O*``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from nnpkit.errors import ConfigError
from nnpkit.typed_config import StrictConfig, load_typed_config

__all__ = ["NebSettings", "RelaxSettings", "VibrationSettings", "GasSettings", "StateSpec",
           "StepSpec", "NebNetworkConfig", "load_neb_config", "parse_state_sum"]

Optimizer = Literal["FIRE", "BFGS", "LBFGS", "MDMin"]
_TERM = re.compile(r"^(\d+)?\s*(\S+)$")


class NebSettings(StrictConfig):
    """The climbing-image NEB of every step (:func:`nnpkit.paths.neb.run_neb`)."""

    n_images: int = Field(5, ge=1, description="Interior images of the band.")
    fmax_eV_per_A: float = Field(0.05, gt=0, description="Force limit of band and end points.")
    max_steps: int = Field(1000, ge=1, description="Optimiser steps of the band in all.")
    climb: bool = Field(True, description="Climbing image on the highest image.")
    optimizer: Optimizer = Field("FIRE", description="Optimiser of the band.")
    interpolation: Literal["idpp", "linear"] = Field("idpp", description="Initial band.")
    method: Literal["improvedtangent", "aseneb", "eb", "spline", "string"] = Field(
        "improvedtangent", description="ASE's NEB tangent method.")


class RelaxSettings(StrictConfig):
    """The relaxation of every named state (:func:`nnpkit.paths.neb.relax`)."""

    fmax_eV_per_A: float = Field(0.05, gt=0, description="Force limit, eV/Å.")
    max_steps: int = Field(500, ge=1, description="Optimiser steps before giving up.")
    optimizer: Optimizer = Field("BFGS", description="Optimiser of the states.")


class VibrationSettings(StrictConfig):
    """Finite-difference Hessians of the states, and of each step's IS, saddle and FS."""

    delta_A: float = Field(0.01, gt=0, description="Displacement of the central differences.")
    imaginary_threshold_cm1: float = Field(
        30.0, ge=0, description="Imaginary modes below this (cm⁻¹) are not counted.")
    atoms: Literal["free", "adsorbate"] = Field(
        "free", description="free: every atom not fixed by FixAtoms; adsorbate: the atoms "
                            "after the slab's (structures list the slab's atoms first).")


class GasSettings(StrictConfig):
    """An ideal-gas molecule (``ase.thermochemistry.IdealGasThermo``)."""

    geometry: Literal["monatomic", "linear", "nonlinear"] = Field(
        ..., description="Molecular geometry.")
    symmetry_number: int = Field(1, ge=1, description="Rotational symmetry number σ.")
    spin: float = Field(0.0, ge=0, description="Total spin S (O2: 1).")


class StateSpec(StrictConfig):
    """A named state: a structure to relax (an adsorbate on the slab, or a gas molecule)."""

    structure: str = Field(..., description="Structure file (first frame), relative to "
                                            "the config's directory.")
    gas: GasSettings | None = Field(None, description="Set for a gas-phase species.")


class StepSpec(StrictConfig):
    """An elementary step with a barrier: one NEB between two structures."""

    name: str = Field(..., min_length=1, description="Name of the step (its file names).")
    initial_structure: str = Field(..., description="NEB initial state, structure file.")
    final_structure: str = Field(..., description="NEB final state, structure file.")
    initial: str = Field(..., description="The states the IS stands for, e.g. 'CO* + O*'.")
    final: str = Field(..., description="The states the FS stands for, e.g. 'CO2_g + 2*'.")
    transition_state: str = Field(..., min_length=1, description="Name of its TS.")

    @model_validator(mode="after")
    def _file_safe_name(self) -> StepSpec:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
            raise ValueError(f"step name {self.name!r}: use letters, digits, '_', '.', '-' "
                             "(it names the step's files)")
        return self


class NebNetworkConfig(StrictConfig):
    """``nnpkit rates neb``: relax the states, run every step's NEB, check the saddles."""

    calculator: str = Field("emt", description="emt, gfn2, gfn1, <functional>/<basis>, or "
                                               "an nnpkit model or committee path.")
    device: str = Field("cpu", description="Torch device of an nnpkit model.")
    dtype: Literal["float32", "float64"] = Field("float64", description="Model precision.")
    output: str = Field("runs/rates_neb", description="Run directory (resumed if present).")
    base_dir: str | None = Field(None, description="Directory structure paths are relative "
                                                   "to (default: the config's directory).")
    slab: str = Field("*", description="The clean-slab state; its formation energy is 0.")
    references: list[str] = Field(default_factory=list,
                                  description="Gas states whose atoms are the zero of energy.")
    states: dict[str, StateSpec] = Field(..., description="Named states to relax.")
    steps: list[StepSpec] = Field(default_factory=list, description="Steps, one NEB each.")
    neb: NebSettings = Field(default_factory=NebSettings, description="NEB settings.")
    relax: RelaxSettings = Field(default_factory=RelaxSettings, description="State relaxation.")
    vibrations: VibrationSettings = Field(default_factory=VibrationSettings,
                                          description="Finite-difference Hessians.")
    allow_bad_saddles: bool = Field(False, description="Write the energies even when a saddle "
                                                       "has 0 or ≥2 imaginary modes.")
    plots: bool = Field(True, description="A PNG of the energy along each band.")
    progress: bool = Field(True, description="Progress bars over states and steps.")

    @model_validator(mode="after")
    def _consistent(self) -> NebNetworkConfig:
        if self.slab not in self.states:
            raise ValueError(f"slab: the clean-slab state {self.slab!r} is not in states")
        if self.states[self.slab].gas is not None:
            raise ValueError(f"slab: {self.slab!r} is a gas state")
        for name in self.references:
            if name not in self.states or self.states[name].gas is None:
                raise ValueError(f"references: {name!r} is not a gas state of states")
        seen: set[str] = set()
        for step in self.steps:
            for label, name in (("name", step.name), ("transition_state",
                                                       step.transition_state)):
                if name in seen or (label == "transition_state" and name in self.states):
                    raise ValueError(f"steps: {label} {name!r} is used twice (or is a state)")
            seen.update({step.name, step.transition_state})
            for key in ("initial", "final"):
                for _, state in parse_state_sum(getattr(step, key), f"step {step.name}.{key}"):
                    if state not in self.states:
                        raise ValueError(f"step {step.name}.{key}: unknown state {state!r} "
                                         f"(states: {', '.join(self.states)})")
        return self

    def resolve(self, path: str) -> Path:
        """A structure path of the config, relative to ``base_dir``."""
        given = Path(path)
        return given if given.is_absolute() else Path(self.base_dir or ".") / given


def parse_state_sum(text: str, where: str) -> list[tuple[int, str]]:
    """``"CO* + 2O*"`` → ``[(1, "CO*"), (2, "O*")]``.

    Raises:
        ValueError: an empty term or a zero coefficient (the message names ``where``).
    """
    terms = []
    for term in re.split(r"\s+\+\s+", text.strip()):
        match = _TERM.match(term.strip())
        if match is None or not match.group(2):
            raise ValueError(f"{where}: {text!r} is not a sum of states like 'CO* + 2O*'")
        count = int(match.group(1) or 1)
        if count < 1:
            raise ValueError(f"{where}: coefficient 0 in {text!r}")
        terms.append((count, match.group(2)))
    return terms


def load_neb_config(source: str | os.PathLike | dict, overrides: list[str] | None = None
                    ) -> NebNetworkConfig:
    """Read and validate a ``rates neb`` config; ``base_dir`` defaults to the file's
    directory (the working directory for a dict).

    Raises:
        ConfigError: naming the file and the key.
    """
    config = load_typed_config(source, NebNetworkConfig, overrides)
    if config.base_dir is None:
        base = "." if isinstance(source, dict) else str(Path(source).resolve().parent)
        config = config.model_copy(update={"base_dir": base})
    for state, spec in config.states.items():
        if not config.resolve(spec.structure).is_file():
            raise ConfigError(f"states.{state}.structure: no file {config.resolve(spec.structure)}")
    for step in config.steps:
        for key in ("initial_structure", "final_structure"):
            path = config.resolve(getattr(step, key))
            if not path.is_file():
                raise ConfigError(f"step {step.name}.{key}: no file {path}")
    return config
