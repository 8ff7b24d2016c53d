"""What follows from a 6×6 stiffness: Voigt/Reuss/Hill moduli and Born stability.

Moduli in GPa. Voigt bounds average the stiffness, Reuss bounds the compliance
``S = C⁻¹``, Hill is their mean; Young's modulus ``E = 9KG/(3K + G)`` and Poisson's ratio
``ν = (3K − 2G) / (2(3K + G))`` from the Hill values. Born stability (Mouhat & Coudert,
Phys. Rev. B 90, 224104 (2014)) is positive definiteness of C; for cubic and hexagonal
crystals the named conditions of that paper are checked as well, so a failure says which.
"""

from __future__ import annotations

import numpy as np

__all__ = ["elastic_moduli", "born_stability"]


def elastic_moduli(stiffness_GPa: np.ndarray) -> dict[str, float]:
    """Voigt, Reuss and Hill bulk and shear moduli, Young's modulus and Poisson's ratio.

    Args:
        stiffness_GPa: [6, 6] Voigt stiffness, GPa.

    Returns:
        ``bulk_modulus_{voigt,reuss,hill}_GPa``, ``shear_modulus_{voigt,reuss,hill}_GPa``,
        ``youngs_modulus_GPa``, ``poisson_ratio`` (Reuss values are NaN for a singular C).
    """
    c = np.asarray(stiffness_GPa, dtype=float)
    k_voigt = (c[0, 0] + c[1, 1] + c[2, 2] + 2 * (c[0, 1] + c[1, 2] + c[0, 2])) / 9
    g_voigt = (c[0, 0] + c[1, 1] + c[2, 2] - (c[0, 1] + c[1, 2] + c[0, 2])
               + 3 * (c[3, 3] + c[4, 4] + c[5, 5])) / 15
    try:
        s = np.linalg.inv(c)
        k_reuss = 1 / (s[0, 0] + s[1, 1] + s[2, 2] + 2 * (s[0, 1] + s[1, 2] + s[0, 2]))
        g_reuss = 15 / (4 * (s[0, 0] + s[1, 1] + s[2, 2]) - 4 * (s[0, 1] + s[1, 2] + s[0, 2])
                        + 3 * (s[3, 3] + s[4, 4] + s[5, 5]))
    except np.linalg.LinAlgError:
        k_reuss = g_reuss = float("nan")
    k_hill, g_hill = 0.5 * (k_voigt + k_reuss), 0.5 * (g_voigt + g_reuss)
    return {
        "bulk_modulus_voigt_GPa": float(k_voigt), "bulk_modulus_reuss_GPa": float(k_reuss),
        "bulk_modulus_hill_GPa": float(k_hill), "shear_modulus_voigt_GPa": float(g_voigt),
        "shear_modulus_reuss_GPa": float(g_reuss), "shear_modulus_hill_GPa": float(g_hill),
        "youngs_modulus_GPa": float(9 * k_hill * g_hill / (3 * k_hill + g_hill)),
        "poisson_ratio": float((3 * k_hill - 2 * g_hill) / (2 * (3 * k_hill + g_hill))),
    }


def _named_conditions(c: np.ndarray, crystal_system: str | None) -> list[tuple[str, float]]:
    """``(condition, margin)`` pairs, each satisfied when its margin is > 0 (GPa or GPa²)."""
    if crystal_system == "cubic":
        return [("C11 - |C12| > 0", c[0, 0] - abs(c[0, 1])),
                ("C11 + 2 C12 > 0", c[0, 0] + 2 * c[0, 1]),
                ("C44 > 0", c[3, 3])]
    if crystal_system == "hexagonal":
        return [("C11 - |C12| > 0", c[0, 0] - abs(c[0, 1])),
                ("2 C13^2 < C33 (C11 + C12)", c[2, 2] * (c[0, 0] + c[0, 1]) - 2 * c[0, 2]**2),
                ("C44 > 0", c[3, 3]),
                ("C66 > 0", c[5, 5])]
    return []


def born_stability(stiffness_GPa: np.ndarray, crystal_system: str | None = None) -> dict:
    """Born mechanical stability of a stiffness matrix.

    Args:
        stiffness_GPa: [6, 6] Voigt stiffness, GPa.
        crystal_system: ``cubic``, ``hexagonal``, … (from
            :func:`~nnpkit.apps.crystals.symmetry.crystal_symmetry`); adds that system's
            named conditions to the general one.

    Returns:
        ``{"stable": bool, "conditions": [{"condition", "margin", "satisfied"}],
        "failing": [condition, ...]}``; the general condition is "all eigenvalues of C
        > 0", its margin the smallest eigenvalue (GPa).
    """
    c = 0.5 * (np.asarray(stiffness_GPa, dtype=float) + np.asarray(stiffness_GPa).T)
    named = _named_conditions(c, crystal_system)
    named.append(("all eigenvalues of C > 0", float(np.linalg.eigvalsh(c).min())))
    conditions = [{"condition": text, "margin": float(margin), "satisfied": bool(margin > 0)}
                  for text, margin in named]
    failing = [entry["condition"] for entry in conditions if not entry["satisfied"]]
    return {"stable": not failing, "conditions": conditions, "failing": failing}
