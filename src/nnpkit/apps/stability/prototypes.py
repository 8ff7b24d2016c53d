"""Alloy prototypes of the stability dataset: ordered superstructures and SQS-like cells.

Every structure is built on an ideal lattice whose lattice constant follows Vegard's rule from
the elements' fcc lattice constants (Å); bcc and hcp cells get the same volume per atom as fcc
(ideal c/a for hcp). Each Atoms carries in ``info``: ``prototype`` (e.g. ``"L1_2"``, ``"B2"``,
``"random_fcc"``), ``chemical_system`` (sorted symbols joined by ``-``, e.g. ``"Au-Cu"``),
``formula`` (reduced, e.g. ``"AuCu3"``) and ``is_elemental``.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction
from typing import NamedTuple

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, reference_states
from ase.neighborlist import neighbor_list

from nnpkit.errors import ConfigError, DataError

__all__ = ["FCC_LATTICE_CONSTANTS_A", "elemental_references", "generate_prototypes"]

#: Experimental fcc lattice constants (Å) of the EMT metals; others come from ASE's tables.
FCC_LATTICE_CONSTANTS_A = {
    "Cu": 3.61, "Ag": 4.09, "Au": 4.08, "Ni": 3.52, "Pd": 3.89, "Pt": 3.92, "Al": 4.05,
}  # fmt: skip

_HCP_C_OVER_A = math.sqrt(8.0 / 3.0)
_N_CANDIDATES = 300  # random decorations drawn per (lattice, composition) before choosing


class _Pairs(NamedTuple):
    """Neighbour pairs of a cell by shell (see :func:`_shell_pairs`)."""

    i: np.ndarray  # [n_pairs]
    j: np.ndarray  # [n_pairs]
    shell: np.ndarray  # [n_pairs], 0 = nearest neighbours
    shells: tuple[float, ...]  # shell radii / nearest-neighbour distance


class _Template(NamedTuple):
    """A supercell to decorate (unit fcc lattice constant) and its neighbour pairs."""

    atoms: Atoms
    pairs: _Pairs


def _fcc_a(symbol: str) -> float:
    """The fcc lattice constant (Å) of an element, or the one of equal volume per atom."""
    if symbol in FCC_LATTICE_CONSTANTS_A:
        return FCC_LATTICE_CONSTANTS_A[symbol]
    if symbol not in atomic_numbers:
        raise DataError(f"unknown element {symbol!r}")
    state: dict = reference_states[atomic_numbers[symbol]] or {}
    symmetry = state.get("symmetry")
    if "a" not in state or symmetry not in ("fcc", "bcc", "hcp"):
        raise DataError(f"no fcc/bcc/hcp lattice constant known for {symbol!r}")
    a = float(state["a"])
    if symmetry == "fcc":
        return a
    if symmetry == "bcc":
        return a * 2 ** (1 / 3)  # equal volume per atom: a_fcc³/4 = a_bcc³/2
    volume_per_atom = math.sqrt(3) / 4 * a**3 * float(state.get("c/a", _HCP_C_OVER_A))
    return float((4 * volume_per_atom) ** (1 / 3))


def _vegard_fcc_a(symbols: Sequence[str]) -> float:
    """Vegard's rule: the composition-weighted fcc lattice constant (Å) of ``symbols``."""
    return float(np.mean([_fcc_a(s) for s in symbols]))


def _tag(atoms: Atoms, prototype: str) -> Atoms:
    """Record prototype, chemical system and reduced formula in ``atoms.info``."""
    species = sorted(set(atoms.get_chemical_symbols()))
    atoms.info["prototype"] = prototype
    atoms.info["chemical_system"] = "-".join(species)
    atoms.info["formula"] = atoms.get_chemical_formula(mode="metal", empirical=True)
    atoms.info["is_elemental"] = len(species) == 1
    return atoms


def _cubic_fcc(symbols: Sequence[str], a: float) -> Atoms:
    """Conventional fcc cell (4 atoms: corner, then the face centres yz, xz, xy)."""
    frac = [(0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0)]
    return Atoms(list(symbols), scaled_positions=frac, cell=[a, a, a], pbc=True)


def _cubic_bcc(symbols: Sequence[str], a_bcc: float) -> Atoms:
    """Conventional bcc cell (2 atoms: corner, body centre)."""
    frac = [(0, 0, 0), (0.5, 0.5, 0.5)]
    return Atoms(list(symbols), scaled_positions=frac, cell=[a_bcc] * 3, pbc=True)


