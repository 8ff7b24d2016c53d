"""Structure of an ion's solvation shell: ion–O RDF, running CN, residence times, the most
probable CN.

RDF normalisation. For a periodic cell, ``g(r) = ⟨n(r)⟩ / (ρ 4π r² dr)`` with ``ρ = N_O/V``
(ideal gas: g = 1). A cluster has no volume, so ``ρ`` is the mean density of the group
within a reference sphere about the ion, ``ρ = N_O / (4/3 π R³)``, with R the cluster's
radius (default: the RDF's ``r_max``): g = 1 for an ideal gas filling that sphere
uniformly, and it falls to 0 past the cluster's edge. In both cases ``⟨n(r)⟩`` is the
(weighted) mean number of group atoms per shell exactly, so the running coordination
number ``N(r) = Σ_{shells ≤ r} ⟨n⟩ = ∫_0^r ρ g 4π r'² dr'`` whatever the normalisation.
Frames may carry weights (e.g. MBAR's weights of the unbiased state for biased windows).

Residence times: the mean length of the uninterrupted stays of a group atom inside the
first shell (frames where it is inside, counted from entry to exit), with the
Impey–Madden–McDonald tolerance (J. Phys. Chem. 87, 5071 (1983)): an excursion out of the
shell of at most ``tolerance_frames`` frames does not end the stay. Stays cut by the start
or the end of the series are left out (their length is unknown).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms, units
from ase.geometry import get_distances

from nnpkit.errors import DataError

__all__ = ["RDF", "ion_group_distances", "radial_distribution", "first_minimum",
           "shell_indicator", "ResidenceTimes", "residence_times", "most_probable_cn",
           "state_free_energies"]


def ion_group_distances(frames: Sequence[Atoms], center: int, group: Sequence[int]
                        ) -> np.ndarray:
    """Distances from atom ``center`` to each ``group`` atom in every frame
    [n_frames, n_group], Å (minimum image where the frame is periodic)."""
    rows = []
    for number, atoms in enumerate(frames):
        if max(center, *group) >= len(atoms):
            raise DataError(f"frame {number} has {len(atoms)} atoms: no atom "
                            f"{max(center, *group)}")
        periodic = bool(atoms.pbc.any())
        _, distances = get_distances(atoms.positions[[center]], atoms.positions[list(group)],
                                     cell=atoms.cell if periodic else None,
                                     pbc=atoms.pbc if periodic else None)
        rows.append(distances[0])
    return np.asarray(rows)


@dataclass
class RDF:
    """``r_A`` shell centres [n_bins] and ``edges_A`` [n_bins + 1]; ``g`` [n_bins];
    ``running_cn`` [n_bins] (N(r) at each shell's outer edge); ``density_per_A3``."""

    r_A: np.ndarray
    edges_A: np.ndarray
    g: np.ndarray
    running_cn: np.ndarray
    density_per_A3: float

    def cn_at(self, radius_A: float) -> float:
        """N(r) at ``radius_A`` (linear between shell edges)."""
        return float(np.interp(radius_A, self.edges_A, np.concatenate([[0.0], self.running_cn])))


def radial_distribution(distances: np.ndarray, r_max_A: float, n_bins: int = 100,
                        volume_A3: float | None = None, reference_radius_A: float | None = None,
                        weights: np.ndarray | None = None) -> RDF:
    """The centre–group RDF and running CN from distances [n_frames, n_group] (Å).

    Args:
        distances: from :func:`ion_group_distances`.
        r_max_A: outer edge of the last shell, Å.
        n_bins: shells.
        volume_A3: the cell volume (periodic); None: a cluster (see the module docstring).
        reference_radius_A: a cluster's reference sphere R, Å (default ``r_max_A``).
        weights: per frame [n_frames] (normalised here); default equal.
    """
    d = np.atleast_2d(np.asarray(distances, dtype=float))
    n_frames, n_group = d.shape
    w = np.ones(n_frames) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (n_frames,) or not np.all(w >= 0) or w.sum() <= 0:
        raise DataError(f"RDF weights: need {n_frames} non-negative weights, not all zero")
    w = w / w.sum()
    edges = np.linspace(0.0, float(r_max_A), int(n_bins) + 1)
    counts = np.histogram(d.ravel(), edges, weights=np.repeat(w, n_group))[0]  # ⟨n⟩ per shell
    if volume_A3 is None:
        radius = float(reference_radius_A or r_max_A)
        density = n_group / (4.0 / 3.0 * np.pi * radius**3)
    else:
        density = n_group / float(volume_A3)
    shells = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)  # [n_bins], Å³
    return RDF(0.5 * (edges[1:] + edges[:-1]), edges, counts / (density * shells),
               np.cumsum(counts), float(density))


