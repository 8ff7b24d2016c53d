"""An ASE calculator over PySCF: Kohn–Sham DFT or Hartree–Fock energies, analytic forces and,
on request, the dipole moment and the static polarizability.

Molecules only (no periodic cell). Restricted (RKS/RHF) for closed shells and unrestricted
(UKS/UHF) for open shells or on request. The total charge is the structure's
``atoms.info["charge"]`` (integer-valued, e) or the ``charge`` option (default 0; both given
must agree); the spin is the ``spin`` option. Energies come back in eV and forces (minus
PySCF's analytic nuclear gradient) in eV/Å.

With ``field_response=True`` a calculation also gives

- ``dipole`` ([3], e·Å): nuclear plus electronic dipole of the converged density (PySCF's
  ``dip_moment``), about the coordinate origin (0, 0, 0): for a charged molecule it depends
  on the origin, and moves by ``charge · t`` when the molecule is translated by ``t``;
- ``polarizability`` ([3, 3], e·Å²/V, symmetric): α = ∂μ/∂F = −∂²E/∂F² in a uniform field F
  (V/Å), by central differences of the dipole in fields ±h along x, y, z (h =
  ``field_step_au``, default 1e-3 a.u. = 0.0514 V/Å), each field SCF starting from the
  zero-field density and converged to at least 1e-11 Hartree
  (``polarizability_method="finite_field"``, any functional, restricted or not); or
  analytic, by coupled-perturbed SCF (``"analytic"``, RHF/RKS only, needs the
  ``pyscf-properties`` package). 1 e·Å²/V = 14.3996 Å³ (polarizability volume).

The field enters as −Σ q_i F·r_i: each electron gets +F·r in its core Hamiltonian and the
nuclei −F·Σ Z_A R_A, so E(F) = E0 − μ·F − ½ Fᵀ α F + O(F³)
(:meth:`PySCFCalculator.energy_in_field`).

A calculation whose SCF (the zero-field one or one in a field) does not converge raises
:class:`~nnpkit.errors.LabelingError` (with the cycle count) instead of returning an
unconverged result. The ``safer`` settings (:data:`SAFER_PYSCF_OPTIONS`) add a level shift,
damping, more cycles and, when that is not enough, a second-order (Newton) solver, which
converges to the same solution. ``density_fit=True`` uses density fitting (PySCF's default
auxiliary basis) for the Coulomb and exchange integrals: faster for large basis sets.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.units import Bohr, Hartree

from nnpkit.errors import ConfigError, LabelingError
from nnpkit.labeling.methods import integer_charge, structure_charge

__all__ = ["PySCFCalculator", "SAFER_PYSCF_OPTIONS", "check_functional_and_basis",
           "reject_unknown_options",
           "AU_FIELD_V_PER_A", "AU_POLARIZABILITY_E_A2_PER_V"]

#: Options of the retry after a failed SCF (the "safer settings").
SAFER_PYSCF_OPTIONS: dict[str, Any] = {
    "level_shift": 0.3, "damp": 0.5, "max_cycle": 300, "newton": True,
}
#: One atomic unit of electric field (Hartree/(e·Bohr)) in V/Å (51.42).
AU_FIELD_V_PER_A: float = Hartree / Bohr
#: One atomic unit of polarizability (e²·Bohr²/Hartree) in e·Å²/V (0.010291).
AU_POLARIZABILITY_E_A2_PER_V: float = Bohr**2 / Hartree
_POLARIZABILITY_METHODS = ("finite_field", "analytic")
#: SCF energy threshold (Hartree) of the finite-field SCFs, at most.
_FIELD_CONV_TOL = 1e-11


def check_functional_and_basis(functional: str, basis: str) -> None:
    """Raise :class:`ConfigError` unless PySCF knows the functional and the basis.

    ``functional`` is ``"hf"`` (Hartree–Fock) or any libxc/XCFun name PySCF parses
    (``pbe``, ``b3lyp``, ``wb97x``, ...); ``basis`` any PySCF basis name (``sto-3g``,
    ``def2-svp``, ``6-31g*``, ``cc-pvdz``, ...).
    """
    try:
        from pyscf import dft, gto
    except ImportError as error:
        raise ConfigError("DFT labelling needs PySCF: `pip install pyscf` "
                          "(or `pip install nnpkit[dft]`)") from error
    if functional.lower() not in ("hf", "rhf", "uhf"):
        try:
            dft.libxc.parse_xc(functional)
        except (KeyError, ValueError) as error:
            raise ConfigError(f"PySCF does not know the functional {functional!r} "
                              f"(e.g. pbe, b3lyp, pbe0, wb97x, or hf)") from error
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PySCF's hint to install basis-set-exchange
            gto.basis.load(basis, "H")
    except (KeyError, RuntimeError, ValueError, OSError) as error:
        raise ConfigError(f"PySCF does not know the basis set {basis!r} "
                          f"(e.g. sto-3g, def2-svp, 6-31g*, cc-pvdz)") from error


def _polarizability_modules() -> tuple[Any, Any]:
    """pyscf-properties' RHF and RKS polarizability modules, or ConfigError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Module polarizability is under testing"
            from pyscf.prop.polarizability import rhf, rks
    except ImportError as error:
        raise ConfigError("polarizability_method='analytic' needs pyscf-properties: "
                          "`pip install pyscf-properties`") from error
    return rhf, rks