def _fcc_111_stack(symbols: Sequence[str], a: float) -> Atoms:
    """fcc with one atom per (111) layer, stacked in the order of ``symbols`` (L1_1 for AB)."""
    a1, a2, a3 = 0.5 * a * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=float)
    n = len(symbols)
    positions = [k * a3 for k in range(n)]
    return Atoms(list(symbols), positions=positions, cell=[a1, a2, n * a3], pbc=True)


def _bcc_fcc4(site_symbols: Sequence[str], a_bcc: float) -> Atoms:
    """4-atom primitive cell of the bcc superstructures D0_3, B32, L2_1 (fcc lattice, 2a_bcc).

    ``site_symbols`` fill the sites (0,0,0), (½,½,½), (¼,¼,¼), (¾,¾,¾) of the 2a_bcc cube.
    """
    big = 2 * a_bcc
    cell = 0.5 * big * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=float)
    frac = np.array([[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0.25, 0.25], [0.75, 0.75, 0.75]])
    atoms = Atoms(list(site_symbols), positions=frac * big, cell=cell, pbc=True)
    atoms.wrap()
    return atoms


def _hcp(symbols: Sequence[str], a_fcc: float) -> Atoms:
    """2-atom hcp cell (ideal c/a, same volume per atom as fcc of ``a_fcc``)."""
    a = a_fcc / math.sqrt(2)
    cell = [[a, 0, 0], [-a / 2, a * math.sqrt(3) / 2, 0], [0, 0, a * _HCP_C_OVER_A]]
    frac = [(0, 0, 0), (1 / 3, 2 / 3, 0.5)]
    return Atoms(list(symbols), scaled_positions=frac, cell=cell, pbc=True)


def _d0_19(majority: str, minority: str, a_fcc: float) -> Atoms:
    """D0_19 (Ni3Sn type) A3B: a 2x2x1 hcp supercell, the B atoms not nearest neighbours."""
    atoms = _hcp([majority, majority], a_fcc).repeat((2, 2, 1))
    layer2 = [i for i in range(len(atoms)) if atoms.get_scaled_positions()[i, 2] > 0.25]
    distances = atoms.get_distances(0, layer2, mic=True)
    symbols = [majority] * len(atoms)
    symbols[0] = symbols[layer2[int(np.argmax(distances))]] = minority
    atoms.set_chemical_symbols(symbols)
    return atoms


def elemental_references(elements: Sequence[str]) -> dict[str, list[Atoms]]:
    """fcc (A1), bcc (A2) and hcp (A3) cells of every element, at equal volume per atom.

    Returns:
        ``{symbol: [fcc, bcc, hcp]}``; the dataset relaxes all three and takes the lowest
        energy per atom as the element's reference.
    """
    references: dict[str, list[Atoms]] = {}
    for symbol in _check_elements(elements):
        a = _fcc_a(symbol)
        fcc = Atoms(symbol, cell=0.5 * a * (np.ones((3, 3)) - np.eye(3)), pbc=True)
        a_bcc = a * 0.5 ** (1 / 3)
        bcc = Atoms(symbol, cell=0.5 * a_bcc * (np.ones((3, 3)) - 2 * np.eye(3)), pbc=True)
        references[symbol] = [
            _tag(fcc, "A1"),
            _tag(bcc, "A2"),
            _tag(_hcp([symbol, symbol], a), "A3"),
        ]
    return references


def _check_elements(elements: Sequence[str]) -> list[str]:
    """The elements as a list; unknown or repeated symbols raise DataError."""
    elements = list(elements)
    for symbol in elements:
        _fcc_a(symbol)
    if len(set(elements)) != len(elements):
        raise DataError(f"elements {elements} contain duplicates")
    return elements


def _binary_prototypes(a_el: str, b_el: str) -> list[Atoms]:
    """The ordered binary prototypes of A–B (both orders where the formula is asymmetric)."""
    out: list[Atoms] = []
    for major, minor in ((a_el, b_el), (b_el, a_el)):
        a3b = [major, major, major, minor]
        a = _vegard_fcc_a(a3b)
        a_bcc = a * 0.5 ** (1 / 3)
        out.append(_tag(_cubic_fcc([minor, major, major, major], a), "L1_2"))
        out.append(_tag(_bcc_fcc4([minor, major, major, major], a_bcc), "D0_3"))
        out.append(_tag(_d0_19(major, minor, a), "D0_19"))
        a2b = _fcc_111_stack([major, major, minor], _vegard_fcc_a(a3b[1:]))
        out.append(_tag(a2b, "fcc_A2B_111"))
    a = _vegard_fcc_a([a_el, b_el])
    a_bcc = a * 0.5 ** (1 / 3)
    l10 = Atoms([a_el, b_el], scaled_positions=[(0, 0, 0), (0.5, 0.5, 0.5)],
                cell=[a / math.sqrt(2), a / math.sqrt(2), a], pbc=True)  # fmt: skip
    out.append(_tag(l10, "L1_0"))
    out.append(_tag(_fcc_111_stack([a_el, b_el], a), "L1_1"))
    out.append(_tag(_cubic_bcc([a_el, b_el], a_bcc), "B2"))
    out.append(_tag(_bcc_fcc4([a_el, b_el, a_el, b_el], a_bcc), "B32"))
    out.append(_tag(_hcp([a_el, b_el], a), "hcp_AB_layered"))
    return out


