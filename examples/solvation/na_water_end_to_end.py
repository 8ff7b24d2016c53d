"""Na+ in a water cluster, end to end: GFN2-xTB data, a committee with active learning,
F(CN) by batched umbrella sampling + MBAR, and the same profile sampled on GFN2 directly.

    OMP_NUM_THREADS=1 .venv/bin/python examples/solvation/na_water_end_to_end.py \
        examples/solvation/na_water_full.yaml --out runs/na_water [--quick] [--stages ...]

Stages (each writes ``<out>/<stage>.json`` and is skipped when that file exists, so a
killed run resumes; the umbrella runs inside a stage resume from their checkpoints):

``build``        Na at the centre, waters packed without overlaps (O toward the ion), a
                 short unbiased GFN2 Langevin run (ASE, ``BiasedCalculator`` with the
                 spherical wall): the start structure and GFN2's cost per step.
``gfn2_windows`` all CN windows on GFN2 (``run_umbrella``, one tblite per window, wall as
                 extra bias) for ``gfn2_initial_steps``: the initial training frames.
``al``           label (farm, SQLite store, charge +1), train a committee, run biased
                 batched MD on it in every window, evaluate the committee spread of every
                 frame; frames over the threshold are labelled and the committee retrained,
                 up to ``al_rounds`` times or until no window exceeds the threshold. To
                 continue a finished ``al`` stage, delete ``al.json`` and rerun with a larger
                 ``--set al_rounds=N``: the rounds in ``al_state.json`` are kept and the last
                 one's selection is labelled first (what a non-final round would have done).
``production``   umbrella windows on the final committee + MBAR; an unbiased run (wall only)
                 for the RDF.
``gfn2_profile`` the GFN2 windows continued to ``gfn2_profile_steps`` + MBAR (may run in a
                 second process, in parallel with ``al``/``production``).
``compare``      both profiles per bin in kT, the projected GFN2 cost, PNGs, summary.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units
from ase.build import molecule
from ase.io import read, write
from pydantic import Field
from scipy.spatial.transform import Rotation

from nnpkit.file_writes import atomic_write
from nnpkit.typed_config import StrictConfig, load_typed_config

STAGES = ("build", "gfn2_windows", "al", "production", "gfn2_profile", "compare")


class NaWaterConfig(StrictConfig):
    """Sizes and settings of the example (see na_water_full.yaml for the chosen values)."""

    n_waters: int = Field(24, ge=1, description="Water molecules around the ion.")
    seed: int = Field(0, description="Seed of the build and of every MD run.")
    temperature_K: float = Field(300.0, gt=0, description="Langevin temperature, K.")
    timestep_fs: float = Field(0.5, gt=0, description="MD time step, fs.")
    friction_per_fs: float = Field(0.01, gt=0, description="Langevin friction, 1/fs.")
    r0_A: float = Field(3.1, gt=0, description="Switching-function r0 of Na-O, Å.")
    switch_n: int = Field(12, ge=1, description="Switching-function n.")
    switch_m: int = Field(24, ge=0, description="Switching-function m (0: 2n).")
    windows: list[float] = Field([4.0, 5.0, 6.0, 7.0], description="Window CN centres.")
    spring_constant_eV: float = Field(0.6, gt=0, description="Umbrella k, eV per CN².")
    wall_radius_A: float = Field(6.5, gt=0, description="Spherical wall radius, Å.")
    wall_k_eV_per_A2: float = Field(1.0, gt=0, description="Wall spring constant, eV/Å².")
    equilibration_steps: int = Field(200, ge=1, description="Unbiased GFN2 steps in build.")
    gfn2_initial_steps: int = Field(200, ge=1, description="GFN2 window steps for data.")
    gfn2_frame_interval: int = Field(10, ge=1, description="Steps between data frames.")
    gfn2_skip_steps: int = Field(40, ge=0, description="Window steps not used as data.")
    gfn2_profile_steps: int = Field(1200, ge=1, description="GFN2 window steps, profile.")
    gfn2_profile_equilibration_steps: int = Field(200, ge=0, description="Dropped, profile.")
    chunk_steps: int = Field(100, ge=1, description="Umbrella checkpoint interval, steps.")
    sample_interval: int = Field(5, ge=1, description="Steps between CV samples.")
    committee_size: int = Field(3, ge=2, description="Committee members.")
    train_minutes_per_member: float = Field(1.5, gt=0, description="Wall limit per member.")
    hidden: list[int] = Field([32, 32], description="BPNN hidden layers.")
    cutoff_A: float = Field(5.0, gt=0, description="BPNN radial cutoff, Å.")
    al_rounds: int = Field(2, ge=0, description="Active-learning rounds (label + retrain).")
    al_steps: int = Field(400, ge=1, description="Committee MD steps per window per round.")
    al_frame_interval: int = Field(10, ge=1, description="Steps between frames checked.")
    max_force_std_eV_per_A: float = Field(0.3, gt=0, description="Committee threshold.")
    al_select_per_window: int = Field(10, ge=1, description="Frames labelled per window.")
    production_steps: int = Field(4000, ge=1, description="Committee window steps.")
    production_equilibration_steps: int = Field(500, ge=0, description="Dropped, production.")
    unbiased_steps: int = Field(4000, ge=1, description="Unbiased committee steps (RDF).")
    bins: list[float] = Field([3.0, 4.0, 5.0, 6.0, 7.0, 8.0], description="CN bin edges.")
    states: dict[str, tuple[float, float]] = Field(
        {"CN5": (4.5, 5.5), "CN6": (5.5, 6.5)}, description="Named CN intervals.")
    delta_pair: tuple[str, str] = Field(("CN5", "CN6"), description="ΔF = F_B − F_A.")


QUICK = {"n_waters": 8, "windows": [5.75], "spring_constant_eV": 0.3,
         "equilibration_steps": 10,
         "gfn2_initial_steps": 40, "gfn2_frame_interval": 5, "gfn2_skip_steps": 0,
         "gfn2_profile_steps": 60, "gfn2_profile_equilibration_steps": 0, "chunk_steps": 20,
         "committee_size": 2, "train_minutes_per_member": 0.15, "hidden": [8],
         "al_rounds": 1, "al_steps": 20, "al_frame_interval": 5, "al_select_per_window": 2,
         "production_steps": 100, "production_equilibration_steps": 0, "unbiased_steps": 40,
         "bins": [5.0, 5.5, 6.0, 6.5], "states": {"A": (4.0, 5.75), "B": (5.75, 7.0)},
         "delta_pair": ("A", "B"), "wall_radius_A": 4.5}


# ---------------------------------------------------------------- building blocks

def build_cluster(n_waters: int, seed: int) -> Atoms:
    """Na at the origin, up to 6 waters on a randomly turned octahedron (Na–O 2.4 Å), the
    others at random non-overlapping places (O–O ≥ 2.75 Å, Na–O ≥ 3.9 Å, inside a sphere of
    about the liquid's density); each water's H point away from the ion (random spin about
    that axis). ``info["charge"] = 1``."""
    rng = np.random.default_rng(seed)
    water = molecule("H2O")
    water.positions -= water.positions[0]  # O at the origin, H-H bisector along -z
    radius = (3 * n_waters * 30.0 / (4 * np.pi)) ** (1 / 3) + 0.8
    octahedron = np.vstack([np.eye(3), -np.eye(3)]) * 2.4  # [6, 3], a first shell, Å
    turn = Rotation.random(random_state=int(rng.integers(2**31)))
    oxygens: list[np.ndarray] = list(turn.apply(octahedron)[:min(6, n_waters)])
    for _ in range(200000):
        if len(oxygens) == n_waters:
            break
        p = rng.uniform(-radius, radius, 3)
        r = float(np.linalg.norm(p))
        if r > radius or r < 3.9 or any(np.linalg.norm(p - o) < 2.75 for o in oxygens):
            continue
        oxygens.append(p)
    if len(oxygens) < n_waters:
        raise RuntimeError(f"could not pack {n_waters} waters in {radius:.1f} Å")
    symbols, positions = ["Na"], [np.zeros(3)]
    for o in oxygens:
        outward = o / np.linalg.norm(o)
        align, _ = Rotation.align_vectors([outward], [[0.0, 0.0, -1.0]])
        spin = Rotation.from_rotvec(outward * rng.uniform(0, 2 * np.pi))
        for symbol, x in zip(water.get_chemical_symbols(), water.positions, strict=True):
            symbols.append(symbol)
            positions.append(o + (spin * align).apply(x))
    atoms = Atoms(symbols, positions=positions)
    atoms.info["charge"] = 1
    return atoms


def oxygen_indices(atoms: Atoms) -> list[int]:
    return [i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "O"]


def make_cv(cfg: NaWaterConfig, atoms: Atoms, n_replicas: int) -> Any:
    from nnpkit.md import CoordinationCV

    return CoordinationCV(0, oxygen_indices(atoms), [len(atoms)] * n_replicas, r0_A=cfg.r0_A,
                          n=cfg.switch_n, m=cfg.switch_m)


def make_wall(cfg: NaWaterConfig, atoms: Atoms, n_replicas: int) -> Any:
    from nnpkit.md import SphericalWall

    return SphericalWall([len(atoms)] * n_replicas, cfg.wall_radius_A, cfg.wall_k_eV_per_A2,
                         atoms=[0, *oxygen_indices(atoms)])


def gfn2_calculator() -> Any:
    """tblite GFN2-xTB with total charge +1 (the farm uses parse_method('gfn2', charge=1))."""
    from nnpkit.labeling import make_reference_calculator

    return make_reference_calculator("gfn2", charge=1)


def gfn2_spec() -> Any:
    from nnpkit.labeling import parse_method

    return parse_method("gfn2", charge=1)


def write_json(path: Path, data: dict) -> None:
    text = json.dumps(data, indent=1, default=float)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def window_frames(run_dir: Path, n_windows: int, timestep_fs: float, skip_steps: int
                  ) -> list[list[Atoms]]:
    """Per window the trajectory frames of an umbrella run dir after ``skip_steps``."""
    frames = []
    for k in range(n_windows):
        mine = []
        for part in sorted((run_dir / "windows" / f"window_{k:02d}").glob("part_*.extxyz")):
            for atoms in read(part, ":"):
                if atoms.info.get("time_fs", 0.0) / timestep_fs >= skip_steps:
                    clean = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions)
                    clean.info["charge"] = 1
                    clean.info["time_fs"] = atoms.info.get("time_fs", 0.0)
                    mine.append(clean)
        frames.append(mine)
    return frames


def profile_of(cfg: NaWaterConfig, samples: list[np.ndarray]) -> Any:
    from nnpkit.apps.solvation.mbar import umbrella_free_energy

    return umbrella_free_energy(samples, cfg.windows, cfg.spring_constant_eV, cfg.temperature_K,
                                bins=cfg.bins, states=cfg.states, delta_pairs=[cfg.delta_pair],
                                warn=False)


def profile_json(profile: Any, cfg: NaWaterConfig) -> dict:
    a, b = cfg.delta_pair
    # a state without a sample is left out by umbrella_free_energy (with a warning)
    delta, sigma = profile.delta_F_eV.get(f"{a}->{b}", (None, None))
    rows = profile.rows()
    finite = [r for r in rows if r["F_eV"] is not None]
    return {"profile": rows, "most_probable_cn": min(finite, key=lambda r: r["F_eV"])["cn"],
            "delta_F_eV": {f"{a}->{b}": delta, "sigma_eV": sigma},
            "statistical_inefficiency": profile.statistical_inefficiency.tolist(),
            "n_decorrelated": profile.n_decorrelated.tolist(),
            "poor_overlap": [list(p) for p in profile.poor_overlap],
            "overlap_neighbours": [float(profile.overlap[i, i + 1])
                                   for i in range(len(cfg.windows) - 1)]}


# ---------------------------------------------------------------- stages

def stage_build(cfg: NaWaterConfig, out: Path, progress: bool) -> dict:
    """The cluster, then unbiased GFN2 Langevin (wall only) through BiasedCalculator."""
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    from nnpkit.md import BiasedCalculator, cv_of_atoms

    atoms = build_cluster(cfg.n_waters, cfg.seed)
    write(out / "cluster_built.extxyz", atoms)
    cv = make_cv(cfg, atoms, 1)
    atoms.calc = BiasedCalculator(gfn2_calculator(), make_wall(cfg, atoms, 1))
    MaxwellBoltzmannDistribution(atoms, temperature_K=cfg.temperature_K,
                                 rng=np.random.default_rng(cfg.seed))
    dynamics = Langevin(atoms, cfg.timestep_fs * units.fs, temperature_K=cfg.temperature_K,
                        friction=cfg.friction_per_fs / units.fs,
                        rng=np.random.default_rng(cfg.seed + 1))
    cn: list[float] = []
    dynamics.attach(lambda: cn.append(cv_of_atoms(cv, atoms)), interval=5)
    started = time.perf_counter()
    dynamics.run(cfg.equilibration_steps)
    wall_s = time.perf_counter() - started
    final = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions)
    final.set_momenta(atoms.get_momenta())
    final.info["charge"] = 1
    write(out / "cluster_equilibrated.extxyz", final)
    return {"n_atoms": len(final), "gfn2_unbiased_steps": cfg.equilibration_steps,
            "gfn2_unbiased_wall_s": wall_s,
            "gfn2_s_per_step": wall_s / cfg.equilibration_steps,
            "cn_series": cn, "cn_mean_second_half": float(np.mean(cn[len(cn) // 2:]))}


def _gfn2_umbrella(cfg: NaWaterConfig, out: Path, steps: int, progress: bool) -> tuple[Any, float]:
    from nnpkit.apps.solvation.umbrella import run_umbrella

    start = read(out / "cluster_equilibrated.extxyz")
    n = len(cfg.windows)
    started = time.perf_counter()
    run = run_umbrella([gfn2_calculator() for _ in range(n)], start, make_cv(cfg, start, n),
                       cfg.windows, cfg.spring_constant_eV, temperature_K=cfg.temperature_K,
                       timestep_fs=cfg.timestep_fs, steps=steps,
                       friction_per_fs=cfg.friction_per_fs, sample_interval=cfg.sample_interval,
                       chunk_steps=cfg.chunk_steps, extra_bias=make_wall(cfg, start, n),
                       run_dir=out / "gfn2_umbrella", trajectory_interval=cfg.gfn2_frame_interval,
                       seed=cfg.seed, progress=progress)
    return run, time.perf_counter() - started


def stage_gfn2_windows(cfg: NaWaterConfig, out: Path, progress: bool) -> dict:
    run, wall_s = _gfn2_umbrella(cfg, out, cfg.gfn2_initial_steps, progress)
    starts = [a.copy() for a in run.atoms]
    write(out / "window_starts.extxyz", starts)
    steps_done = run.completed_steps - run.resumed_from_step
    return {"steps": cfg.gfn2_initial_steps, "wall_s": wall_s,
            "s_per_window_step": wall_s / max(1, steps_done) / len(cfg.windows),
            "cv_mean_per_window": run.cv.mean(axis=0).tolist()}


def _label(frames: list[Atoms], out: Path) -> dict:
    from nnpkit.labeling import label_to_store

    report = label_to_store(frames, gfn2_spec(), out / "labels.sqlite",
                            properties=("energy", "forces"), n_workers=1, progress=False)
    return report.to_dict()


def _train(cfg: NaWaterConfig, out: Path, round_: int) -> tuple[Path, float, list]:
    from nnpkit.labeling import DatasetStore
    from nnpkit.training.committee import fit_committee
    from nnpkit.training.config import load_config

    folder = out / f"round_{round_}"
    folder.mkdir(exist_ok=True)
    train_path = folder / "train.extxyz"
    if not train_path.is_file():
        DatasetStore(out / "labels.sqlite").export(train_path, "gfn2")
    config = load_config({
        "data": {"train": str(train_path), "validation_fraction": 0.1, "test_fraction": 0.1},
        "model": {"kind": "bpnn", "cutoff_A": cfg.cutoff_A, "angular_cutoff_A": 4.0,
                  "n_radial": 8, "n_angular_radial": 3, "zetas": [1, 4], "hidden": cfg.hidden},
        "statistics": {"reference_energies": "fit"},
        "training": {"max_epochs": 100000, "time_limit_min": cfg.train_minutes_per_member,
                     "time_clock": "wall", "dtype": "float32", "num_threads": 1,
                     "batch_size": 8, "learning_rate": 3e-3, "energy_weight": 10.0,
                     "forces_weight": 1.0, "stress_weight": 0.0,
                     "early_stopping_patience": 100, "scheduler_patience": 20,
                     "progress": False, "seed": cfg.seed},
        "output": str(folder / "committee")})
    started = time.perf_counter()
    result = fit_committee(config, cfg.committee_size)
    return result.committee_path, time.perf_counter() - started, result.test_metrics


def _spread(committee_path: Path, frames: list[list[Atoms]]) -> list[np.ndarray]:
    """max_force_std (eV/Å, max over atoms) of every frame, per window."""
    from nnpkit.calculators import load_calculator

    calc = load_calculator(committee_path)
    spreads = []
    for mine in frames:
        values = []
        for atoms in mine:
            work = atoms.copy()
            work.calc = calc
            work.get_forces()
            values.append(float(calc.results["max_force_std"]))
        spreads.append(np.asarray(values))
    return spreads


def _select_and_label(cfg: NaWaterConfig, out: Path, state: dict, row: dict,
                      explored: list[list[Atoms]], spreads: list[np.ndarray]) -> None:
    """Label the (at most al_select_per_window) highest-spread frames over the threshold of
    every window over it; records ``n_selected`` in ``row`` and the label report in ``state``."""
    chosen = []
    for k in row["windows_over"]:
        order = np.argsort(spreads[k])[::-1][:cfg.al_select_per_window]
        chosen += [explored[k][int(i)] for i in order
                   if spreads[k][int(i)] > cfg.max_force_std_eV_per_A]
    row["n_selected"] = len(chosen)
    state["labels"].append(_label(chosen, out))


def stage_al(cfg: NaWaterConfig, out: Path, progress: bool) -> dict:
    """Label the GFN2 frames, then train / explore / select / label rounds."""
    from nnpkit.apps.solvation.umbrella import run_umbrella
    from nnpkit.models.committee_file import load_committee

    n = len(cfg.windows)
    frames = [a for w in window_frames(out / "gfn2_umbrella", n, cfg.timestep_fs,
                                       cfg.gfn2_skip_steps) for a in w]
    frames = [a for a in frames if a.info.get("time_fs", 0) / cfg.timestep_fs
              <= cfg.gfn2_initial_steps] or frames
    state_path = out / "al_state.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {
        "labels": [], "rounds": []}
    if not state["labels"]:
        state["labels"].append(_label(frames, out))
        write_json(state_path, state)
    starts = read(out / "window_starts.extxyz", ":")
    last = state["rounds"][-1] if state["rounds"] else None
    if (last is not None and last["windows_over"] and "n_selected" not in last
            and last["round"] < cfg.al_rounds):
        # a run continued with a larger al_rounds: label what its last round selected
        committee_path = out / f"round_{last['round']}" / "committee"
        explored = window_frames(out / f"round_{last['round']}" / "explore", n,
                                 cfg.timestep_fs, 0)
        _select_and_label(cfg, out, state, last, explored, _spread(committee_path, explored))
        write_json(state_path, state)
    for round_ in range(len(state["rounds"]), cfg.al_rounds + 1):
        committee_path, train_s, metrics = _train(cfg, out, round_)
        committee = load_committee(committee_path)
        run_dir = out / f"round_{round_}" / "explore"
        started = time.perf_counter()
        run = run_umbrella(committee, starts, make_cv(cfg, starts[0], n), cfg.windows,
                           cfg.spring_constant_eV, temperature_K=cfg.temperature_K,
                           timestep_fs=cfg.timestep_fs, steps=cfg.al_steps,
                           friction_per_fs=cfg.friction_per_fs,
                           sample_interval=cfg.sample_interval, chunk_steps=cfg.al_steps,
                           extra_bias=make_wall(cfg, starts[0], n), run_dir=run_dir,
                           trajectory_interval=cfg.al_frame_interval, seed=cfg.seed + round_,
                           max_force_std=cfg.max_force_std_eV_per_A,
                           uncertainty_action="flag",
                           uncertainty_interval=cfg.al_frame_interval, progress=progress)
        md_s = time.perf_counter() - started
        explored = window_frames(run_dir, n, cfg.timestep_fs, 0)
        spreads = _spread(committee_path, explored)
        row = {"round": round_, "n_labels": sum(r["n_computed"] for r in state["labels"]),
               "train_wall_s": train_s, "explore_wall_s": md_s,
               "test_metrics": metrics,
               "spread_max_per_window": [float(s.max()) for s in spreads],
               "spread_mean_per_window": [float(s.mean()) for s in spreads],
               "fraction_over_per_window": [float((s > cfg.max_force_std_eV_per_A).mean())
                                            for s in spreads],
               "guard_flags": len(run.flags),
               "cv_mean_per_window": run.cv.mean(axis=0).tolist()}
        over = [k for k, s in enumerate(spreads) if s.max() > cfg.max_force_std_eV_per_A]
        row["windows_over"] = over
        if over and round_ < cfg.al_rounds:
            _select_and_label(cfg, out, state, row, explored, spreads)
        state["rounds"].append(row)
        write_json(state_path, state)
        if not over:
            break
    return {"final_committee": str(out / f"round_{len(state['rounds']) - 1}" / "committee"),
            "converged": not state["rounds"][-1]["windows_over"], **state}


def stage_production(cfg: NaWaterConfig, out: Path, progress: bool) -> dict:
    from nnpkit.apps.solvation.umbrella import run_umbrella
    from nnpkit.md import run_batched_md
    from nnpkit.models.committee_file import load_committee

    al = json.loads((out / "al.json").read_text())
    committee = load_committee(al["final_committee"])
    n = len(cfg.windows)
    # each window starts where the last active-learning round's run of it ended
    explored = window_frames(Path(al["final_committee"]).parent / "explore", n,
                             cfg.timestep_fs, 0)
    starts = [frames[-1] for frames in explored]
    started = time.perf_counter()
    run = run_umbrella(committee, starts, make_cv(cfg, starts[0], n), cfg.windows,
                       cfg.spring_constant_eV, temperature_K=cfg.temperature_K,
                       timestep_fs=cfg.timestep_fs, steps=cfg.production_steps,
                       friction_per_fs=cfg.friction_per_fs, sample_interval=cfg.sample_interval,
                       chunk_steps=min(cfg.production_steps, 1000),
                       extra_bias=make_wall(cfg, starts[0], n), run_dir=out / "production",
                       trajectory_interval=None, seed=cfg.seed + 100,
                       max_force_std=cfg.max_force_std_eV_per_A, uncertainty_action="flag",
                       uncertainty_interval=10 * cfg.sample_interval, progress=progress)
    umbrella_s = time.perf_counter() - started
    profile = profile_of(cfg, run.samples(cfg.production_equilibration_steps))
    start = read(out / "cluster_equilibrated.extxyz")
    started = time.perf_counter()
    unbiased = run_batched_md(committee, [start], ensemble="nvt", temperature_K=cfg.temperature_K,
                              timestep_fs=cfg.timestep_fs, steps=cfg.unbiased_steps,
                              friction_per_fs=cfg.friction_per_fs, velocities="thermal",
                              seed=cfg.seed + 200, bias=make_wall(cfg, start, 1),
                              trajectory=out / "unbiased.extxyz", trajectory_interval=10,
                              progress=progress)
    unbiased_s = time.perf_counter() - started
    del unbiased
    frames = read(out / "unbiased.extxyz", f"{len(read(out / 'unbiased.extxyz', ':')) // 5}:")
    rdf = na_o_rdf(frames)
    cv = make_cv(cfg, frames[0], 1)
    from nnpkit.md import cv_of_atoms

    cn = [cv_of_atoms(cv, a) for a in frames]
    flagged = {int(k): float(v) for k, v in run.flagged_windows().items()}
    return {"umbrella_wall_s": umbrella_s, "unbiased_wall_s": unbiased_s,
            "s_per_batched_step": umbrella_s / max(1, run.completed_steps - run.resumed_from_step),
            "flagged_windows": flagged, **profile_json(profile, cfg),
            "rdf": rdf, "unbiased_cn_mean": float(np.mean(cn)),
            "unbiased_cn_histogram": np.histogram(cn, bins=cfg.bins)[0].tolist()}


def na_o_rdf(frames: list[Atoms], r_max_A: float = 7.0, n_bins: int = 70) -> dict:
    """Na–O g(r) of a cluster: counts per shell volume 4πr²dr over the mean O density
    inside the sphere of radius r_max (so g → the cluster's shape factor, not 1, far out)."""
    edges = np.linspace(0.0, r_max_A, n_bins + 1)
    counts = np.zeros(n_bins)
    n_inside = []
    for atoms in frames:
        oxygens = oxygen_indices(atoms)
        d = np.linalg.norm(atoms.positions[oxygens] - atoms.positions[0], axis=1)
        counts += np.histogram(d, bins=edges)[0]
        n_inside.append(float((d < r_max_A).sum()))
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    density = np.mean(n_inside) / (4.0 / 3.0 * np.pi * r_max_A**3)
    g = counts / len(frames) / shell / density
    running = np.cumsum(counts) / len(frames)
    centers = 0.5 * (edges[1:] + edges[:-1])
    first_min = int(np.argmin(np.where((centers > 2.6) & (centers < 3.8), g, np.inf)))
    return {"r_A": centers.tolist(), "g": g.tolist(), "running_cn": running.tolist(),
            "first_peak_A": float(centers[int(np.argmax(g))]),
            "first_minimum_A": float(centers[first_min]),
            "cn_at_first_minimum": float(running[first_min])}


def stage_gfn2_profile(cfg: NaWaterConfig, out: Path, progress: bool) -> dict:
    run, wall_s = _gfn2_umbrella(cfg, out, cfg.gfn2_profile_steps, progress)
    profile = profile_of(cfg, run.samples(cfg.gfn2_profile_equilibration_steps))
    steps_done = run.completed_steps - run.resumed_from_step
    return {"steps": cfg.gfn2_profile_steps, "equilibration_steps":
            cfg.gfn2_profile_equilibration_steps, "length_ps_per_window":
            cfg.gfn2_profile_steps * cfg.timestep_fs / 1000, "wall_s_this_call": wall_s,
            "s_per_window_step": wall_s / max(1, steps_done) / len(cfg.windows),
            **profile_json(profile, cfg)}


def stage_compare(cfg: NaWaterConfig, out: Path, progress: bool) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kT = units.kB * cfg.temperature_K
    load = {name: json.loads((out / f"{name}.json").read_text())
            for name in ("build", "gfn2_windows", "al", "production", "gfn2_profile")}
    nnp, gfn = load["production"], load["gfn2_profile"]
    rows = []
    for a, b in zip(nnp["profile"], gfn["profile"], strict=True):
        both = None not in (a["F_eV"], b["F_eV"], a["sigma_eV"], b["sigma_eV"])
        # converged: MBAR sigma (relative to each profile's minimum) <= 1 kT in both
        converged = both and a["sigma_eV"] <= kT and b["sigma_eV"] <= kT
        diff = (a["F_eV"] - b["F_eV"]) / kT if both else None
        combined = float(np.hypot(a["sigma_eV"], b["sigma_eV"]) / kT) if both else None
        rows.append({"cn": a["cn"], "F_nnp_kT": a["F_eV"] / kT if a["F_eV"] is not None else None,
                     "F_gfn2_kT": b["F_eV"] / kT if b["F_eV"] is not None else None,
                     "diff_kT": diff, "combined_sigma_kT": combined,
                     "converged_both": bool(converged),
                     "within_1kT": bool(converged and abs(diff) <= 1.0)})
    compared = [r for r in rows if r["converged_both"]]
    # cost: GFN2 wall for the learned potential's sampling, from GFN2's per-step cost
    gfn2_step_s = load["build"]["gfn2_s_per_step"]
    sampled_steps = len(cfg.windows) * cfg.production_steps + cfg.unbiased_steps
    labels_s = sum(r["wall_s"] for r in load["al"]["labels"])
    nnp_total_s = (load["gfn2_windows"]["wall_s"] + labels_s
                   + sum(r["train_wall_s"] + r["explore_wall_s"] for r in load["al"]["rounds"])
                   + nnp["umbrella_wall_s"] + nnp["unbiased_wall_s"])
    gfn2_window_step_s = gfn["s_per_window_step"]  # as the GFN2 windows ran, same machine load
    cost = {"gfn2_s_per_step": gfn2_step_s, "steps_sampled_on_potential": sampled_steps,
            "gfn2_s_per_window_step_in_batched_run": gfn2_window_step_s,
            "projected_gfn2_wall_s_at_batched_run_cost": gfn2_window_step_s * sampled_steps,
            "potential_s_per_window_step": nnp["s_per_batched_step"] / len(cfg.windows),
            "projected_gfn2_wall_s": gfn2_step_s * sampled_steps,
            "potential_wall_s_total": nnp_total_s, "potential_labels_wall_s": labels_s,
            "ratio_gfn2_over_potential": gfn2_step_s * sampled_steps / nnp_total_s}
    figure, axis = plt.subplots(figsize=(5, 3.5))
    for name, data in (("committee (MBAR)", nnp), ("GFN2 direct", gfn)):
        cn = [r["cn"] for r in data["profile"] if r["F_eV"] is not None]
        f = [r["F_eV"] / kT for r in data["profile"] if r["F_eV"] is not None]
        s = [r["sigma_eV"] / kT for r in data["profile"] if r["F_eV"] is not None]
        axis.errorbar(cn, f, yerr=s, marker="o", capsize=3, label=name)
    axis.set_xlabel("CN (Na–O)")
    axis.set_ylabel("F / kT")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out / "profile.png", dpi=120)
    plt.close(figure)
    figure, axis = plt.subplots(figsize=(5, 3.5))
    rdf = nnp["rdf"]
    axis.plot(rdf["r_A"], rdf["g"], label="g(r)")
    twin = axis.twinx()
    twin.plot(rdf["r_A"], rdf["running_cn"], color="C1", label="running CN")
    axis.set_xlabel("r(Na–O) / Å")
    axis.set_ylabel("g(r)")
    twin.set_ylabel("running CN")
    figure.tight_layout()
    figure.savefig(out / "rdf.png", dpi=120)
    plt.close(figure)
    figure, axis = plt.subplots(figsize=(5, 3.5))
    from nnpkit.apps.solvation.umbrella import CHECKPOINT_NAME

    with np.load(out / "production" / CHECKPOINT_NAME) as stored:
        cv, steps = stored["cv"], stored["sample_steps"]
    keep = steps >= cfg.production_equilibration_steps
    for k in range(cv.shape[1]):
        axis.hist(cv[keep, k], bins=40, histtype="step")
    axis.set_xlabel("CN")
    axis.set_ylabel("samples")
    figure.tight_layout()
    figure.savefig(out / "windows.png", dpi=120)
    plt.close(figure)
    summary = {"most_probable_cn_potential": nnp["most_probable_cn"],
               "most_probable_cn_gfn2": gfn["most_probable_cn"],
               "literature_aimd_cn_range": [5, 6],
               "delta_F_potential": nnp["delta_F_eV"], "delta_F_gfn2": gfn["delta_F_eV"],
               "bins": rows, "n_bins_compared": len(compared),
               "all_compared_within_1kT": bool(compared) and all(r["within_1kT"] for r in compared),
               "max_abs_diff_kT": max((abs(r["diff_kT"]) for r in compared), default=None),
               "cost": cost, "gfn2_profile_length_ps_per_window": gfn["length_ps_per_window"],
               "al_converged": load["al"]["converged"]}
    write_json(out / "summary.json", summary)
    return summary


STAGE_FUNCTIONS = {"build": stage_build, "gfn2_windows": stage_gfn2_windows, "al": stage_al,
                   "production": stage_production, "gfn2_profile": stage_gfn2_profile,
                   "compare": stage_compare}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="YAML config (na_water_full.yaml)")
    parser.add_argument("--out", required=True, help="output directory (resumable)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a test run)")
    parser.add_argument("--stages", nargs="*", default=list(STAGES), choices=STAGES)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (e.g. --set production_steps=8000)")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    raw = load_typed_config(args.config, NaWaterConfig).model_dump()
    quick = NaWaterConfig.model_validate({**raw, **(QUICK if args.quick else {})}).model_dump()
    cfg = load_typed_config(quick, NaWaterConfig, args.set)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", cfg.model_dump())
    for stage in args.stages:
        done = out / f"{stage}.json"
        if done.is_file():
            print(f"[{stage}] done already ({done})", flush=True)
            continue
        started = time.perf_counter()
        print(f"[{stage}] {time.strftime('%H:%M:%S')} start", flush=True)
        result = STAGE_FUNCTIONS[stage](cfg, out, args.progress)
        result["stage_wall_s"] = time.perf_counter() - started
        write_json(done, result)
        brief = {k: v for k, v in result.items() if not isinstance(v, list)}
        print(f"[{stage}] {time.strftime('%H:%M:%S')} done in {result['stage_wall_s']:.0f} s: "
              f"{json.dumps(brief, default=float)[:600]}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
