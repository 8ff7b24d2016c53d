"""A diatomic's adiabatic curves along the bond, and the exact diabatic matrix they define.

Electronic-structure labels of a diatomic scan (``R`` from atom 0 to atom 1, state energies,
state forces and nonadiabatic couplings, see :mod:`nnpkit.labeling.excited_states`) become
one-coordinate training data for a :class:`~nnpkit.apps.nonadiabatic.networks.DiabaticMLP`
(:func:`diatomic_data`): ``dE_i/dR = -F_i(atom 1)·r̂`` and ``d_01(R) = d_01(atom 1)·r̂``
(with electron-translation factors the coupling is translation invariant, so the second
atom carries the opposite vector).

In one dimension two adiabatic states and their coupling define the diabatic matrix
exactly: with the mixing angle ``θ(R) = ∫_R^∞ |d_01| dR'`` (zero far outside the interaction
region, where the adiabatic and diabatic states agree; beyond the last label the coupling
is continued as the exponential decay of the last two) and ``U(θ)`` the rotation,
``H_d = U diag(E_0, E_1) Uᵀ`` and ``d_01 = -dθ/dR``. :class:`ReferenceDiatomic` builds
that matrix from the labels (cubic Hermite splines of the energies with their gradients, a
spline of ``|d_01|`` and its antiderivative), so the exact wavepacket runs on the
*reference* curves. The sign of a coupling from electronic structure is arbitrary at every
geometry, hence ``|d_01|``: this assumes one avoided-crossing region in which the coupling
keeps its sign, which :func:`check_single_crossing` verifies. Atomic units inside.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers
from scipy.interpolate import CubicHermiteSpline, CubicSpline

from nnpkit.apps.nonadiabatic.molecular import AMU_TO_ME
from nnpkit.apps.nonadiabatic.training import DiabaticData
from nnpkit.errors import DataError
from nnpkit.labeling.excited_states import state_labels
from nnpkit.units import BOHR_TO_A, HARTREE_TO_EV

__all__ = ["bond_scan", "reduced_mass_au", "diatomic_data", "ReferenceDiatomic",
           "nac_peak_position", "check_single_crossing"]


def bond_scan(symbols: Sequence[str], distances_A: Sequence[float], charge: int = 0
              ) -> list[Atoms]:
    """Diatomics ``symbols[0]`` at the origin, ``symbols[1]`` at ``(0, 0, R)``, one per R (Å)."""
    if len(symbols) != 2:
        raise DataError(f"a diatomic needs two symbols, got {list(symbols)}")
    scan = []
    for distance in distances_A:
        atoms = Atoms(list(symbols), positions=[[0.0, 0.0, 0.0], [0.0, 0.0, float(distance)]])
        atoms.info["charge"] = int(charge)
        scan.append(atoms)
    return scan


def reduced_mass_au(symbols: Sequence[str]) -> float:
    """Reduced mass of the two atoms (most abundant isotopes' standard weights), m_e."""
    first, second = (float(atomic_masses[atomic_numbers[s]]) for s in symbols)
    return first * second / (first + second) * AMU_TO_ME


def diatomic_data(structures: Sequence[Atoms], source: str | None = None) -> DiabaticData:
    """One-coordinate adiabatic data from labelled diatomics, sorted by bond length.

    Args:
        structures: labelled diatomics (state energies, forces and NACs present).
        source: file name for error messages.

    Returns:
        :class:`DiabaticData` with ``positions [N, 1]`` (R, bohr), ``energies [N, n]``
        (Hartree), ``gradients [N, 1, n]`` (Hartree/bohr) and ``couplings [N, 1, P]``
        (1/bohr, signs as computed).

    Raises:
        DataError: a structure that is not a diatomic, or labels missing (named).
    """
    distances, energies, gradients, couplings = [], [], [], []
    for index, atoms in enumerate(structures):
        if len(atoms) != 2:
            raise DataError(f"{source or 'structures'}: structure {index} has {len(atoms)} "
                            "atoms; a diatomic scan needs 2")
        labels = state_labels(atoms, index=index, source=source)
        if labels.nacs is None:
            raise DataError(f"{source or 'structures'}: structure {index} has no 'nacs' "
                            "label (label with nacs=True)")
        bond = atoms.positions[1] - atoms.positions[0]  # [3] Å
        length = float(np.linalg.norm(bond))
        axis = bond / length  # [3]
        distances.append(length / BOHR_TO_A)
        energies.append(labels.energies / HARTREE_TO_EV)
        # dE/dR = -F(atom 1)·r̂, Hartree/bohr
        gradients.append(-(labels.forces[:, 1] @ axis) * BOHR_TO_A / HARTREE_TO_EV)
        couplings.append((labels.nacs[:, 1] @ axis) * BOHR_TO_A)  # [P] 1/bohr
    order = np.argsort(distances)
    return DiabaticData(np.asarray(distances)[order, None],
                        energies=np.asarray(energies)[order],
                        gradients=np.asarray(gradients)[order][:, None, :],
                        couplings=np.asarray(couplings)[order][:, None, :])


def check_single_crossing(positions: np.ndarray, coupling: np.ndarray,
                          floor: float = 0.05) -> None:
    """Refuse couplings ``|d_01(R)|`` with two separated peaks (two crossing regions).

    Args:
        positions: ``[N]`` sorted bond lengths, bohr.
        coupling: ``[N]`` ``|d_01|``, 1/bohr.
        floor: fraction of the peak below which the coupling counts as "outside".

    Raises:
        DataError: the region above ``floor × max`` is not one contiguous interval.
    """
    above = np.abs(coupling) > floor * float(np.abs(coupling).max())
    runs = np.count_nonzero(np.diff(above.astype(int)) == 1) + int(above[0])
    if runs > 1:
        raise DataError(f"the coupling has {runs} separate regions above {floor:.0%} of its "
                        f"peak (bohr {positions[above].round(2).tolist()}); the diabatic "
                        "reference from |d_01| assumes one avoided crossing")


def nac_peak_position(positions: np.ndarray, coupling: np.ndarray) -> float:
    """Position (same units) of the maximum of ``|coupling|``, refined by a parabola
    through the largest sample and its neighbours."""
    magnitude = np.abs(np.asarray(coupling, float))
    peak = int(np.argmax(magnitude))
    if peak == 0 or peak == len(magnitude) - 1:
        return float(positions[peak])
    x, y = positions[peak - 1:peak + 2], magnitude[peak - 1:peak + 2]
    curvature, slope, _ = np.polyfit(x - x[1], y, 2)
    return float(x[1] - slope / (2.0 * curvature)) if curvature < 0 else float(x[1])


class ReferenceDiatomic:
    """The exact two-state diabatic matrix of labelled adiabatic curves (atomic units).

    Args:
        data: one-coordinate data (:func:`diatomic_data`), two states, sorted positions.
        mass_au: reduced mass, electron masses.

    The matrix is defined on ``[R_min, R_max]`` of the data; outside it the end values
    and slopes are continued linearly (callers keep their grids inside the data).
    """

    n_states = 2
    n_dim = 1

    def __init__(self, data: DiabaticData, mass_au: float) -> None:
        if data.energies is None or data.gradients is None or data.couplings is None:
            raise DataError("the diabatic reference needs energies, gradients and couplings")
        if data.energies.shape[1] != 2:
            raise DataError(f"the diabatic reference needs two states, got "
                            f"{data.energies.shape[1]}")
        r = data.positions[:, 0]
        if not np.all(np.diff(r) > 0):
            raise DataError("positions must be strictly increasing (one label per R)")
        coupling = np.abs(data.couplings[:, 0, 0])  # [N]
        check_single_crossing(r, coupling)
        self.mass_au = float(mass_au)
        self.r_min, self.r_max = float(r[0]), float(r[-1])
        self._energies = [CubicHermiteSpline(r, data.energies[:, i], data.gradients[:, 0, i])
                          for i in range(2)]
        self._coupling = CubicSpline(r, coupling)
        antiderivative = self._coupling.antiderivative()
        # the coupling beyond the data decays exponentially: its integral to infinity is
        # |d(R_max)| / κ with κ the decay rate of the last two labels
        decay = np.log(coupling[-2] / coupling[-1]) / (r[-1] - r[-2]) if coupling[-1] > 0 else 0
        self.tail_angle = float(coupling[-1] / decay) if decay > 0 else 0.0
        self._theta_end = float(antiderivative(self.r_max)) + self.tail_angle
        self._antiderivative = antiderivative

    def masses_au(self) -> np.ndarray:
        """``[1]`` the reduced mass, m_e."""
        return np.array([self.mass_au])

    def mixing_angle(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(θ [...], dθ/dR [...])`` at bond lengths ``r`` (bohr), radians."""
        inside = np.clip(r, self.r_min, self.r_max)
        theta = self._theta_end - self._antiderivative(inside)
        slope = np.where((r >= self.r_min) & (r <= self.r_max), -self._coupling(inside), 0.0)
        return theta, slope

    def evaluate(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``q [..., 1]`` bohr -> ``(H [..., 2, 2] Eh, dH/dq [..., 1, 2, 2] Eh/bohr)``."""
        r = np.asarray(q, float)[..., 0]
        inside = np.clip(r, self.r_min, self.r_max)
        energies = np.stack([spline(inside) for spline in self._energies], -1)  # [..., 2]
        slopes = np.stack([spline(inside, 1) for spline in self._energies], -1)
        energies = energies + (r - inside)[..., None] * slopes  # linear continuation
        theta, theta_slope = self.mixing_angle(r)
        c, s = np.cos(theta), np.sin(theta)
        rotation = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # [..., 2, 2]
        d_rotation = theta_slope[..., None, None] * np.stack(
            [np.stack([-s, -c], -1), np.stack([c, -s], -1)], -2)
        diagonal = energies[..., :, None] * np.eye(2)  # [..., 2, 2]
        d_diagonal = slopes[..., :, None] * np.eye(2)
        matrix = rotation @ diagonal @ np.swapaxes(rotation, -1, -2)
        derivative = (d_rotation @ diagonal @ np.swapaxes(rotation, -1, -2)
                      + rotation @ d_diagonal @ np.swapaxes(rotation, -1, -2)
                      + rotation @ diagonal @ np.swapaxes(d_rotation, -1, -2))
        return matrix, derivative[..., None, :, :]
