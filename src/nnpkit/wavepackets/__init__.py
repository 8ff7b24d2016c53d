"""Wavepacket machinery in atomic units, shared by ``apps.quantum`` and ``apps.nonadiabatic``.

Uniform Fourier grids (:mod:`.grid`), the split-operator propagator
(:mod:`.split_operator`) and analytic diabatic model Hamiltonians (Tully's models and a
2D conical intersection, :mod:`.tully`). They live below the applications so that
neither application imports the other; like those two, they work in atomic units.
"""
