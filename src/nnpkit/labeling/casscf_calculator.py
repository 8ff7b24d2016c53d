"""An ASE calculator over PySCF's state-averaged CASSCF: the energies and analytic forces of
several electronic states and the nonadiabatic couplings between them.

A calculation runs RHF (ROHF for 2S > 0), picks an active space, converges an
equal-weight SA-CASSCF of ``n_states`` states of spin S (``fix_spin_``), and then takes the
analytic gradient of every state and the analytic derivative coupling of every pair
(``pyscf.nac``). The active space is CAS(``active_electrons``, ``active_orbitals``): the
orbitals around HOMO/LUMO of the RHF by default, or PySCF's AVAS projection onto
``active_ao_labels`` (e.g. ``["Li 2s", "F 2pz"]``), which must give exactly that size.

Results (ASE units):

- ``energy``, ``free_energy`` (eV) and ``forces`` ([n_atoms, 3], eV/Å): state 0, so any
  tool that reads a ground-state label reads these;
- ``state_energies`` ([n_states], eV), ``state_forces`` ([n_states, n_atoms, 3], eV/Å);
- ``nacs`` ([n_pairs, n_atoms, 3], 1/Å), n_pairs = n(n−1)/2 in the order
  (0, 1), (0, 2), …, (1, 2), …: d_ij = <ψ_i|∂ψ_j/∂R> for i < j (so d_ji = −d_ij). PySCF's
  docstring says ``nac_method().kernel(state=(ket, bra))`` gives <bra|∂ket/∂R>, but
  finite differences of wavefunction overlaps (tests/test_labeling_casscf.py) give the
  opposite sign for PySCF 2.14: ``state=(i, j)`` is <ψ_i|∂ψ_j/∂R>, which is what is used.
  With ``nac_etfs=True`` (default) the coupling leaves out the "CSF term" (electron
  translation factors, Fatehi & Subotnik 2012: translation-invariant, what surface hopping
  wants); ``nac_etfs=False`` gives the full derivative coupling, which the tests check
  against finite differences of wavefunction overlaps.

The sign of each state is a convention: every CI vector is signed so that its largest
coefficient (in PySCF's determinant order) is positive. A NAC label's sign is defined only
together with that gauge; dynamics codes align phases along a trajectory.

A calculation that cannot give trustworthy labels raises
:class:`~nnpkit.errors.LabelingError` (:mod:`nnpkit.labeling.casscf_checks`): an active
space that does not fit the molecule or whose HOMO/LUMO window splits a degenerate set of
orbitals, AVAS choosing a different size, more states than
spin-adapted configurations, RHF, CASSCF or the gradient equations not converged, or root
flipping (a CASCI in the final orbitals whose lowest roots are not the averaged states).

Cost (one thread; the calculator leaves PySCF's thread count alone, as
:class:`~nnpkit.labeling.pyscf_calculator.PySCFCalculator` does, so run farm workers with
``OMP_NUM_THREADS=1``): SA-2-CASSCF(2,2)/6-31g* with gradients and the coupling takes
~3.5 s for LiF and ~11 s for ethylene, of which the SA-CASSCF is 0.5 s, the two
gradients 2 s / 6 s and the coupling 1 s / 4 s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.units import Bohr, Hartree

from nnpkit.errors import ConfigError, LabelingError
from nnpkit.labeling.casscf_checks import (
    check_active_space,
    check_orbital_window,
    check_root_overlaps,
    n_spin_adapted_states,
    root_overlaps,
)
from nnpkit.labeling.methods import integer_charge, structure_charge
from nnpkit.labeling.pyscf_calculator import reject_unknown_options

__all__ = ["SACASSCFCalculator", "SAFER_CASSCF_OPTIONS", "state_pairs"]

#: Options of the retry after a failure: more cycles, smaller orbital steps, RHF level shift.
SAFER_CASSCF_OPTIONS: dict[str, Any] = {"max_cycle": 300, "max_stepsize": 0.01,
                                        "level_shift": 0.3}


#: Iteration limit of the reference RHF (``max_cycle`` is the CASSCF's).
_RHF_MAX_CYCLE = 200


def state_pairs(n_states: int) -> list[tuple[int, int]]:
    """The (i, j), i < j, of the ``nacs`` rows: (0, 1), (0, 2), …, (1, 2), …"""
    return [(i, j) for i in range(n_states) for j in range(i + 1, n_states)]


def _signed(ci: np.ndarray) -> np.ndarray:
    """``ci`` with its largest-magnitude coefficient positive (the phase convention)."""
    flat = np.ravel(ci)
    return -ci if flat[int(np.argmax(np.abs(flat)))] < 0 else ci


def _orthonormal(orbitals: np.ndarray, overlap: np.ndarray) -> np.ndarray:
    """``orbitals`` ([n_ao, n_mo]) made orthonormal in the AO ``overlap`` by Löwdin's
    symmetric orthogonalisation (the closest orthonormal set): a guess from another
    geometry would otherwise stay non-orthonormal through the orbital rotations."""
    metric = orbitals.T @ overlap @ orbitals  # [n_mo, n_mo]
    values, vectors = np.linalg.eigh(metric)
    return orbitals @ (vectors / np.sqrt(values)) @ vectors.T


class SACASSCFCalculator(Calculator):
    """ASE calculator: SA-CASSCF energies, forces and NACs of ``n_states`` states (PySCF).

    Args:
        basis: basis set name (``"6-31g*"``).
        n_states: states in the equal-weight average (>= 2).
        active_electrons: electrons in the active space.
        active_orbitals: orbitals in the active space.
        active_ao_labels: AO labels for AVAS (``["C 2pz"]``); None: HOMO/LUMO region.
        avas_threshold: AVAS's projection threshold (PySCF's default 0.2).
        avas_minao: the minimal basis AVAS projects on (PySCF's ``"minao"``, which stops
            at Ar; e.g. ``"sto-3g"`` for K and beyond).
        charge: total charge, e; None: ``atoms.info["charge"]``, else 0.
        spin: 2S of the states (and of the reference RHF/ROHF).
        conv_tol: RHF and CASSCF energy threshold, Hartree.
        max_cycle: CASSCF macro-iteration limit (the RHF has its own, 200 cycles).
        max_stepsize: CASSCF orbital-rotation step limit (PySCF's 0.02).
        level_shift: RHF virtual-orbital level shift, Hartree.
        nacs: compute the NACs (else ``nacs`` is absent).
        nac_etfs: leave out the CSF term (electron translation factors).
        root_overlap_threshold: least |<SA_k|CASCI_k>| accepted (root-flipping check).
    """

    implemented_properties = ["energy", "free_energy", "forces", "state_energies",
                              "state_forces", "nacs"]
    default_parameters: dict[str, Any] = {
        "basis": "6-31g*", "n_states": 2, "active_electrons": None, "active_orbitals": None,
        "active_ao_labels": None, "avas_threshold": 0.2, "avas_minao": "minao",
        "charge": None, "spin": 0,
        "conv_tol": 1e-10, "max_cycle": 100, "max_stepsize": 0.02, "level_shift": 0.0,
        "nacs": True, "nac_etfs": True, "root_overlap_threshold": 0.9,
    }

    def __init__(self, **kwargs: Any) -> None:
        reject_unknown_options("SA-CASSCF labeller", kwargs, self.default_parameters)
        super().__init__(**kwargs)
        p = self.parameters
        for name in ("active_electrons", "active_orbitals"):
            if not isinstance(p[name], (int, np.integer)) or isinstance(p[name], bool):
                raise ConfigError(f"SA-CASSCF needs an integer {name}, got {p[name]!r}")
        if not isinstance(p["n_states"], (int, np.integer)) or int(p["n_states"]) < 2:
            raise ConfigError(f"n_states must be an integer >= 2, got {p['n_states']!r}")
        if int(p["spin"]) < 0:
            raise ConfigError(f"spin (2S) must be >= 0, got {p['spin']}")
        if p["charge"] is not None:
            integer_charge("the charge option", p["charge"])
        labels = p["active_ao_labels"]
        if labels is not None and (isinstance(labels, str) or not labels
                                   or not all(isinstance(x, str) for x in labels)):
            raise ConfigError(f"active_ao_labels must be a non-empty list of AO labels "
                              f"(e.g. ['C 2pz']), got {labels!r}")
        if not p["nacs"]:
            self.implemented_properties = [name for name in type(self).implemented_properties
                                           if name != "nacs"]
        if not 0.0 < float(p["root_overlap_threshold"]) <= 1.0:
            raise ConfigError("root_overlap_threshold must be in (0, 1], got "
                              f"{p['root_overlap_threshold']}")

    def _reference(self, atoms: Atoms) -> Any:
        """The converged RHF (ROHF) of ``atoms``, or LabelingError."""
        from pyscf import gto, scf

        p = self.parameters
        if np.any(atoms.pbc):
            raise LabelingError("the SA-CASSCF labeller handles molecules only (pbc must be "
                                "False)")
        try:
            mol = gto.M(atom=[(symbol, tuple(position)) for symbol, position in
                              zip(atoms.get_chemical_symbols(), atoms.positions, strict=True)],
                        basis=p["basis"], charge=structure_charge(atoms, p["charge"]),
                        spin=int(p["spin"]), unit="Angstrom", verbose=0)
        except RuntimeError as error:  # electron count and spin that cannot go together
            raise LabelingError(f"PySCF cannot set up this molecule: {error}") from error
        mf = scf.RHF(mol)  # ROHF when spin > 0
        mf.conv_tol = float(p["conv_tol"])
        mf.max_cycle = _RHF_MAX_CYCLE
        mf.level_shift = float(p["level_shift"])
        mf.kernel()
        if not mf.converged:
            raise LabelingError(f"RHF did not converge in {mf.max_cycle} cycles "
                                f"({p['basis']}), needed for the SA-CASSCF orbitals")
        if int(p["spin"]) == 0:
            return mf
        # PySCF 2.14's NAC code cannot take an ROHF object (its core term goes through the
        # UHF gradient code and fails): a plain RHF object holding the ROHF orbitals serves
        # the CASSCF instead; energies and gradients are the same (the reference only
        # provides the orbitals and the integrals)
        closed = scf.hf.RHF(mol)
        for name in ("mo_coeff", "mo_occ", "mo_energy", "e_tot", "converged"):
            setattr(closed, name, getattr(mf, name))
        return closed

    def _active_orbitals(self, mf: Any) -> np.ndarray:
        """Starting orbitals with the active space in place ([n_ao, n_mo]), checked."""
        p = self.parameters
        n_electrons, n_orbitals = int(mf.mol.nelectron), int(mf.mo_coeff.shape[1])
        n_active, e_active = int(p["active_orbitals"]), int(p["active_electrons"])
        n_core = check_active_space(n_electrons, n_orbitals, e_active, n_active,
                                    int(p["spin"]))
        n_configurations = n_spin_adapted_states(n_active, e_active, int(p["spin"]))
        if int(p["n_states"]) > n_configurations:
            raise LabelingError(
                f"n_states = {p['n_states']} exceeds the {n_configurations} spin-adapted "
                f"configurations (2S = {p['spin']}) of CAS({e_active}, {n_active})")
        if p["active_ao_labels"] is None:
            check_orbital_window(mf.mo_energy, n_core, n_active)
            return np.asarray(mf.mo_coeff)
        from pyscf.mcscf import avas

        ncas, nelecas, orbitals = avas.kernel(mf, list(p["active_ao_labels"]),
                                              threshold=float(p["avas_threshold"]),
                                              minao=str(p["avas_minao"]), verbose=0)
        nelecas = int(np.sum(nelecas))
        if (int(ncas), nelecas) != (n_active, e_active):
            raise LabelingError(
                f"AVAS on {list(p['active_ao_labels'])} chose CAS({nelecas}, {int(ncas)}) "
                f"(electrons, orbitals), but CAS({e_active}, {n_active}) was requested")
        return np.asarray(orbitals)

    def solve(self, atoms: Atoms, mo_guess: np.ndarray | None = None) -> Any:
        """The converged, checked SA-CASSCF of ``atoms`` (PySCF's object; CI vectors in the
        phase convention), started from ``mo_guess`` ([n_ao, n_mo]) if given.

        Raises:
            LabelingError: see the module docstring.
        """
        from pyscf import mcscf

        p = self.parameters
        mf = self._reference(atoms)
        orbitals = self._active_orbitals(mf)  # checks the active space, also with a guess
        if mo_guess is not None:  # orthonormal in this geometry's overlap (Löwdin)
            orbitals = _orthonormal(np.asarray(mo_guess), mf.get_ovlp())
        n_states, spin = int(p["n_states"]), int(p["spin"])
        ss = 0.5 * spin * (0.5 * spin + 1.0)  # S(S+1)
        mc = mcscf.CASSCF(mf, int(p["active_orbitals"]), int(p["active_electrons"]))
        mc = mc.fix_spin_(ss=ss).state_average_([1.0 / n_states] * n_states)
        mc.conv_tol = float(p["conv_tol"])
        mc.max_cycle_macro = int(p["max_cycle"])
        mc.max_stepsize = float(p["max_stepsize"])
        mc.verbose = 0
        mc.kernel(orbitals)
        if not mc.converged:
            raise LabelingError(f"SA-CASSCF({p['active_electrons']}, {p['active_orbitals']})"
                                f" of {n_states} states did not converge in "
                                f"{mc.max_cycle_macro} macro cycles ({p['basis']})")
        mc.ci = [_signed(np.asarray(ci)) for ci in mc.ci]
        check_root_overlaps(self._casci_overlaps(mc), float(p["root_overlap_threshold"]))
        return mc

    def _casci_overlaps(self, mc: Any) -> np.ndarray:
        """:func:`root_overlaps` of ``mc``'s states with a CASCI (n_states + 1 roots, at most
        one per determinant; same spin) in its final orbitals."""
        from pyscf import mcscf

        p = self.parameters
        spin = int(p["spin"])
        casci = mcscf.CASCI(mc._scf, mc.ncas, mc.nelecas)
        casci = casci.fix_spin_(ss=0.5 * spin * (0.5 * spin + 1.0))
        casci.fcisolver.nroots = min(int(p["n_states"]) + 1, int(np.size(mc.ci[0])))
        casci.canonicalization = False  # keep the orbitals the CI vectors refer to
        casci.verbose = 0
        casci.kernel(mc.mo_coeff)
        return root_overlaps(mc.ci, list(casci.ci))

    def calculate(self, atoms: Atoms | None = None, properties: list[str] | None = None,
                  system_changes: list[str] = all_changes) -> None:
        """Run the SA-CASSCF, the gradient of every state and (``nacs``) the coupling of
        every pair; fill ``self.results``."""
        super().calculate(atoms, properties or ["energy"], system_changes)
        assert self.atoms is not None
        p = self.parameters
        mc = self.solve(self.atoms)
        n_states = int(p["n_states"])
        gradient_method = mc.nuc_grad_method()
        gradients = []  # n_states × [n_atoms, 3], Hartree/Bohr
        for state in range(n_states):
            gradients.append(np.asarray(gradient_method.kernel(state=state), dtype=float))
            if not gradient_method.converged:
                raise LabelingError(f"the SA-CASSCF gradient equations of state {state} did "
                                    "not converge")
        energies = np.asarray(mc.e_states, dtype=float) * Hartree  # [n_states], eV
        forces = -np.stack(gradients) * (Hartree / Bohr)  # [n_states, n_atoms, 3], eV/Å
        self.results = {"energy": float(energies[0]), "free_energy": float(energies[0]),
                        "forces": forces[0].copy(), "state_energies": energies,
                        "state_forces": forces}
        if p["nacs"]:
            nac_method = mc.nac_method()
            couplings = []  # n_pairs × [n_atoms, 3], 1/Bohr
            for i, j in state_pairs(n_states):  # state=(i, j): <i|∂j/∂R> (module docstring)
                couplings.append(np.asarray(nac_method.kernel(
                    state=(i, j), use_etfs=bool(p["nac_etfs"])), dtype=float))
                if not nac_method.converged:
                    raise LabelingError(f"the SA-CASSCF coupling equations of the pair "
                                        f"({i}, {j}) did not converge")
            self.results["nacs"] = np.stack(couplings) / Bohr  # [n_pairs, n_atoms, 3], 1/Å
