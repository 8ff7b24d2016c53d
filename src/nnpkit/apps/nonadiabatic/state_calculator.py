"""One adiabatic state of a learned diabatic Hamiltonian as an ASE calculator.

:class:`AdiabaticStateCalculator` diagonalises the
:class:`~nnpkit.apps.nonadiabatic.molecular.AtomisticDiabaticNetwork`'s ``H_d`` and returns
the energy of state ``state`` (eV) and its Hellmann–Feynman forces (eV/Å), so every ASE
tool (optimisers, ``Vibrations``, the normal-mode and Wigner sampling of
:mod:`nnpkit.labeling.normal_modes`) works on a learned excited- or ground-state surface.
"""

from __future__ import annotations

from typing import Any

from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from nnpkit.apps.nonadiabatic.atomistic_training import atomistic_adiabatic
from nnpkit.apps.nonadiabatic.molecular import AtomisticDiabaticNetwork
from nnpkit.errors import ConfigError

__all__ = ["AdiabaticStateCalculator"]


class AdiabaticStateCalculator(Calculator):
    """Energy (eV) and forces (eV/Å) of adiabatic state ``state`` of ``network``.

    Args:
        network: a trained atomistic diabatic network (evaluated as it is, float64).
        state: adiabatic state index, 0 = lowest.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, network: AtomisticDiabaticNetwork, state: int = 0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0 <= state < network.n_states:
            raise ConfigError(f"state {state} is not one of the network's {network.n_states} "
                              "states")
        self.network, self.state = network.double().eval(), int(state)

    def calculate(self, atoms: Atoms | None = None, properties: Any = None,
                  system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        energies, forces, _ = atomistic_adiabatic(self.network, [self.atoms])
        self.results = {"energy": float(energies[0, self.state]),
                        "free_energy": float(energies[0, self.state]),
                        "forces": forces[self.state].copy()}
