"""Speed of the quantum-dynamics kernels, each beside a plain reference implementation.

* split operator, 1D 1024 points x 10^4 steps (target < 1 s) and 2D 256x256 x 10^3 steps
  (target < 30 s on 2 cores), against a textbook loop (numpy.fft, three exponentials per
  step, no merged half steps): ratio = textbook / nnpkit;
* GP prediction (mean and std) of 10^5 points from 100 training points (target < 1 s),
  energies only and with gradients, against scikit-learn's GaussianProcessRegressor with
  the same kernel (energies only; scikit-learn has no derivative observations).

Writes ``benchmarks/out/quantum_speed.json``. Run single-threaded:
``python benchmarks/quantum_speed.py --threads 1`` (``--threads 2`` for the 2-core target).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import set_thread_env  # noqa: E402


def _textbook(grid, potential, mass, dt, psi, n_steps):  # type: ignore[no-untyped-def]
    import numpy as np

    kinetic = np.exp(-1j * dt * grid.kinetic_energy(mass))
    half = np.exp(-0.5j * dt * potential)
    for _ in range(n_steps):
        psi = half * np.fft.ifftn(kinetic * np.fft.fftn(half * psi))
    return psi


def _split_operator(shape: tuple[int, ...], n_steps: int) -> dict:
    import numpy as np

    from nnpkit.wavepackets.grid import Grid
    from nnpkit.wavepackets.split_operator import SplitOperator

    grid = Grid([-8.0] * len(shape), [8.0] * len(shape), list(shape))
    mesh = grid.mesh()
    potential = 0.5 * sum(x**2 for x in mesh) + 0.05 * mesh[0] ** 4  # anharmonic
    psi = np.exp(-sum((x - 1.0) ** 2 for x in mesh)).astype(complex)
    psi /= np.sqrt(grid.integrate(np.abs(psi) ** 2))
    propagator = SplitOperator(grid, potential, 1.0, 0.005)
    start = time.perf_counter()
    result = propagator.propagate(psi[None], n_steps)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    reference = _textbook(grid, potential, 1.0, 0.005, psi, n_steps)
    textbook = time.perf_counter() - start
    return {"grid": "x".join(map(str, shape)), "steps": n_steps, "nnpkit_s": ours,
            "textbook_s": textbook, "speedup": textbook / ours,
            "max_difference": float(np.max(np.abs(result[0] - reference))),
            "norm_drift": abs(propagator.norm(result) - 1.0)}


def _gp_prediction(with_gradients: bool) -> dict:
    import numpy as np

    from nnpkit.apps.quantum.gp import GaussianProcessPES
    from nnpkit.apps.quantum.potentials import MullerBrown

    surface = MullerBrown()
    generator = np.random.default_rng(0)
    lower, upper = np.array([-1.5, -0.3]), np.array([1.1, 2.0])
    points = lower + generator.uniform(size=(100, 2)) * (upper - lower)
    queries = lower + generator.uniform(size=(100_000, 2)) * (upper - lower)
    model = GaussianProcessPES.fit(points, surface(points),
                                   surface.gradient(points) if with_gradients else None)
    model.predict(queries[:100])
    start = time.perf_counter()
    mean, std = model.predict(queries)
    ours = time.perf_counter() - start
    row = {"training": f"100 points{' + gradients' if with_gradients else ''}",
           "queries": len(queries), "nnpkit_s": ours,
           "rms_error": float(np.sqrt(np.mean((mean - surface(queries)) ** 2)))}
    if not with_gradients:
        try:
            from sklearn.gaussian_process import GaussianProcessRegressor
            from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
        except ImportError:
            return row
        hyper = model.hyperparameters
        kernel = (ConstantKernel(hyper["signal_std"] ** 2, "fixed")  # type: ignore[operator]
                  * RBF(hyper["lengthscales"], "fixed")
                  + WhiteKernel(hyper["energy_noise_std"] ** 2, "fixed"))  # type: ignore
        peer = GaussianProcessRegressor(kernel, optimizer=None, normalize_y=False)
        peer.fit(points, surface(points) - surface(points).mean())
        start = time.perf_counter()
        peer.predict(queries, return_std=True)
        row["sklearn_s"] = time.perf_counter() - start
        row["speedup_vs_sklearn"] = row["sklearn_s"] / ours
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="smaller runs (CI)")
    args = parser.parse_args()
    set_thread_env(args.threads)
    from common import machine_info, reproduce_command, write_results

    steps_1d, steps_2d = (1000, 50) if args.quick else (10_000, 1000)
    results = {
        "machine": machine_info(), "command": reproduce_command("quantum_speed.py"),
        "split_operator": [_split_operator((1024,), steps_1d),
                           _split_operator((256, 256), steps_2d)],
        "gp_prediction": [_gp_prediction(False), _gp_prediction(True)],
        "targets": {"1d_1024x1e4_s": 1.0, "2d_256x256x1e3_s": 30.0, "gp_1e5_from_100_s": 1.0},
    }
    path = write_results("quantum_speed", results)
    for row in results["split_operator"] + results["gp_prediction"]:
        print({key: (round(value, 4) if isinstance(value, float) else value)
               for key, value in row.items()})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
