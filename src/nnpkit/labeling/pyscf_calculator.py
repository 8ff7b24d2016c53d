"""An ASE calculator over PySCF: Kohn–Sham DFT or Hartree–Fock energies and analytic forces.

Molecules only (no periodic cell). Restricted (RKS/RHF) for closed shells and unrestricted
(UKS/UHF) for open shells or on request; charge and spin are the molecule's. Energies
come back in eV and forces (minus PySCF's analytic nuclear gradient) in eV/Å.

A calculation whose SCF does not converge raises :class:`~nnpkit.errors.LabelingError`
(with the cycle count) instead of returning an unconverged energy. The ``safer`` settings
(:data:`SAFER_PYSCF_OPTIONS`) add a level shift, damping, more cycles and, when that is
not enough, a second-order (Newton) solver, which converges to the same solution.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.units import Bohr, Hartree

from nnpkit.errors import ConfigError, LabelingError

__all__ = ["PySCFCalculator", "SAFER_PYSCF_OPTIONS", "check_functional_and_basis"]

#: Options of the retry after a failed SCF (the "safer settings").
SAFER_PYSCF_OPTIONS: dict[str, Any] = {
    "level_shift": 0.3, "damp": 0.5, "max_cycle": 300, "newton": True,
}


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


class PySCFCalculator(Calculator):
    """ASE calculator: energy (eV) and forces ([n_atoms, 3], eV/Å) from PySCF.

    Args:
        functional: ``"hf"`` or an exchange-correlation functional name (``"pbe"``).
        basis: basis set name (``"def2-svp"``).
        charge: total charge, e.
        spin: number of unpaired electrons, 2S (PySCF's ``spin``); multiplicity = spin + 1.
        restricted: True for RKS/RHF, False for UKS/UHF; None: restricted iff ``spin == 0``.
        conv_tol: SCF energy convergence threshold, Hartree.
        max_cycle: SCF iteration limit.
        grid_level: DFT integration grid level (0-9).
        level_shift: virtual-orbital level shift, Hartree (0: off).
        damp: density-matrix damping factor (0: off).
        newton: if the first SCF fails, finish with PySCF's second-order solver.
    """

    implemented_properties = ["energy", "free_energy", "forces"]
    default_parameters: dict[str, Any] = {
        "functional": "pbe", "basis": "def2-svp", "charge": 0, "spin": 0, "restricted": None,
        "conv_tol": 1e-9, "max_cycle": 100, "grid_level": 3, "level_shift": 0.0,
        "damp": 0.0, "newton": False,
    }

    def __init__(self, **kwargs: Any) -> None:
        unknown = set(kwargs) - set(self.default_parameters)
        if unknown:
            raise ConfigError(f"PySCF labeller does not take option(s) {sorted(unknown)}; "
                              f"known: {sorted(self.default_parameters)}")
        super().__init__(**kwargs)
        if self.parameters["restricted"] and int(self.parameters["spin"]) != 0:
            raise ConfigError("restricted=True needs spin=0 (a closed shell); use "
                              "restricted=False or null for open shells")

    def _mean_field(self, atoms: Atoms) -> Any:
        from pyscf import dft, gto, scf

        p = self.parameters
        if np.any(atoms.pbc):
            raise LabelingError("the PySCF labeller handles molecules only (pbc must be False)")
        try:
            mol = gto.M(atom=[(symbol, tuple(position)) for symbol, position in
                              zip(atoms.get_chemical_symbols(), atoms.positions, strict=True)],
                        basis=p["basis"], charge=int(p["charge"]), spin=int(p["spin"]),
                        unit="Angstrom", verbose=0)
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
        mf.conv_tol = float(p["conv_tol"])
        mf.max_cycle = int(p["max_cycle"])
        mf.level_shift = float(p["level_shift"])
        mf.damp = float(p["damp"])
        return mf

    def calculate(self, atoms: Atoms | None = None, properties: list[str] | None = None,
                  system_changes: list[str] = all_changes) -> None:
        """Run the SCF and the analytic gradient; fill ``self.results``."""
        super().calculate(atoms, properties or ["energy"], system_changes)
        assert self.atoms is not None
        mf = self._mean_field(self.atoms)
        energy_hartree = mf.kernel()
        if not mf.converged and self.parameters["newton"]:
            mf = mf.newton()
            energy_hartree = mf.kernel(mf.make_rdm1())
        if not mf.converged:
            raise LabelingError(f"SCF did not converge in {mf.max_cycle} cycles "
                                f"({self.parameters['functional']}/{self.parameters['basis']})")
        gradient = np.asarray(mf.nuc_grad_method().kernel())  # [n_atoms, 3], Hartree/Bohr
        energy = float(energy_hartree) * Hartree
        self.results = {"energy": energy, "free_energy": energy,
                        "forces": -gradient * (Hartree / Bohr)}
