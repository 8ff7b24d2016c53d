"""``nnpkit response properties|ir``: dipoles, polarizabilities, Born charges, IR spectra."""

from __future__ import annotations

import argparse
import json

__all__ = ["register"]


def _structures(path: str) -> list:
    from ase.io import read

    from nnpkit.data.io import STRUCTURE_FILE_ERRORS
    from nnpkit.errors import DataError

    try:
        frames = read(path, index=":")
    except STRUCTURE_FILE_ERRORS as error:
        raise DataError(f"ASE cannot read structures from {path}: {error}") from error
    return frames if isinstance(frames, list) else [frames]


def _properties(args: argparse.Namespace) -> int:
    from nnpkit.apps.response.properties import response_properties
    from nnpkit.calculators.loading import load_calculator

    structures = _structures(args.structure)
    results = response_properties(structures, load_calculator(args.model))
    payload = results[0] if len(results) == 1 else results
    print(json.dumps(payload, indent=None if args.json else 2))
    return 0


def _ir(args: argparse.Namespace) -> int:
    from nnpkit.apps.response.ir_workflow import ir_spectrum
    from nnpkit.calculators.loading import load_calculator
    from nnpkit.data.io import read_structure

    atoms = read_structure(args.structure, "structure")
    result = ir_spectrum(load_calculator(args.model), atoms, args.out,
                         md_trajectory=args.md, temperature_K=args.temperature_K,
                         broadening_cm1=args.broadening_cm1, md_timestep_fs=args.timestep_fs,
                         max_lag_fs=args.max_lag_fs, window=args.window,
                         quantum_correction=args.quantum_correction)
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``response`` with its ``properties`` and ``ir`` subcommands to ``commands``."""
    response = commands.add_parser("response", help="dipoles, polarizabilities, Born "
                                                    "charges and IR spectra of a model")
    sub = response.add_subparsers(dest="response_command", required=True)
    properties = sub.add_parser("properties", help="dipole, polarizability and Born "
                                                   "charges of each structure of a file")
    properties.add_argument("model", help="model file or run directory (charge_aware)")
    properties.add_argument("structure", help="any ASE-readable file of molecules; the "
                                              "total charge is info['charge'] (default 0)")
    properties.add_argument("--json", action="store_true", help="print compact JSON")
    properties.set_defaults(handler=_properties)
    ir = sub.add_parser("ir", help="harmonic IR (Born charges) and, with --md, the dipole "
                                   "autocorrelation spectrum of a trajectory")
    ir.add_argument("model", help="model file or run directory (charge_aware)")
    ir.add_argument("structure", help="the molecule at its minimum (first frame)")
    ir.add_argument("--md", default=None, metavar="TRAJ",
                    help="NVE trajectory (extxyz or .traj); dipoles are taken from its "
                         "frames or computed with the model")
    ir.add_argument("--out", default="ir", help="output directory (ir.csv, ir.png, ir.json)")
    ir.add_argument("--temperature-K", dest="temperature_K", type=float, default=300.0,
                    help="temperature of the quantum correction of the MD spectrum")
    ir.add_argument("--broadening-cm1", dest="broadening_cm1", type=float, default=10.0,
                    help="Lorentzian width (FWHM) of the harmonic sticks, cm⁻¹")
    ir.add_argument("--timestep-fs", dest="timestep_fs", type=float, default=None,
                    help="time between trajectory frames, fs (default: from the frames)")
    ir.add_argument("--max-lag-fs", dest="max_lag_fs", type=float, default=None,
                    help="longest lag of the dipole autocorrelation, fs (default: half the "
                         "run); the resolution is about 1/(c·max lag)")
    ir.add_argument("--window", choices=["hann", "rectangular"], default="hann",
                    help="window of the autocorrelation (default: hann)")
    ir.add_argument("--quantum-correction", dest="quantum_correction", default="harmonic",
                    choices=["harmonic", "standard", "schofield", "none"],
                    help="quantum correction of the classical spectrum (default: harmonic)")
    ir.add_argument("--json", action="store_true", help="print compact JSON")
    ir.set_defaults(handler=_ir)
