"""Reference calculators by name, and labelling structures with them.

A reference method is any ASE calculator. :func:`make_reference_calculator` builds the ones
nnpkit knows by name (GFN2-xTB and GFN1-xTB through tblite, ASE's EMT), and
:func:`label_structures` runs any calculator factory over a list of structures, attaching
the results to copies as :class:`~ase.calculators.singlepoint.SinglePointCalculator`.

Units are ASE's: energies in eV, forces in eV/Å, stress in eV/Å³ (Voigt order, 6 values).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from tqdm.auto import tqdm

from nnpkit.errors import ConfigError, LabelingError

__all__ = [
    "KNOWN_REFERENCE_METHODS",
    "make_reference_calculator",
    "label_structures",
    "compute_labels",
]

#: Reference method names accepted by :func:`make_reference_calculator` → tblite method name
#: (``None`` for EMT).
_METHODS: dict[str, str | None] = {
    "gfn2": "GFN2-xTB",
    "gfn2-xtb": "GFN2-xTB",
    "gfn1": "GFN1-xTB",
    "gfn1-xtb": "GFN1-xTB",
    "emt": None,
}

#: The names :func:`make_reference_calculator` accepts (case-insensitive).
KNOWN_REFERENCE_METHODS: tuple[str, ...] = tuple(_METHODS)

#: Properties :func:`label_structures` knows how to compute and attach.
_SUPPORTED_PROPERTIES = ("energy", "forces", "stress")


def make_reference_calculator(method: str, **options: Any) -> Calculator:
    """Return a fresh ASE calculator for a named reference method.

    Args:
        method: ``"gfn2"`` / ``"gfn2-xtb"`` (GFN2-xTB), ``"gfn1"`` / ``"gfn1-xtb"`` (GFN1-xTB),
            both through tblite, or ``"emt"`` (ASE's effective medium theory, for metals).
            Case-insensitive.
        **options: For the xTB methods: ``charge`` (total charge, e), ``multiplicity``
            (2S+1) or ``uhf`` (number of unpaired electrons, so multiplicity = uhf + 1),
            and any other tblite parameter (``accuracy``, ``electronic_temperature`` in K,
            ``solvation``, ...). ``verbosity`` defaults to 0. For EMT: EMT's own parameters
            (``asap_cutoff``).

    Returns:
        A new calculator instance (calculators hold state, so make one per worker).

    Note:
        tblite parallelises with OpenMP. For small molecules, ``OMP_NUM_THREADS=1`` (one
        process per core) is much faster: GFN2-xTB on ethanol takes ~1 ms per call with
        one thread, but 20-400 ms when the default threads compete for busy cores.

    Raises:
        ConfigError: if the method is unknown, an option is not understood by the method,
            or tblite is not installed for an xTB method.
    """
    key = method.strip().lower()
    if key not in _METHODS:
        raise ConfigError(
            f"unknown reference method {method!r}; known methods: "
            f"{', '.join(KNOWN_REFERENCE_METHODS)}"
        )
    if key == "emt":
        return _make_emt(options)
    tblite_method = _METHODS[key]
    assert tblite_method is not None
    return _make_tblite(tblite_method, options)


def _make_emt(options: dict[str, Any]) -> Calculator:
    from ase.calculators.emt import EMT

    unknown = set(options) - set(EMT.default_parameters)
    if unknown:
        raise ConfigError(
            f"reference method 'emt' does not take option(s) {sorted(unknown)}; "
            f"known: {sorted(EMT.default_parameters)}"
        )
    return EMT(**options)


def _make_tblite(tblite_method: str, options: dict[str, Any]) -> Calculator:
    try:
        from tblite.ase import TBLite
    except ImportError as err:
        raise ConfigError(
            f"reference method {tblite_method} needs tblite: `pip install tblite` "
            "(or `pip install nnpkit[xtb]`)"
        ) from err
    params = dict(options)
    if "uhf" in params:
        uhf = params.pop("uhf")
        if "multiplicity" in params and params["multiplicity"] != int(uhf) + 1:
            raise ConfigError(
                f"uhf={uhf} and multiplicity={params['multiplicity']} disagree "
                "(multiplicity must be uhf + 1); give only one of them"
            )
        params["multiplicity"] = int(uhf) + 1
    unknown = set(params) - set(TBLite.default_parameters)
    if unknown:
        raise ConfigError(
            f"reference method {tblite_method} does not take option(s) {sorted(unknown)}; "
            f"known: {sorted(TBLite.default_parameters) + ['uhf']}"
        )
    params.setdefault("verbosity", 0)
    return TBLite(method=tblite_method, **params)


def compute_labels(
    atoms: Atoms, calculator: Calculator, properties: Sequence[str] = ("energy", "forces")
) -> dict[str, Any]:
    """Compute reference labels for one structure with ``calculator``.

    ``calculator`` is attached to ``atoms`` (the caller passes a copy it owns). Forces are
    the raw calculator forces (constraints are not applied). Stress is only computed when
    requested and the structure is periodic in all three directions.

    Returns:
        ``{"energy": float (eV), "forces": [n_atoms, 3] (eV/Å), "stress": [6] (eV/Å³)}``,
        with only the requested (and applicable) keys.

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
    for name, value in results.items():
        if not np.all(np.isfinite(value)):
            raise LabelingError(f"calculator returned a non-finite {name}")
    return results


def label_structures(
    structures: Iterable[Atoms],
    calculator_factory: Callable[[], Calculator],
    properties: Sequence[str] = ("energy", "forces"),
    progress: bool = True,
) -> tuple[list[Atoms], list[dict[str, Any]]]:
    """Label structures with a reference calculator.

    Each structure is computed on a copy (the input is never modified) and the copy gets a
    :class:`SinglePointCalculator` holding energy (eV), forces ([n_atoms, 3], eV/Å) and,
    if ``"stress"`` is requested and the structure is fully periodic, stress ([6], eV/Å³).

    One calculator from ``calculator_factory`` is reused across structures. A calculation
    that raises is retried once with a fresh calculator; if that fails too, the structure
    is left out of the labelled list and recorded as a failure (never silently dropped).

    Args:
        structures: The structures to label.
        calculator_factory: Zero-argument callable returning a new ASE calculator, e.g.
            ``lambda: make_reference_calculator("gfn2")``.
        properties: Subset of ``("energy", "forces", "stress")``.
        progress: Show a tqdm progress bar.

    Returns:
        ``(labelled, failures)``: the labelled copies in input order, and one
        ``{"index": i, "error": "ExceptionType: message"}`` per structure that failed twice.

    Raises:
        ConfigError: if ``properties`` names something other than energy, forces, stress.
    """
    unknown = [p for p in properties if p not in _SUPPORTED_PROPERTIES]
    if unknown:
        raise ConfigError(
            f"cannot label property(ies) {unknown}; supported: {list(_SUPPORTED_PROPERTIES)}"
        )
    structures = list(structures)
    labelled: list[Atoms] = []
    failures: list[dict[str, Any]] = []
    calculator: Calculator | None = None
    for index, atoms in enumerate(
        tqdm(structures, desc="labelling", unit="structure", disable=not progress)
    ):
        error: Exception | None = None
        for _attempt in range(2):
            if calculator is None or error is not None:
                calculator = calculator_factory()
            work = atoms.copy()
            try:
                results = compute_labels(work, calculator, properties)
            except Exception as exc:  # any calculator failure is retried, then recorded
                error = exc
                continue
            work.calc = SinglePointCalculator(work, **results)
            labelled.append(work)
            error = None
            break
        if error is not None:
            failures.append({"index": index, "error": f"{type(error).__name__}: {error}"})
            calculator = None  # the next structure starts from a fresh calculator
    return labelled, failures
