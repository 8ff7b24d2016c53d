"""Reference methods behind one interface: a picklable :class:`MethodSpec` per method.

A method string names what labels the data:

- ``gfn2`` / ``gfn2-xtb``, ``gfn1`` / ``gfn1-xtb``: extended tight binding through tblite;
- ``<functional>/<basis>``: DFT (or ``hf``) through PySCF, e.g. ``pbe/def2-svp``,
  ``b3lyp/6-31g*``, ``hf/sto-3g``; with ``field_response=True`` also the dipole and the
  polarizability (``parse_method("pbe/aug-cc-pvdz", field_response=True)``);
- ``sa-casscf/<basis>``: state-averaged CASSCF through PySCF, the energies, forces and
  nonadiabatic couplings of several states (``parse_method("sa-casscf/6-31g*",
  n_states=2, active_electrons=2, active_orbitals=2, active_ao_labels=["C 2pz"])``; see
  :mod:`nnpkit.labeling.casscf_calculator`);
- ``emt``: ASE's effective medium theory (metals; fast, for tests);
- any ASE calculator, through :func:`ase_method` (a picklable factory and a name).

A spec builds fresh calculators (:meth:`MethodSpec.make_calculator`, with ``safer=True``
for the retry after a failure), gives the canonical settings that enter the structure hash
(:meth:`MethodSpec.settings`) and the provenance stored with every record
(:meth:`MethodSpec.provenance`: method, functional, basis, code and its version).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ase import Atoms
from ase.calculators.calculator import Calculator

from nnpkit.data.io import integer_charge_value
from nnpkit.errors import ConfigError

__all__ = ["MethodSpec", "parse_method", "ase_method", "KNOWN_METHOD_NAMES",
           "describe_known_methods", "integer_charge", "structure_charge"]

#: Method names → tblite method (xTB) or None (EMT).
_NAMED: dict[str, str | None] = {
    "gfn2": "GFN2-xTB", "gfn2-xtb": "GFN2-xTB", "gfn1": "GFN1-xTB", "gfn1-xtb": "GFN1-xTB",
    "emt": None,
}

#: The plain names :func:`parse_method` accepts; DFT is ``<functional>/<basis>``.
KNOWN_METHOD_NAMES: tuple[str, ...] = tuple(_NAMED)

#: tblite options of the retry after a failure: gentler, longer SCF mixing.
_SAFER_XTB_OPTIONS: dict[str, Any] = {"mixer_damping": 0.1, "max_iterations": 1000}


def describe_known_methods() -> str:
    """The available methods, for error messages and ``--help``."""
    return (", ".join(KNOWN_METHOD_NAMES) + ", <functional>/<basis> (DFT through PySCF, "
            "e.g. pbe/def2-svp, b3lyp/6-31g*, hf/sto-3g), sa-casscf/<basis> (state-averaged "
            "CASSCF through PySCF: energies, forces and couplings of several states; needs "
            "active_electrons and active_orbitals), or any ASE calculator "
            "(nnpkit.labeling.ase_method)")


def integer_charge(name: str, value: Any) -> int:
    """``value`` (e) as an int; ConfigError naming ``name`` unless it is integer-valued."""
    try:
        return integer_charge_value(value)
    except ValueError as error:
        raise ConfigError(f"{name} = {error}") from error


def structure_charge(atoms: Atoms, option: Any = None) -> int:
    """The total charge (e) of ``atoms``: ``atoms.info["charge"]`` if present, else ``option``
    (a method's ``charge`` setting), else 0.

    Raises:
        ConfigError: a charge that is not integer-valued, or ``info["charge"]`` and
            ``option`` both given and different.
    """
    given = None if option is None else integer_charge("the charge option", option)
    if atoms.info.get("charge") is None:
        return 0 if given is None else given
    charge = integer_charge("atoms.info['charge']", atoms.info["charge"])
    if given is not None and given != charge:
        raise ConfigError(f"atoms.info['charge'] = {charge} and the charge option = {given} "
                          "disagree; give only one, or equal ones")
    return charge


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


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


@dataclass(frozen=True)
class MethodSpec:
    """A reference method with its settings; picklable, so it travels to farm workers.

    Attributes:
        name: canonical method name (``gfn2``, ``gfn1``, ``emt``, ``pbe/def2-svp``, or the
            name given to :func:`ase_method`).
        kind: ``"xtb"``, ``"dft"``, ``"casscf"``, ``"emt"`` or ``"ase"``.
        options: the calculator options (charge, spin, SCF settings, ...).
        functional: DFT functional (``"hf"`` for Hartree–Fock), ``"sa-casscf"``, else None.
        basis: DFT basis set, else None.
        factory: for ``kind="ase"``, the zero-argument calculator factory.
    """

    name: str
    kind: str
    options: dict[str, Any] = field(default_factory=dict)
    functional: str | None = None
    basis: str | None = None
    factory: Callable[[], Calculator] | None = None

    def make_calculator(self, safer: bool = False) -> Calculator:
        """A new calculator; ``safer`` applies the retry settings (xTB: damped mixing and
        more iterations; DFT: level shift, damping, more cycles, Newton fallback)."""
        if self.kind == "ase":
            assert self.factory is not None
            return self.factory()
        if self.kind == "emt":
            return _make_emt(self.options)
        if self.kind == "xtb":
            options = {**self.options, **(_SAFER_XTB_OPTIONS if safer else {})}
            return _make_tblite(str(_NAMED[self.name]), options)
        if self.kind == "casscf":
            from nnpkit.labeling.casscf_calculator import SAFER_CASSCF_OPTIONS, SACASSCFCalculator

            options = {**self.options, **(SAFER_CASSCF_OPTIONS if safer else {})}
            return SACASSCFCalculator(basis=self.basis, **options)
        from nnpkit.labeling.pyscf_calculator import SAFER_PYSCF_OPTIONS, PySCFCalculator

        options = {**self.options, **(SAFER_PYSCF_OPTIONS if safer else {})}
        return PySCFCalculator(functional=self.functional, basis=self.basis, **options)

    def charge_of(self, atoms: Atoms) -> int:
        """The total charge (e) this method gives ``atoms``: ``atoms.info["charge"]``, else
        the ``charge`` option, else 0 (:func:`structure_charge`).

        Raises:
            ConfigError: a non-integer charge, ``info["charge"]`` and the option disagreeing,
                or a charged structure for xTB or EMT, which take the charge from the method
                options only (label such structures with a ``charge`` option).
        """
        charge = structure_charge(atoms, self.options.get("charge"))
        if self.kind in ("xtb", "emt") and charge != int(self.options.get("charge") or 0):
            raise ConfigError(f"atoms.info['charge'] = {charge}, but {self.name} takes the "
                              "charge from its options only: give charge="
                              f"{charge} to the method (one method per charge)")
        return charge

    def settings(self) -> dict[str, Any]:
        """Canonical JSON-ready settings: what makes two labels of a structure the same."""
        return {"method": self.name, "functional": self.functional, "basis": self.basis,
                "options": {key: self.options[key] for key in sorted(self.options)}}

    def provenance(self) -> dict[str, Any]:
        """Method, functional, basis, the code that computes it and the versions used."""
        import ase

        import nnpkit

        code = {"xtb": "tblite", "dft": "pyscf", "casscf": "pyscf", "emt": "ase"}.get(self.kind)
        if code is None:
            assert self.factory is not None
            code = getattr(self.factory, "__module__", "") or "unknown"
        top = code.split(".")[0]
        return {"method": self.name, "functional": self.functional or "",
                "basis": self.basis or "", "code": code,
                "code_version": _version(top) or "", "ase_version": ase.__version__,
                "nnpkit_version": nnpkit.__version__}


def parse_method(method: str, **options: Any) -> MethodSpec:
    """Turn a method string and its options into a checked :class:`MethodSpec`.

    Args:
        method: ``gfn2``, ``gfn1`` (and ``-xtb`` spellings), ``emt``, or
            ``<functional>/<basis>`` for PySCF (case-insensitive).
        **options: xTB: ``charge``, ``multiplicity`` or ``uhf``, tblite parameters; DFT:
            ``charge`` (default: each structure's ``atoms.info["charge"]``, else 0),
            ``spin`` (2S) or ``multiplicity``, ``restricted``, ``conv_tol``, ``max_cycle``,
            ``grid_level``, ``level_shift``, ``damp``, ``newton``, ``density_fit``, and the
            response labels ``field_response`` (dipole, e·Å, and polarizability, e·Å²/V),
            ``field_step_au`` (finite-field step, a.u.) and ``polarizability_method``
            (``finite_field`` or ``analytic``); see
            :class:`~nnpkit.labeling.pyscf_calculator.PySCFCalculator`. EMT: EMT's
            parameters. ``sa-casscf/<basis>``: ``active_electrons`` and ``active_orbitals``
            (required), ``n_states``, ``active_ao_labels`` (AVAS), ``charge``, ``spin``,
            ``conv_tol``, ``max_cycle``, ... (see
            :class:`~nnpkit.labeling.casscf_calculator.SACASSCFCalculator`). The options
            enter :meth:`MethodSpec.settings` (the hash).

    Raises:
        ConfigError: an unknown method (listing the available ones), functional, basis or
            option, or inconsistent spin settings.
    """
    key = method.strip().lower()
    if key in _NAMED:
        spec = MethodSpec(key.removesuffix("-xtb"), "emt" if key == "emt" else "xtb",
                          dict(options))
        spec.make_calculator()  # checks the options (and that tblite is installed)
        return spec
    if key.count("/") == 1 and key.split("/")[0].strip() == "sa-casscf":
        return _parse_casscf(key.split("/")[1].strip(), dict(options))
    if key.count("/") == 1 and all(part.strip() for part in key.split("/")):
        functional, basis = (part.strip() for part in key.split("/"))
        from nnpkit.labeling.pyscf_calculator import PySCFCalculator, check_functional_and_basis

        check_functional_and_basis(functional, basis)
        options = dict(options)
        if "multiplicity" in options:
            spin = int(options.pop("multiplicity")) - 1
            if "spin" in options and int(options["spin"]) != spin:
                raise ConfigError(f"spin={options['spin']} and multiplicity={spin + 1} "
                                  "disagree (multiplicity must be spin + 1); give only one")
            options["spin"] = spin
        PySCFCalculator(functional=functional, basis=basis, **options)  # checks the options
        return MethodSpec(f"{functional}/{basis}", "dft", options, functional, basis)
    raise ConfigError(f"unknown reference method {method!r}; available: "
                      f"{describe_known_methods()}")


def _parse_casscf(basis: str, options: dict[str, Any]) -> MethodSpec:
    """The :class:`MethodSpec` of ``sa-casscf/<basis>``, its options checked."""
    from nnpkit.labeling.casscf_calculator import SACASSCFCalculator
    from nnpkit.labeling.pyscf_calculator import check_functional_and_basis

    if not basis:
        raise ConfigError("sa-casscf needs a basis set: sa-casscf/<basis>, e.g. "
                          "sa-casscf/6-31g*")
    check_functional_and_basis("hf", basis)
    missing = [name for name in ("active_electrons", "active_orbitals") if name not in options]
    if missing:
        raise ConfigError(f"sa-casscf/{basis} needs the option(s) {missing} (the active "
                          "space CAS(active_electrons, active_orbitals))")
    if options.get("active_ao_labels") is not None:
        options["active_ao_labels"] = list(options["active_ao_labels"])
    SACASSCFCalculator(basis=basis, **options)  # checks the options
    return MethodSpec(f"sa-casscf/{basis}", "casscf", options, "sa-casscf", basis)


def ase_method(factory: Callable[[], Calculator], name: str,
               settings: dict[str, Any] | None = None) -> MethodSpec:
    """A :class:`MethodSpec` for any ASE calculator.

    Args:
        factory: zero-argument callable returning a new calculator; picklable (a class,
            a module-level function or a :func:`functools.partial`) to run on a farm.
        name: the method name stored with each record (e.g. ``"mace-mp-0"``).
        settings: the calculator settings that make labels differ (enter the hash).
    """
    if not callable(factory):
        raise ConfigError(f"ase_method needs a callable calculator factory, got {factory!r}")
    return MethodSpec(name, "ase", dict(settings or {}), factory=factory)
