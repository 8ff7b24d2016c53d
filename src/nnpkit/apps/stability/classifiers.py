"""Calibrated stability classifiers on structure feature vectors.

* :class:`GradientBoostingStability`: scikit-learn histogram gradient boosting inside
  ``CalibratedClassifierCV`` (isotonic or sigmoid); used in-run only (sklearn models
  need pickle, and nnpkit model files never execute code on load).
* :class:`MLPStability`: a small PyTorch MLP with class weighting and temperature
  scaling; its :meth:`~MLPStability.state` is plain tensors plus JSON, the deployable model.

Both take features [n, F] and labels [n] (True = stable) and return the probability of
being stable [n].
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.special import expit
from torch import nn

from nnpkit.errors import ConfigError, DataError, ModelFileError, TrainingError

__all__ = ["StabilityClassifier", "GradientBoostingStability", "MLPStability"]


def _check_features(features: np.ndarray, n_features: int | None = None) -> np.ndarray:
    """Features as a finite float64 array [n, F]; DataError naming the problem otherwise."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise DataError(f"features must be a non-empty [n, F] array, got shape {x.shape}")
    if n_features is not None and x.shape[1] != n_features:
        raise DataError(f"features have {x.shape[1]} columns; the classifier was fitted on "
                        f"{n_features}")
    if not np.isfinite(x).all():
        raise DataError("features contain NaN or infinite values")
    return x


