"""Invariant features, baselines, classifiers and metrics of nnpkit.apps.stability."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from nnpkit.apps.stability.classifiers import GradientBoostingStability, MLPStability
from nnpkit.apps.stability.features import (
    InvariantFeaturizer,
    SoapFeaturizer,
    augment_with_rotations,
    random_rotation,
    raw_coordinate_features,
)
from nnpkit.apps.stability.metrics import classification_metrics
from nnpkit.errors import ConfigError, DataError, UnknownElementError
from nnpkit.tensor_file import load_tensor_file, save_tensor_file

METALS = ["Cu", "Ag", "Au", "Ni", "Pd", "Pt", "Al"]


def _alloy(rng: np.random.Generator) -> Atoms:
    """A random small alloy cell: fcc/bcc/L1_2-like, randomly decorated and rattled."""
    kind = rng.integers(4)
    lattice = rng.uniform(3.6, 4.1)
    if kind == 0:
        atoms = bulk("Cu", "fcc", a=lattice, cubic=True)  # 4 atoms
    elif kind == 1:
        atoms = bulk("Cu", "bcc", a=lattice * 0.8, cubic=True)  # 2 atoms
    elif kind == 2:
        atoms = bulk("Cu", "fcc", a=lattice)  # 1 atom, primitive
    else:
        atoms = bulk("Cu", "fcc", a=lattice, cubic=True).repeat((2, 1, 1))  # 8 atoms
    atoms.symbols[:] = rng.choice(METALS[:4], size=len(atoms))
    atoms.rattle(0.04, seed=int(rng.integers(2**31)))
    return atoms


def _l12() -> Atoms:
    atoms = bulk("Cu", "fcc", a=3.75, cubic=True)
    atoms.symbols[0] = "Au"
    atoms.rattle(0.05, seed=3)
    return atoms


def _rotated(atoms: Atoms, seed: int = 1) -> Atoms:
    rotation = random_rotation(np.random.default_rng(seed))
    moved = atoms.copy()
    moved.set_cell(atoms.cell.array @ rotation.T, scale_atoms=False)
    moved.positions = atoms.positions @ rotation.T
    return moved


def _translated(atoms: Atoms) -> Atoms:
    moved = atoms.copy()
    moved.positions += np.array([1.3, -7.7, 0.41])
    return moved


def _permuted(atoms: Atoms) -> Atoms:
    return atoms[np.random.default_rng(5).permutation(len(atoms))]


TRANSFORMS = {
    "rotated": _rotated,
    "translated": _translated,
    "permuted": _permuted,
    "supercell_211": lambda a: a.repeat((2, 1, 1)),
    "supercell_222": lambda a: a.repeat((2, 2, 2)),
    "all": lambda a: _rotated(_translated(_permuted(a.repeat((1, 2, 1)))), seed=7),
}


@pytest.fixture(scope="module")
def featurizer() -> InvariantFeaturizer:
    return InvariantFeaturizer(METALS)


def test_feature_layout(featurizer: InvariantFeaturizer) -> None:
    names = featurizer.feature_names()
    features = featurizer.transform([_l12(), bulk("Al", "fcc", a=4.05)])
    assert featurizer.n_atom_features == 280
    assert featurizer.n_features == len(names) == features.shape[1] == 3089
    assert len(set(names)) == len(names)
    assert features[0, names.index("x_Au")] == 0.25
    assert features[0, names.index("x_Cu")] == 0.75
    assert features[1, names.index("volume_per_atom_A3")] == pytest.approx(4.05**3 / 4)
    assert features[1, names.index("mean_nn_distance_A")] == pytest.approx(4.05 / 2**0.5)
    assert np.all(features[1, [n.startswith("wmean_Cu:") for n in names]] == 0)
    assert InvariantFeaturizer(**featurizer.settings()).feature_names() == names


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_invariant_features(featurizer: InvariantFeaturizer, name: str) -> None:
    structures = [_l12(), _alloy(np.random.default_rng(11)), _alloy(np.random.default_rng(12))]
    originals = [atoms.copy() for atoms in structures]
    reference = featurizer.transform(structures)
    moved = featurizer.transform([TRANSFORMS[name](atoms) for atoms in structures])
    assert np.abs(moved - reference).max() < 1e-9
    for atoms, original in zip(structures, originals, strict=True):  # callers' Atoms untouched
        assert np.array_equal(atoms.positions, original.positions)
        assert np.array_equal(atoms.cell.array, original.cell.array)


def test_unknown_element_and_bad_structures(featurizer: InvariantFeaturizer) -> None:
    with pytest.raises(UnknownElementError, match="Fe"):
        featurizer.transform([_l12(), bulk("Fe", "bcc", a=2.87)])
    with pytest.raises(UnknownElementError, match="Fe"):
        raw_coordinate_features([bulk("Fe", "bcc", a=2.87)], 4, METALS)
    with pytest.raises(DataError, match="periodic"):
        featurizer.transform([Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 2.5]])])


def test_raw_baseline_is_not_rotation_invariant() -> None:
    structures = [_l12(), _alloy(np.random.default_rng(2))]
    raw = raw_coordinate_features(structures, 8, METALS)
    assert raw.shape == (2, 9 + 8 * (len(METALS) + 3))
    # sorting makes it permutation invariant, but a rotation changes it
    assert np.array_equal(raw_coordinate_features([_permuted(s) for s in structures], 8, METALS),
                          raw)
    rotated = raw_coordinate_features([_rotated(s) for s in structures], 8, METALS)
    assert np.abs(rotated - raw).max() > 0.1
    rotated_inline = raw_coordinate_features(structures, 8, METALS, rotate=True,
                                             rng=np.random.default_rng(0))
    assert np.abs(rotated_inline - raw).max() > 0.1
    # a rotation preserves the norms of the cell vectors
    cells, cells_rotated = raw[:, :9].reshape(-1, 3, 3), rotated_inline[:, :9].reshape(-1, 3, 3)
    assert np.allclose(np.linalg.norm(cells, axis=2), np.linalg.norm(cells_rotated, axis=2))
    x, y = augment_with_rotations(structures, np.array([True, False]), 3,
                                  np.random.default_rng(0), max_atoms=8, elements=METALS)
    assert x.shape == (8, raw.shape[1]) and y.tolist() == [True, False] * 4
    assert np.array_equal(x[:2], raw)
    with pytest.raises(DataError, match="max_atoms"):
        raw_coordinate_features(structures, 2, METALS)


@pytest.fixture(scope="module")
def fitted(featurizer: InvariantFeaturizer) -> dict:
    rng = np.random.default_rng(0)
    structures = [_alloy(rng) for _ in range(90)]
    features = featurizer.transform(structures)
    names = featurizer.feature_names()
    labels = (features[:, names.index("x_Au")] + features[:, names.index("x_Ag")]) >= 0.5
    mlp = MLPStability(hidden=(32, 32), epochs=40, seed=0).fit(features, labels)
    boosting = GradientBoostingStability(random_state=0, max_iter=50).fit(features, labels)
    return {"mlp": mlp, "gradient_boosting": boosting, "features": features, "labels": labels}


@pytest.mark.parametrize("model", ["mlp", "gradient_boosting"])
def test_end_to_end_invariance(featurizer: InvariantFeaturizer, fitted: dict, model: str
                               ) -> None:
    classifier = fitted[model]
    probability = classifier.predict_proba(fitted["features"])
    assert np.ptp(probability) > 0.1  # the model is not a constant
    structures = [_l12()] + [_alloy(np.random.default_rng(100 + k)) for k in range(6)]
    reference = classifier.predict_proba(featurizer.transform(structures))
    for transform in TRANSFORMS.values():
        moved = classifier.predict_proba(featurizer.transform([transform(a) for a in structures]))
        assert np.abs(moved - reference).max() < 1e-6


def test_mlp_learns_round_trips_and_is_calibrated(tmp_path) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 6)) * [1, 1, 1, 1, 1, 1e3] + [0, 0, 0, 0, 0, 50]
    y = x[:, 0] + 0.5 * x[:, 1] > 0.8  # imbalanced (~24 % stable), linearly separable
    classifier = MLPStability(hidden=(16, 16), epochs=60, seed=3).fit(x[:300], y[:300])
    probability = classifier.predict_proba(x[300:])
    assert np.mean((probability >= 0.5) == y[300:]) > 0.9
    assert np.array_equal(classifier.predict(x[300:]), probability >= 0.5)
    assert classifier.temperature > 0 and classifier.temperature != 1.0
    assert np.all((probability >= 0) & (probability <= 1))
    again = MLPStability(hidden=(16, 16), epochs=60, seed=3).fit(x[:300], y[:300])
    assert np.array_equal(again.predict_proba(x[300:]), probability)  # deterministic
    tensors, hyperparameters = classifier.state()
    save_tensor_file(tmp_path / "mlp.nnp", tensors, {"classifier": hyperparameters}, "test", 1)
    loaded_tensors, metadata = load_tensor_file(tmp_path / "mlp.nnp", "test", 1)
    loaded = MLPStability.from_state(loaded_tensors, metadata["classifier"])
    assert np.array_equal(loaded.predict_proba(x[300:]), probability)
    with pytest.raises(DataError, match="columns"):
        loaded.predict_proba(x[:, :5])


def test_classifiers_reject_bad_training_data() -> None:
    x = np.random.default_rng(0).normal(size=(20, 3))
    for classifier in (GradientBoostingStability(), MLPStability(epochs=1)):
        with pytest.raises(DataError, match="single class"):
            classifier.fit(x, np.zeros(20, dtype=bool))
        with pytest.raises(DataError):
            classifier.fit(x, np.ones(19, dtype=bool))
    with pytest.raises(DataError, match="at least 2"):
        GradientBoostingStability().fit(x, np.arange(20) == 0)
    with pytest.raises(ConfigError):
        GradientBoostingStability(calibration="beta")
    probability = GradientBoostingStability(calibration="sigmoid").fit(
        x, x[:, 0] > 0).predict_proba(x)
    assert probability.shape == (20,) and np.all((probability >= 0) & (probability <= 1))


def test_metrics_against_hand_computed_values() -> None:
    y = np.array([1, 1, 0, 0, 0, 0, 0, 1, 0, 0], dtype=bool)
    p = np.array([0.9, 0.4, 0.6, 0.1, 0.2, 0.3, 0.05, 0.8, 0.15, 0.35])
    # predicted stable: 0, 2, 7 -> TP 2, FP 1, FN 1, TN 6
    metrics = classification_metrics(y, p)
    assert metrics["precision"] == pytest.approx(2 / 3)
    assert metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["f1"] == pytest.approx(2 / 3)
    assert metrics["accuracy"] == pytest.approx(0.8)
    assert metrics["prevalence"] == pytest.approx(0.3)
    assert metrics["daf"] == pytest.approx((2 / 3) / 0.3)
    assert metrics["roc_auc"] == pytest.approx(20 / 21)  # 0.4 ranks below 0.6 only
    assert (metrics["n"], metrics["n_stable_true"], metrics["n_predicted_stable"]) == (10, 3, 3)
    assert classification_metrics(y, p, threshold=0.35)["n_predicted_stable"] == 5


def test_metrics_edge_cases() -> None:
    y = np.array([True, False, False, True])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        none_predicted = classification_metrics(y, np.full(4, 0.1))
        single_class = classification_metrics(np.zeros(4, dtype=bool), np.full(4, 0.7))
    assert none_predicted["precision"] == 0 and none_predicted["daf"] == 0
    assert none_predicted["f1"] == 0 and none_predicted["n_predicted_stable"] == 0
    assert single_class["roc_auc"] is None and single_class["daf"] is None
    assert single_class["accuracy"] == 0
    with pytest.raises(DataError):
        classification_metrics(y, np.full(3, 0.5))
    with pytest.raises(DataError):
        classification_metrics(y, np.array([0.1, np.nan, 0.2, 0.3]))


def test_soap_without_dscribe_is_a_config_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "dscribe", None)
    monkeypatch.setitem(sys.modules, "dscribe.descriptors", None)
    with pytest.raises(ConfigError, match="pip install dscribe"):
        SoapFeaturizer(METALS)


def test_soap_is_invariant() -> None:
    pytest.importorskip("dscribe")
    soap = SoapFeaturizer(["Cu", "Au"], cutoff_A=4.0, n_max=3, l_max=2)
    atoms = _l12()
    features = soap.transform([atoms] + [TRANSFORMS[n](atoms) for n in ("all", "supercell_211")])
    assert features.shape == (3, soap.n_features) == (3, len(soap.feature_names()))
    assert np.abs(features - features[0]).max() < 1e-8 * max(1.0, np.abs(features).max())
    with pytest.raises(UnknownElementError, match="Ni"):
        soap.transform([bulk("Ni", "fcc", a=3.52)])


def test_top_fraction_threshold_calls_the_expected_share_stable() -> None:
    from nnpkit.apps.stability.metrics import top_fraction_threshold

    probability = np.array([0.9, 0.1, 0.4, 0.3, 0.05, 0.2, 0.6, 0.01, 0.02, 0.03])
    cut = top_fraction_threshold(probability, 0.2)
    assert np.count_nonzero(probability >= cut) == 2 and cut == 0.6
    assert np.count_nonzero(probability >= top_fraction_threshold(probability, 0.0)) == 0
