"""``nnpkit fssh`` and ``nnpkit wavepacket scatter``: thin wrappers over
:mod:`nnpkit.apps.nonadiabatic.workflow`."""

from __future__ import annotations

import argparse
import json

from nnpkit.errors import ConfigError

__all__ = ["register"]


def _fssh(args: argparse.Namespace) -> int:
    from nnpkit.apps.nonadiabatic.workflow import run_fssh_scattering

    if args.molecule is not None:
        return _molecular_fssh(args)
    if args.momentum_au is None:
        raise ConfigError("fssh on a one-dimensional model needs --momentum-au "
                          "(or --molecule STRUCTURE with an atomistic network)")
    summary = run_fssh_scattering(
        args.model, args.momentum_au, args.trajectories,
        decoherence=args.decoherence or "none",
        seed=args.seed, frustrated=args.frustrated, dt_au=args.dt_au, output=args.out,
        progress=not args.json and not args.no_progress)
    return _print_probabilities(summary, args.json)


def _molecular_fssh(args: argparse.Namespace) -> int:
    from nnpkit.apps.nonadiabatic.photodynamics import PhotodynamicsConfig
    from nnpkit.apps.nonadiabatic.workflow import run_molecular_fssh

    config = PhotodynamicsConfig(
        n_trajectories=args.trajectories, initial_state=args.initial_state,
        time_fs=args.time_fs, dt_fs=args.dt_fs, seed=args.seed,
        decoherence=args.decoherence or "edc",
        temperature_K=args.temperature, progress=not args.json and not args.no_progress)
    summary = run_molecular_fssh(args.model, args.molecule, config, output=args.out)
    lifetime = summary["lifetime"]
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"lifetime of state {args.initial_state}: {lifetime['tau_fs']:.1f} ± "
              f"{lifetime['tau_stderr_fs']:.1f} fs (delay {lifetime['t0_fs']:.1f} fs, "
              f"{lifetime['final_population']:.3f} left at {args.time_fs} fs)")
    return 0


def _wavepacket(args: argparse.Namespace) -> int:
    from nnpkit.apps.nonadiabatic.exact import WavepacketConfig
    from nnpkit.apps.nonadiabatic.workflow import run_exact_scattering

    summary = run_exact_scattering(args.model, args.momentum_au,
                                   WavepacketConfig(progress=not args.json))
    return _print_probabilities(summary, args.json)


def _print_probabilities(summary: dict, as_json: bool) -> int:
    """One JSON object, or the four probabilities (± their standard errors if given)."""
    if as_json:
        print(json.dumps(summary))
        return 0
    for key in ("transmission_lower", "transmission_upper", "reflection_lower",
                "reflection_upper"):
        error = f" ± {summary['stderr'][key]:.4f}" if "stderr" in summary else ""
        print(f"{key:20s} {summary[key]:.4f}{error}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``fssh`` and ``wavepacket`` subcommands to the ``nnpkit`` parser."""
    fssh = commands.add_parser("fssh", help="surface hopping on a Tully model or network")
    fssh.add_argument("--model", required=True,
                      help="tully1, tully2, tully3, or a diabatic network file")
    fssh.add_argument("--momentum-au", dest="momentum_au", type=float, default=None,
                      help="initial momentum k, atomic units (one-dimensional models)")
    fssh.add_argument("--molecule", default=None,
                      help="a molecule's structure file: photodynamics on an atomistic "
                           "network from the Wigner distribution of its learned ground state")
    fssh.add_argument("--initial-state", dest="initial_state", type=int, default=1,
                      help="--molecule: adiabatic state excited at t = 0")
    fssh.add_argument("--time-fs", dest="time_fs", type=float, default=200.0,
                      help="--molecule: propagation time, fs")
    fssh.add_argument("--dt-fs", dest="dt_fs", type=float, default=0.25,
                      help="--molecule: time step, fs")
    fssh.add_argument("--temperature", type=float, default=0.0,
                      help="--molecule: Wigner temperature, K (0: ground state)")
    fssh.add_argument("--trajectories", type=int, default=2000,
                      help="ensemble size (use ~200 with --molecule)")
    fssh.add_argument("--decoherence", choices=["none", "edc"], default=None,
                      help="energy-based decoherence (Granucci–Persico, C = 0.1 Eh); "
                           "default none for models, edc with --molecule")
    fssh.add_argument("--frustrated", choices=["keep", "reflect"], default="keep",
                      help="what a frustrated hop does to the momentum")
    fssh.add_argument("--dt-au", dest="dt_au", type=float, default=None,
                      help="time step, au (default: ~0.02 bohr of motion per step)")
    fssh.add_argument("--seed", type=int, default=0)
    fssh.add_argument("--out", default=None, help="directory for result.json and a PNG")
    fssh.add_argument("--no-progress", action="store_true", help="no progress bar")
    fssh.add_argument("--json", action="store_true", help="print one JSON object")
    fssh.set_defaults(handler=_fssh)

    wavepacket = commands.add_parser("wavepacket", help="exact wavepacket calculations")
    actions = wavepacket.add_subparsers(dest="wavepacket_command", required=True)
    scatter = actions.add_parser("scatter", help="exact Tully scattering probabilities")
    scatter.add_argument("--model", required=True, choices=["tully1", "tully2", "tully3"])
    scatter.add_argument("--momentum-au", dest="momentum_au", type=float, required=True)
    scatter.add_argument("--json", action="store_true", help="print one JSON object")
    scatter.set_defaults(handler=_wavepacket)
