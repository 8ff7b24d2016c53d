"""nnpkit.neighbors: one neighbour-list signature (vesin), a brute-force reference, and a
Verlet list with a skin for MD."""

from nnpkit.neighbors._vesin import brute_force_neighbor_list, neighbor_list
from nnpkit.neighbors.verlet import VerletNeighborList, same_array

__all__ = ["neighbor_list", "brute_force_neighbor_list", "VerletNeighborList", "same_array"]
