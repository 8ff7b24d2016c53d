"""nnpkit.apps.rates: barriers, rate constants and mean-field microkinetics with uncertainty.

Rate formulas (Eyring, harmonic TST with the Vineyard prefactor, collision theory,
detailed balance), free energies of the states (harmonic adsorbates, ideal gases), a
YAML mechanism, the steady state (Newton on log-coverages, BDF cross-check), the TOF
with degree of rate control, apparent activation energy and reaction orders, and the
TOF percentiles over committee members and bootstrap draws of the energies; and the
network pipeline (``run_rates_neb``) from structures and any ASE calculator to NEB
barriers, saddle checks and the energies file the microkinetics reads.
"""

from nnpkit.apps.rates.analysis import (
    RateControl,
    apparent_activation_energy_eV,
    degree_of_rate_control,
    local_apparent_activation_energy_eV,
    reaction_orders,
)
from nnpkit.apps.rates.constants import kB_T_over_h_per_s, kT_eV
from nnpkit.apps.rates.energies import (
    EnergyTable,
    GasProperties,
    StateEnergy,
    energy_table_from_config,
    free_energies_eV,
    with_energy_values,
)
from nnpkit.apps.rates.mechanism import Mechanism, build_mechanism, load_mechanism
from nnpkit.apps.rates.mechanism_config import (
    AnalysisConfig,
    ConditionsConfig,
    MechanismConfig,
    TofConfig,
    UncertaintyConfig,
)
from nnpkit.apps.rates.neb_config import NebNetworkConfig, load_neb_config
from nnpkit.apps.rates.network import NetworkResult, run_network, run_rates_neb
from nnpkit.apps.rates.steady_state import SteadyState, solve_problem, solve_steady_state
from nnpkit.apps.rates.tof import load_tof_config, microkinetic_report, tof_report, write_report
from nnpkit.apps.rates.tst import (
    RateProblem,
    collision_adsorption_rate_per_s,
    equilibrium_constant,
    eyring_rate_per_s,
    harmonic_tst_rate_per_s,
    rate_problem,
    vineyard_prefactor_Hz,
    zero_point_corrected_barrier_eV,
)
from nnpkit.apps.rates.uncertainty import (
    EnergyDraws,
    TofDistribution,
    draw_energy_shifts,
    tof_distribution,
)

__all__ = [
    "RateControl", "apparent_activation_energy_eV", "degree_of_rate_control",
    "local_apparent_activation_energy_eV", "reaction_orders", "kB_T_over_h_per_s", "kT_eV",
    "EnergyTable", "GasProperties", "StateEnergy", "energy_table_from_config",
    "free_energies_eV", "with_energy_values", "Mechanism", "build_mechanism", "load_mechanism",
    "AnalysisConfig", "ConditionsConfig", "MechanismConfig", "TofConfig", "UncertaintyConfig",
    "SteadyState", "solve_problem", "solve_steady_state", "load_tof_config",
    "microkinetic_report", "tof_report", "write_report", "RateProblem",
    "collision_adsorption_rate_per_s", "equilibrium_constant", "eyring_rate_per_s",
    "harmonic_tst_rate_per_s", "rate_problem", "vineyard_prefactor_Hz",
    "zero_point_corrected_barrier_eV", "EnergyDraws", "TofDistribution", "draw_energy_shifts",
    "tof_distribution", "NebNetworkConfig", "load_neb_config", "NetworkResult", "run_network",
    "run_rates_neb",
]
