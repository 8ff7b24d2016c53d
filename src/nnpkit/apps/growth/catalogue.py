"""The NEB barrier catalogue: Cu(100) hop environments, built as slabs, relaxed with NEB.

An environment is a small periodic SOS height map (``surface_size²`` columns above
``substrate_layers`` full layers) with one hop: an in-layer hop of an adatom among
randomly occupied neighbour sites, or a hop down a step from a one-atom-high island.
Level ``k`` of column ``(c1, c2)`` sits at ``((c1, c2) + ½·(k mod 2))·d`` in-plane and
``k·a/2`` high (ABAB stacking of fcc(100), ``d = a/√2·(1 + strain)``); the hop's forward
and reverse barriers both come from one climbing-image NEB (:func:`nnpkit.paths.run_neb`,
the shared driver; linearly interpolated, as the shipped catalogue was built, between end
points relaxed here with :func:`nnpkit.paths.relax`), so every NEB gives two labelled
environments. Descriptors are computed from the height maps with the same
:func:`lattice.hop_codes_of` that the kMC uses.

A failed NEB (an end point that relaxes away from its site, an end-point relaxation or
NEB not converged in ``max_steps``, a failed reference calculation: one of
:data:`nnpkit.errors.REFERENCE_FAILURES`) is kept in the catalogue with its error message,
``converged: false`` and no barrier. Any other error (a calculator factory that raises
``TypeError``, an element the calculator does not know) propagates with its message.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.constraints import FixAtoms
from tqdm.auto import tqdm

from nnpkit.apps.growth.config import BarrierConfig
from nnpkit.apps.growth.lattice import DIRECTIONS, decode_codes, hop_codes_of
from nnpkit.errors import REFERENCE_FAILURES, DataError, LabelingError
from nnpkit.file_writes import atomic_write
from nnpkit.paths import relax, run_neb

__all__ = ["calculator_factory", "relaxed_lattice_constant", "random_environments",
           "slab_for", "neb_environment", "build_catalogue", "save_catalogue",
           "load_catalogue"]

_SOURCE = (1, 2)  # hop source column; the hop goes +x to (2, 2)
_STENCIL = [(x, y) for x in range(4) for y in range(1, 4)]  # columns the descriptors read


def calculator_factory(method: str) -> Callable[[], Calculator]:
    """``"emt"`` → ASE's EMT; otherwise an nnpkit model file via ``nnpkit.load_calculator``."""
    if method.lower() == "emt":
        from ase.calculators.emt import EMT

        return EMT
    from nnpkit import load_calculator

    load_calculator(method)  # fail early, naming the path
    return lambda: load_calculator(method)


def relaxed_lattice_constant(make_calculator: Callable[[], Calculator]) -> float:
    """The fcc Cu lattice constant (Å) minimising the calculator's bulk energy."""
    from ase.build import bulk
    from scipy.optimize import minimize_scalar

    def energy(a: float) -> float:
        atoms = bulk("Cu", "fcc", a=a)
        atoms.calc = make_calculator()
        return float(atoms.get_potential_energy())

    return float(minimize_scalar(energy, bounds=(3.3, 3.9), method="bounded",
                                 options={"xatol": 1e-4}).x)


def random_environments(config: BarrierConfig) -> list[dict]:
    """``config.n_environments`` distinct hop environments (height maps, hop, strain)."""
    rng = np.random.default_rng(config.seed)
    size = config.surface_size
    seen: set[bytes] = set()
    environments: list[dict] = []
    for _ in range(200 * config.n_environments):
        if len(environments) == config.n_environments:
            break
        heights = np.zeros((size, size), dtype=np.int64)  # [size, size]
        occupancy = rng.uniform(0.0, 0.7)
        down = rng.random() < config.down_hop_fraction
        for site in _STENCIL:
            if site not in (_SOURCE, (2, 2)) and rng.random() < occupancy:
                heights[site] = 1
        if down:  # a level-2 adatom on the island edge: its four supports must exist
            heights[0, 1] = heights[1, 1] = heights[0, 2] = 1
            heights[_SOURCE] = 2
        else:
            heights[_SOURCE] = 1
        strain = float(rng.choice(config.strains_percent))
        key = heights.tobytes() + str(strain).encode()
        if key in seen:
            continue
        seen.add(key)
        environments.append({"kind": "down_step" if down else "in_layer", "heights": heights,
                             "source": _SOURCE, "direction": 0, "strain_percent": strain})
    return environments


