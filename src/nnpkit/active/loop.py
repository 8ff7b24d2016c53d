"""The active-learning loop (``nnpkit learn CONFIG.yaml``).

Each iteration k, in ``<output>/iter_<k>/``:

1. export the store's labels to ``train.extxyz`` and train a committee (``committee/``);
2. measure its test error (one row of the learning curve);
3. stop if the label budget or the iteration limit is reached;
4. explore with committee-driven MD (``frames.extxyz``), select uncertain, diverse frames;
   stop if none is uncertain;
5. label them on the farm into the store, and go on.

Every phase's result is on disk (``state.json``, the iteration folders, the store), so an
interrupted run resumes where it stopped: rerunning the same command skips what is done.
The store is idempotent, so no structure is labelled twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from ase import Atoms

from nnpkit.active.config import ActiveLearningConfig
from nnpkit.active.curve import write_learning_curve
from nnpkit.active.explore import explore, select_frames
from nnpkit.data.io import read_structures, write_structures
from nnpkit.file_writes import atomic_write
from nnpkit.labeling.farm import farm_client, label_to_store
from nnpkit.labeling.methods import MethodSpec, parse_method
from nnpkit.labeling.store import DatasetStore

__all__ = ["ActiveLearningResult", "run_active_learning", "initial_structures"]


@dataclass
class ActiveLearningResult:
    """What :func:`run_active_learning` produced.

    Attributes:
        run_dir: the output directory.
        rows: one dict per iteration (see :data:`~nnpkit.active.curve.CURVE_FIELDS`).
        stop_reason: ``label_budget``, ``max_iterations`` or ``no_uncertain_configurations``.
        committee_dir: the last committee (the model to use).
        db: the store's URL (password redacted).
    """

    run_dir: Path
    rows: list[dict[str, Any]]
    stop_reason: str
    committee_dir: Path
    db: str


def initial_structures(config: ActiveLearningConfig, spec: MethodSpec) -> list[Atoms]:
    """The unlabelled first set: ``initial.data`` or samples around ``initial.structure``."""
    from nnpkit.labeling.normal_modes import normal_mode_samples
    from nnpkit.labeling.sampling import rattle_structures, sample_md
    from nnpkit.labeling.workflow import starting_structure

    settings = config.initial
    if settings.data is not None:
        return read_structures(settings.data, require=())
    start = starting_structure(settings.structure)
    if settings.sampling == "normal_modes":
        return normal_mode_samples(start, spec.make_calculator(), settings.temperature_K,
                                   settings.n_structures, seed=config.seed)
    if settings.sampling == "md":
        return sample_md(start, spec.make_calculator(), settings.temperature_K,
                         settings.n_structures, seed=config.seed, progress=config.progress)
    return rattle_structures(start, settings.n_structures, settings.rattle_stdev_A,
                             settings.strain_max, seed=config.seed)


def _save_state(path: Path, state: dict[str, Any]) -> None:
    text = json.dumps(state, indent=2)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def _train_and_test(config: ActiveLearningConfig, store: DatasetStore, spec: MethodSpec,
                    folder: Path, iteration: int) -> dict[str, Any]:
    """Train iteration ``iteration``'s committee and measure it: one learning-curve row."""
    from nnpkit.training.committee import fit_committee
    from nnpkit.training.evaluation import evaluate_file

    train_path = folder / "train.extxyz"
    if not train_path.is_file():
        store.export(train_path, spec.name)
    n_labels = len(read_structures(train_path))
    run_config = config.run_config(str(train_path), str(folder / "committee"))
    committee = fit_committee(run_config, config.committee_size, bootstrap=config.bootstrap)
    if config.test_data is not None:
        metrics = evaluate_file(str(committee.run_dir), config.test_data)
    else:  # the members' own held-out test split
        metrics = {key: float(np.mean([m[key] for m in committee.test_metrics]))
                   for key in ("forces_mae_meV_per_A", "energy_mae_meV_per_atom")}
    return {"iteration": iteration, "n_labels": n_labels,
            "test_forces_mae_meV_per_A": metrics["forces_mae_meV_per_A"],
            "test_energy_mae_meV_per_atom": metrics["energy_mae_meV_per_atom"]}


