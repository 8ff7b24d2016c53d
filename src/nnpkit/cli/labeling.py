"""``nnpkit label`` (the labelling farm into a dataset store) and ``nnpkit learn`` (the
active-learning loop): thin handlers that parse, validate and call one library function."""

from __future__ import annotations

import argparse
import json

__all__ = ["register"]


def _label(args: argparse.Namespace) -> int:
    from nnpkit.data.io import read_structures
    from nnpkit.labeling.farm import label_to_store
    from nnpkit.labeling.methods import parse_method

    spec = parse_method(args.method, **_options(args.option))
    structures = read_structures(args.structures, require=(), index=args.index)
    report = label_to_store(structures, spec, args.db, scheduler=args.scheduler,
                            n_workers=args.workers, chunk_size=args.chunk_size,
                            processes=not args.threads, progress=not args.no_progress,
                            lease_s=args.lease_s)
    summary = report.to_dict()
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{summary['db']}: {report.n_computed} labelled, {report.n_failed} failed, "
          f"{report.n_existing} already in the store, {report.n_duplicates} duplicates "
          f"skipped ({report.wall_s:.1f} s, {report.n_workers} workers)")
    for failure in report.failures:
        print(f"  structure {failure['index']}: {failure['error']}")
    return 0


def _options(items: list[str]) -> dict[str, object]:
    """``--option KEY=VALUE`` pairs, values parsed as YAML (numbers, booleans, null)."""
    import yaml

    from nnpkit.errors import ConfigError

    options: dict[str, object] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--option {item!r} is not of the form KEY=VALUE")
        key, text = item.split("=", 1)
        options[key.strip()] = yaml.safe_load(text)
    return options


def _learn(args: argparse.Namespace) -> int:
    from nnpkit.active import load_active_config, run_active_learning

    result = run_active_learning(load_active_config(args.config, args.set))
    summary = {"run_dir": str(result.run_dir), "stop_reason": result.stop_reason,
               "committee": str(result.committee_dir), "db": result.db,
               "test_set": result.test_set,
               "curve": [{key: row.get(key) for key in
                          ("iteration", "n_labels", "test_forces_mae_meV_per_A",
                           "test_set_sha256")}
                         for row in result.rows]}
    print(json.dumps(summary, indent=None if args.json else 2))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``label`` and ``learn`` subcommands to the ``nnpkit`` parser."""
    label = commands.add_parser(
        "label", help="label structures with a reference method on a Dask farm into a store")
    label.add_argument("structures", help="any ASE-readable file of structures (or a db)")
    label.add_argument("--method", required=True,
                       help="gfn2, gfn1, emt, <functional>/<basis> for PySCF DFT "
                            "(e.g. pbe/def2-svp), or sa-casscf/<basis> for excited states "
                            "(options n_states, active_electrons, active_orbitals, ...)")
    label.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                       help="method option, e.g. charge=1, spin=1, restricted=false")
    label.add_argument("--db", required=True,
                       help="dataset store: SQLite path or postgresql:// URL; several "
                            "farms may label into one store at once")
    label.add_argument("--scheduler", default=None, metavar="ADDR",
                       help="address of a running Dask scheduler (default: a LocalCluster)")
    label.add_argument("--workers", type=int, default=None,
                       help="LocalCluster worker processes (default: usable cores)")
    label.add_argument("--threads", action="store_true",
                       help="LocalCluster workers as threads of this process: no worker "
                            "processes to start, for cheap methods (EMT)")
    label.add_argument("--chunk-size", type=int, default=None,
                       help="structures per task and store transaction (default: ~4 tasks "
                            "per worker, <= 32)")
    label.add_argument("--lease-s", type=float, default=120.0,
                       help="lease on a structure being computed, s (renewed while "
                            "computing): another farm takes over after a crash (120)")
    label.add_argument("--index", default=":", help="ASE index of the structures to take")
    label.add_argument("--no-progress", action="store_true", help="no progress bar")
    label.add_argument("--json", action="store_true", help="print one JSON object")
    label.set_defaults(handler=_label)

    learn = commands.add_parser("learn", help="active learning: committee, exploration, "
                                              "selection, labelling, retraining")
    learn.add_argument("config", help="YAML config (nnpkit.active.ActiveLearningConfig)")
    learn.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config value, e.g. budget.max_labels=200")
    learn.add_argument("--json", action="store_true", help="print one-line JSON")
    learn.set_defaults(handler=_learn)