def _ternary_prototypes(a_el: str, b_el: str, c_el: str) -> list[Atoms]:
    """Ordered ternaries: Heusler L2_1 X2YZ and the fcc A2BC (L1_2-derived), each X in turn."""
    out: list[Atoms] = []
    for x, y, z in ((a_el, b_el, c_el), (b_el, c_el, a_el), (c_el, a_el, b_el)):
        a = _vegard_fcc_a([x, x, y, z])
        out.append(_tag(_bcc_fcc4([y, z, x, x], a * 0.5 ** (1 / 3)), "L2_1"))
        out.append(_tag(_cubic_fcc([y, z, x, x], a), "fcc_A2BC"))
    return out


def _shell_pairs(template: Atoms, n_shells: int = 3) -> _Pairs:
    """Neighbour pairs ``(i, j, shell)`` of a lattice up to its ``n_shells``-th shell.

    Shells are distances in units of the nearest-neighbour distance rounded to 1e-3, so the
    result is the same for any lattice constant; ``i, j, shell`` have shape ``[n_pairs]`` and
    ``distances`` (the shells' relative radii) shape ``[n_shells]``.
    """
    radius = 2.5 * (template.get_volume() / len(template)) ** (1 / 3)  # > 3 shells: fcc/bcc/hcp
    i, j, d = neighbor_list("ijd", template, radius)
    scaled = np.round(d / d.min(), 3)
    shells = np.unique(scaled)[:n_shells]
    keep = np.isin(scaled, shells)
    return _Pairs(i[keep], j[keep], np.searchsorted(shells, scaled[keep]), tuple(shells))


def _fingerprint(species: np.ndarray, pairs: _Pairs, n_species: int) -> tuple:
    """A decoration's fingerprint: shell radii and the share of each per-atom environment.

    An environment is an atom's species and its neighbour counts per shell and species;
    equivalent decorations (translated, rotated, in a supercell) give equal fingerprints.
    ``species`` holds integer species, shape ``[n_atoms]``.
    """
    counts = np.zeros((len(species), len(pairs.shells), n_species), dtype=int)
    np.add.at(counts, (pairs.i, pairs.shell, species[pairs.j]), 1)
    environments = Counter((int(s), tuple(c.ravel())) for s, c in zip(species, counts, strict=True))
    shares = sorted((env, Fraction(n, len(species))) for env, n in environments.items())
    return pairs.shells, tuple(shares)


def _sqs_scores(species: np.ndarray, pairs: _Pairs, n_species: int) -> np.ndarray:
    """Distance of each decoration's nearest-neighbour pair statistics from a random alloy's.

    ``species`` has shape ``[n_decorations, n_atoms]``; returns shape ``[n_decorations]``.
    """
    first = pairs.shell == 0
    n_decorations = len(species)
    codes = species[:, pairs.i[first]] * n_species + species[:, pairs.j[first]]  # [n_dec, n_nn]
    offsets = np.arange(n_decorations)[:, None] * n_species**2
    observed = np.bincount((codes + offsets).ravel(), minlength=n_decorations * n_species**2)
    observed = observed.reshape(n_decorations, n_species**2) / first.sum()
    fraction = np.bincount(species[0], minlength=n_species) / species.shape[1]
    return np.abs(observed - np.outer(fraction, fraction).ravel()).sum(axis=1)


