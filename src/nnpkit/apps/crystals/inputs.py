"""What the crystal workflows start from: a structure spec and a calculator name.

- :func:`read_structure`: a file ASE reads (first frame) or a bulk spec such as
  ``Cu:fcc``, ``Cu:fcc:3.6``, ``Cu:fcc:cubic`` or ``Ti:hcp`` (``ase.build.bulk``; the
  lattice constant defaults to ASE's reference value of the element).
- :func:`resolve_calculator`: ``emt``, ``gfn2``, ``gfn1``, ``<functional>/<basis>`` (the
  reference methods of :mod:`nnpkit.labeling`) or an nnpkit model file, run directory or
  committee (:func:`nnpkit.calculators.load_calculator`).
- :func:`require_periodic`: refuse a structure that is not periodic in three directions.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator

from nnpkit.errors import DataError

__all__ = ["read_structure", "resolve_calculator", "require_periodic", "calculator_name"]

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
    path = Path(spec)
    if path.is_file():
        from ase.io import read

        try:
            atoms = read(path, index=0)
        except (OSError, ValueError, KeyError, StopIteration) as error:
            raise DataError(f"{path}: ASE cannot read a structure from it: {error}") from error
        assert isinstance(atoms, Atoms)
        return atoms
    text = str(spec)
    if ":" in text:
        return _bulk_from_spec(text)
    raise DataError(f"structure {text!r} is neither a file nor a bulk spec like Cu:fcc")


def resolve_calculator(name: str, device: str = "cpu", dtype: torch.dtype | None = None
                       ) -> Calculator:
    """An ASE calculator from a reference-method name or an nnpkit model path.

    Args:
        name: ``emt``, ``gfn2``, ``gfn1``, ``<functional>/<basis>``, or the path of a
            ``.nnp`` model file, a run directory or a committee (its JSON or directory).
        device: torch device of an nnpkit model.
        dtype: precision of an nnpkit model; default its own. float64 is the safe choice
            for finite differences.

    Raises:
        ConfigError: neither an existing path nor a known method (the message lists them).
    """
    if Path(name).exists():
        from nnpkit.calculators import load_calculator

        return load_calculator(name, device=device, dtype=dtype)
    from nnpkit.labeling.reference import make_reference_calculator

    return make_reference_calculator(name)


def calculator_name(calculator: Calculator) -> str:
    """A short description of a calculator for reports: its class and, for nnpkit
    models, the precision."""
    label = type(calculator).__name__
    dtype = getattr(calculator, "dtype", None)
    return f"{label} ({str(dtype).replace('torch.', '')})" if dtype is not None else label


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
