"""``rates neb``: the pipeline from structures + an ASE calculator to barriers, saddle
checks and EnergyTables, on a Cu adatom hopping between two hollows of Cu(100) with EMT
(3×3 surface, 2 layers, the bottom one fixed), the clean slab and a Cu atom as the gas
reference; and the same network with committees: of two Morse potentials (the whole
chain), and of two untrained small models (the states only: on their rough surfaces the
NEB does not converge, measured: 300 FIRE steps left 0.29 eV/Å)."""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from ase import Atoms
from ase.calculators.calculator import CalculationFailed, Calculator, all_changes
from ase.calculators.emt import EMT
from ase.io import read, write
from conftest import build_small_model

from nnpkit.apps.rates.mechanism_config import UncertaintyConfig
from nnpkit.apps.rates.neb_config import load_neb_config, parse_state_sum
from nnpkit.apps.rates.network import ENERGIES_FILE, SUMMARY_FILE, run_network, run_rates_neb
from nnpkit.apps.rates.tof import tof_report
from nnpkit.calculators import CommitteeCalculator, NNPCalculator
from nnpkit.cli.main import main
from nnpkit.data.graph import AtomicGraph, edge_vectors
from nnpkit.errors import ConfigError, DataError, LabelingError, TransitionStateError
from nnpkit.models.committee import Committee
from nnpkit.models.potential import Potential
from nnpkit.nn.cutoff import cosine_cutoff
from nnpkit.paths.neb import relax, run_neb
from nnpkit.paths.surfaces import cu100_adatom_hop, cu100_slab

pytestmark = pytest.mark.filterwarnings("ignore:nnpkit. inference with autograd")

NEB = {"n_images": 3, "fmax_eV_per_A": 0.1, "max_steps": 300}
RELAX = {"fmax_eV_per_A": 0.1, "max_steps": 300}


class Counting:
    """A calculator factory that counts the calculators it makes."""

    def __init__(self, make: Callable[[], Calculator]) -> None:
        self.make, self.calls = make, 0

    def __call__(self) -> Calculator:
        self.calls += 1
        return self.make()


class FailsOnBridge(EMT):
    """EMT that fails (as a reference code would) when the adatom (the last atom) is
    within 0.4 Å in x of the bridge between the two hollows."""

    def calculate(self, atoms=None, properties=("energy",),  # noqa: ANN001, ANN201
                  system_changes=all_changes):  # noqa: ANN001
        bridge_x = 3.5898 / math.sqrt(2)
        if atoms is not None and len(atoms) == 19 \
                and abs(atoms.positions[-1, 0] - bridge_x) < 0.4:
            raise CalculationFailed("SCF did not converge (test)")
        super().calculate(atoms, list(properties), system_changes)


@pytest.fixture(scope="module")
def structures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hop")
    structures = [cu100_slab(size=3, layers=2, fixed_layers=1),
                  *cu100_adatom_hop(size=3, layers=2, fixed_layers=1)]
    for name, atoms in zip(("slab", "initial", "final"), structures, strict=True):
        atoms.info.pop("adsorbate_info", None)  # a dict: extxyz cannot store it
        write(root / f"{name}.extxyz", atoms)
    write(root / "cu_atom.extxyz", Atoms("Cu", positions=[(6, 6, 6)], cell=[12, 12, 12]))
    return root


def network_config(root: Path, output: Path, **changes: object) -> dict:
    config: dict = {
        "calculator": "emt", "output": str(output), "base_dir": str(root),
        "references": ["Cu_g"],
        "states": {"*": {"structure": "slab.extxyz"}, "Cu*": {"structure": "initial.extxyz"},
                   "Cu_g": {"structure": "cu_atom.extxyz", "gas": {"geometry": "monatomic"}}},
        "steps": [{"name": "hop", "initial_structure": "initial.extxyz",
                   "final_structure": "final.extxyz", "initial": "Cu*", "final": "Cu*",
                   "transition_state": "TS_hop"}],
        "neb": dict(NEB), "relax": dict(RELAX), "progress": False,
    }
    config.update(changes)
    return config


