"""nnpkit.neighbors: one neighbour-list signature (vesin), and a brute-force reference."""

from nnpkit.neighbors._vesin import brute_force_neighbor_list, neighbor_list

__all__ = ["neighbor_list", "brute_force_neighbor_list"]
