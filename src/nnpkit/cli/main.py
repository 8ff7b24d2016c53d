"""The ``nnpkit`` command: thin subcommands that parse, validate and call one library function.

Subcommand modules are imported lazily so ``nnpkit --help`` is instant.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser"]


def _train(args: argparse.Namespace) -> int:
    from nnpkit.training import fit, load_config

    if args.distributed:
        from nnpkit.training.launch import train_distributed

        print(json.dumps(train_distributed(args.config, args.set, nproc=args.nproc,
                                           resume=args.resume), indent=2))
        return 0
    if args.committee is not None:
        from nnpkit.training.committee import fit_committee

        committee = fit_committee(load_config(args.config, args.set), args.committee,
                                  bootstrap=args.bootstrap)
        print(json.dumps({"run_dir": str(committee.run_dir),
                          "committee": str(committee.committee_path),
                          "members": [str(path) for path in committee.member_paths],
                          "skipped": committee.skipped, "test": committee.test_metrics},
                         indent=2))
        return 0
    result = fit(load_config(args.config, args.set), resume=args.resume)
    print(json.dumps({"run_dir": str(result.run_dir), "epochs": result.epochs,
                      "stop_reason": result.stop_reason, "test": result.test_metrics}, indent=2))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from nnpkit.training.evaluation import evaluate_file

    metrics = evaluate_file(args.model, args.data, args.energy_key, args.forces_key,
                            args.stress_key, key=args.key_file, dipole_key=args.dipole_key,
                            polarizability_key=args.polarizability_key)
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(f"structures:        {metrics['n_structures']}")
    print(f"energy MAE / RMSE: {metrics['energy_mae_meV_per_atom']:.3f} / "
          f"{metrics['energy_rmse_meV_per_atom']:.3f} meV/atom")
    print(f"force MAE / RMSE:  {metrics['forces_mae_meV_per_A']:.2f} / "
          f"{metrics['forces_rmse_meV_per_A']:.2f} meV/Å")
    if metrics["stress_mae_GPa"] is not None:
        print(f"stress MAE:        {metrics['stress_mae_GPa']:.4f} GPa")
    if metrics["dipole_mae_D"] is not None:
        print(f"dipole MAE:        {metrics['dipole_mae_D']:.4f} D "
              f"({metrics['dipole_mae_eA']:.5f} e·Å)")
    if metrics["polarizability_iso_mae_A3"] is not None:
        relative = metrics["polarizability_iso_mape_percent"]
        print(f"polarizability MAE: {metrics['polarizability_iso_mae_A3']:.4f} Å³ isotropic"
              + ("" if relative is None else f" ({relative:.2f} %)")
              + f", {metrics['polarizability_component_mae_A3']:.4f} Å³ per component")
    if metrics.get("forces_std_spearman") is not None:
        print(f"Spearman(σ_F, |ΔF|): {metrics['forces_std_spearman']:.3f}")
    return 0


def _md(args: argparse.Namespace) -> int:
    from nnpkit.md.from_files import run_md_from_files

    summary = run_md_from_files(
        args.model, args.structure, temperature_K=args.temperature_K, steps=args.steps,
        timestep_fs=args.timestep_fs, ensemble=args.ensemble, pressure_GPa=args.pressure_GPa,
        trajectory=args.out, log_interval=args.log_interval, seed=args.seed,
        max_force_std=args.max_force_std, uncertainty_action=args.uncertainty_action,
        friction_per_fs=args.friction, device=args.device, dtype=args.dtype,
        restart=args.restart, key=args.key_file, engine=args.engine,
        external_field_V_per_A=args.field)
    print(json.dumps(summary, indent=2))
    return 0


def _sample(args: argparse.Namespace) -> int:
    from nnpkit.labeling.workflow import sample_and_label

    summary = sample_and_label(
        args.structure, method=args.method, out=args.out, n_samples=args.n_samples,
        temperature_K=args.temperature_K, interval_steps=args.interval_steps,
        timestep_fs=args.timestep_fs, seed=args.seed)
    print(json.dumps(summary, indent=2))
    return 0


def _sign(args: argparse.Namespace) -> int:
    from nnpkit.models.model_file import sign_model

    print(json.dumps({"signed": str(sign_model(args.model, args.key_file))}))
    return 0


def _quickstart(args: argparse.Namespace) -> int:
    from nnpkit.apps.quickstart import QuickstartConfig, run_quickstart

    config = QuickstartConfig(output=args.out, **({"n_structures": args.n_structures}
                                                  if args.n_structures else {}))
    summary = run_quickstart(config)
    print(json.dumps(summary, indent=2))
    return 0


def _stability(args: argparse.Namespace) -> int:
    if args.stability_command == "predict":
        from nnpkit.apps.stability.workflow import predict_file

        rows = predict_file(args.model, args.structures)
        if args.json:
            print(json.dumps(rows))
        else:
            for row in rows:
                verdict = "stable" if row["stable"] else "unstable"
                print(f"{row['index']:5d}  {row['formula']:16s}  "
                      f"P(stable)={row['probability_stable']:.3f}  {verdict}")
        return 0
    from nnpkit.apps.stability.config import (
        StabilityDatasetConfig,
        StabilityTrainConfig,
        load_stability_config,
    )

    if args.stability_command == "dataset":
        from nnpkit.apps.stability.workflow import dataset_from_config

        summary = dataset_from_config(load_stability_config(args.config,
                                                            StabilityDatasetConfig))
    else:
        from nnpkit.apps.stability.training import train_stability

        result = train_stability(load_stability_config(args.config, StabilityTrainConfig))
        summary = {key: result[key] for key in ("split_by", "n_train", "n_test",
                                                "test_prevalence", "margins", "model")}
    print(json.dumps(summary, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nnpkit`` command."""
    parser = argparse.ArgumentParser(prog="nnpkit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a potential from a YAML config")
    train.add_argument("config", help="YAML run config")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config value, e.g. training.max_epochs=10")
    train.add_argument("--resume", action="store_true", help="continue from checkpoint.pt")
    train.add_argument("--committee", type=int, default=None, metavar="N",
                       help="train a committee of N members (seeds seed..seed+N-1) into "
                            "<output>/member_<k>/ and write <output>/committee.json; "
                            "finished members are skipped on a rerun")
    train.add_argument("--bootstrap", action="store_true",
                       help="with --committee: each member trains on a bootstrap resample")
    train.add_argument("--distributed", action="store_true",
                       help="data-parallel training with PyTorch DDP through torchrun "
                            "(gloo on CPU, nccl on GPU)")
    train.add_argument("--nproc", type=int, default=2,
                       help="with --distributed: processes to start (ignored inside torchrun)")
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser("eval", help="error metrics of a model on labelled data")
    evaluate.add_argument("model", help="model file or run directory")
    evaluate.add_argument("data", help="extxyz file or ASE database URL")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--energy-key", default="energy")
    evaluate.add_argument("--forces-key", default="forces")
    evaluate.add_argument("--stress-key", default="stress")
    evaluate.add_argument("--dipole-key", default="dipole", help="dipole label (e·Å)")
    evaluate.add_argument("--polarizability-key", default="polarizability",
                          help="polarizability label (e·Å²/V)")
    evaluate.add_argument("--key-file", dest="key_file", default=None, metavar="KEY",
                          help="refuse the model unless it is signed with this key (nnpkit sign)")
    evaluate.set_defaults(handler=_eval)

    md = commands.add_parser("md", help="molecular dynamics with a trained model")
    md.add_argument("model", help="model file or run directory")
    md.add_argument("structure", nargs="?", default=None,
                    help="any ASE-readable structure file (first frame); omit with --restart")
    md.add_argument("--temperature-K", dest="temperature_K", type=float, required=True)
    md.add_argument("--steps", type=int, required=True)
    md.add_argument("--timestep-fs", dest="timestep_fs", type=float, default=0.5)
    md.add_argument("--ensemble", choices=["nve", "nvt", "npt"], default="nvt")
    md.add_argument("--pressure-GPa", dest="pressure_GPa", type=float, default=0.0)
    md.add_argument("--friction", type=float, default=0.01, metavar="PER_FS",
                    help="Langevin friction, 1/fs (NVT; NPT too on the batched engine; "
                         "default 0.01)")
    md.add_argument("--out", default="md.extxyz",
                    help="trajectory: .extxyz/.xyz (text) or .traj (ASE binary, float64)")
    md.add_argument("--restart", action="store_true",
                    help="continue from the last frame and momenta of --out for --steps "
                         "more steps, appending to it (give no structure file)")
    md.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, ...")
    md.add_argument("--dtype", choices=["float32", "float64"], default=None,
                    help="inference precision (default: the model's stored precision)")
    md.add_argument("--key-file", dest="key_file", default=None, metavar="KEY",
                    help="refuse the model unless it is signed with this key (nnpkit sign)")
    md.add_argument("--log-interval", type=int, default=10)
    md.add_argument("--seed", type=int, default=0)
    md.add_argument("--max-force-std", dest="max_force_std", type=float, default=None,
                    metavar="EV_PER_A",
                    help="committee models only: stop (or flag) when the largest per-atom "
                         "force standard deviation exceeds this, eV/Å")
    md.add_argument("--uncertainty-action", choices=["stop", "flag"], default="stop",
                    help="what --max-force-std does when exceeded (default: stop)")
    md.add_argument("--engine", choices=["batched", "ase"], default="batched",
                    help="batched: the torch-native engine (default); ase: ASE's integrators "
                         "through the calculator (structures with constraints always use it)")
    md.add_argument("--field", type=float, nargs=3, default=None,
                    metavar=("FX", "FY", "FZ"),
                    help="uniform electric field, V/Å, on a molecule or cluster (models with "
                         "a field coupling: model kind charge_aware); the energies include "
                         "the field's part")
    md.set_defaults(handler=_md)

    sample = commands.add_parser("sample", help="sample by MD and label with a reference")
    sample.add_argument("structure", help="starting structure file, or an ASE molecule name")
    sample.add_argument("--method", default="gfn2",
                        help="gfn2, gfn1, emt or <functional>/<basis> (PySCF)")
    sample.add_argument("--out", required=True, help="labelled extxyz to write")
    sample.add_argument("--n-samples", type=int, default=100)
    sample.add_argument("--temperature-K", dest="temperature_K", type=float, default=500.0)
    sample.add_argument("--interval-steps", type=int, default=10)
    sample.add_argument("--timestep-fs", dest="timestep_fs", type=float, default=0.5)
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(handler=_sample)

    sign = commands.add_parser(
        "sign", help="sign a model file with a secret key (HMAC-SHA256); load it with "
                     "load_model(path, key=KEY) to refuse unsigned or edited files")
    sign.add_argument("model", help="model file or run directory")
    sign.add_argument("--key-file", dest="key_file", required=True, metavar="KEY",
                      help="file holding the secret key (its bytes; keep it private)")
    sign.set_defaults(handler=_sign)

    quick = commands.add_parser("quickstart", help="the whole pipeline on ethanol (make run)")
    quick.add_argument("--out", default="runs/quickstart", help="run directory")
    quick.add_argument("--n-structures", type=int, default=None,
                       help="configurations to sample (default from QuickstartConfig)")
    quick.set_defaults(handler=_quickstart)

    stability = commands.add_parser("stability", help="crystal stability classification")
    stability_commands = stability.add_subparsers(dest="stability_command", required=True)
    build = stability_commands.add_parser("dataset", help="build the labelled alloy dataset")
    build.add_argument("config", help="YAML config (StabilityDatasetConfig)")
    learn = stability_commands.add_parser("train", help="train classifiers and baselines")
    learn.add_argument("config", help="YAML config (StabilityTrainConfig)")
    predict = stability_commands.add_parser("predict", help="P(stable) per structure")
    predict.add_argument("model", help="stability model file or run directory")
    predict.add_argument("structures", help="any ASE-readable file of crystal structures")
    predict.add_argument("--json", action="store_true", help="print one JSON list")
    stability.set_defaults(handler=_stability)
    _register_applications(commands)
    return parser


def _register_applications(commands: argparse._SubParsersAction) -> None:
    """Subcommands that live in their own CLI modules (each holds only argparse wiring)."""
    from nnpkit.cli.crystals import register as register_crystals
    from nnpkit.cli.growth import register as register_growth
    from nnpkit.cli.labeling import register as register_labeling
    from nnpkit.cli.multiscale import register as register_multiscale
    from nnpkit.cli.nonadiabatic import register as register_nonadiabatic
    from nnpkit.cli.quantum import register as register_quantum
    from nnpkit.cli.rates import register as register_rates
    from nnpkit.cli.response import register as register_response
    from nnpkit.cli.solvation import register as register_solvation

    register_crystals(commands)
    register_growth(commands)
    register_labeling(commands)
    register_multiscale(commands)
    register_nonadiabatic(commands)
    register_quantum(commands)
    register_rates(commands)
    register_response(commands)
    register_solvation(commands)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nnpkit`` console script; returns the exit code."""
    from nnpkit.errors import NNPKitError

    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except NNPKitError as error:
        print(f"nnpkit {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nnpkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
