"""The spherical indenter, the Hertz analysis and the multiscale PNGs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import fcc100
from ase.calculators.emt import EMT
from ase.calculators.mixing import SumCalculator

from nnpkit.apps.multiscale.hertz import (
    fit_hertz,
    hertz_load_eV_per_A,
    indentation_modulus_GPa,
    vlassak_nix_modulus_GPa,
)
from nnpkit.apps.multiscale.indenter import IndenterCalculator, SphericalIndenter
from nnpkit.apps.multiscale.plots import (
    displacement_field_png,
    error_vs_size_png,
    ghost_force_png,
    load_displacement_png,
    regions_png,
)
from nnpkit.errors import ConfigError, DataError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _cubic(c11: float, c12: float, c44: float) -> np.ndarray:
    c = np.zeros((6, 6))
    c[:3, :3] = c12
    np.fill_diagonal(c[:3, :3], c11)
    c[3, 3] = c[4, 4] = c[5, 5] = c44
    return c


@pytest.fixture
def indenter() -> SphericalIndenter:
    return SphericalIndenter(radius_A=6.0, centre_x_A=0.3, centre_y_A=-0.2,
                             stiffness_eV_per_A3=7.0)


@pytest.fixture
def cloud() -> np.ndarray:
    """Atoms scattered around the sphere's lowest point (tip at z = 0): some inside."""
    rng = np.random.default_rng(3)
    return rng.uniform([-4, -4, -2.0], [4, 4, 2.0], size=(40, 3))


# ---- indenter -------------------------------------------------------------------------------

def test_forces_are_minus_autograd_gradient_and_finite_differences(indenter, cloud):
    energy, forces = indenter.energy_and_forces(cloud, tip_z_A=0.0)
    assert np.count_nonzero(np.abs(forces).sum(1)) >= 5  # the check sees contact atoms
    positions = torch.tensor(cloud, dtype=torch.float64, requires_grad=True)
    torch_energy = indenter.energy(positions, 0.0)
    (gradient,) = torch.autograd.grad(torch_energy, positions)
    assert float(torch_energy.detach()) == pytest.approx(energy, rel=1e-12)
    np.testing.assert_allclose(forces, -gradient.numpy(), rtol=1e-12, atol=1e-12)
    step = 1e-5
    numeric = np.zeros_like(cloud)
    for index in np.ndindex(cloud.shape):
        plus, minus = cloud.copy(), cloud.copy()
        plus[index] += step
        minus[index] -= step
        numeric[index] = -(indenter.energy_and_forces(plus, 0.0)[0]
                           - indenter.energy_and_forces(minus, 0.0)[0]) / (2 * step)
    np.testing.assert_allclose(forces, numeric, atol=1e-7)


def test_zero_outside_the_sphere(indenter, cloud):
    energy, forces = indenter.energy_and_forces(cloud, tip_z_A=3.0)  # tip above every atom
    assert energy == 0.0
    assert np.all(forces == 0.0)
    assert indenter.contact_radius_A(cloud, 3.0) == 0.0
    assert not indenter.contact_atoms(cloud, 3.0).any()


def test_load_sign_for_one_atom_below_the_tip():
    sphere = SphericalIndenter(radius_A=5.0, centre_x_A=1.0, centre_y_A=2.0,
                               stiffness_eV_per_A3=10.0)
    atom = np.array([[1.0, 2.0, 0.0]])
    tip = -0.2  # the sphere's lowest point 0.2 Å below the atom: penetration 0.2 Å
    energy, forces = sphere.energy_and_forces(atom, tip)
    assert energy == pytest.approx(10.0 * 0.2 ** 3, rel=1e-12)
    np.testing.assert_allclose(forces, [[0.0, 0.0, -3 * 10.0 * 0.2 ** 2]], atol=1e-12)
    assert sphere.load_eV_per_A(atom, tip) == pytest.approx(1.2, rel=1e-12)  # pushes down
    # load = −∂E/∂tip_z: lowering the tip raises the energy
    step = 1e-6
    numeric = -(sphere.energy_and_forces(atom, tip + step)[0]
                - sphere.energy_and_forces(atom, tip - step)[0]) / (2 * step)
    assert sphere.load_eV_per_A(atom, tip) == pytest.approx(numeric, rel=1e-7)


def test_contact_radius_of_a_known_configuration():
    sphere = SphericalIndenter(radius_A=10.0, centre_x_A=0.0, centre_y_A=0.0)
    tip = -1.0  # cap of the sphere below z = 0 has radius sqrt(2 R d − d²) = sqrt(19)
    positions = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, -4.0, 0.0],
                          [4.4, 0.0, 0.0], [0.0, 0.0, -5.0]])
    assert sphere.contact_atoms(positions, tip).tolist() == [True, True, True, False, False]
    assert sphere.contact_radius_A(positions, tip) == pytest.approx(4.0, rel=1e-12)
    assert np.sqrt(19.0) < 4.4  # the excluded atom is outside the cap


