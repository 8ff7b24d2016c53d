"""Checks of a state-averaged CASSCF calculation: does the active space fit the molecule,
are there enough spin-adapted configurations for the states asked for, and did a higher
root enter the average (root flipping)?

Used by :class:`~nnpkit.labeling.casscf_calculator.SACASSCFCalculator`; each failure is a
:class:`~nnpkit.errors.LabelingError` (the farm retries it once and then records it with
the structure's index), never a label.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb
from typing import Any

import numpy as np

from nnpkit.errors import LabelingError

__all__ = ["check_active_space", "check_orbital_window", "n_spin_adapted_states",
           "weyl_csf_count", "root_overlaps", "check_root_overlaps",
           "DEGENERATE_ORBITALS_HA"]

#: Orbital energies closer than this (Hartree) count as one degenerate set.
DEGENERATE_ORBITALS_HA = 1e-6


def check_active_space(n_electrons: int, n_orbitals: int, active_electrons: int,
                       active_orbitals: int, spin: int) -> int:
    """The number of doubly occupied core orbitals of CAS(``active_electrons``,
    ``active_orbitals``) in a molecule of ``n_electrons`` electrons and ``n_orbitals``
    molecular orbitals with 2S = ``spin``.

    Raises:
        LabelingError: the active space does not fit (more active than total electrons, an
            odd number of core electrons, more orbitals than the basis has, more electrons
            than the active orbitals hold, or an electron count and spin of different
            parity); the message gives the numbers.
    """
    what = (f"CAS({active_electrons}, {active_orbitals}) with spin 2S = {spin} in a molecule "
            f"of {n_electrons} electrons and {n_orbitals} orbitals")
    core_electrons = n_electrons - active_electrons
    if active_electrons < 0 or active_orbitals < 1:
        raise LabelingError(f"{what}: needs >= 0 active electrons and >= 1 active orbital")
    if core_electrons < 0:
        raise LabelingError(f"{what}: more active electrons than the molecule has")
    if core_electrons % 2:
        raise LabelingError(f"{what}: {core_electrons} core electrons cannot fill doubly "
                            "occupied orbitals (active electrons of the wrong parity)")
    n_core = core_electrons // 2
    if n_core + active_orbitals > n_orbitals:
        raise LabelingError(f"{what}: {n_core} core + {active_orbitals} active orbitals "
                            f"exceed the {n_orbitals} of the basis")
    if active_electrons > 2 * active_orbitals:
        raise LabelingError(f"{what}: {active_electrons} electrons do not fit into "
                            f"{active_orbitals} orbitals")
    if (active_electrons - spin) % 2 or spin > active_electrons:
        raise LabelingError(f"{what}: {active_electrons} active electrons cannot have 2S = "
                            f"{spin}")
    if (active_electrons + spin) // 2 > active_orbitals:
        raise LabelingError(f"{what}: {(active_electrons + spin) // 2} alpha electrons do "
                            f"not fit into {active_orbitals} orbitals")
    return n_core


def check_orbital_window(mo_energy: np.ndarray, n_core: int, n_active: int,
                         tolerance_Ha: float = DEGENERATE_ORBITALS_HA) -> None:
    """Refuse an active space of the orbitals ``n_core`` … ``n_core + n_active − 1`` (by
    orbital energy, ``mo_energy`` [n_mo], Hartree) whose edge cuts through a degenerate set.

    A set split at the edge (a π pair of a linear molecule, an e set) is resolved by
    round-off alone: which member enters the space, and so the states, their gradients and
    the direction of their couplings, changes from run to run.

    Raises:
        LabelingError: naming the orbitals (0-based) on either side of the cut and their
            energy.
    """
    energies = np.asarray(mo_energy, dtype=float)
    for inside, outside in ((n_core, n_core - 1), (n_core + n_active - 1, n_core + n_active)):
        if outside < 0 or outside >= energies.size:
            continue
        if abs(energies[inside] - energies[outside]) < tolerance_Ha:
            raise LabelingError(
                f"the active space (orbitals {n_core}..{n_core + n_active - 1}) splits a "
                f"degenerate set: orbital {inside} is in it and orbital {outside} is not, "
                f"both at {energies[inside]:.6f} Ha; round-off would choose between them. "
                "Make active_orbitals hold the whole set or none of it, or choose the "
                "space with active_ao_labels")


def n_spin_adapted_states(n_orbitals: int, n_electrons: int, spin: int) -> int:
    """The number of spin-adapted configurations (CSFs) of total spin S = ``spin``/2 for
    ``n_electrons`` electrons in ``n_orbitals`` orbitals: the determinants of M_S = S minus
    those of M_S = S + 1 (each spin-S multiplet has one member in each), counted with
    PySCF's string tables (:func:`pyscf.fci.cistring.num_strings`)."""
    from pyscf.fci import cistring

    def determinants(n_alpha: int, n_beta: int) -> int:
        if min(n_alpha, n_beta) < 0 or max(n_alpha, n_beta) > n_orbitals:
            return 0
        return int(cistring.num_strings(n_orbitals, n_alpha)
                   * cistring.num_strings(n_orbitals, n_beta))

    n_alpha = (n_electrons + spin) // 2
    n_beta = n_electrons - n_alpha
    return determinants(n_alpha, n_beta) - determinants(n_alpha + 1, n_beta - 1)


def weyl_csf_count(n_orbitals: int, n_electrons: int, spin: int) -> int:
    """The Weyl–Paldus count of spin-S CSFs (S = ``spin``/2): (2S+1)/(n+1) · C(n+1, N/2−S)
    · C(n+1, N/2+S+1); equal to :func:`n_spin_adapted_states` (an independent check)."""
    n = n_orbitals
    return (spin + 1) * comb(n + 1, (n_electrons - spin) // 2) * comb(
        n + 1, (n_electrons + spin) // 2 + 1) // (n + 1)


def root_overlaps(ci_state_averaged: Sequence[Any], ci_casci: Sequence[Any]) -> np.ndarray:
    """|<ci_SA,k|ci_CASCI,k>| for each state k of the average ([n_states]): 1 when state k
    of the average is the k-th root of a CASCI in the same orbitals.

    Args:
        ci_state_averaged: the n state-averaged CI vectors (any shape, same for all).
        ci_casci: at least n CASCI roots in the final orbitals, lowest first.
    """
    if len(ci_casci) < len(ci_state_averaged):
        raise ValueError(f"{len(ci_casci)} CASCI roots for {len(ci_state_averaged)} states")
    return np.array([abs(float(np.vdot(np.ravel(sa), np.ravel(casci))))
                     for sa, casci in zip(ci_state_averaged, ci_casci, strict=False)])


def check_root_overlaps(overlaps: np.ndarray, threshold: float) -> None:
    """Raise :class:`LabelingError` (listing the overlaps) unless every overlap of
    :func:`root_overlaps` is >= ``threshold``: a drop means a higher root entered the
    average (root flipping) or two states are (nearly) degenerate."""
    if np.all(overlaps >= threshold):
        return
    flipped = [int(k) for k in np.flatnonzero(overlaps < threshold)]
    raise LabelingError(
        f"root flipping: state(s) {flipped} of the state average are not the lowest CASCI "
        f"roots in the final orbitals, overlaps |<SA_k|CASCI_k>| = "
        f"{np.round(overlaps, 4).tolist()} (threshold {threshold})")