def _explore_and_select(config: ActiveLearningConfig, store: DatasetStore, spec: MethodSpec,
                        folder: Path, row: dict[str, Any]) -> list[Atoms]:
    """Committee MD from training frames; the frames chosen for labelling (≤ budget)."""
    from nnpkit.calculators import CommitteeCalculator, load_calculator
    from nnpkit.labeling.workflow import starting_structure

    frames_path = folder / "frames.extxyz"
    training = read_structures(folder / "train.extxyz")
    if not frames_path.is_file():
        calculator = load_calculator(folder / "committee")
        assert isinstance(calculator, CommitteeCalculator)  # fit_committee wrote it
        n_runs = (len(config.exploration.temperatures_K)
                  * config.exploration.trajectories_per_temperature)
        if config.exploration.start_from_training:
            rng = np.random.default_rng(config.seed + row["iteration"])
            starts = [training[int(k)] for k in rng.choice(len(training), size=n_runs)]
        else:
            starts = [starting_structure(config.initial.structure)]
        frames = explore(calculator, starts, config.exploration,
                         config.selection.max_force_std,
                         seed=config.seed + 1000 * row["iteration"], progress=config.progress)
        write_structures(frames_path, frames)
    frames = read_structures(frames_path, require=())
    room = config.budget.max_labels - row["n_labels"]
    picks = select_frames(frames, config.selection, min(room, config.selection.max_per_iteration),
                          training, seed=config.seed + row["iteration"],
                          cutoff_A=float(config.run_config("-", "-").model.cutoff_A))
    std = np.array([frame.info["max_force_std"] for frame in frames])
    row.update(n_frames=len(frames), n_selected=len(picks),
               n_candidates=int(np.sum((std >= config.selection.min_force_std)
                                       & (std <= config.selection.max_force_std))),
               mean_max_force_std=float(np.nanmean(std)) if len(std) else None)
    return [frames[k] for k in picks]


def run_active_learning(config: ActiveLearningConfig) -> ActiveLearningResult:
    """Run (or resume) the active-learning loop that ``config`` describes.

    Writes ``<output>/config.yaml``, ``state.json``, ``learning_curve.csv`` and
    ``learning_curve.png`` and the iteration folders; rerunning after an interruption
    continues from the last finished phase.
    """
    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    atomic_write(out / "config.yaml", lambda tmp: Path(tmp).write_text(text))
    state_path = out / "state.json"
    state: dict[str, Any] = (json.loads(state_path.read_text()) if state_path.is_file()
                             else {"rows": [], "stop_reason": None})
    spec = parse_method(config.reference.method, **config.reference.options)
    store = DatasetStore(config.farm.db or str(out / "labels.db"))
    farm = config.farm
    with farm_client(farm.scheduler, farm.n_workers, farm.processes) as client:
        if store.count(method=spec.name) == 0:
            label_to_store(initial_structures(config, spec), spec, store.url, client=client,
                           progress=config.progress)
        iteration = max(len(state["rows"]) - 1, 0)
        while state["stop_reason"] is None:
            folder = out / f"iter_{iteration:03d}"
            if len(state["rows"]) <= iteration:
                state["rows"].append(_train_and_test(config, store, spec, folder, iteration))
                _save_state(state_path, state)
            row = state["rows"][iteration]
            if row["n_labels"] >= config.budget.max_labels:
                state["stop_reason"] = "label_budget"
            elif iteration >= config.budget.max_iterations:
                state["stop_reason"] = "max_iterations"
            elif not row.get("labelled"):
                selected = _explore_and_select(config, store, spec, folder, row)
                if not selected:
                    state["stop_reason"] = "no_uncertain_configurations"
                else:
                    report = label_to_store(selected, spec, store.url, client=client,
                                            progress=config.progress)
                    row.update(n_failed=report.n_failed, labelled=True)
            if state["stop_reason"] is None:
                iteration += 1
            _save_state(state_path, state)
            write_learning_curve(state["rows"], out / "learning_curve.csv",
                                 out / "learning_curve.png", title=f"active learning "
                                 f"({spec.name})")
    last = out / f"iter_{len(state['rows']) - 1:03d}" / "committee"
    return ActiveLearningResult(out, state["rows"], state["stop_reason"], last,
                                store.display_url)