def test_validation_names_the_field():
    with pytest.raises(ConfigError, match="radius_A"):
        SphericalIndenter(radius_A=0.0, centre_x_A=0.0, centre_y_A=0.0)
    with pytest.raises(ConfigError, match="stiffness_eV_per_A3"):
        SphericalIndenter(radius_A=1.0, centre_x_A=0.0, centre_y_A=0.0, stiffness_eV_per_A3=-1)
    with pytest.raises(DataError, match="shape"):
        SphericalIndenter(radius_A=1.0, centre_x_A=0.0, centre_y_A=0.0).energy_and_forces(
            np.zeros((3, 2)), 0.0)


def test_sum_with_emt_on_a_cu_slab():
    slab = fcc100("Cu", size=(3, 3, 3), vacuum=6.0, a=3.59)
    top = slab.positions[:, 2].max()
    centre = slab.positions[slab.positions[:, 2] > top - 0.1].mean(axis=0)
    sphere = SphericalIndenter(radius_A=4.0, centre_x_A=centre[0], centre_y_A=centre[1])
    tip_calc = IndenterCalculator(sphere, tip_z_A=top - 0.3)
    emt_forces = EMT().get_forces(slab.copy())
    emt_energy = EMT().get_potential_energy(slab.copy())
    energy, forces = sphere.energy_and_forces(slab.positions, top - 0.3)
    assert energy > 0
    atoms = slab.copy()
    atoms.calc = SumCalculator([EMT(), tip_calc])
    np.testing.assert_allclose(atoms.get_forces(), emt_forces + forces, atol=1e-12)
    assert atoms.get_potential_energy() == pytest.approx(emt_energy + energy, abs=1e-10)
    # moving the tip resets the results: the indenter's share changes accordingly
    tip_calc.tip_z_A = top + 5.0
    assert tip_calc.results == {}
    alone = slab.copy()
    alone.calc = tip_calc
    assert alone.get_potential_energy() == 0.0
    assert tip_calc.load_eV_per_A(slab) == 0.0


# ---- Hertz ----------------------------------------------------------------------------------

def test_isotropic_stiffness_gives_exact_moduli():
    lam, mu = 93.0, 41.0
    result = indentation_modulus_GPa(_cubic(lam + 2 * mu, lam, mu))
    youngs = mu * (3 * lam + 2 * mu) / (lam + mu)
    poisson = lam / (2 * (lam + mu))
    assert result["youngs_modulus_GPa"] == pytest.approx(youngs, rel=1e-12)
    assert result["poisson_ratio"] == pytest.approx(poisson, rel=1e-12)
    assert result["effective_modulus_GPa"] == pytest.approx(youngs / (1 - poisson ** 2),
                                                            rel=1e-12)
    assert result["vlassak_nix_modulus_GPa"] == pytest.approx(youngs / (1 - poisson ** 2),
                                                              rel=1e-10)


def _stroh_normal_compliance(c6: np.ndarray, theta: float) -> float:
    """Re(−i A B⁻¹)_zz from the Stroh sextic eigenproblem (independent of the integrals)."""
    index = np.zeros((3, 3), dtype=int)
    for k, (i, j) in enumerate(((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))):
        index[i, j] = index[j, i] = k
    c4 = c6[index[:, :, None, None], index[None, None, :, :]]
    n, m = np.array([np.cos(theta), np.sin(theta), 0.0]), np.array([0.0, 0.0, 1.0])
    q, r, t = (np.einsum("i,ijkl,l->jk", a, c4, b) for a, b in ((n, n), (n, m), (m, m)))
    tinv = np.linalg.inv(t)
    stroh = np.block([[-tinv @ r.T, tinv], [r @ tinv @ r.T - q, -r @ tinv]])
    values, vectors = np.linalg.eig(stroh)
    decaying = values.imag < 0  # decays into the material at z < 0
    a, b = vectors[:3, decaying], vectors[3:, decaying]
    return float((-1j * a @ np.linalg.inv(b))[2, 2].real)


