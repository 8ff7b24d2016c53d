"""nnpkit.data: reading, writing, validating and splitting labelled structures (layer 1)."""

from nnpkit.data.io import LabelKeys, read_structures, write_database, write_structures
from nnpkit.data.splits import train_val_test_split
from nnpkit.data.validate import validate_structures

__all__ = [
    "LabelKeys",
    "read_structures",
    "write_structures",
    "write_database",
    "train_val_test_split",
    "validate_structures",
]
