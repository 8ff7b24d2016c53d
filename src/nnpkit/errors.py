"""The exception types of nnpkit (layer 0).

Every error a user can cause by bad input derives from :class:`NNPKitError`, and its
message names what is wrong: the file, the structure index, the key, or the element.
"""

from __future__ import annotations

__all__ = [
    "NNPKitError",
    "DataError",
    "ConfigError",
    "ModelFileError",
    "UnknownElementError",
    "LabelingError",
    "TrainingError",
]


class NNPKitError(Exception):
    """Base class for all errors raised on bad input to nnpkit."""


class DataError(NNPKitError, ValueError):
    """A dataset or structure is unreadable, incomplete or unphysical."""


class ConfigError(NNPKitError, ValueError):
    """A configuration file or override is invalid (unknown key, bad value)."""


class ModelFileError(NNPKitError, ValueError):
    """A model file is missing, not an nnpkit model, tampered with, or of an unknown version."""


class UnknownElementError(NNPKitError, ValueError):
    """A structure contains an element the model was not trained on."""


class LabelingError(NNPKitError, RuntimeError):
    """A reference calculation failed."""


class TrainingError(NNPKitError, RuntimeError):
    """Training cannot go on (e.g. the loss became NaN or infinite)."""
