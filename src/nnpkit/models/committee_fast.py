"""The compiled path of a committee of Behler–Parrinello models: one neighbour list, M
member evaluations, the committee's mean and the members' own predictions.

:class:`FastCommittee` wraps one :class:`~nnpkit.models.bpnn_fast.FastBehlerParrinello`
per member of a :class:`~nnpkit.models.committee.Committee` (what
:func:`~nnpkit.models.bpnn_fast.fast_path_for` gives for a committee whose members all
have a compiled path). Every member is evaluated on the same pairs. Members with the same
symmetry functions (the usual committee: one configuration, different seeds or data)
share one feature array, so the geometry and the features are computed once and only the
networks run M times.

:meth:`FastCommittee.evaluate` gives the mean as
:meth:`FastBehlerParrinello.evaluate <nnpkit.models.bpnn_fast.FastBehlerParrinello.evaluate>`
does for one model, so the calculators and the batched engine use either alike. Where the
members share features, the mean forces come from one backward pass of the members' mean
∂E/∂G (the forces are linear in it): an MD step costs one feature pass, M network passes
and one backward pass. With ``members=True`` every member's own energy, atomic energies,
forces (and stress) come too, for the committee's spread.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nnpkit.errors import ModelFileError
from nnpkit.models.bpnn_fast import (
    FastBehlerParrinello,
    PairGeometry,
    evaluation_result,
    pair_geometry,
    threads_for,
    virial_to_stress,
)

__all__ = ["FastCommittee"]


class FastCommittee:
    """The compiled evaluators of a committee's members, evaluated on one neighbour list.

    Args:
        members: one evaluator per member (at least one; same elements and cutoff, as
            :class:`~nnpkit.models.committee.Committee` ensures).

    Attributes:
        members: the evaluators, in the committee's member order.
        shared_features: every member computes the same symmetry functions (then they are
            computed once per call).
        species_of_number: member 0's element table (Z → species, -1 unknown): the
            caller's check for elements the committee does not know.
    """

    def __init__(self, members: Sequence[FastBehlerParrinello]) -> None:
        if not members:
            raise ModelFileError("a committee needs at least one member")
        self.members = list(members)
        first = self.members[0]
        self.elements = list(first.elements)
        self.cutoff = first.cutoff
        self.species_of_number = first.species_of_number
        self.shared_features = all(first.same_features(member) for member in self.members)

    def __len__(self) -> int:
        return len(self.members)

    def evaluate(self, numbers: np.ndarray, positions: np.ndarray, cell: np.ndarray,
                 centre: np.ndarray, neighbour: np.ndarray, shifts: np.ndarray,
                 stress: bool = False, members: bool = False
                 ) -> dict[str, np.ndarray | float]:
        """The committee's mean (and with ``members`` every member's) predictions.

        Args:
            numbers, positions, cell, centre, neighbour, shifts, stress: as
                :meth:`FastBehlerParrinello.evaluate
                <nnpkit.models.bpnn_fast.FastBehlerParrinello.evaluate>`.
            members: also return each member's own predictions.

        Returns:
            The mean ``energy`` (eV), ``energies`` [N] (eV), ``forces`` [N, 3] (eV/Å) and,
            with ``stress``, ``stress`` [3, 3] (eV/Å³, ASE's sign); with ``members`` also
            ``member_energy`` [M] (eV), ``member_energies`` [M, N] (eV),
            ``member_forces`` [M, N, 3] (eV/Å) and, with ``stress``, ``member_stress``
            [M, 3, 3] (eV/Å³).
        """
        pairs = pair_geometry(len(numbers), positions, cell, centre, neighbour, shifts)
        with threads_for(len(numbers)):  # BLAS on one thread between threaded kernels
            if self.shared_features and not members:
                return self._mean_only(numbers, cell, pairs, stress)
            atomic, forces, virials = self._each_member(numbers, pairs, stress)
        energies = atomic.mean(axis=0)  # [N]
        result: dict[str, np.ndarray | float] = {
            "energy": float(energies.sum()), "energies": energies,
            "forces": forces.mean(axis=0)}
        if stress:
            member_stress = np.stack([virial_to_stress(virial, cell) for virial in virials])
            result["stress"] = member_stress.mean(axis=0)
        if members:
            result.update(member_energy=atomic.sum(axis=1), member_energies=atomic,
                          member_forces=forces)
            if stress:
                result["member_stress"] = member_stress
        return result

    def _mean_only(self, numbers: np.ndarray, cell: np.ndarray, pairs: PairGeometry,
                   stress: bool) -> dict[str, np.ndarray | float]:
        """The mean from shared features and one backward pass of the mean ∂E/∂G."""
        first = self.members[0]
        _, arguments, features = first.features(numbers, pairs)
        n_members = len(self.members)
        energies = np.zeros(len(numbers))  # [N]
        feature_grad = np.zeros_like(features)  # [N, F]
        for member in self.members:
            # the member's own tables (its normalisation); the features are the same
            member_energies, member_grad = member.networks(
                member.species_layout(numbers), features)
            energies += member_energies
            feature_grad += member_grad
        energies /= n_members
        feature_grad /= n_members
        forces, virial = first.backward(feature_grad, arguments, pairs)
        return evaluation_result(energies, forces, virial, cell, stress)

    def _each_member(self, numbers: np.ndarray, pairs: PairGeometry, stress: bool
                     ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """Atomic energies [M, N] (eV), forces [M, N, 3] (eV/Å) and virials (M × [3, 3],
        eV, with ``stress``) of every member on the same pairs."""
        shared: tuple | None = None
        atomic, forces, virials = [], [], []
        for member in self.members:
            if shared is None or not self.shared_features:
                shared = member.features(numbers, pairs)[1:]
            arguments, features = shared
            member_energies, feature_grad = member.networks(member.species_layout(numbers),
                                                            features)
            member_forces, virial = member.backward(feature_grad, arguments, pairs)
            atomic.append(member_energies)
            forces.append(member_forces)
            if stress:
                virials.append(virial)
        return np.stack(atomic), np.stack(forces), virials
