"""nnpkit.apps.nonadiabatic: photochemistry on a (learned) diabatic Hamiltonian.

A diabatic potential gives the symmetric ``n × n`` matrix ``H_d(q)`` and its gradient in
atomic units (analytic Tully and LVC models from :mod:`nnpkit.wavepackets.tully`, or a
trained :class:`DiabaticMLP`). Diagonalisation gives adiabatic energies, gradients and
nonadiabatic couplings; :func:`fssh_scattering` / :func:`run_fssh` run fewest-switches
surface hopping on thousands of trajectories at once; :func:`exact_scattering` is the
exact wavepacket reference. Atomic units live only inside this package.
"""

from nnpkit.apps.nonadiabatic.adiabatic import (
    AdiabaticStates,
    adiabatic_states,
    align_phases,
    coupling_vectors,
)
from nnpkit.apps.nonadiabatic.adiabatic_loss import (
    adiabatic_from_diabatic,
    gap_scaled_couplings,
    phase_free_coupling_loss,
)
from nnpkit.apps.nonadiabatic.atomistic_training import atomistic_adiabatic, fit_atomistic_diabatic
from nnpkit.apps.nonadiabatic.dynamics import FSSHResult, run_fssh
from nnpkit.apps.nonadiabatic.exact import ExactScattering, WavepacketConfig, exact_scattering
from nnpkit.apps.nonadiabatic.fssh import FSSHConfig, FSSHState, fssh_init, fssh_step
from nnpkit.apps.nonadiabatic.model_file import load_diabatic_model, save_diabatic_model
from nnpkit.apps.nonadiabatic.networks import DiabaticMLP, NetworkPotential
from nnpkit.apps.nonadiabatic.potentials import DiabaticPotential, resolve_potential
from nnpkit.apps.nonadiabatic.scattering import ScatteringResult, fssh_scattering
from nnpkit.apps.nonadiabatic.training import (
    DiabaticData,
    DiabaticTrainingConfig,
    fit_diabatic_mlp,
)

__all__ = [
    "AdiabaticStates", "adiabatic_states", "align_phases", "coupling_vectors",
    "FSSHResult", "run_fssh", "ExactScattering", "WavepacketConfig", "exact_scattering",
    "FSSHConfig", "FSSHState", "fssh_init", "fssh_step", "load_diabatic_model",
    "save_diabatic_model", "DiabaticMLP", "NetworkPotential", "DiabaticPotential",
    "resolve_potential", "ScatteringResult", "fssh_scattering", "DiabaticData",
    "DiabaticTrainingConfig", "fit_diabatic_mlp", "adiabatic_from_diabatic",
    "gap_scaled_couplings", "phase_free_coupling_loss", "atomistic_adiabatic",
    "fit_atomistic_diabatic",
]