def _position(column: tuple[int, int], level: int, d: float, a: float,
              substrate_layers: int) -> tuple[float, float, float]:
    shift = 0.5 * (level % 2)
    return ((column[0] + shift) * d, (column[1] + shift) * d,
            (level + substrate_layers - 1) * a / 2)


def slab_for(heights: np.ndarray, mover: tuple[tuple[int, int], int], a: float,
             strain_percent: float, substrate_layers: int, fixed_layers: int,
             vacuum_A: float = 8.0) -> Atoms:
    """The slab of the height map (``[n, n]``, without the hopping atom) plus the hopping
    atom at column ``mover[0]``, level ``mover[1]``, as the last atom (so both end points
    share the atom order)."""
    size = heights.shape[0]
    d = a / math.sqrt(2) * (1 + strain_percent / 100)
    positions = []
    for c1 in range(size):
        for c2 in range(size):
            for level in range(1 - substrate_layers, int(heights[c1, c2]) + 1):
                positions.append(_position((c1, c2), level, d, a, substrate_layers))
    column = (int(mover[0][0]), int(mover[0][1]))
    positions.append(_position(column, mover[1], d, a, substrate_layers))
    positions_array = np.array(positions)  # [n_atoms, 3]
    height = positions_array[:, 2].max() + 2 * vacuum_A
    atoms = Atoms(f"Cu{len(positions)}", positions=positions_array,
                  cell=[size * d, size * d, height], pbc=[True, True, False])
    atoms.positions[:, 2] += vacuum_A
    fixed = np.nonzero(positions_array[:, 2] < (fixed_layers - 0.5) * a / 2)[0]
    atoms.set_constraint(FixAtoms(indices=fixed))
    return atoms


def neb_environment(environment: dict, make_calculator: Callable[[], Calculator], a: float,
                    config: BarrierConfig) -> dict:
    """Relax both end points and run a climbing-image NEB for one environment.

    Returns a JSON-ready record: descriptors of the forward and reverse hop, energies (eV),
    ``barrier_forward_eV``/``barrier_reverse_eV`` (None when it failed), ``converged``
    (both end-point relaxations and the NEB reached ``fmax_eV_per_A``) and ``error``.

    Raises:
        Anything but :data:`~nnpkit.errors.REFERENCE_FAILURES` (which are recorded).
    """
    heights = np.asarray(environment["heights"], dtype=np.int64)
    source = tuple(environment["source"])
    step = DIRECTIONS[environment["direction"]]
    size = heights.shape[0]
    target = ((source[0] + step[0]) % size, (source[1] + step[1]) % size)
    final_heights = heights.copy()
    final_heights[source] -= 1
    final_heights[target] += 1
    reverse_direction = int(environment["direction"]) ^ 1  # +x ↔ −x, +y ↔ −y
    record = {
        "kind": environment["kind"], "strain_percent": environment["strain_percent"],
        "heights": heights.tolist(), "source": list(source),
        "direction": int(environment["direction"]),
        "forward_descriptors": decode_codes(hop_codes_of(
            heights, np.array([source]), np.array([environment["direction"]])))[0].tolist(),
        "reverse_descriptors": decode_codes(hop_codes_of(
            final_heights, np.array([target]), np.array([reverse_direction])))[0].tolist(),
        "barrier_forward_eV": None, "barrier_reverse_eV": None, "converged": False,
        "error": None,
    }
    start = time.perf_counter()
    args = (a, environment["strain_percent"], config.substrate_layers, config.fixed_layers)
    try:
        others = heights.copy()  # [n, n] every atom but the hopping one
        others[source] -= 1
        ends = [slab_for(others, (source, int(heights[source])), *args),
                slab_for(others, (target, int(heights[target]) + 1), *args)]
        ideal = [end.positions[-1].copy() for end in ends]
        for name, end, where in zip(("initial", "final"), ends, ideal, strict=True):
            if not relax(end, make_calculator(), config.fmax_eV_per_A, config.max_steps):
                raise LabelingError(f"the {name} state's relaxation not converged to fmax "
                                    f"{config.fmax_eV_per_A} eV/Å in {config.max_steps} steps")
            moved = float(np.linalg.norm(end.positions[-1] - where))
            if moved > 0.35 * a:
                raise LabelingError(f"the {name} state relaxed away from its site "
                                    f"(the hopping atom moved {moved:.2f} Å)")
        band = run_neb(ends[0], ends[1], make_calculator, n_images=config.n_images,
                       climb=True, method="improvedtangent", interpolation="linear",
                       optimizer="FIRE", fmax_eV_per_A=config.fmax_eV_per_A,
                       max_steps=config.max_steps, relax_end_points=False)
        if band.error is not None:  # a failed reference calculation inside the band
            record["error"] = band.error
        elif not band.converged:
            raise LabelingError(f"NEB not converged to fmax {config.fmax_eV_per_A} eV/Å "
                                f"in {config.max_steps} steps")
        else:
            record.update(energies_eV=band.energies_eV,
                          barrier_forward_eV=band.barrier_forward_eV,
                          barrier_reverse_eV=band.barrier_reverse_eV, converged=True,
                          saddle_image=band.saddle_index)
            record["_saddle_atoms"] = band.images[band.saddle_index]
    except REFERENCE_FAILURES as error:  # a failed calculation; anything else propagates
        record["error"] = f"{type(error).__name__}: {error}"
    record["seconds"] = time.perf_counter() - start
    return record


