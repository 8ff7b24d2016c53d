"""Build the structures of the worked example: NO decomposition on Cu(100) with EMT.

    .venv/bin/python examples/rates/build_structures.py [--out examples/rates/structures]

Writes deterministic, unrelaxed extxyz files (the ``rates neb`` pipeline relaxes every
state and NEB end point itself) for the network of ``examples/rates/mechanism.yaml``:

- ``slab.extxyz``: Cu(100), 3×3 surface cell, 4 layers (bottom 2 fixed), EMT's lattice
  constant, 8 Å of vacuum on each side;
- ``n.extxyz``, ``o.extxyz``: one N or O atom in the four-fold hollow ``(½d, ½d)``;
- ``nn_pair.extxyz``, ``oo_pair.extxyz``: two atoms in neighbouring hollows ``(½d, ½d)``
  and ``(3/2·d, ½d)`` (the ``NN**`` / ``OO**`` pair, the precursor of associative
  desorption);
- ``nn_apart.extxyz``, ``oo_apart.extxyz``: the same two atoms diagonally apart,
  ``(½d, ½d)`` and ``(3/2·d, 3/2·d)``: the initial state of the pairing hop, whose final
  state is the pair (the second atom hops over the bridge ``(3/2·d, d)``);
- ``no_gas.extxyz``, ``n2_gas.extxyz``, ``o2_gas.extxyz``: the molecules in a 12 Å box.

Structures list the slab's atoms first (the adsorbates last), as the pipeline's
``vibrations.atoms: adsorbate`` option expects. ``d = a/√2`` is the surface
nearest-neighbour distance.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import fcc100

from nnpkit.data.io import write_structures
from nnpkit.paths.surfaces import EMT_CU_LATTICE_CONSTANT_A

__all__ = ["SIZE", "LAYERS", "FIXED_LAYERS", "ADSORBATE_HEIGHT_A", "slab", "with_adsorbates",
           "gas_molecule", "example_structures", "main"]

SIZE = 3            # surface cell of SIZE × SIZE atoms
LAYERS = 4          # atomic layers
FIXED_LAYERS = 2    # bottom layers held fixed (FixAtoms)
VACUUM_A = 8.0      # vacuum on each side, Å
#: Starting heights above the top layer (Å); the relaxation finds the minimum.
ADSORBATE_HEIGHT_A = {"N": 1.0, "O": 1.3}
#: Starting bond lengths of the molecules (Å), near EMT's minima.
_BOND_A = {"NO": 1.06, "N2": 1.0, "O2": 1.1}


def slab() -> Atoms:
    """The clean Cu(100) slab (atoms ordered layer by layer from the bottom)."""
    from ase.constraints import FixAtoms

    atoms = fcc100("Cu", size=(SIZE, SIZE, LAYERS), a=EMT_CU_LATTICE_CONSTANT_A,
                   vacuum=VACUUM_A, orthogonal=True)
    atoms.set_tags(np.zeros(len(atoms), dtype=int))
    atoms.info.pop("adsorbate_info", None)  # a dict extxyz cannot write
    atoms.set_constraint(FixAtoms(indices=range(FIXED_LAYERS * SIZE * SIZE)))
    return atoms


def with_adsorbates(adsorbates: list[tuple[str, float, float]]) -> Atoms:
    """The slab with atoms ``(symbol, x/d, y/d)`` in hollows, appended in the given order
    at :data:`ADSORBATE_HEIGHT_A` above the top layer (coordinates in units of ``d``)."""
    base = slab()
    d = EMT_CU_LATTICE_CONSTANT_A / math.sqrt(2)
    top = float(base.positions[:, 2].max())
    extra = Atoms([symbol for symbol, _, _ in adsorbates],
                  positions=[(x * d, y * d, top + ADSORBATE_HEIGHT_A[symbol])
                             for symbol, x, y in adsorbates])
    atoms = base + extra
    atoms.set_constraint([constraint.copy() for constraint in base.constraints])
    return atoms


def gas_molecule(formula: str) -> Atoms:
    """A diatomic ``NO``, ``N2`` or ``O2`` along z, centred in a 12 Å non-periodic box."""
    atoms = Atoms(formula, positions=[(0.0, 0.0, 0.0), (0.0, 0.0, _BOND_A[formula])],
                  cell=[12.0, 12.0, 12.0], pbc=False)
    atoms.center()
    return atoms


def example_structures() -> dict[str, Atoms]:
    """Every structure of the example by file stem (new Atoms each call)."""
    structures = {"slab": slab(), "no_gas": gas_molecule("NO"),
                  "n2_gas": gas_molecule("N2"), "o2_gas": gas_molecule("O2")}
    for symbol in ("N", "O"):
        lower = symbol.lower()
        structures[lower] = with_adsorbates([(symbol, 0.5, 0.5)])
        structures[f"{lower}{lower}_pair"] = with_adsorbates([(symbol, 0.5, 0.5),
                                                               (symbol, 1.5, 0.5)])
        structures[f"{lower}{lower}_apart"] = with_adsorbates([(symbol, 0.5, 0.5),
                                                                (symbol, 1.5, 1.5)])
    return structures


def main(argv: list[str] | None = None) -> dict[str, Path]:
    """Write every structure as ``<out>/<stem>.extxyz``; returns the paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "structures"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for stem, atoms in example_structures().items():
        paths[stem] = out / f"{stem}.extxyz"
        write_structures(paths[stem], [atoms])
    return paths


if __name__ == "__main__":
    for stem, path in main().items():
        print(f"{stem}: {path}")
