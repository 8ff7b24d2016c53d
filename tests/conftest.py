"""Shared fixtures: small Behler–Parrinello models (untrained but normalised) and structures.

The models have random weights; what the physics tests need is only that the features
are O(1) (normalisation fitted on a few structures) and the output scale is set, so that
energies, forces and stress are smooth functions of reasonable size.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule

from nnpkit.calculators import NNPCalculator
from nnpkit.data.graph import atoms_to_graph
from nnpkit.data.stats import DatasetStatistics
from nnpkit.models import BehlerParrinello, BPNNConfig
from nnpkit.models.committee import Committee

#: A small configuration: a few radial and angular features, two hidden layers of 16.
SMALL_CONFIG = {
    "cutoff_A": 5.0, "angular_cutoff_A": 3.5, "n_radial": 8, "n_angular_radial": 3,
    "zetas": [1, 4], "hidden": [16, 16],
}  # fmt: skip

#: Made-up per-element reference energies (eV/atom) for the statistics of the models.
REFERENCE_ENERGIES_eV = {"H": -13.6, "C": -150.0, "O": -430.0, "Cu": -3.5, "Au": -3.2}


@pytest.fixture(scope="session", autouse=True)
def _single_torch_thread() -> None:
    torch.set_num_threads(1)


def ethanol() -> Atoms:
    """Ethanol (9 atoms, no cell), slightly rattled so no geometry is special."""
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=3)
    return atoms


def copper_primitive() -> Atoms:
    """The 1-atom primitive fcc Cu cell: its vectors (2.55 Å) are shorter than 5 Å."""
    return bulk("Cu", "fcc", a=3.61)


def copper_cubic() -> Atoms:
    """The 4-atom cubic fcc Cu cell, rattled."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    atoms.rattle(0.05, seed=4)
    return atoms


def cuau_triclinic() -> Atoms:
    """A 4-atom CuAu cell, rattled and sheared into a triclinic cell."""
    atoms = bulk("Cu", "fcc", a=3.75, cubic=True)
    atoms.symbols[[1, 2]] = "Au"
    strain = np.array([[0.02, 0.03, 0.0], [0.03, -0.01, 0.04], [0.0, 0.04, 0.03]])
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
    atoms.rattle(0.05, seed=5)
    return atoms


def copper_slab() -> Atoms:
    """A rattled 12-atom Cu(111) slab, periodic in x and y only."""
    from ase.build import fcc111

    slab = fcc111("Cu", size=(2, 2, 3), vacuum=6.0, periodic=True)
    slab.pbc = [True, True, False]
    slab.rattle(0.05, seed=7)
    return slab


def calculator_results(calculator: NNPCalculator, atoms: Atoms) -> dict[str, np.ndarray]:
    """Energy, per-atom energies, forces and (fully periodic cells) stress of a copy of
    ``atoms`` through ``calculator``, as arrays."""
    atoms = atoms.copy()
    atoms.calc = calculator
    out = {"energy": np.array(atoms.get_potential_energy()),
           "energies": atoms.get_potential_energies(), "forces": atoms.get_forces()}
    if atoms.pbc.all():
        out["stress"] = atoms.get_stress()
    return out


def _normalisation_structures(elements: Sequence[str]) -> list[Atoms]:
    """Rattled and strained structures containing ``elements`` to fit the normalisation."""
    rng = np.random.default_rng(0)
    if set(elements) <= {"H", "C", "O"}:
        bases = [molecule("CH3CH2OH"), molecule("CH3OH"), molecule("H2O"), molecule("CO2")]
    else:
        bases = [copper_cubic(), copper_primitive().repeat((2, 2, 2))]
        if "Au" in elements:
            bases.append(cuau_triclinic())
            gold = copper_cubic()
            gold.symbols[:] = "Au"
            bases.append(gold)
    structures = []
    for base in bases:
        for _ in range(3):
            atoms = base.copy()
            if atoms.pbc.any():
                strain = rng.uniform(-0.04, 0.04, (3, 3))
                atoms.set_cell(atoms.cell.array @ (np.eye(3) + 0.5 * (strain + strain.T)),
                               scale_atoms=True)
            atoms.positions += rng.normal(0.0, 0.08, size=atoms.positions.shape)
            structures.append(atoms)
    return [atoms for atoms in structures if set(atoms.get_chemical_symbols()) <= set(elements)]


def statistics_for(elements: Sequence[str]) -> DatasetStatistics:
    """Made-up dataset statistics for ``elements`` (reference energies, 0.5 eV scale)."""
    return DatasetStatistics(
        elements=tuple(elements),
        reference_energies_eV=tuple(REFERENCE_ENERGIES_eV[e] for e in elements),
        energy_scale_eV=0.5,
        residual_energy_std_eV_per_atom=0.01,
    )


_MODEL_CACHE: dict[tuple[str, ...], BehlerParrinello] = {}


