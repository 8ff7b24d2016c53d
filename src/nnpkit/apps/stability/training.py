"""Training the stability classifier beside its non-invariant baselines, with learning curves.

Three representations are compared on the same held-out groups (whole prototypes or
whole chemical systems never seen in training):

* ``invariant``: the structure-level ACSF features of :class:`InvariantFeaturizer`;
* ``raw``: padded, sorted Cartesian coordinates and cell;
* ``raw_rotated``: the same, trained on randomly rotated copies (augmentation).

Test structures are randomly rotated, translated and permuted (``rotate_test``), as
structures from elsewhere come in arbitrary frames; the invariant model cannot tell.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from scipy.spatial.transform import Rotation
from tqdm.auto import tqdm

from nnpkit.apps.stability.classifiers import GradientBoostingStability, MLPStability
from nnpkit.apps.stability.config import StabilityTrainConfig
from nnpkit.apps.stability.dataset import StabilityDataset
from nnpkit.apps.stability.features import (
    InvariantFeaturizer,
    augment_with_rotations,
    raw_coordinate_features,
)
from nnpkit.apps.stability.hull import HULL_TOLERANCE_eV_PER_ATOM
from nnpkit.apps.stability.metrics import classification_metrics, top_fraction_threshold
from nnpkit.apps.stability.model import MODEL_FILENAME, StabilityModel
from nnpkit.apps.stability.splits import split_by_group
from nnpkit.file_writes import atomic_write

__all__ = ["random_frame", "train_stability", "plot_learning_curves"]

REPRESENTATIONS = ("invariant", "raw", "raw_rotated")


def random_frame(atoms: Atoms, rng: np.random.Generator) -> Atoms:
    """A copy rotated (cell too), translated and with its atoms permuted at random."""
    rotation = Rotation.random(random_state=int(rng.integers(2**31))).as_matrix()
    moved = atoms[rng.permutation(len(atoms))]
    moved.set_cell(moved.cell.array @ rotation.T, scale_atoms=False)
    moved.positions = moved.positions @ rotation.T + rng.normal(size=3)
    return moved


def _subset(train_index: np.ndarray, labels: np.ndarray, fraction: float,
            rng: np.random.Generator) -> np.ndarray:
    """A random subset of the training indices that keeps both classes."""
    n = max(2, int(round(fraction * len(train_index))))
    for _ in range(100):
        pick = rng.permutation(train_index)[:n]
        if labels[pick].any() and not labels[pick].all():
            return np.sort(pick)
    return np.sort(train_index)


def _decision_threshold(probability: np.ndarray, train_prevalence: float,
                        config: StabilityTrainConfig) -> float:
    if config.decision == "probability":
        return 0.5
    return top_fraction_threshold(probability, train_prevalence)


def _classifiers(config: StabilityTrainConfig) -> dict[str, Callable[[], object]]:
    return {
        "gradient_boosting": lambda: GradientBoostingStability(random_state=config.seed),
        "mlp": lambda: MLPStability(epochs=config.mlp_epochs, seed=config.seed),
    }


def train_stability(config: StabilityTrainConfig, progress: bool = True) -> dict:
    """Learning curves of every (representation, classifier) pair, and the deployable
    invariant MLP; writes ``metrics.json``, ``learning_curve.png`` and the model file."""
    dataset = StabilityDataset.load(config.dataset)
    structures, labels = dataset.structures, dataset.labels()
    hull_threshold = dataset.threshold_eV_per_atom
    if config.threshold_eV_per_atom is not None:
        hull_threshold = config.threshold_eV_per_atom
        labels = dataset.e_above_hull() <= hull_threshold + HULL_TOLERANCE_eV_PER_ATOM
    train_index, test_index = split_by_group(dataset, config.split_by, config.test_fraction,
                                             config.seed)
    rng = np.random.default_rng(config.seed)
    test = [structures[i] for i in test_index]
    if config.rotate_test:
        test = [random_frame(atoms, rng) for atoms in test]
    y_test = labels[test_index]
    elements = sorted({s for atoms in structures for s in atoms.get_chemical_symbols()})
    featurizer = InvariantFeaturizer(elements)
    featurizer_settings = featurizer.settings()
    max_atoms = max(len(atoms) for atoms in structures)
    invariant_all = featurizer.transform(structures)
    raw_all = raw_coordinate_features(structures, max_atoms, elements)
    test_features = {"invariant": featurizer.transform(test),
                     "raw": raw_coordinate_features(test, max_atoms, elements)}
    test_features["raw_rotated"] = test_features["raw"]
    curve: list[dict] = []
    jobs = [(fraction, rep, name) for fraction in config.training_fractions
            for rep in REPRESENTATIONS for name in _classifiers(config)]
    for fraction, representation, name in tqdm(jobs, desc="stability models",
                                               disable=not progress):
        pick = _subset(train_index, labels, fraction, np.random.default_rng(
            config.seed + int(fraction * 1000)))
        if representation == "invariant":
            x_train, y_train = invariant_all[pick], labels[pick]
        elif representation == "raw":
            x_train, y_train = raw_all[pick], labels[pick]
        else:
            x_train, y_train = augment_with_rotations(
                [structures[i] for i in pick], labels[pick], config.rotation_copies,
                np.random.default_rng(config.seed), max_atoms=max_atoms, elements=elements)
        classifier = _classifiers(config)[name]()
        classifier.fit(x_train, y_train)  # type: ignore[attr-defined]
        probability = classifier.predict_proba(  # type: ignore[attr-defined]
            test_features[representation])
        cut = _decision_threshold(probability, float(np.mean(labels[pick])), config)
        curve.append({"fraction": fraction, "n_train": int(len(pick)),
                      "representation": representation, "classifier": name,
                      "decision_threshold": cut,
                      **classification_metrics(y_test, probability, threshold=cut),
                      "f1_at_0.5": classification_metrics(y_test, probability)["f1"]})
    final = MLPStability(epochs=config.mlp_epochs, seed=config.seed)
    final.fit(invariant_all[train_index], labels[train_index])
    output = Path(config.output)
    model = StabilityModel(featurizer_settings, final, hull_threshold)
    model.save(output / MODEL_FILENAME)
    summary = {"split_by": config.split_by, "hull_threshold_eV_per_atom": hull_threshold,
               "decision": config.decision, "n_train": int(len(train_index)),
               "n_test": int(len(test_index)), "test_prevalence": float(np.mean(y_test)),
               "rotate_test": config.rotate_test, "learning_curve": curve,
               "margins": _margins(curve), "model": str(output / MODEL_FILENAME)}
    atomic_write(output / "metrics.json",
                 lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2)))
    plot_learning_curves(curve, output / "learning_curve.png")
    return summary


def _margins(curve: Sequence[dict]) -> list[dict]:
    """Per training size and classifier: invariant minus best baseline, in F1 and ROC-AUC."""
    margins = []
    keys = sorted({(row["n_train"], row["classifier"]) for row in curve})
    for n_train, name in keys:
        rows = {row["representation"]: row for row in curve
                if row["n_train"] == n_train and row["classifier"] == name}
        entry: dict = {"n_train": n_train, "classifier": name}
        for metric in ("f1", "roc_auc"):
            values = [rows[r][metric] for r in ("raw", "raw_rotated")
                      if rows[r][metric] is not None]
            best = max(values) if values else None
            mine = rows["invariant"][metric]
            entry[f"invariant_{metric}"] = mine
            entry[f"best_baseline_{metric}"] = best
            entry[f"margin_{metric}"] = (mine - best if mine is not None and best is not None
                                         else None)
        margins.append(entry)
    return margins


def plot_learning_curves(curve: Sequence[dict], path: str | Path) -> None:
    """F1 and ROC-AUC on the held-out set against training-set size, one line per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for representation in REPRESENTATIONS:
        for name, style in (("gradient_boosting", "-"), ("mlp", "--")):
            rows = sorted((r for r in curve if r["representation"] == representation
                           and r["classifier"] == name), key=lambda r: r["n_train"])
            if not rows:
                continue
            sizes = [r["n_train"] for r in rows]
            label = f"{representation} / {name}"
            axes[0].plot(sizes, [r["f1"] for r in rows], style, marker="o", label=label)
            axes[1].plot(sizes, [r["roc_auc"] if r["roc_auc"] is not None else np.nan
                                 for r in rows], style, marker="o", label=label)
    for axis, title in zip(axes, ("F1 (held-out groups)", "ROC-AUC (held-out groups)"),
                           strict=True):
        axis.set_xlabel("training structures")
        axis.set_title(title)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
