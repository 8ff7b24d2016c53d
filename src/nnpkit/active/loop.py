"""The active-learning loop (``nnpkit learn CONFIG.yaml``).

Before the first iteration, without ``test_data``, ``n_test`` structures are drawn once
from the initial pool (among those not in the store), labelled into ``test_labels.db``
(never the training store) and written to ``test_set.extxyz``: the curve's one fixed
test set, kept for the whole run and reused on resume (its SHA-256 is checked). Each
iteration k, in ``<output>/iter_<k>/``:

1. export the store's labels to ``train.extxyz`` and train a committee (``committee/``);
2. measure its error on the test set (one row of the learning curve);
3. stop if the label budget or the iteration limit is reached;
4. explore with committee-driven MD (``frames.extxyz``), select uncertain, diverse frames;
   stop if none is uncertain;
5. label them on the farm into the store, and go on.

Every phase's result is on disk (``state.json``, the iteration folders, the store), so an
interrupted run resumes where it stopped: rerunning the same command skips what is done.
The store is idempotent, so no structure is labelled twice.
"""

from __future__ import annotations

import hashlib
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
from nnpkit.errors import ConfigError, DataError
from nnpkit.file_writes import atomic_write
from nnpkit.labeling.farm import farm_client, label_to_store
from nnpkit.labeling.methods import MethodSpec, parse_method
from nnpkit.labeling.store import DatasetStore, structure_hash

__all__ = ["ActiveLearningResult", "run_active_learning", "initial_structures", "TEST_SET"]

#: The fixed test set of a run without ``test_data``, in the run directory.
TEST_SET = "test_set.extxyz"


@dataclass
class ActiveLearningResult:
    """What :func:`run_active_learning` produced.

    Attributes:
        run_dir: the output directory.
        rows: one dict per iteration (see :data:`~nnpkit.active.curve.CURVE_FIELDS`).
        stop_reason: ``label_budget``, ``max_iterations`` or ``no_uncertain_configurations``.
        committee_dir: the last committee (the model to use).
        db: the store's URL (password redacted).
        test_set: ``{"path", "source", "n_structures", "sha256"}`` of the curve's test set.
    """

    run_dir: Path
    rows: list[dict[str, Any]]
    stop_reason: str
    committee_dir: Path
    db: str
    test_set: dict[str, Any]


def initial_structures(config: ActiveLearningConfig, spec: MethodSpec, extra: int = 0
                       ) -> list[Atoms]:
    """The unlabelled first set: ``initial.data`` or ``initial.n_structures + extra``
    samples around ``initial.structure`` (the extra ones become the fixed test set)."""
    from nnpkit.labeling.normal_modes import normal_mode_samples
    from nnpkit.labeling.sampling import rattle_structures, sample_md
    from nnpkit.labeling.workflow import starting_structure

    settings = config.initial
    if settings.data is not None:
        return read_structures(settings.data, require=())
    start = starting_structure(settings.structure)
    if settings.sampling == "normal_modes":
        return normal_mode_samples(start, spec.make_calculator(), settings.temperature_K,
                                   settings.n_structures + extra, seed=config.seed)
    if settings.sampling == "md":
        return sample_md(start, spec.make_calculator(), settings.temperature_K,
                         settings.n_structures + extra, seed=config.seed,
                         progress=config.progress)
    return rattle_structures(start, settings.n_structures + extra, settings.rattle_stdev_A,
                             settings.strain_max, seed=config.seed)