def build_small_model(elements: Sequence[str]) -> BehlerParrinello:
    """A fresh small BehlerParrinello (float32) with statistics and normalisation fitted.

    Deterministic (seeded); built once per element list and deep-copied, so each caller
    owns its model (NNPCalculator casts the model it is given).
    """
    key = tuple(elements)
    if key not in _MODEL_CACHE:
        torch.manual_seed(1234)
        model = BehlerParrinello(list(elements), BPNNConfig(**SMALL_CONFIG),
                                 statistics_for(elements))
        model.fit_feature_normalization(
            atoms_to_graph(atoms, model.cutoff) for atoms in _normalisation_structures(elements))
        _MODEL_CACHE[key] = model
    return copy.deepcopy(_MODEL_CACHE[key])


def perturbed_committee(elements: Sequence[str], n_members: int = 3,
                        seed: int = 3) -> Committee:
    """A committee of :func:`build_small_model` and copies whose element networks are
    perturbed by 0.05·N(0, 1) (seeded), so the members disagree."""
    members = [build_small_model(elements) for _ in range(n_members)]
    generator = torch.Generator().manual_seed(seed)
    for member in members[1:]:
        with torch.no_grad():
            for parameter in member.element_networks.parameters():
                parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return Committee(members)


@pytest.fixture
def make_model() -> Callable[[Sequence[str]], BehlerParrinello]:
    """Factory: ``make_model(["H", "C", "O"])`` gives a fresh small model."""
    return build_small_model


@pytest.fixture
def make_calculator() -> Callable[..., NNPCalculator]:
    """Factory: ``make_calculator(["Cu"], dtype=torch.float64)`` over a fresh small model."""

    def make(elements: Sequence[str], dtype: torch.dtype = torch.float64) -> NNPCalculator:
        return NNPCalculator(build_small_model(elements), dtype=dtype)

    return make


@pytest.fixture
def molecule_calculator(make_calculator: Callable[..., NNPCalculator]) -> NNPCalculator:
    """float64 calculator of an H/C/O model."""
    return make_calculator(["H", "C", "O"])


@pytest.fixture
def copper_calculator(make_calculator: Callable[..., NNPCalculator]) -> NNPCalculator:
    """float64 calculator of a Cu model."""
    return make_calculator(["Cu"])


@pytest.fixture
def alloy_calculator(make_calculator: Callable[..., NNPCalculator]) -> NNPCalculator:
    """float64 calculator of a Cu/Au model."""
    return make_calculator(["Cu", "Au"])


# -- PostgreSQL, for the tests marked `postgres` ------------------------------------------

#: Server URL (a database the user may CREATE DATABASE from), e.g. the one `.ci/run` starts.
POSTGRES_URL_VARIABLE = "NNPKIT_TEST_POSTGRES_URL"


def _start_postgres() -> tuple[str, Callable[[], None]]:
    """Start a throw-away PostgreSQL server on 127.0.0.1 (initdb into a temporary folder;
    as the ``postgres`` user when run as root); returns its URL and a stop function.
    Raises RuntimeError saying why it cannot."""
    import glob
    import os
    import pwd
    import shutil
    import socket
    import subprocess
    import tempfile

    found = shutil.which("pg_ctl")
    bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    bindir = os.path.dirname(found) if found else (bindirs[-1] if bindirs else None)
    if bindir is None:
        raise RuntimeError("no PostgreSQL server programs (initdb, pg_ctl) installed")
    run_as: list[str] = []
    folder = tempfile.mkdtemp(prefix="nnpkit-pg-")
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError as error:
            raise RuntimeError("running as root and there is no 'postgres' user") from error
        os.chown(folder, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data = os.path.join(folder, "data")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def pg(*args: str) -> None:
        subprocess.run([*run_as, os.path.join(bindir, args[0]), *args[1:]], check=True,
                       capture_output=True, timeout=120)

    try:
        pg("initdb", "-D", data, "-A", "trust", "-U", "nnpkit", "-E", "UTF8", "--no-sync")
        pg("pg_ctl", "-D", data, "-l", os.path.join(folder, "log"), "-w", "-o",
           f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    except (OSError, subprocess.SubprocessError) as error:
        shutil.rmtree(folder, ignore_errors=True)
        detail = getattr(error, "stderr", b"") or b""
        raise RuntimeError(f"starting it failed ({error}; {detail.decode()[-300:]})") from error

    def stop() -> None:
        subprocess.run([*run_as, os.path.join(bindir, "pg_ctl"), "-D", data, "-m", "fast",
                        "stop"], capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)

    return f"postgresql://nnpkit@127.0.0.1:{port}/postgres", stop


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of a PostgreSQL server: ``$NNPKIT_TEST_POSTGRES_URL`` if set (it must work),
    else one started for this session; skips, saying why, when neither is possible."""
    import os

    pytest.importorskip("psycopg2", reason="PostgreSQL tests need psycopg2 "
                                           "(pip install nnpkit[postgres])")
    given = os.environ.get(POSTGRES_URL_VARIABLE)
    if given:
        yield given
        return
    try:
        url, stop = _start_postgres()
    except RuntimeError as error:
        pytest.skip(f"no PostgreSQL server: {POSTGRES_URL_VARIABLE} is not set and none "
                    f"could be started here: {error}")
    try:
        yield url
    finally:
        stop()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database on :func:`postgres_server` (dropped after)."""
    from nnpkit.labeling.store_backends import temporary_postgres_database

    with temporary_postgres_database(postgres_server, "nnpkit_test") as url:
        yield url
