"""Batched MD of a committee: the compiled committee path against autograd and ASE.

16 replicas (stand-ins for umbrella windows) of the 73-atom Na+(H2O)24 cluster, Langevin
(NVT) on one CPU thread, side by side:

- ``engine-compiled``: :func:`nnpkit.md.run_batched_md` with the committee on the compiled
  path (:class:`nnpkit.models.committee_fast.FastCommittee`: one neighbour list, shared
  features, M network passes, one backward pass per step);
- ``engine-autograd``: the same run with ``fast_path=False`` (what committees got before);
- ``ase-compiled`` / ``ase-autograd``: the 16 replicas one after another, each an
  ``ase.md.Langevin`` run with a :class:`~nnpkit.calculators.CommitteeCalculator` (compiled
  or autograd; the calculator gives every member's forces for the spread each call);
- ``engine-single``: the engine with the committee's first member alone (for scale).

The committee is ``runs/na_water/round_2/committee`` (read only) where it exists, else
(or with ``--standin``) an untrained 3-member stand-in with the architecture of the
solvation example's committee (``examples/solvation/na_water_end_to_end.py``: 8 radial and
3 angular shifts, ζ 1 and 4, angular cutoff 4 Å, hidden [32, 32]; elements H, O, Na,
members seeded differently); speed does not depend on the weights. ``--threads 2`` gives
torch, BLAS and numba two threads (the engine's 1,168-atom batch then runs the threaded
kernels; a 73-atom ASE run stays below ``bpnn_fast.PARALLEL_FROM_ATOMS``). The cluster is
``runs/na_water/cluster_equilibrated.extxyz`` where it exists, else a built water cluster
with one Na. Timings: µs per MD step of all 16 replicas after untimed warm-up steps.

    OMP_NUM_THREADS=1 python benchmarks/committee_fast_path.py
    python benchmarks/committee_fast_path.py --steps 20      # quicker
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import common

ROOT = Path(__file__).resolve().parent.parent
COMMITTEE_DIR = ROOT / "runs" / "na_water" / "round_2" / "committee"
CLUSTER_FILE = ROOT / "runs" / "na_water" / "cluster_equilibrated.extxyz"
TEMPERATURE_K = 300.0


def _cluster():  # noqa: ANN202 - ase.Atoms
    """The 73-atom Na+(H2O)24 cluster (the run's, or a built stand-in)."""
    import numpy as np
    from ase import Atoms
    from ase.build import molecule
    from ase.io import read

    if CLUSTER_FILE.exists():
        return read(CLUSTER_FILE)
    rng = np.random.default_rng(0)
    water = molecule("H2O")
    atoms = Atoms("Na", positions=[[0.0, 0.0, 0.0]])
    grid = [np.array([x, y, z]) * 3.1 for x in range(-2, 3) for y in range(-2, 3)
            for z in range(-2, 3) if (x, y, z) != (0, 0, 0)]
    grid.sort(key=lambda point: float(np.linalg.norm(point)))
    for point in grid[:24]:
        copy = water.copy()
        copy.rotate(float(rng.uniform(0, 360)), rng.normal(size=3))
        copy.translate(point)
        atoms += copy
    return atoms


def _standin_committee(n_members: int):  # noqa: ANN202 - a Committee
    """Untrained quickstart-size BPNNs over H, O, Na, normalisation fitted on the cluster."""
    import numpy as np
    import torch

    from nnpkit.data.graph import atoms_to_graph
    from nnpkit.data.stats import DatasetStatistics
    from nnpkit.models import BehlerParrinello, BPNNConfig
    from nnpkit.models.committee import Committee

    elements = ["H", "O", "Na"]
    statistics = DatasetStatistics(elements=tuple(elements),
                                   reference_energies_eV=tuple(-1.0 for _ in elements),
                                   energy_scale_eV=0.5, residual_energy_std_eV_per_atom=0.01)
    rng = np.random.default_rng(1)
    cluster = _cluster()
    samples = []
    for _ in range(4):
        atoms = cluster.copy()
        atoms.positions += rng.normal(0.0, 0.05, size=atoms.positions.shape)
        samples.append(atoms_to_graph(atoms, 5.0))
    members = []
    for seed in range(n_members):
        torch.manual_seed(seed)
        model = BehlerParrinello(elements, BPNNConfig(
            kind="bpnn", cutoff_A=5.0, angular_cutoff_A=4.0, n_radial=8, n_angular_radial=3,
            zetas=[1, 4], hidden=[32, 32]), statistics)
        model.fit_feature_normalization(samples)
        members.append(model.float())
    return Committee(members)


def _replicas(n_replicas: int) -> list:
    cluster = _cluster()
    replicas = []
    for k in range(n_replicas):
        atoms = cluster.copy()
        atoms.rattle(0.02, seed=k)
        replicas.append(atoms)
    return replicas


def engine_us_per_step(model: Any, replicas: list, steps: int, fast_path: bool) -> float:
    """µs per step of ``run_batched_md`` (all replicas in one batch), after a warm-up."""
    from nnpkit.md import run_batched_md

    def run(n_steps: int) -> None:
        run_batched_md(model, replicas, ensemble="nvt", temperature_K=TEMPERATURE_K,
                       timestep_fs=0.5, steps=n_steps, log_interval=max(n_steps, 1),
                       fast_path=fast_path, progress=False)

    run(3)  # warm-up: kernels compiled, caches filled
    started = time.perf_counter()
    run(steps)
    return (time.perf_counter() - started) / steps * 1e6


def ase_us_per_step(committee: Any, replicas: list, steps: int, fast_path: bool) -> float:
    """µs per step of all replicas run one after another with ASE's Langevin."""
    import numpy as np
    from ase import units
    from ase.md.langevin import Langevin

    from nnpkit.calculators import CommitteeCalculator

    calculator = CommitteeCalculator(committee, fast_path=fast_path)
    total = 0.0
    for k, start in enumerate(replicas):
        atoms = start.copy()
        atoms.calc = calculator
        dynamics = Langevin(atoms, 0.5 * units.fs, temperature_K=TEMPERATURE_K,
                            friction=0.01 / units.fs, rng=np.random.default_rng(k))
        dynamics.run(2)  # warm-up (not timed)
        started = time.perf_counter()
        dynamics.run(steps)
        total += time.perf_counter() - started
    return total / steps * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=16)
    parser.add_argument("--steps", type=int, default=50, help="timed steps per case")
    parser.add_argument("--members", type=int, default=3, help="stand-in committee size")
    parser.add_argument("--standin", action="store_true",
                        help="the untrained stand-in even where the run's committee exists")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    common.set_thread_env(args.threads)
    import torch

    from nnpkit.models.committee_file import load_committee

    torch.set_num_threads(args.threads)
    if COMMITTEE_DIR.exists() and not args.standin:
        committee, source = load_committee(COMMITTEE_DIR, dtype=torch.float32), str(
            COMMITTEE_DIR.relative_to(ROOT))
    else:
        committee, source = _standin_committee(args.members), "untrained stand-in"
    replicas = _replicas(args.replicas)
    cases = {
        "engine-compiled": lambda: engine_us_per_step(committee, replicas, args.steps, True),
        "engine-autograd": lambda: engine_us_per_step(committee, replicas, args.steps, False),
        "engine-single": lambda: engine_us_per_step(committee.potentials[0], replicas,
                                                    args.steps, True),
        "ase-compiled": lambda: ase_us_per_step(committee, replicas, args.steps, True),
        "ase-autograd": lambda: ase_us_per_step(committee, replicas, max(args.steps // 5, 2),
                                                False),
    }
    us_per_step = {}
    for name, case in cases.items():
        us_per_step[name] = case()
        print(f"{name:16s} {us_per_step[name]:12.0f} µs/step", flush=True)
    speedups = {
        "engine_compiled_over_engine_autograd":
            us_per_step["engine-autograd"] / us_per_step["engine-compiled"],
        "engine_compiled_over_ase_autograd":
            us_per_step["ase-autograd"] / us_per_step["engine-compiled"],
        "engine_compiled_over_ase_compiled":
            us_per_step["ase-compiled"] / us_per_step["engine-compiled"],
        "engine_autograd_over_ase_autograd":
            us_per_step["ase-autograd"] / us_per_step["engine-autograd"],
    }
    for name, value in speedups.items():
        print(f"{name:40s} {value:6.2f}x")
    results = {"committee": source, "n_members": len(committee), "replicas": args.replicas,
               "atoms_per_replica": len(replicas[0]), "steps": args.steps,
               "threads": args.threads, "us_per_step": us_per_step, "speedups": speedups,
               "machine": common.machine_info(),
               "command": common.reproduce_command("committee_fast_path.py")}
    print("wrote", common.write_results(f"committee_fast_path_{args.threads}threads", results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