def _label_initial_sets(config: ActiveLearningConfig, spec: MethodSpec, store: DatasetStore,
                        out: Path, client: Any) -> None:
    """Label, once each, the fixed test set (without ``test_data``) and the first
    training set, both from one pool; the test set never enters ``store``."""
    fixed, test_path = config.test_data is None, out / TEST_SET
    need_test, need_start = fixed and not test_path.is_file(), store.count(method=spec.name) == 0
    if not (need_test or need_start):
        return
    pool = initial_structures(config, spec, extra=config.n_test if fixed else 0)
    picks: list[int] = []
    if fixed:  # drawn among the pool's structures that are not training labels already
        known = store.status_by_hash()
        free = [k for k, key in enumerate(store.hashes_of(pool, spec)) if key not in known]
        if len(free) - config.n_test < (2 if need_start else 0):
            raise ConfigError(f"the initial pool has {len(free)} unlabelled structures, too "
                              f"few for n_test={config.n_test} and a training set; lower "
                              f"n_test or give test_data")
        rng = np.random.default_rng(config.seed)
        picks = sorted(int(k) for k in rng.choice(free, size=config.n_test, replace=False))
    if need_test:
        test_store = out / "test_labels.db"
        label_to_store([pool[k] for k in picks], spec, str(test_store), client=client,
                       progress=config.progress)
        DatasetStore(test_store).export(test_path, spec.name)
    if need_start:  # without the test set's structures, by content (not only by draw)
        held_out = set(picks)
        tested = ({structure_hash(atoms, {}) for atoms in read_structures(test_path)}
                  if fixed else set())
        start = [atoms for k, atoms in enumerate(pool)
                 if k not in held_out and structure_hash(atoms, {}) not in tested]
        label_to_store(start, spec, store.url, client=client, progress=config.progress)


def _test_set(config: ActiveLearningConfig, out: Path, recorded: dict[str, Any] | None
              ) -> dict[str, Any]:
    """The test set's record; raises DataError if it changed since ``recorded``."""
    path = config.test_data if config.test_data is not None else str(out / TEST_SET)
    structures = read_structures(path)  # DataError naming it if missing or unlabelled
    content = (Path(path).read_bytes() if Path(path).is_file()  # else a database URL
               else "".join(structure_hash(atoms, {}) for atoms in structures).encode())
    record: dict[str, Any] = {
        "path": path, "n_structures": len(structures),
        "source": "test_data" if config.test_data is not None
        else "fixed: drawn once from the initial pool, never trained on",
        "sha256": hashlib.sha256(content).hexdigest()}
    if recorded is not None and recorded["sha256"] != record["sha256"]:
        raise DataError(f"the test set {path} changed since this run began (SHA-256 "
                        f"{recorded['sha256'][:16]}… → {record['sha256'][:16]}…): the curve's "
                        f"points would not be comparable; restore it or use a new output")
    return record


def _save_state(path: Path, state: dict[str, Any]) -> None:
    text = json.dumps(state, indent=2)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def _train_and_test(config: ActiveLearningConfig, store: DatasetStore, spec: MethodSpec,
                    folder: Path, iteration: int, test_set: dict[str, Any]) -> dict[str, Any]:
    """Train iteration ``iteration``'s committee and measure it on ``test_set``: one row."""
    from nnpkit.training.committee import fit_committee
    from nnpkit.training.evaluation import evaluate_file

    train_path = folder / "train.extxyz"
    if not train_path.is_file():
        store.export(train_path, spec.name)
    n_labels = len(read_structures(train_path))
    run_config = config.run_config(str(train_path), str(folder / "committee"),
                                   test=test_set["path"])
    committee = fit_committee(run_config, config.committee_size, bootstrap=config.bootstrap)
    metrics = evaluate_file(str(committee.run_dir), test_set["path"])  # the members' mean
    return {"iteration": iteration, "n_labels": n_labels,
            "test_forces_mae_meV_per_A": metrics["forces_mae_meV_per_A"],
            "test_energy_mae_meV_per_atom": metrics["energy_mae_meV_per_atom"],
            "test_set": test_set["path"], "n_test": test_set["n_structures"],
            "test_set_sha256": test_set["sha256"]}


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

    Writes ``<output>/config.yaml``, ``state.json`` (with the test set's record),
    ``learning_curve.csv`` and ``learning_curve.png``, the iteration folders and, without
    ``test_data``, ``test_set.extxyz``; rerunning after an interruption continues from
    the last finished phase, on the same test set.
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
        _label_initial_sets(config, spec, store, out, client)
        state["test_set"] = _test_set(config, out, state.get("test_set"))
        iteration = max(len(state["rows"]) - 1, 0)
        while state["stop_reason"] is None:
            folder = out / f"iter_{iteration:03d}"
            if len(state["rows"]) <= iteration:
                state["rows"].append(_train_and_test(config, store, spec, folder, iteration,
                                                     state["test_set"]))
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
                                store.display_url, state["test_set"])