def _check_training_data(features: np.ndarray, labels: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Features [n, F] and boolean labels [n] with both classes present."""
    x = _check_features(features)
    y = np.asarray(labels)
    if y.shape != (x.shape[0],):
        raise DataError(f"{x.shape[0]} feature rows but labels of shape {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise DataError("labels must be boolean or 0/1 (True = stable)")
    y = y.astype(bool)
    if y.all() or not y.any():
        only = "stable" if y.all() else "unstable"
        raise DataError(f"training labels hold a single class ({only} only, {len(y)} "
                        "structures); a classifier needs both")
    return x, y


class StabilityClassifier(ABC):
    """The interface of every stability classifier."""

    @abstractmethod
    def fit(self, features: np.ndarray, labels: np.ndarray) -> StabilityClassifier:
        """Train on features [n, F] and labels [n] (True = stable); returns self."""

    @abstractmethod
    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Calibrated probability of being stable [n]."""

    def predict(self, features: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """Stable (True) where the probability is at least ``threshold`` [n]."""
        return self.predict_proba(features) >= threshold


class GradientBoostingStability(StabilityClassifier):
    """Histogram gradient boosting with cross-validated probability calibration.

    Features are rounded to float32 before trees see them, so that rounding noise between
    symmetry-equivalent structures (~1e-15 relative) cannot straddle a split threshold.

    Args:
        random_state: seed of the boosting and of the calibration folds.
        calibration: ``"isotonic"`` or ``"sigmoid"`` (Platt).
        max_iter: boosting iterations.
        learning_rate: boosting learning rate.
    """

    def __init__(self, random_state: int = 0, calibration: str = "isotonic",
                 max_iter: int = 100, learning_rate: float = 0.1) -> None:
        if calibration not in ("isotonic", "sigmoid"):
            raise ConfigError(f"calibration must be 'isotonic' or 'sigmoid', not {calibration!r}")
        self.random_state = int(random_state)
        self.calibration = calibration
        self.max_iter = int(max_iter)
        self.learning_rate = float(learning_rate)
        self._model: object | None = None
        self._n_features: int | None = None

    def fit(self, features: np.ndarray, labels: np.ndarray) -> GradientBoostingStability:
        """Fit with up to 3 stratified calibration folds (fewer if a class has < 3 members).

        Raises:
            DataError: a single class, or a class with only one member.
        """
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.model_selection import StratifiedKFold

        x, y = _check_training_data(features, labels)
        minority = int(min(y.sum(), (~y).sum()))
        if minority < 2:
            raise DataError(f"only {minority} structure(s) of one class among {len(y)}; "
                            "calibration needs at least 2 of each class")
        folds = StratifiedKFold(n_splits=min(3, minority), shuffle=True,
                                random_state=self.random_state)
        booster = HistGradientBoostingClassifier(
            max_iter=self.max_iter, learning_rate=self.learning_rate,
            random_state=self.random_state)
        model = CalibratedClassifierCV(booster, method=self.calibration, cv=folds)
        model.fit(x.astype(np.float32), y)
        self._model, self._n_features = model, x.shape[1]
        return self

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Calibrated probability of being stable [n]."""
        if self._model is None:
            raise TrainingError("GradientBoostingStability is not fitted: call fit() first")
        x = _check_features(features, self._n_features).astype(np.float32)
        probability = self._model.predict_proba(x)  # type: ignore[attr-defined]  # [n, 2]
        return np.asarray(probability[:, 1], dtype=np.float64)


def _network(n_features: int, hidden: Sequence[int]) -> nn.Sequential:
    """Linear → SiLU → … → Linear(·, 1) in float64."""
    layers: list[nn.Module] = []
    width = n_features
    for size in hidden:
        layers += [nn.Linear(width, size, dtype=torch.float64), nn.SiLU()]
        width = size
    layers.append(nn.Linear(width, 1, dtype=torch.float64))
    return nn.Sequential(*layers)


class MLPStability(StabilityClassifier):
    """Small MLP classifier with temperature-scaled, calibrated probabilities (float64).

    Training: inputs standardised with the training mean and std (scale 1 where a
    feature does not vary); ``BCEWithLogitsLoss`` with ``pos_weight = n_unstable /
    n_stable`` against class imbalance; AdamW on shuffled mini-batches. The weighting
    shifts the optimal logit by ``log(pos_weight)``, which is subtracted again, and a
    single temperature T is fitted by minimising the negative log-likelihood on a
    stratified 20 % of the training data held out from training (T = 1 when a class has
    fewer than 5 members). ``p = sigmoid((logit - log(pos_weight)) / T)``.

    Deterministic given ``seed``; the global torch random state is left untouched.

    Args:
        hidden: widths of the hidden layers.
        epochs: passes over the training data.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        seed: seed of the initialisation, the hold-out split and the batch order.
        batch_size: mini-batch size.
    """

    def __init__(self, hidden: Sequence[int] = (64, 64), epochs: int = 300, lr: float = 1e-3,
                 weight_decay: float = 1e-4, seed: int = 0, batch_size: int = 64) -> None:
        self.hidden = [int(h) for h in hidden]
        self.epochs = int(epochs)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.seed = int(seed)
        self.batch_size = int(batch_size)
        self._network: nn.Sequential | None = None
        self.input_mean = torch.zeros(0, dtype=torch.float64)  # [F]
        self.input_scale = torch.ones(0, dtype=torch.float64)  # [F]
        self.temperature = 1.0
        self.logit_offset = 0.0

    def hyperparameters(self) -> dict:
        """JSON-ready constructor arguments."""
        return {"hidden": list(self.hidden), "epochs": self.epochs, "lr": self.lr,
                "weight_decay": self.weight_decay, "seed": self.seed,
                "batch_size": self.batch_size}

    def _split(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stratified (train, held-out) indices; held-out empty for tiny classes."""
        rng = np.random.default_rng(self.seed)
        train, held_out = [], []
        for value in (False, True):
            members = rng.permutation(np.flatnonzero(y == value))
            n_held = int(round(0.2 * len(members))) if min(y.sum(), (~y).sum()) >= 5 else 0
            held_out.append(members[:n_held])
            train.append(members[n_held:])
        return np.sort(np.concatenate(train)), np.sort(np.concatenate(held_out))

    def fit(self, features: np.ndarray, labels: np.ndarray) -> MLPStability:
        """Train, then fit the temperature on the held-out part (see the class docstring)."""
        x, y = _check_training_data(features, labels)
        train, held_out = self._split(y)
        x_train = torch.as_tensor(x[train])  # [n_train, F]
        y_train = torch.as_tensor(y[train], dtype=torch.float64)  # [n_train]
        mean = x_train.mean(0)
        std = x_train.std(0, unbiased=False)
        self.input_mean = mean
        self.input_scale = torch.where(std > 1e-8 * mean.abs().clamp(min=1.0), std,
                                       torch.ones_like(std))
        n_stable = float(y_train.sum())
        pos_weight = (len(y_train) - n_stable) / n_stable
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            network = _network(x.shape[1], self.hidden)
        generator = torch.Generator().manual_seed(self.seed)
        loss_function = nn.BCEWithLogitsLoss(
            pos_weight=torch.tensor(pos_weight, dtype=torch.float64))
        optimizer = torch.optim.AdamW(network.parameters(), lr=self.lr,
                                      weight_decay=self.weight_decay)
        inputs = (x_train - self.input_mean) / self.input_scale
        for _ in range(self.epochs):
            for batch in torch.randperm(len(inputs), generator=generator).split(self.batch_size):
                optimizer.zero_grad()
                loss = loss_function(network(inputs[batch]).squeeze(-1), y_train[batch])
                if not torch.isfinite(loss):
                    raise TrainingError("MLPStability: the training loss became NaN/infinite")
                loss.backward()
                optimizer.step()
        network.eval()
        self._network = network
        self.logit_offset = math.log(pos_weight)
        self.temperature = 1.0
        if len(held_out):
            self.temperature = self._fit_temperature(self._logits(x[held_out]), y[held_out])
        return self

    def _fit_temperature(self, logits: np.ndarray, labels: np.ndarray) -> float:
        """Temperature in [e^-4, e^4] minimising the held-out negative log-likelihood."""
        centred = logits - self.logit_offset
        sign = np.where(labels, 1.0, -1.0)

        def nll(log_temperature: float) -> float:
            # -log sigmoid(sign * z / T), computed stably
            return float(np.mean(np.logaddexp(0.0, -sign * centred / math.exp(log_temperature))))

        result = minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded",
                                 options={"xatol": 1e-6})
        return float(math.exp(result.x))

    def _logits(self, x: np.ndarray) -> np.ndarray:
        """Raw network outputs [n] for features [n, F]."""
        if self._network is None:
            raise TrainingError("MLPStability is not fitted: call fit() first")
        inputs = (torch.as_tensor(x) - self.input_mean) / self.input_scale
        with torch.no_grad():
            return self._network(inputs).squeeze(-1).numpy()

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Calibrated probability of being stable [n]."""
        if self._network is None:
            raise TrainingError("MLPStability is not fitted: call fit() first")
        x = _check_features(features, len(self.input_mean))
        logits = (self._logits(x) - self.logit_offset) / self.temperature
        return np.asarray(expit(logits), dtype=np.float64)

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """``(tensors, hyperparameters)``: float64 tensors for safetensors and JSON-ready
        settings; :meth:`from_state` rebuilds an identical classifier from them."""
        if self._network is None:
            raise TrainingError("MLPStability is not fitted: call fit() first")
        tensors = {f"network.{name}": value.detach().clone()
                   for name, value in self._network.state_dict().items()}
        tensors["input_mean"] = self.input_mean.clone()
        tensors["input_scale"] = self.input_scale.clone()
        tensors["temperature"] = torch.tensor([self.temperature], dtype=torch.float64)
        tensors["logit_offset"] = torch.tensor([self.logit_offset], dtype=torch.float64)
        return tensors, {**self.hyperparameters(), "n_features": len(self.input_mean)}

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], hyperparameters: dict) -> MLPStability:
        """Rebuild a fitted classifier from :meth:`state`'s output.

        Raises:
            ModelFileError: tensors or settings are missing or do not fit together.
        """
        try:
            settings = {key: hyperparameters[key] for key in
                        ("hidden", "epochs", "lr", "weight_decay", "seed", "batch_size")}
            classifier = cls(**settings)
            network = _network(int(hyperparameters["n_features"]), classifier.hidden)
            prefix = "network."
            network.load_state_dict({name[len(prefix):]: value.to(torch.float64)
                                     for name, value in tensors.items()
                                     if name.startswith(prefix)})
            classifier.input_mean = tensors["input_mean"].to(torch.float64)
            classifier.input_scale = tensors["input_scale"].to(torch.float64)
            classifier.temperature = float(tensors["temperature"].item())
            classifier.logit_offset = float(tensors["logit_offset"].item())
            if classifier.input_mean.shape != (int(hyperparameters["n_features"]),):
                raise ValueError("input_mean does not match n_features")
        except (KeyError, RuntimeError, TypeError, ValueError) as error:
            raise ModelFileError(f"MLPStability state is incomplete or inconsistent: {error}"
                                 ) from error
        network.eval()
        classifier._network = network
        return classifier
