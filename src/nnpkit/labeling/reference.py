"""Reference calculators by name, and labelling structures with them.

A reference method is any ASE calculator. :func:`make_reference_calculator` builds the ones
nnpkit knows by name (GFN2-xTB and GFN1-xTB through tblite, DFT through PySCF, ASE's EMT;
see :mod:`nnpkit.labeling.methods`); :func:`resolve_calculator` takes either such a name or
the path of an nnpkit model or committee (what an application's ``calculator:`` key holds),
and :func:`calculator_name` describes a calculator for reports. :func:`label_structures`
(or :func:`label_each`, one structure at a time) runs any calculator factory over
structures, attaching the results to copies as
:class:`~ase.calculators.singlepoint.SinglePointCalculator`; a failed
calculation (one of :data:`~nnpkit.errors.REFERENCE_FAILURES`) is retried once with safer
settings and then recorded with its error. Any other error (a calculator factory that
raises ``TypeError``, an element the method does not know) propagates.

Units are ASE's: energies in eV, forces in eV/Å, stress in eV/Å³ (Voigt order, 6 values).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from tqdm.auto import tqdm

from nnpkit.errors import REFERENCE_FAILURES, ConfigError, LabelingError
from nnpkit.labeling.excited_states import attach_state_labels
from nnpkit.labeling.methods import KNOWN_METHOD_NAMES, MethodSpec, parse_method

if TYPE_CHECKING:
    import torch

__all__ = [
    "KNOWN_REFERENCE_METHODS",
    "LabelOutcome",
    "label_each",
    "make_reference_calculator",
    "resolve_calculator",
    "calculator_name",
    "label_structures",
    "compute_labels",
]

#: The names :func:`make_reference_calculator` accepts (case-insensitive); DFT through
#: PySCF is ``<functional>/<basis>`` (see :mod:`nnpkit.labeling.methods`).
KNOWN_REFERENCE_METHODS: tuple[str, ...] = KNOWN_METHOD_NAMES

#: Properties :func:`label_structures` knows how to compute and attach.
_SUPPORTED_PROPERTIES = ("energy", "forces", "stress", "dipole", "polarizability", "states")
#: What ``"states"`` fetches (SA-CASSCF): [n] eV, [n, N, 3] eV/Å, [P, N, 3] 1/Å.
_STATE_RESULTS = ("state_energies", "state_forces", "nacs")


def make_reference_calculator(method: str, **options: Any) -> Calculator:
    """Return a fresh ASE calculator for a named reference method.

    Args:
        method: ``"gfn2"`` / ``"gfn2-xtb"`` (GFN2-xTB), ``"gfn1"`` / ``"gfn1-xtb"`` (GFN1-xTB),
            both through tblite, ``"emt"`` (ASE's effective medium theory, for metals), or
            ``"<functional>/<basis>"`` (DFT through PySCF, e.g. ``"pbe/def2-svp"``).
            Case-insensitive.
        **options: For the xTB methods: ``charge`` (total charge, e), ``multiplicity``
            (2S+1) or ``uhf`` (number of unpaired electrons, so multiplicity = uhf + 1),
            and any other tblite parameter (``accuracy``, ``electronic_temperature`` in K,
            ``solvation``, ...). ``verbosity`` defaults to 0. For DFT: ``charge``, ``spin``
            (2S) or ``multiplicity``, ``restricted``, SCF settings. For EMT: EMT's own
            parameters (``asap_cutoff``).

    Returns:
        A new calculator instance (calculators hold state, so make one per worker).

    Note:
        tblite parallelises with OpenMP. For small molecules, ``OMP_NUM_THREADS=1`` (one
        process per core) is much faster: GFN2-xTB on ethanol takes ~1 ms per call with
        one thread, but 20-400 ms when the default threads compete for busy cores.

    Raises:
        ConfigError: if the method is unknown (the message lists the available ones), an
            option is not understood by the method, or its code is not installed.
    """
    return parse_method(method, **options).make_calculator()


def resolve_calculator(name: str, device: str = "cpu", dtype: torch.dtype | None = None
                       ) -> Calculator:
    """An ASE calculator from a reference-method name or an nnpkit model path.

    Args:
        name: ``emt``, ``gfn2``, ``gfn1``, ``<functional>/<basis>``, or the path of a
            ``.nnp`` model file, a run directory or a committee (its JSON or directory).
        device: torch device of an nnpkit model.
        dtype: precision of an nnpkit model; default its own. float64 is the safe choice
            for finite differences.

    Raises:
        ConfigError: neither an existing path nor a known method (the message lists them).
    """
    if Path(name).exists():
        from nnpkit.calculators import load_calculator

        return load_calculator(name, device=device, dtype=dtype)
    return make_reference_calculator(name)


def calculator_name(calculator: Calculator) -> str:
    """A short description of a calculator for reports: its class and, for nnpkit
    models, the precision."""
    label = type(calculator).__name__
    dtype = getattr(calculator, "dtype", None)
    return f"{label} ({str(dtype).replace('torch.', '')})" if dtype is not None else label


def compute_labels(
    atoms: Atoms, calculator: Calculator, properties: Sequence[str] = ("energy", "forces")
) -> dict[str, Any]:
    """Compute reference labels for one structure with ``calculator``.

    ``calculator`` is attached to ``atoms`` (the caller passes a copy it owns). Forces are
    the raw calculator forces (constraints are not applied). Stress is only computed when
    requested and the structure is periodic in all three directions.

    Returns:
        ``{"energy": float (eV), "forces": [n_atoms, 3] (eV/Å), "stress": [6] (eV/Å³)}``,
        with only the requested (and applicable) keys; ``"states"`` adds
        ``state_energies`` ([n_states], eV), ``state_forces`` ([n_states, n_atoms, 3],
        eV/Å) and, where the calculator computes them, ``nacs`` ([n_pairs, n_atoms, 3], 1/Å).

    Raises:
        LabelingError: if the calculator returns a non-finite value.
    """
    atoms.calc = calculator
    results: dict[str, Any] = {}
    if "energy" in properties:
        results["energy"] = float(atoms.get_potential_energy())
    if "forces" in properties:
        results["forces"] = np.array(atoms.get_forces(apply_constraint=False), dtype=float)
    if "stress" in properties and bool(np.all(atoms.pbc)):
        results["stress"] = np.array(atoms.get_stress(voigt=True), dtype=float)
    for name in ("dipole", "polarizability"):  # [3], e·Å; [3, 3], e·Å²/V
        if name not in properties:
            continue
        if name not in calculator.implemented_properties:
            raise ConfigError(f"{type(calculator).__name__} does not compute {name!r} "
                              f"(it computes {list(calculator.implemented_properties)}; "
                              "PySCF methods do with field_response=True)")
        results[name] = np.array(calculator.get_property(name, atoms), dtype=float)
    if "states" in properties:
        if "state_energies" not in calculator.implemented_properties:
            raise ConfigError(f"{type(calculator).__name__} does not compute the 'states' "
                              f"labels (it computes {list(calculator.implemented_properties)};"
                              " sa-casscf/<basis> methods do)")
        calculator.get_property("state_energies", atoms)
        for name in _STATE_RESULTS:  # nacs only where computed (the option nacs=False)
            if calculator.results.get(name) is not None:
                results[name] = np.array(calculator.results[name], dtype=float)
    for name, value in results.items():
        if not np.all(np.isfinite(value)):
            raise LabelingError(f"calculator returned a non-finite {name}")
    return results


@dataclass
class LabelOutcome:
    """The result of labelling one structure.

    Attributes:
        index: the structure's position in the input.
        atoms: the labelled copy (SinglePointCalculator attached), or None on failure.
        error: ``"ExceptionType: message"`` of the last failure, or None.
        attempts: 1, or 2 when the first attempt failed and was retried.
        seconds: wall time spent on the structure, s.
    """

    index: int
    atoms: Atoms | None
    error: str | None
    attempts: int
    seconds: float


CalculatorSource = Callable[[], Calculator] | MethodSpec | str


def _factories(source: CalculatorSource, retry_factory: Callable[[], Calculator] | None
               ) -> tuple[Callable[[], Calculator], Callable[[], Calculator]]:
    """(first-attempt factory, retry factory) for a factory, a MethodSpec or a method name."""
    if isinstance(source, str):
        source = parse_method(source)
    if isinstance(source, MethodSpec):
        return source.make_calculator, retry_factory or partial(source.make_calculator,
                                                                 safer=True)
    return source, retry_factory or source


def label_each(
    structures: Iterable[tuple[int, Atoms]],
    calculator: CalculatorSource,
    properties: Sequence[str] = ("energy", "forces"),
    retry_factory: Callable[[], Calculator] | None = None,
) -> Iterator[LabelOutcome]:
    """Label ``(index, atoms)`` pairs one by one, yielding a :class:`LabelOutcome` each.

    One calculator is reused across structures. A failed calculation (one of
    :data:`~nnpkit.errors.REFERENCE_FAILURES`) is retried once with a fresh calculator
    from ``retry_factory`` (default: the method's safer settings
    for a MethodSpec or method name, else ``calculator`` again); if that fails too the
    outcome carries the error (never silently dropped).
    """
    unknown = [p for p in properties if p not in _SUPPORTED_PROPERTIES]
    if unknown:
        raise ConfigError(
            f"cannot label property(ies) {unknown}; supported: {list(_SUPPORTED_PROPERTIES)}"
        )
    first_factory, safer_factory = _factories(calculator, retry_factory)
    current: Calculator | None = None
    for index, atoms in structures:
        started = time.perf_counter()
        error: str | None = None
        for attempt in (1, 2):
            if current is None:
                current = first_factory() if attempt == 1 else safer_factory()
            work = atoms.copy()
            try:
                results = compute_labels(work, current, properties)
            except REFERENCE_FAILURES as exc:  # a failed calculation: retried, then recorded
                error = f"{type(exc).__name__}: {exc}"
                current = None  # the retry (and the next structure) starts afresh
                continue
            polarizability = results.pop("polarizability", None)
            states = {name: results.pop(name) for name in _STATE_RESULTS if name in results}
            work.calc = SinglePointCalculator(work, **results)
            if polarizability is not None:  # not an ASE property: kept in info
                work.info["polarizability"] = polarizability
            if states:  # info and per-atom arrays, as extxyz and the store keep them
                attach_state_labels(work, states["state_energies"], states["state_forces"],
                                    states.get("nacs"))
            yield LabelOutcome(index, work, None, attempt, time.perf_counter() - started)
            break
        else:
            yield LabelOutcome(index, None, error, 2, time.perf_counter() - started)


def label_structures(
    structures: Iterable[Atoms],
    calculator_factory: CalculatorSource,
    properties: Sequence[str] = ("energy", "forces"),
    progress: bool = True,
    retry_factory: Callable[[], Calculator] | None = None,
) -> tuple[list[Atoms], list[dict[str, Any]]]:
    """Label structures with a reference calculator.

    Each structure is computed on a copy (the input is never modified) and the copy gets a
    :class:`SinglePointCalculator` holding energy (eV), forces ([n_atoms, 3], eV/Å) and,
    if ``"stress"`` is requested and the structure is fully periodic, stress ([6], eV/Å³).

    One calculator from ``calculator_factory`` is reused across structures. A failed
    calculation (one of :data:`~nnpkit.errors.REFERENCE_FAILURES`) is retried once with a
    fresh calculator (with the method's safer settings when a method name or
    :class:`MethodSpec` is given); if that fails too, the structure is left out of the
    labelled list and recorded as a failure (never silently dropped). Other errors propagate.

    Args:
        structures: The structures to label.
        calculator_factory: Zero-argument callable returning a new ASE calculator, e.g.
            ``lambda: make_reference_calculator("gfn2")``, or a method name / MethodSpec.
        properties: Subset of ``("energy", "forces", "stress")``.
        progress: Show a tqdm progress bar.
        retry_factory: calculator factory for the retry (default: see above).

    Returns:
        ``(labelled, failures)``: the labelled copies in input order, and one
        ``{"index": i, "error": "ExceptionType: message"}`` per structure that failed twice.

    Raises:
        ConfigError: if ``properties`` names something other than energy, forces, stress.
    """
    structures = list(structures)
    labelled: list[Atoms] = []
    failures: list[dict[str, Any]] = []
    outcomes = label_each(enumerate(structures), calculator_factory, properties, retry_factory)
    for outcome in tqdm(outcomes, total=len(structures), desc="labelling", unit="structure",
                        disable=not progress):
        if outcome.atoms is not None:
            labelled.append(outcome.atoms)
        else:
            failures.append({"index": outcome.index, "error": outcome.error})
    return labelled, failures