def reject_unknown_options(name: str, given: dict[str, Any], known: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` naming ``name`` and the known options for any unknown one."""
    unknown = set(given) - set(known)
    if unknown:
        raise ConfigError(f"{name} does not take option(s) {sorted(unknown)}; "
                          f"known: {sorted(known)}")

class PySCFCalculator(Calculator):
    """ASE calculator: energy (eV), forces ([n_atoms, 3], eV/Å) and, with ``field_response``,
    dipole ([3], e·Å, origin (0, 0, 0)) and polarizability ([3, 3], e·Å²/V) from PySCF.

    Args:
        functional: ``"hf"`` or an exchange-correlation functional name (``"pbe"``).
        basis: basis set name (``"def2-svp"``).
        charge: total charge, e; None: ``atoms.info["charge"]``, else 0.
        spin: number of unpaired electrons, 2S (PySCF's ``spin``); multiplicity = spin + 1.
        restricted: True for RKS/RHF, False for UKS/UHF; None: restricted iff ``spin == 0``.
        conv_tol: SCF energy convergence threshold, Hartree.
        max_cycle: SCF iteration limit.
        grid_level: DFT integration grid level (0-9).
        level_shift: virtual-orbital level shift, Hartree (0: off).
        damp: density-matrix damping factor (0: off).
        newton: if the first SCF fails, finish with PySCF's second-order solver.
        field_response: also compute the dipole and the polarizability.
        field_step_au: finite-field step h, atomic units of field (1 a.u. = 51.42 V/Å).
        polarizability_method: ``"finite_field"`` or ``"analytic"`` (RHF/RKS, needs
            ``pyscf-properties``).
        density_fit: density-fitted Coulomb/exchange integrals (PySCF's default auxiliary
            basis): for water PBE/aug-cc-pVDZ 2e-5 Hartree and 1e-4 a.u. of α off, and not
            faster at that size (see benchmarks/response_g2_data.py).
    """

    implemented_properties = ["energy", "free_energy", "forces"]
    default_parameters: dict[str, Any] = {
        "functional": "pbe", "basis": "def2-svp", "charge": None, "spin": 0,
        "restricted": None, "conv_tol": 1e-9, "max_cycle": 100, "grid_level": 3,
        "level_shift": 0.0, "damp": 0.0, "newton": False, "field_response": False,
        "field_step_au": 1e-3, "polarizability_method": "finite_field", "density_fit": False,
    }

    def __init__(self, **kwargs: Any) -> None:
        reject_unknown_options("PySCF labeller", kwargs, self.default_parameters)
        super().__init__(**kwargs)
        p = self.parameters
        if p["restricted"] and int(p["spin"]) != 0:
            raise ConfigError("restricted=True needs spin=0 (a closed shell); use "
                              "restricted=False or null for open shells")
        if p["charge"] is not None:
            integer_charge("the charge option", p["charge"])
        if not float(p["field_step_au"]) > 0:
            raise ConfigError(f"field_step_au must be > 0, got {p['field_step_au']}")
        if p["polarizability_method"] not in _POLARIZABILITY_METHODS:
            raise ConfigError(f"polarizability_method must be one of "
                              f"{_POLARIZABILITY_METHODS}, got {p['polarizability_method']!r}")
        if p["field_response"] and p["polarizability_method"] == "analytic":
            _polarizability_modules()  # pyscf-properties is installed
        if p["field_response"]:
            self.implemented_properties = [*type(self).implemented_properties,
                                           "dipole", "polarizability"]

    def _mean_field(self, atoms: Atoms, field_au: np.ndarray | None = None) -> Any:
        """PySCF's mean-field object for ``atoms`` (not run), in a uniform field
        ``field_au`` ([3], atomic units) if given."""
        from pyscf import dft, gto, scf

        p = self.parameters
        if np.any(atoms.pbc):
            raise LabelingError("the PySCF labeller handles molecules only (pbc must be False)")
        try:
            mol = gto.M(atom=[(symbol, tuple(position)) for symbol, position in
                              zip(atoms.get_chemical_symbols(), atoms.positions, strict=True)],
                        basis=p["basis"], charge=structure_charge(atoms, p["charge"]),
                        spin=int(p["spin"]), unit="Angstrom", verbose=0)
        except RuntimeError as error:
            # PySCF's only RuntimeError here: electron count and spin that cannot go together
            # for this structure (e.g. an odd-electron radical labelled with spin 0), which
            # fails this one calculation, to be recorded, not the whole farm
            raise LabelingError(f"PySCF cannot set up this molecule: {error}") from error
        restricted = (int(p["spin"]) == 0) if p["restricted"] is None else bool(p["restricted"])
        if p["functional"].lower() in ("hf", "rhf", "uhf"):
            mf = scf.RHF(mol) if restricted else scf.UHF(mol)
        else:
            mf = dft.RKS(mol) if restricted else dft.UKS(mol)
            mf.xc = p["functional"]
            mf.grids.level = int(p["grid_level"])
        if p["density_fit"]:
            mf = mf.density_fit()
        mf.conv_tol = float(p["conv_tol"])
        mf.max_cycle = int(p["max_cycle"])
        mf.level_shift = float(p["level_shift"])
        mf.damp = float(p["damp"])
        if field_au is not None:
            with mol.with_common_orig((0.0, 0.0, 0.0)):
                r_ints = mol.intor_symmetric("int1e_r")  # [3, n_ao, n_ao], Bohr
            h_field = mf.get_hcore() + np.einsum("x,xij->ij", field_au, r_ints)  # [n_ao, n_ao]
            mf.get_hcore = lambda *args, **kwargs: h_field
            # the dipole's error goes as sqrt(conv_tol) and is divided by 2h: at 1e-9 the
            # water α was 4e-3 a.u. off the analytic one, at 1e-11 3e-4 a.u., same cost
            mf.conv_tol = min(mf.conv_tol, _FIELD_CONV_TOL)
        return mf

    def _converged(self, mf: Any, dm0: Any = None, what: str = "") -> Any:
        """Run the SCF (from ``dm0`` if given), with the Newton fallback; the converged
        object, or LabelingError."""
        mf.kernel(dm0)
        if not mf.converged and self.parameters["newton"]:
            mf = mf.newton()
            mf.kernel(mf.make_rdm1())
        if not mf.converged:
            raise LabelingError(f"SCF{what} did not converge in {mf.max_cycle} cycles "
                                f"({self.parameters['functional']}/{self.parameters['basis']})")
        return mf

    def _field_solution(self, atoms: Atoms, field_au: np.ndarray, dm0: Any
                        ) -> tuple[float, np.ndarray]:
        """(energy, Hartree, nuclei-field term included; dipole [3], e·Bohr) in a field."""
        mf = self._converged(self._mean_field(atoms, field_au), dm0,
                             f" in the field {np.round(field_au, 6).tolist()} a.u.")
        nuclear_dipole_au = mf.mol.atom_charges() @ mf.mol.atom_coords()  # [3], e·Bohr
        energy_au = float(mf.e_tot) - float(field_au @ nuclear_dipole_au)
        return energy_au, np.asarray(mf.dip_moment(unit="au", verbose=0), dtype=float)

    def _polarizability_au(self, atoms: Atoms, mf: Any) -> np.ndarray:
        """α ([3, 3], atomic units, symmetrised) of the converged zero-field ``mf``."""
        if self.parameters["polarizability_method"] == "analytic":
            return self._analytic_polarizability_au(mf)
        step = float(self.parameters["field_step_au"])
        dm0 = mf.make_rdm1()
        alpha = np.zeros((3, 3))  # [dipole component, field direction]
        for k in range(3):
            field = np.zeros(3)
            field[k] = step
            _, plus = self._field_solution(atoms, field, dm0)
            _, minus = self._field_solution(atoms, -field, dm0)
            alpha[:, k] = (plus - minus) / (2.0 * step)
        return 0.5 * (alpha + alpha.T)

    @staticmethod
    def _analytic_polarizability_au(mf: Any) -> np.ndarray:
        """α ([3, 3], a.u.) by coupled-perturbed SCF (pyscf-properties), RHF/RKS only."""
        from pyscf import dft, scf

        rhf, rks = _polarizability_modules()

        if not isinstance(mf, scf.hf.RHF):
            raise ConfigError("polarizability_method='analytic' handles RHF/RKS only; use "
                              "'finite_field' for open shells")
        module = rks if isinstance(mf, dft.rks.KohnShamDFT) else rhf
        alpha = np.asarray(module.Polarizability(mf).polarizability(), dtype=float)
        return 0.5 * (alpha + alpha.T)

    def energy_in_field(self, atoms: Atoms, field_V_per_A: np.ndarray
                        ) -> tuple[float, np.ndarray]:
        """Energy (eV) and dipole ([3], e·Å, origin (0, 0, 0)) of ``atoms`` in a uniform
        field ``field_V_per_A`` ([3], V/Å), the field's energy −Σ q_i F·r_i included."""
        field_au = np.asarray(field_V_per_A, dtype=float) / AU_FIELD_V_PER_A  # [3]
        energy_au, dipole_au = self._field_solution(atoms, field_au, None)
        return energy_au * Hartree, dipole_au * Bohr

    def calculate(self, atoms: Atoms | None = None, properties: list[str] | None = None,
                  system_changes: list[str] = all_changes) -> None:
        """Run the SCF and the analytic gradient (and, with ``field_response``, the dipole
        and the polarizability); fill ``self.results``."""
        super().calculate(atoms, properties or ["energy"], system_changes)
        assert self.atoms is not None
        mf = self._converged(self._mean_field(self.atoms))
        gradient = np.asarray(mf.nuc_grad_method().kernel())  # [n_atoms, 3], Hartree/Bohr
        energy = float(mf.e_tot) * Hartree
        self.results = {"energy": energy, "free_energy": energy,
                        "forces": -gradient * (Hartree / Bohr)}
        if self.parameters["field_response"]:
            dipole_au = np.asarray(mf.dip_moment(unit="au", verbose=0), dtype=float)  # [3]
            self.results["dipole"] = dipole_au * Bohr
            alpha_au = self._polarizability_au(self.atoms, mf)  # [3, 3]
            self.results["polarizability"] = alpha_au * AU_POLARIZABILITY_E_A2_PER_V