def build_catalogue(config: BarrierConfig) -> list[dict]:
    """Run one NEB per environment of :func:`random_environments` (progress bar)."""
    make_calculator = calculator_factory(config.calculator)
    a = config.lattice_constant_A or relaxed_lattice_constant(make_calculator)
    records = []
    for index, environment in enumerate(tqdm(random_environments(config), desc="NEB",
                                             disable=not config.progress)):
        record = neb_environment(environment, make_calculator, a, config)
        records.append({"id": index, "lattice_constant_A": a, **record})
    return records


def save_catalogue(records: list[dict], directory: str | Path) -> dict[str, str]:
    """Write ``catalogue.json`` and the saddle images ``saddles.extxyz``, atomically."""
    from ase.io import write

    directory = Path(directory)
    saddles = []
    for record in records:
        atoms = record.get("_saddle_atoms")
        if atoms is not None:
            atoms = atoms.copy()
            atoms.info.update(catalogue_id=record["id"], kind=record["kind"],
                              barrier_forward_eV=record["barrier_forward_eV"])
            saddles.append(atoms)
    clean = [{key: value for key, value in record.items() if not key.startswith("_")}
             for record in records]
    paths = {"catalogue": str(directory / "catalogue.json"),
             "saddles": str(directory / "saddles.extxyz")}
    atomic_write(paths["catalogue"], lambda tmp: Path(tmp).write_text(json.dumps(clean,
                                                                                 indent=1)))
    atomic_write(paths["saddles"], lambda tmp: write(tmp, saddles, format="extxyz"))
    return paths


def load_catalogue(path: str | Path) -> list[dict]:
    """Read a ``catalogue.json``; raises :class:`DataError` naming the file if unusable."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"barrier catalogue not found: {path}")
    try:
        records = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error})") from error
    required = {"forward_descriptors", "reverse_descriptors", "barrier_forward_eV",
                "barrier_reverse_eV", "strain_percent"}
    if not isinstance(records, list):
        raise DataError(f"{path}: a catalogue is a JSON list of environments")
    for index, record in enumerate(records):
        missing = required - set(record) if isinstance(record, dict) else required
        if missing:
            raise DataError(f"{path}: environment {index} lacks {sorted(missing)}")
    return records