def test_vlassak_nix_matches_the_stroh_eigen_solution_for_cubic_copper():
    c = _cubic(168.4, 121.4, 75.4)  # experimental Cu, anisotropy 3.2
    thetas = (np.arange(64) + 0.5) * np.pi / 64
    stroh = 2.0 / np.mean([_stroh_normal_compliance(c, th) for th in thetas])
    modulus = vlassak_nix_modulus_GPa(c)
    assert modulus == pytest.approx(stroh, rel=1e-9)
    hill = indentation_modulus_GPa(c)["effective_modulus_GPa"]
    assert modulus / hill == pytest.approx(0.927, abs=0.002)  # (100) is the soft face of Cu


def test_hertz_load_units_by_hand():
    # E* = 160.21766208 GPa = 1 eV/Å³, R = 4 Å, d = 1 Å: P = 4/3 · 1 · 2 · 1 = 8/3 eV/Å
    load = hertz_load_eV_per_A(np.array([1.0, 0.0, -1.0]), 4.0, 160.21766208)
    np.testing.assert_allclose(load, [8.0 / 3.0, 0.0, 0.0], rtol=1e-14)


def test_fit_hertz_recovers_the_coefficient_and_exponent():
    depth = np.linspace(-0.5, 3.0, 15)
    radius, modulus = 8.0, 120.0
    load = hertz_load_eV_per_A(depth, radius, modulus)
    depth_before, load_before = depth.copy(), load.copy()
    fit = fit_hertz(depth, load, radius, max_depth_A=2.0)
    coefficient = 4.0 / 3.0 * modulus / 160.21766208 * np.sqrt(radius)
    assert fit["coefficient_eV_per_A5_2"] == pytest.approx(coefficient, rel=1e-10)
    assert fit["effective_modulus_GPa"] == pytest.approx(modulus, rel=1e-10)
    assert fit["exponent"] == pytest.approx(1.5, abs=1e-10)
    assert fit["n_points"] == int(np.count_nonzero((depth > 0) & (depth <= 2.0)))
    assert fit["rms_relative_residual"] < 1e-12
    np.testing.assert_array_equal(depth, depth_before)
    np.testing.assert_array_equal(load, load_before)
    linear = fit_hertz(depth, np.clip(depth, 0, None), radius, max_depth_A=3.0)
    assert linear["exponent"] == pytest.approx(1.0, abs=1e-10)
    with pytest.raises(DataError, match="no depth"):
        fit_hertz(depth, load, radius, max_depth_A=-1.0)


# ---- plots ----------------------------------------------------------------------------------

def _assert_png(path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 1000


def test_plots_write_pngs_and_leave_inputs_alone(tmp_path):
    rng = np.random.default_rng(0)
    depth = np.linspace(0, 2, 6)
    load = depth ** 1.5
    points = rng.uniform(-10, 10, size=(300, 3))
    displacement = rng.normal(scale=0.1, size=(300, 3))
    weights = np.clip(np.linalg.norm(points, axis=1) / 10 - 0.3, 0, 1)
    elements = rng.integers(0, 300, size=(200, 4))
    table = [{"atomistic_radius_A": r, "blend_width_A": w, "load_error_percent": 10 / r / w}
             for r in (6.0, 8.0, 10.0) for w in (3.0, 5.0)]
    widths = np.array([2.0, 4.0, 8.0])
    ghosts = {"bqce": 1 / widths ** 2, "bqcf": np.zeros(3), "sharp": np.full(3, 0.3)}
    inputs = [depth, load, points, displacement, weights, elements, widths,
              *ghosts.values()]
    copies = [array.copy() for array in inputs]
    table_copy = [dict(row) for row in table]
    written = [
        load_displacement_png(tmp_path / "ld.png", {"coupled": (depth, load),
                                                    "atomistic": (depth, 1.01 * load)},
                              hertz=(depth, 0.9 * load)),
        displacement_field_png(tmp_path / "u.png", points, displacement, 0.0, 2.0),
        regions_png(tmp_path / "regions.png", points, weights, 0.0, 2.0, elements),
        regions_png(tmp_path / "sub" / "regions_plain.png", points, weights, 0.0, 2.0),
        error_vs_size_png(tmp_path / "err.png", table, "atomistic_radius_A",
                          "load_error_percent", "blend_width_A"),
        ghost_force_png(tmp_path / "ghost.png", widths, ghosts),
    ]
    for path in written:
        _assert_png(path)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        p.name for p in written)  # no temporary file left behind
    for array, copy in zip(inputs, copies, strict=True):
        np.testing.assert_array_equal(array, copy)
    assert table == table_copy
    with pytest.raises(DataError, match="cut plane"):
        displacement_field_png(tmp_path / "none.png", points, displacement, 50.0, 0.1)
    with pytest.raises(DataError, match="lacks"):
        error_vs_size_png(tmp_path / "bad.png", table, "nope", "load_error_percent",
                          "blend_width_A")
