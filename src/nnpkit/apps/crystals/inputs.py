"""What the crystal workflows start from: a structure spec.

- :func:`read_structure`: a file ASE reads (first frame) or a bulk spec such as
  ``Cu:fcc``, ``Cu:fcc:3.6``, ``Cu:fcc:cubic`` or ``Ti:hcp`` (``ase.build.bulk``; the
  lattice constant defaults to ASE's reference value of the element).
- :func:`require_periodic`: refuse a structure that is not periodic in three directions.

The calculator name (``emt``, ``gfn2``, a model path) is resolved by
:func:`nnpkit.labeling.reference.resolve_calculator`, shared with the other applications.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from ase import Atoms

from nnpkit.data.io import read_structure as read_structure_file
from nnpkit.errors import DataError

__all__ = ["read_structure", "require_periodic"]

_BULK_FLAGS = ("cubic", "orthorhombic")


def _bulk_from_spec(spec: str) -> Atoms:
    from ase.build import bulk

    name, structure, *options = spec.split(":")
    kwargs: dict = {}
    for option in options:
        if option in _BULK_FLAGS:
            kwargs[option] = True
            continue
        try:
            kwargs["a"] = float(option)
        except ValueError:
            raise DataError(
                f"bulk spec {spec!r}: {option!r} is neither a lattice constant (Å) nor one "
                f"of {', '.join(_BULK_FLAGS)}; e.g. Cu:fcc, Cu:fcc:3.61, Cu:fcc:cubic"
            ) from None
    try:
        return bulk(name, structure or None, **kwargs)
    except (ValueError, KeyError, RuntimeError) as error:
        raise DataError(f"bulk spec {spec!r}: ase.build.bulk refused it: {error}") from error


def read_structure(spec: str | os.PathLike) -> Atoms:
    """The structure a crystal workflow starts from.

    Args:
        spec: a path to any file ASE reads (its first frame), or a bulk spec
            ``SYMBOL:STRUCTURE[:a_A][:cubic|:orthorhombic]`` (``Cu:fcc``, ``Al:fcc:4.05``,
            ``Ti:hcp``).

    Raises:
        DataError: the file cannot be read, or the spec is neither a file nor a bulk spec.
    """
    if Path(spec).is_file():
        return read_structure_file(spec)
    text = str(spec)
    if ":" in text:
        return _bulk_from_spec(text)
    raise DataError(f"structure {text!r} is neither a file nor a bulk spec like Cu:fcc")


def require_periodic(atoms: Atoms, what: str) -> None:
    """Refuse ``atoms`` unless it is periodic in all three directions with a volume.

    Raises:
        DataError: naming ``what`` needs the periodicity and the structure's pbc.
    """
    if not bool(np.all(atoms.pbc)):
        raise DataError(f"{what} needs a crystal periodic in all three directions; "
                        f"{atoms.get_chemical_formula()} has pbc={atoms.pbc.tolist()}")
    if abs(float(np.linalg.det(atoms.cell.array))) < 1e-6:
        raise DataError(f"{what}: {atoms.get_chemical_formula()} has a cell of zero volume")
