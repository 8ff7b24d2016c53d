"""Does ``torch.compile`` speed up energy + forces on CPU? Eager against compiled, one process.

    OMP_NUM_THREADS=1 python benchmarks/torch_compile.py [--model RUN_DIR] [--calls 300]

Times ``compute_properties(model, graph, forces=True)`` for one ethanol configuration
(9 atoms, float32, 1 thread) with the eager model and with ``torch.compile(model,
dynamic=True)`` (dynamic shapes: the edge count changes along MD), on this process's CPU
clock after warm-up calls; also the one-off compile time and the largest force
difference. The default model is the ethanol BPNN of ``inference_speed.py``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import OUT_DIR, machine_info, set_thread_env, write_results

set_thread_env(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=OUT_DIR / "models" / "ethanol_bpnn")
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()

    import torch
    from ase.io import read

    from nnpkit.data.graph import atoms_to_graph
    from nnpkit.derivatives import compute_properties
    from nnpkit.models.model_file import load_model

    torch.set_num_threads(1)
    model = load_model(args.model / "run")
    model = model.float().eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    atoms = read(args.model / "test.extxyz", index=0)
    graph = atoms_to_graph(atoms, model.cutoff, dtype=torch.float32)

    def forces(potential: torch.nn.Module) -> torch.Tensor:
        return compute_properties(potential, graph, forces=True, stress=False)["forces"]

    def cpu_ms_per_call(potential: torch.nn.Module) -> float:
        for _ in range(10):
            forces(potential)
        started = time.process_time()
        for _ in range(args.calls):
            forces(potential)
        return 1000 * (time.process_time() - started) / args.calls

    eager_ms = cpu_ms_per_call(model)
    started = time.perf_counter()
    compiled = torch.compile(model, dynamic=True)
    first = forces(compiled)
    compile_s = time.perf_counter() - started
    difference = float((first - forces(model)).abs().max())
    compiled_ms = cpu_ms_per_call(compiled)
    result = {"machine": machine_info(), "eager_ms": eager_ms, "compiled_ms": compiled_ms,
              "speedup": eager_ms / compiled_ms, "compile_s": compile_s,
              "max_force_difference_eV_per_A": difference}
    print(write_results("torch_compile", result))
    print(f"eager {eager_ms:.3f} ms/call, compiled {compiled_ms:.3f} ms/call "
          f"(speed-up {eager_ms / compiled_ms:.2f}×), compile {compile_s:.0f} s, "
          f"max |ΔF| {difference:.1e} eV/Å")


if __name__ == "__main__":
    main()
