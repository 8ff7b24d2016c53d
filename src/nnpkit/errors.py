"""The exception types of nnpkit (layer 0).

Every error a user can cause by bad input derives from :class:`NNPKitError`, and its
message names what is wrong: the file, the structure index, the key, or the element.
:data:`REFERENCE_FAILURES` is what a failed reference calculation raises: the only
errors that code running reference calculations may catch and record.
"""

from __future__ import annotations

from ase.calculators.calculator import CalculationFailed, ReadError
from numpy.linalg import LinAlgError

__all__ = [
    "REFERENCE_FAILURES",
    "ConvergenceError",
    "NNPKitError",
    "DataError",
    "ConfigError",
    "ModelFileError",
    "UnknownElementError",
    "LabelingError",
    "TrainingError",
    "TransitionStateError",
]


class NNPKitError(Exception):
    """Base class for all errors raised on bad input to nnpkit."""


class DataError(NNPKitError, ValueError):
    """A dataset or structure is unreadable, incomplete or unphysical."""


class ConfigError(NNPKitError, ValueError):
    """A configuration file or override is invalid (unknown key, bad value)."""


class ModelFileError(NNPKitError, ValueError):
    """A model file is missing, not an nnpkit model, corrupted (integrity checksum), unsigned
    or wrongly signed when a key is required, or of an unknown version."""


class UnknownElementError(NNPKitError, ValueError):
    """A structure contains an element the model was not trained on."""


class LabelingError(NNPKitError, RuntimeError):
    """A reference calculation failed."""


class TrainingError(NNPKitError, RuntimeError):
    """Training cannot go on (e.g. the loss became NaN or infinite)."""


class TransitionStateError(NNPKitError, RuntimeError):
    """A stationary point is not what it was given as: a saddle without exactly one
    imaginary mode, or a minimum with one or more."""


class ConvergenceError(NNPKitError, RuntimeError):
    """A minimisation stopped before its force tolerance; ``residual_eV_per_A`` is the
    largest remaining force, and the state is not a result."""

    def __init__(self, message: str, residual_eV_per_A: float) -> None:
        super().__init__(message)
        self.residual_eV_per_A = float(residual_eV_per_A)


#: What a failed reference calculation raises: ASE's ``CalculationFailed`` (``SCFError``
#: included; tblite raises it when its SCF does not converge) and ``ReadError`` (a
#: file-based calculator that ended abnormally), :class:`LabelingError` (nnpkit's own:
#: an unconverged PySCF SCF, an unconverged relaxation or NEB, non-finite results), and
#: numpy's ``LinAlgError`` (a singular matrix in an SCF or an optimizer step). Code that
#: records failed calculations catches exactly these. Programming errors (``TypeError``,
#: ``AttributeError``, ...) and bad input (an unknown element: EMT's
#: ``NotImplementedError``, :class:`UnknownElementError`; ASE's ``CalculatorSetupError``
#: and ``InputError``; :class:`ConfigError`) are not among them and propagate.
REFERENCE_FAILURES: tuple[type[Exception], ...] = (
    CalculationFailed, ReadError, LabelingError, LinAlgError)
