"""The training structures of the worked example, sampled around the EMT network.

:func:`sample_network` takes the run directory of the EMT ``rates neb`` network
(relaxed states in ``states/*.extxyz``, final NEB bands in ``steps/*_band.extxyz``) and
returns unlabelled structures:

- every image of every NEB band, and rattled copies of the interior images (saddle
  region included);
- for every relaxed surface state and NEB end point: rattled copies (Gaussian, three
  widths) and Langevin MD snapshots at two temperatures driven by EMT (short runs);
- for every gas molecule: normal-mode displacements at three temperatures
  (:func:`nnpkit.labeling.normal_mode_samples`) and rattled copies.

The sizes are set by :class:`SamplingSizes` (``quick`` for the CI-sized run). All random
draws are seeded, so the same EMT network gives the same structures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ase import Atoms
from ase.calculators.emt import EMT
from ase.io import read

from nnpkit.labeling import normal_mode_samples, rattle_structures, sample_md

__all__ = ["SamplingSizes", "FULL", "QUICK", "sample_network"]


@dataclass(frozen=True)
class SamplingSizes:
    """How many structures of each kind (per state, image or molecule)."""

    rattles_per_state: tuple[tuple[float, int], ...]   # (stdev_A, count) per width
    md_temperatures_K: tuple[float, ...]
    md_snapshots: int                                  # per state and temperature
    rattles_per_image: tuple[tuple[float, int], ...]
    gas_temperatures_K: tuple[float, ...]
    gas_snapshots: int                                 # per molecule and temperature
    gas_rattles: int


FULL = SamplingSizes(rattles_per_state=((0.02, 6), (0.05, 8), (0.1, 6)),
                     md_temperatures_K=(300.0, 600.0), md_snapshots=10,
                     rattles_per_image=((0.03, 4), (0.06, 4)),
                     gas_temperatures_K=(300.0, 1000.0, 2000.0), gas_snapshots=10,
                     gas_rattles=8)
QUICK = SamplingSizes(rattles_per_state=((0.03, 3), (0.08, 3)), md_temperatures_K=(500.0,),
                      md_snapshots=4, rattles_per_image=((0.05, 2),),
                      gas_temperatures_K=(500.0, 2000.0), gas_snapshots=5, gas_rattles=3)


def _tagged(items: list[Atoms], kind: str) -> list[Atoms]:
    for atoms in items:
        atoms.calc = None  # labels come from the farm
        atoms.info = {"config_type": kind}
    return items


def _rattles(atoms: Atoms, widths: tuple[tuple[float, int], ...], seed: int) -> list[Atoms]:
    out: list[Atoms] = []
    for k, (stdev_A, count) in enumerate(widths):
        out += rattle_structures(atoms, count, stdev_A=stdev_A, seed=seed + 7919 * k)
    return out


def sample_network(emt_run: str | Path, sizes: SamplingSizes = FULL, seed: int = 0
                   ) -> list[Atoms]:
    """Unlabelled structures around the EMT network of ``emt_run`` (see the module doc).

    Args:
        emt_run: run directory of the EMT network (``run_network`` output).
        sizes: the sample counts.
        seed: base seed of the rattles and MD runs.

    Returns:
        New Atoms without calculators, ``info["config_type"]`` naming their origin.
    """
    run = Path(emt_run)
    structures: list[Atoms] = []
    surface_states: list[tuple[str, Atoms]] = []
    gases: list[tuple[str, Atoms]] = []
    for path in sorted((run / "states").glob("*.extxyz")):
        atoms = read(path, index=-1)
        (surface_states if atoms.pbc.any() else gases).append((path.stem, atoms))
    for path in sorted((run / "steps").glob("*_band.extxyz")):
        band = read(path, index=":")
        structures += _tagged([image.copy() for image in band], f"band_{path.stem}")
        surface_states += [(f"{path.stem}_initial", band[0]), (f"{path.stem}_final", band[-1])]
        for k, image in enumerate(band[1:-1]):
            structures += _tagged(_rattles(image, sizes.rattles_per_image, seed + 31 * k),
                                  f"band_rattle_{path.stem}")
    for index, (name, atoms) in enumerate(surface_states):
        base = seed + 1000 * index
        structures += _tagged(_rattles(atoms, sizes.rattles_per_state, base), f"rattle_{name}")
        for j, temperature_K in enumerate(sizes.md_temperatures_K):
            structures += _tagged(sample_md(
                atoms, EMT(), temperature_K=temperature_K, n_samples=sizes.md_snapshots,
                interval_steps=10, timestep_fs=1.0, equilibration_steps=50,
                seed=base + j, progress=False), f"md_{name}")
    for index, (name, atoms) in enumerate(gases):
        base = seed + 5000 + 100 * index
        for j, temperature_K in enumerate(sizes.gas_temperatures_K):
            structures += _tagged(normal_mode_samples(
                atoms, EMT(), temperature_K=temperature_K, n_samples=sizes.gas_snapshots,
                seed=base + j), f"normal_modes_{name}")
        structures += _tagged(rattle_structures(atoms, sizes.gas_rattles, stdev_A=0.04,
                                                seed=base + 50), f"rattle_{name}")
    return structures