def _random_cells(
    system: Sequence[str], counts: Sequence[int], lattice: str, template: _Template,
    excluded: set[tuple], n_cells: int, seed: int,
) -> list[Atoms]:  # fmt: skip
    """``n_cells`` distinct SQS-like decorations of ``template`` with ``counts`` of ``system``.

    Random decorations are drawn (deterministic for ``seed`` and the system); those whose
    nearest-neighbour statistics are closest to a random alloy's are kept, skipping
    duplicates and the fingerprints in ``excluded`` (the ordered prototypes).
    """
    key = f"{'-'.join(system)}:{lattice}:{list(counts)}"
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    base = np.repeat(np.arange(len(system)), counts)
    draws = rng.permuted(np.tile(base, (_N_CANDIDATES, 1)), axis=1)  # [n_candidates, n_atoms]
    scores = _sqs_scores(draws, template.pairs, len(system))
    a = _vegard_fcc_a([s for s, n in zip(system, counts, strict=True) for _ in range(n)])
    seen = set(excluded)
    out: list[Atoms] = []
    for draw in np.argsort(scores, kind="stable"):
        if len(out) == n_cells:
            break
        fingerprint = _fingerprint(draws[draw], template.pairs, len(system))
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        atoms = template.atoms.copy()
        atoms.set_cell(template.atoms.cell * a, scale_atoms=True)
        atoms.set_chemical_symbols([system[k] for k in draws[draw]])
        out.append(_tag(atoms, f"random_{lattice}"))
    return out


def _ordered_fingerprints(system: Sequence[str], ordered: Sequence[Atoms]) -> set[tuple]:
    """Fingerprints of the ordered prototypes, in the species numbering of ``system``."""
    index = {symbol: k for k, symbol in enumerate(system)}
    return {
        _fingerprint(np.array([index[s] for s in atoms.get_chemical_symbols()]),
                     _shell_pairs(atoms), len(system))
        for atoms in ordered
    }  # fmt: skip


def _templates(n_atoms: int) -> dict[str, _Template]:
    """fcc and bcc supercells of ``n_atoms`` (8 or 12) at unit fcc lattice constant."""
    reps = {8: ((2, 1, 1), (2, 2, 1)), 12: ((3, 1, 1), (3, 2, 1))}[n_atoms]
    cells = {
        "fcc": _cubic_fcc(["X"] * 4, 1.0).repeat(reps[0]),
        "bcc": _cubic_bcc(["X"] * 2, 0.5 ** (1 / 3)).repeat(reps[1]),
    }
    return {name: _Template(atoms, _shell_pairs(atoms)) for name, atoms in cells.items()}


def generate_prototypes(
    elements: Sequence[str],
    max_species: int = 3,
    seed: int = 0,
    n_random_per_system: int = 2,
) -> list[Atoms]:
    """Binary (and ternary) alloy structures of ``elements`` on ideal lattices (Vegard's rule).

    Per unordered pair A–B: L1_2 (A3B, AB3), D0_3 (bcc A3B, AB3), D0_19 (hcp A3B, AB3),
    fcc_A2B_111 (A2B, AB2), L1_0, L1_1, B2, B32, hcp_AB_layered, and ``n_random_per_system``
    SQS-like 8-atom fcc and bcc cells at x_B = ¼, ½, ¾. Per triple (``max_species=3``):
    L2_1 Heusler X2YZ and fcc_A2BC (each element as X), and ``n_random_per_system``
    equiatomic 12-atom fcc and bcc SQS-like cells. Elemental cells are not included (see
    :func:`elemental_references`). Random cells never duplicate an ordered prototype.

    Args:
        elements: chemical symbols (any element with a known fcc/bcc/hcp lattice constant).
        max_species: 2 for binaries only, 3 to add ternaries.
        seed: seed of the random decorations (the output is deterministic for a seed).
        n_random_per_system: random cells per lattice and composition.

    Returns:
        New Atoms (≤ 12 atoms, periodic), each with ``info`` ``prototype``,
        ``chemical_system``, ``formula`` and ``is_elemental`` (False).
    """
    if max_species not in (2, 3):
        raise ConfigError(f"max_species must be 2 or 3, got {max_species}")
    if n_random_per_system < 0:
        raise ConfigError(f"n_random_per_system must be ≥ 0, got {n_random_per_system}")
    elements = sorted(_check_elements(elements))
    structures: list[Atoms] = []
    templates = _templates(8)
    for a_el, b_el in itertools.combinations(elements, 2):
        ordered = _binary_prototypes(a_el, b_el)
        structures += ordered
        excluded = _ordered_fingerprints((a_el, b_el), ordered)
        for (lattice, template), n_b in itertools.product(templates.items(), (2, 4, 6)):
            structures += _random_cells(
                (a_el, b_el), (8 - n_b, n_b), lattice, template, excluded,
                n_random_per_system, seed)  # fmt: skip
    templates = _templates(12)
    for system in itertools.combinations(elements, 3) if max_species == 3 else ():
        ordered = _ternary_prototypes(*system)
        structures += ordered
        excluded = _ordered_fingerprints(system, ordered)
        for lattice, template in templates.items():
            structures += _random_cells(
                system, (4, 4, 4), lattice, template, excluded, n_random_per_system, seed
            )
    return structures
