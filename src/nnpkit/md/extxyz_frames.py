"""Fast extxyz frames for the batched engine's trajectory writer: the bytes
``ase.io.write(..., format="extxyz")`` writes, without an Atoms copy per frame."""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms
from ase.io.extxyz import PROPERTY_NAME_MAP, key_val_dict_to_str

__all__ = ["ExtxyzFrames"]

#: extxyz column formats by dtype kind, as ase.io.extxyz writes them
_EXTXYZ_FORMATS = {"d": ("R", "%16.8f"), "f": ("R", "%16.8f"), "i": ("I", "%8d"),
                   "U": ("S", "%-2s"), "b": ("L", " %.1s")}


class ExtxyzFrames:
    """One replica's extxyz frames as ``ase.io.write(..., format="extxyz")`` writes the
    template with the frame's positions, momenta, cell and a SinglePointCalculator
    (energy, forces), byte for byte, without copying Atoms; the columns, their formats
    and the template's own arrays are worked out once.

    ``supported`` is False for what it does not reproduce (constraints, a template whose
    info or arrays already hold the calculator's keys, arrays that are neither numbers,
    strings nor flags); the writer then goes through ASE.
    """

    def __init__(self, template: Atoms) -> None:
        arrays = dict(template.arrays)
        arrays.setdefault("momenta", np.zeros((len(template), 3)))  # set_momenta appends it
        self.supported = (not template.constraints and "forces" not in arrays
                          and not {"energy", "forces", "stress"} & set(template.info)
                          and not {"symbols", "species", "pos"} & set(arrays)
                          and all(value.dtype.kind in _EXTXYZ_FORMATS and value.ndim <= 2
                                  for value in arrays.values()))
        self.template = template
        if not self.supported:
            return
        columns = ["positions"] + [name for name in arrays if name not in (
            "positions", "numbers")] + ["forces"]
        arrays["symbols"] = np.array(list(template.symbols))
        arrays["forces"] = np.zeros((len(template), 3))
        columns.insert(0, "symbols")
        names, formats, self._constant = [], [], {}
        for name in columns:
            kind, fmt = _EXTXYZ_FORMATS[arrays[name].dtype.kind]
            value = arrays[name]
            ncol = 1 if value.ndim == 1 or value.shape[1] == 1 else value.shape[1]
            names.append(f"{PROPERTY_NAME_MAP.get(name, name)}:{kind}:{ncol}")
            formats += [fmt] * ncol
            if name not in ("positions", "momenta", "forces"):
                self._constant[name] = ([np.squeeze(value, axis=1).tolist()] if ncol == 1
                                        and value.ndim == 2 else [value.tolist()]
                                        if ncol == 1 else value.T.tolist())
        self.columns = columns
        self.properties = "Properties=" + ":".join(names)
        self.row_format = " ".join(formats) + "\n"
        self.pbc = template.get_pbc()

    def text(self, positions: np.ndarray, momenta: np.ndarray, forces: np.ndarray,
             cell: np.ndarray, info: dict[str, Any]) -> str:
        """The frame: positions, momenta, forces [n, 3], cell [3, 3], info (with energy)."""
        moving = {"positions": positions, "momenta": momenta, "forces": forces}
        components: list[list[Any]] = []
        for name in self.columns:
            components += moving[name].T.tolist() if name in moving else self._constant[name]
        comment = self.properties
        if cell.any():  # ASE's Lattice: the transposed cell in Fortran order
            lattice = " ".join([str(x) for x in np.reshape(cell.T, 9, order="F")])
            comment = f'Lattice="{lattice}" {comment}'
        info["pbc"] = self.pbc
        lines = [f"{len(positions)}\n{comment} {key_val_dict_to_str(info)}\n"]
        row_format = self.row_format
        lines += [row_format % row for row in zip(*components, strict=True)]
        return "".join(lines)