@pytest.fixture(scope="module")
def emt_run(structures: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    output = tmp_path_factory.mktemp("emt_run") / "run"
    return run_rates_neb(network_config(structures, output)), output


def relaxed_energy(path: Path) -> float:
    atoms = read(path)
    assert relax(atoms, EMT(), RELAX["fmax_eV_per_A"], RELAX["max_steps"], "BFGS")
    return float(atoms.get_potential_energy())


def test_barriers_and_formation_energies_are_those_computed_directly(
        emt_run: tuple[dict, Path], structures: Path) -> None:
    summary, output = emt_run
    direct = run_neb(read(structures / "initial.extxyz"), read(structures / "final.extxyz"),
                     EMT, n_images=3, fmax_eV_per_A=0.1, max_steps=300)
    assert direct.converged
    assert summary["converged"] is True and summary["complete"] is True
    assert summary["barrier_forward_eV"] == pytest.approx(direct.barrier_forward_eV, abs=1e-9)
    assert summary["barrier_reverse_eV"] == pytest.approx(direct.barrier_reverse_eV, abs=1e-9)
    assert summary["steps"]["hop"]["barrier_forward_eV"] == summary["barrier_forward_eV"]
    assert 0.2 < direct.barrier_forward_eV < 0.7  # EMT's hop barrier on Cu(100): ~0.4 eV
    assert summary["n_imaginary_modes_saddle"] == 1
    # harmonic TST from the recorded modes: ν = Π ν_IS / Π ν_TS (Hz), ZPE-corrected barrier
    record = json.loads((output / "steps" / "hop.json").read_text())
    initial = np.array(record["frequencies_cm1"]["initial"]) * 2.99792458e10  # Hz
    saddle = np.array([f for f in record["frequencies_cm1"]["saddle"] if f > 0]) * 2.99792458e10
    step = summary["steps"]["hop"]
    assert step["vineyard_prefactor_Hz"] == pytest.approx(
        np.exp(np.log(initial).sum() - np.log(saddle).sum()), rel=1e-9)
    assert 1e11 < step["vineyard_prefactor_Hz"] < 1e14  # a metal adatom hop: ~1e12–1e13 Hz
    h_eV_s = 6.62607015e-34 / 1.602176634e-19
    assert step["zpe_corrected_barrier_forward_eV"] == pytest.approx(
        direct.barrier_forward_eV + 0.5 * h_eV_s * (saddle.sum() - initial.sum()), abs=1e-6)
    assert summary["steps"]["hop"]["n_imaginary_modes_initial"] == 0
    slab, adatom = relaxed_energy(structures / "slab.extxyz"), \
        relaxed_energy(structures / "initial.extxyz")
    atom = float(EMT().get_potential_energy(read(structures / "cu_atom.extxyz")))
    table, members = run_network(load_neb_config(network_config(structures, output)),
                                 progress=False).energy_tables()
    assert members is None
    assert table["*"].formation_energy_eV == 0.0
    assert table["Cu_g"].formation_energy_eV == pytest.approx(0.0, abs=1e-12)
    assert table["Cu*"].formation_energy_eV == pytest.approx(adatom - slab - atom, abs=1e-9)
    assert table["TS_hop"].formation_energy_eV == pytest.approx(
        adatom - slab - atom + direct.barrier_forward_eV, abs=1e-9)
    assert summary["states"]["Cu*"]["formation_energy_eV"] == pytest.approx(
        adatom - slab - atom, abs=1e-9)
    # vibrations over the free atoms (9 slab atoms + the adatom: 30 modes; the TS loses
    # its imaginary one); the gas reference is monatomic and has none
    assert len(table["Cu*"].vibrations_eV) == 30 and len(table["*"].vibrations_eV) == 27
    assert len(table["TS_hop"].vibrations_eV) == 29
    assert table["Cu_g"].gas is not None and table["Cu_g"].vibrations_eV == ()
    assert table["Cu_g"].gas.mass_amu == pytest.approx(63.546, abs=1e-3)


def test_outputs_are_written_and_the_energies_file_reads_back(emt_run: tuple[dict, Path]
                                                              ) -> None:
    from nnpkit.apps.rates.energies import EnergyEntryConfig, energy_table_from_config

    summary, output = emt_run
    assert json.loads((output / SUMMARY_FILE).read_text())["barrier_forward_eV"] == \
        summary["barrier_forward_eV"]
    assert summary["energies_file"] == str(output / ENERGIES_FILE)
    assert json.loads((output / "config.json").read_text())["neb"]["n_images"] == 3
    document = yaml.safe_load((output / ENERGIES_FILE).read_text())
    assert set(document) == {"energies"}  # no committee: no members
    entries = {k: EnergyEntryConfig.model_validate(v) for k, v in document["energies"].items()}
    table = energy_table_from_config(entries, output)
    assert set(table) == {"*", "Cu*", "Cu_g", "TS_hop"}
    assert table["TS_hop"].formation_energy_eV - table["Cu*"].formation_energy_eV == \
        pytest.approx(summary["barrier_forward_eV"], abs=1e-9)
    band = read(output / "steps" / "hop_band.extxyz", index=":")
    assert len(band) == 5
    np.testing.assert_allclose([b.get_potential_energy() for b in band],
                               json.loads((output / "steps/hop.json").read_text())
                               ["band_energies_eV"], atol=1e-6)
    assert (output / "steps" / "hop_band.png").stat().st_size > 1000


def test_rerun_skips_what_converged(emt_run: tuple[dict, Path], structures: Path) -> None:
    _, output = emt_run
    step_file = output / "steps" / "hop.json"
    before = step_file.stat().st_mtime_ns
    factory = Counting(EMT)
    result = run_network(load_neb_config(network_config(structures, output)), factory)
    assert factory.calls == 0 and result.computed == []
    assert step_file.stat().st_mtime_ns == before
    assert result.report["steps"]["hop"]["recomputed"] is False


def test_rerun_redoes_what_a_changed_setting_or_calculator_touches(
        emt_run: tuple[dict, Path], structures: Path, tmp_path: Path) -> None:
    output = tmp_path / "run"
    shutil.copytree(emt_run[1], output)
    more_images = network_config(structures, output, neb={**NEB, "n_images": 4})
    factory = Counting(EMT)
    assert run_network(load_neb_config(more_images), factory).computed == ["hop"]
    assert factory.calls == 4 + 3
    other_method = network_config(structures, output, calculator="gfn2",
                                  neb={**NEB, "n_images": 4})
    assert run_network(load_neb_config(other_method), EMT).computed == [
        "*", "Cu*", "Cu_g", "hop"]


def test_failed_step_is_recorded_refused_and_redone(structures: Path, tmp_path: Path) -> None:
    config = load_neb_config(network_config(structures, tmp_path / "run"))
    result = run_network(config, FailsOnBridge)
    record = result.steps["hop"]
    assert record.converged is False and "CalculationFailed" in (record.error or "")
    assert math.isnan(record.barrier_forward_eV)
    saved = json.loads((tmp_path / "run/steps/hop.json").read_text())
    assert saved["error"] == record.error and saved["barrier_forward_eV"] is None
    with pytest.raises(LabelingError, match="step hop: CalculationFailed"):
        result.energy_tables()
    assert result.report["energies_file"] is None
    assert "step hop" in result.report["energies_refused"]
    assert result.report["converged"] is False and result.report["barrier_forward_eV"] is None
    assert json.loads((tmp_path / "run" / SUMMARY_FILE).read_text(),
                      parse_constant=pytest.fail)["steps"]["hop"]["barrier_reverse_eV"] is None
    assert result.report["calculator"] == "factory FailsOnBridge"
    assert not (tmp_path / "run" / ENERGIES_FILE).exists()
    factory = Counting(EMT)  # the rerun redoes the failed step only
    again = run_network(config, factory)
    assert again.computed == ["hop"] and factory.calls == NEB["n_images"] + 3
    assert again.steps["hop"].converged and (tmp_path / "run" / ENERGIES_FILE).exists()


def test_a_saddle_that_is_a_minimum_refuses_the_table_unless_allowed(
        structures: Path, tmp_path: Path) -> None:
    """A 'step' from a hollow to the same hollow: the band's highest image is the
    minimum (no imaginary mode), so the table is refused naming the step and the count."""
    raw = network_config(structures, tmp_path / "run", vibrations={"atoms": "adsorbate"})
    raw["steps"][0]["final_structure"] = "initial.extxyz"
    result = run_network(load_neb_config(raw))
    assert result.steps["hop"].n_imaginary_modes_saddle == 0
    assert result.report["n_imaginary_modes_saddle"] == 0
    with pytest.raises(TransitionStateError, match=r"step hop \(TS_hop\).*0 imaginary"):
        result.energy_tables()
    assert "allow_bad_saddles" in result.report["energies_refused"]
    factory = Counting(EMT)
    allowed = run_network(load_neb_config({**raw, "allow_bad_saddles": True}), factory)
    assert factory.calls == 0  # the saddle check is not part of what is recomputed
    table, _ = allowed.energy_tables()
    assert table["TS_hop"].formation_energy_eV == pytest.approx(
        table["Cu*"].formation_energy_eV, abs=1e-6)


class MorseCopper(Potential):
    """``E = ½ Σ_ij D (e^{-2α(r-r0)} − 2e^{-α(r-r0)}) f_c(r)``: Girifalco–Weizer's Cu
    (α = 1.3588/Å, r0 = 2.866 Å) with a cosine cutoff at 4.5 Å; members differ in D."""

    kind = "morse-test"

    def __init__(self, depth_eV: float) -> None:
        super().__init__(["Cu"], 4.5)
        self.depth = depth_eV

    def atomic_energies(self, graph: AtomicGraph) -> torch.Tensor:
        self.species(graph.numbers)
        distance = torch.linalg.norm(edge_vectors(graph), dim=1)  # [E]
        decay = torch.exp(-1.3588 * (distance - 2.866))
        pair = self.depth * (decay * decay - 2.0 * decay) * cosine_cutoff(distance, self.cutoff)
        return 0.5 * pair.new_zeros(graph.positions.shape[0]).index_add(
            0, graph.edge_index[0], pair)  # [N]


def _committee_factory(members: list[Potential]) -> Callable[[], CommitteeCalculator]:
    committee = Committee(members)
    return lambda: CommitteeCalculator(copy.deepcopy(committee), dtype=torch.float64)


def _member_calculators(factory: Callable[[], CommitteeCalculator]) -> list[NNPCalculator]:
    return [NNPCalculator(copy.deepcopy(member), dtype=torch.float64)
            for member in factory().committee.potentials]


def _written_member_energies(out: Path, own: NNPCalculator) -> dict[str, float]:
    return {name: own.get_potential_energy(read(out / "states" / f"{stem}.extxyz"))
            for name, stem in (("*", "_ads"), ("Cu*", "Cu_ads"), ("Cu_g", "Cu_g"))}


def test_committee_gives_one_table_per_member(structures: Path, tmp_path: Path) -> None:
    """Each member's table: its own total energies of the relaxed states and its own
    barrier along the final band (its highest image minus its first); the vibrations
    are the mean's. A committee of two Morse potentials (depths 0.34 and 0.37 eV)."""
    factory = _committee_factory([MorseCopper(0.3429), MorseCopper(0.37)])
    raw = network_config(structures, tmp_path / "run", vibrations={"atoms": "adsorbate"})
    result = run_network(load_neb_config(raw), factory)
    assert result.report["complete"] and result.report["n_imaginary_modes_saddle"] == 1
    table, members = result.energy_tables()
    assert members is not None and len(members) == 2
    out = tmp_path / "run"
    band_images = read(out / "steps" / "hop_band.extxyz", index=":")
    for m, own in enumerate(_member_calculators(factory)):
        recorded = {name: record.member_energies_eV[m] for name, record in result.states.items()}
        # the written structures carry 8 decimals: their energies agree to ~1e-8 eV
        assert recorded == pytest.approx(_written_member_energies(out, own), abs=1e-6)
        formation = recorded["Cu*"] - recorded["*"] - recorded["Cu_g"]
        assert members[m]["Cu*"].formation_energy_eV == pytest.approx(formation, abs=1e-9)
        band = [own.get_potential_energy(image) for image in band_images]
        assert members[m]["TS_hop"].formation_energy_eV == pytest.approx(
            formation + max(band) - band[0], abs=1e-6)
        assert members[m]["Cu*"].vibrations_eV == table["Cu*"].vibrations_eV
    forward = result.report["steps"]["hop"]["member_barriers_forward_eV"]
    assert forward[1] - forward[0] > 0.01  # the deeper well: the higher barrier
    assert np.mean(forward) == pytest.approx(result.report["barrier_forward_eV"], abs=0.01)
    document = yaml.safe_load((out / ENERGIES_FILE).read_text())
    assert UncertaintyConfig.model_validate(document["uncertainty"]).sampling == "normal"
    assert [m["TS_hop"] for m in document["uncertainty"]["members"]] == pytest.approx(
        [members[m]["TS_hop"].formation_energy_eV for m in range(2)], abs=1e-12)


def test_untrained_committee_states_give_member_formation_energies(
        structures: Path, tmp_path: Path) -> None:
    """The conftest committee (two small untrained Behler–Parrinello models), states
    only: each member's formation energies are its own energy differences."""
    first, second = build_small_model(["Cu"]), build_small_model(["Cu"])
    torch.manual_seed(3)
    for parameter in second.element_networks.parameters():
        parameter.data += 0.05 * torch.randn_like(parameter)
    factory = _committee_factory([first, second])
    raw = network_config(structures, tmp_path / "run", steps=[],
                         vibrations={"atoms": "adsorbate"})
    _, members = run_network(load_neb_config(raw), factory).energy_tables()
    assert members is not None
    formations = []
    for m, own in enumerate(_member_calculators(factory)):
        energy = _written_member_energies(tmp_path / "run", own)
        formations.append(members[m]["Cu*"].formation_energy_eV)
        assert formations[-1] == pytest.approx(energy["Cu*"] - energy["*"] - energy["Cu_g"],
                                               abs=1e-6)
    assert abs(formations[0] - formations[1]) > 1e-3


@pytest.mark.parametrize(("change", "message"), [
    ({"initial": "*"}, r"step hop: the initial structure holds the slab plus Cu, but "
                       r"initial: '\*' stands for nothing"),
    ({"final": "Cu* + Cu*"}, "step hop: the final structure holds the slab plus Cu, but"),
    ({"initial": "CO*"}, "step hop.initial: unknown state 'CO\\*'"),
    ({"transition_state": "Cu*"}, "transition_state 'Cu\\*' is used twice"),
])
def test_bad_steps_are_refused_naming_the_step(structures: Path, tmp_path: Path,
                                               change: dict, message: str) -> None:
    raw = network_config(structures, tmp_path / "run")
    raw["steps"][0].update(change)
    factory = Counting(EMT)
    with pytest.raises(ConfigError, match=message):
        run_network(load_neb_config(raw), factory)
    assert factory.calls == 0  # refused before any calculation


def test_states_need_references_and_existing_files(structures: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="state Cu\\* adds Cu to the slab: name gas states"):
        run_network(load_neb_config(network_config(structures, tmp_path, references=[])))
    raw = network_config(structures, tmp_path)
    raw["states"]["O*"] = {"structure": "missing.extxyz"}
    with pytest.raises(ConfigError, match="states.O\\*.structure: no file"):
        load_neb_config(raw)
    with pytest.raises(ConfigError, match="references: 'Cu\\*' is not a gas state"):
        load_neb_config(network_config(structures, tmp_path, references=["Cu*"]))
    config_file = structures / "neb.yaml"
    config_file.write_text(yaml.safe_dump({k: v for k, v in network_config(
        structures, tmp_path).items() if k != "base_dir"}))
    assert load_neb_config(config_file).base_dir == str(structures)
    assert os.path.isfile(load_neb_config(config_file).resolve("slab.extxyz"))


def test_sum_of_states_parses_coefficients() -> None:
    assert parse_state_sum("CO* + 2O*", "x") == [(1, "CO*"), (2, "O*")]
    assert parse_state_sum("O2_g + 2 *", "x") == [(1, "O2_g"), (2, "*")]
    with pytest.raises(ValueError, match="step s: coefficient 0"):
        parse_state_sum("0CO*", "step s")


# ``nnpkit rates neb|tof --json``: the keys the issue names, the library numbers, and
# ``tof`` reading the energies file ``neb`` wrote.
EXAMPLE = Path(__file__).parents[2] / "examples" / "rates" / "user_energies.yaml"


def _run(argv: list[str], capsys: pytest.CaptureFixture, code: int = 0) -> dict:
    assert main(argv) == code
    return json.loads(capsys.readouterr().out)


def test_tof_json_has_the_issue_keys_and_the_library_numbers(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    settings = ["--set", "uncertainty.n_samples=21", "--set", "conditions.temperatures_K=[]"]
    printed = _run(["rates", "tof", str(EXAMPLE), "--json", "--out", str(tmp_path), *settings],
                   capsys)
    direct = tof_report(EXAMPLE, None, overrides=settings[1::2])
    assert printed["tof_per_s"] == pytest.approx(direct["tof_per_s"], rel=1e-12)
    assert set(printed["tof_percentiles_per_s"]) == {"5", "50", "95"}
    assert printed["tof_percentiles_per_s"]["50"] == printed["tof_per_s"]
    assert set(printed["degree_of_rate_control"]) >= {"TS_O2", "TS_CO_O", "CO*", "O*", "O2*"}
    assert printed["drc_sum_transition_states"] == pytest.approx(1.0, abs=1e-6)
    assert sum(printed["coverages"].values()) == pytest.approx(1.0, abs=1e-12)
    assert "apparent_activation_energy_eV" in printed
    assert (tmp_path / "tof.json").is_file() and (tmp_path / "degree_of_rate_control.png").is_file()


def test_neb_json_then_tof_reads_the_energies_file(structures: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    """``neb --json`` has the issue's keys; a ``tof`` config naming the energies file reads
    it (relative to the config) and solves: the lone equilibrium adsorption Cu_g + * ⇌ Cu*
    has a zero net TOF, which ``tof`` refuses by name (its logarithmic derivatives need a
    positive TOF); a missing energies file is named."""
    config = tmp_path / "neb.yaml"
    config.write_text(yaml.safe_dump(network_config(structures, tmp_path / "run")))
    neb = _run(["rates", "neb", str(config), "--json"], capsys)
    assert {"barrier_forward_eV", "barrier_reverse_eV", "n_imaginary_modes_saddle",
            "converged"} <= set(neb)
    assert neb["converged"] is True and neb["n_imaginary_modes_saddle"] == 1
    energies = yaml.safe_load(Path(neb["energies_file"]).read_text())["energies"]
    assert energies["TS_hop"]["formation_energy_eV"] == pytest.approx(
        energies["Cu*"]["formation_energy_eV"] + neb["barrier_forward_eV"], abs=1e-8)
    tof_config = {
        "mechanism": {"tof_of": "Cu_adsorption", "steps": [
            {"name": "Cu_adsorption", "equation": "Cu_g + * -> Cu*", "kind": "adsorption"}]},
        "conditions": {"temperature_K": 600.0, "pressures_bar": {"Cu_g": 1e-30},
                       "site_area_A2": 6.4},
        "energies": str(Path(neb["energies_file"]).relative_to(tmp_path)), "output": None}
    path = tmp_path / "tof.yaml"
    path.write_text(yaml.safe_dump(tof_config))
    with pytest.raises(DataError, match="positive TOF"):
        tof_report(path)
    path.write_text(yaml.safe_dump({**tof_config, "energies": "missing.yaml"}))
    with pytest.raises(ConfigError, match="missing.yaml"):
        tof_report(path)