def first_minimum(rdf: RDF, after_A: float = 0.0) -> float:
    """The radius of the first minimum of g after its first peak (beyond ``after_A``), Å:
    the first-shell cutoff."""
    g = rdf.g
    start = int(np.searchsorted(rdf.r_A, after_A))
    peak = start + int(np.argmax(g[start:]))
    for i in range(peak + 1, g.size - 1):
        if g[i] <= g[i - 1] and g[i] < g[i + 1]:
            return float(rdf.r_A[i])
    raise DataError(f"the RDF has no minimum after its peak at {rdf.r_A[peak]:.2f} Å "
                    f"within {rdf.edges_A[-1]:.2f} Å")


def shell_indicator(distances: np.ndarray, cutoff_A: float) -> np.ndarray:
    """Inside the shell or not, per frame and group atom [n_frames, n_group], bool."""
    return np.asarray(distances) < cutoff_A


@dataclass
class ResidenceTimes:
    """Completed stays in the shell: ``lengths_frames`` [n_stays]; ``mean_fs`` (NaN if none)."""

    lengths_frames: np.ndarray
    mean_fs: float
    frame_interval_fs: float


def _stays(inside: np.ndarray, tolerance: int) -> list[int]:
    """Lengths of the completed stays of one atom's series [n_frames]."""
    n = inside.size
    lengths, start, gap = [], None, 0
    for t in range(n):
        if inside[t]:
            if start is None:
                start = t
            gap = 0
        elif start is not None:
            gap += 1
            if gap > tolerance:  # left for good at t − gap + 1
                if start > 0:
                    lengths.append(t - gap + 1 - start)
                start, gap = None, 0
    return lengths


def residence_times(inside: np.ndarray, frame_interval_fs: float, tolerance_frames: int = 0
                    ) -> ResidenceTimes:
    """Mean first-shell residence time from an indicator [n_frames, n_group] (see the
    module docstring), fs."""
    series = np.atleast_2d(np.asarray(inside, dtype=bool))
    lengths = [length for atom in series.T for length in _stays(atom, int(tolerance_frames))]
    array = np.asarray(lengths, dtype=int)
    mean = float(array.mean() * frame_interval_fs) if array.size else float("nan")
    return ResidenceTimes(array, mean, float(frame_interval_fs))


def most_probable_cn(bin_centers: np.ndarray, free_energy_eV: np.ndarray, temperature_K: float,
                     integer: bool = True) -> float:
    """The most probable CN of a profile F(CN) [n_bins] (eV; NaN bins carry no weight).

    ``integer=True``: the integer n whose interval [n − ½, n + ½) holds the largest
    probability ``Σ_bins exp(−F/kT)`` (equal bins) — what "the coordination number is 6"
    means; else the CN of the lowest bin (the density's maximum).
    """
    centers = np.asarray(bin_centers, dtype=float)
    free = np.asarray(free_energy_eV, dtype=float)
    finite = np.isfinite(free)
    if not finite.any():
        raise DataError("the profile has no finite free energy")
    if not integer:
        return float(centers[finite][np.argmin(free[finite])])
    probability = np.exp(-(free[finite] - free[finite].min()) / (units.kB * temperature_K))
    states = np.floor(centers[finite] + 0.5).astype(int)
    totals = np.bincount(states - states.min(), weights=probability)
    return float(states.min() + int(np.argmax(totals)))


def state_free_energies(points: np.ndarray, free_energy_eV: np.ndarray, temperature_K: float,
                        states: dict[str, tuple[float, float]]) -> dict[str, float]:
    """``F_A = −kT ln ∫_A exp(−F(s)/kT) ds`` of each named interval ``[low, high)`` of a
    profile on evenly spaced points [n] (eV; min over the states 0).

    Raises:
        DataError: a state holding no point of the profile (named).
    """
    s = np.asarray(points, dtype=float)
    free = np.asarray(free_energy_eV, dtype=float)
    kT = units.kB * temperature_K
    spacing = float(np.mean(np.diff(s))) if s.size > 1 else 1.0
    values = {}
    for name, (low, high) in states.items():
        inside = (s >= low) & (s < high) & np.isfinite(free)
        if not inside.any():
            raise DataError(f"state {name} [{low}, {high}) holds no point of the profile "
                            f"({s.min():.3g}..{s.max():.3g})")
        lowest = free[inside].min()
        values[name] = float(lowest - kT * np.log(np.exp(-(free[inside] - lowest) / kT).sum()
                                                  * spacing))
    reference = min(values.values())
    return {name: value - reference for name, value in values.items()}
