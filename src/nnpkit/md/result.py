"""The result of an MD run: the final structure and the log, as JSON and as a PNG.

:class:`MDResult` is what :func:`nnpkit.md.run_md` returns (and what the batched engine
returns per replica); :func:`plot_md_log` draws its log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

__all__ = ["MDResult", "plot_md_log"]


@dataclass
class MDResult:
    """The outcome of :func:`run_md`.

    Attributes:
        atoms: Final structure (a copy; has momenta, no calculator attached).
        log: Columns sampled every ``log_interval`` steps, each a 1-D array [n_log]:
            ``time_fs``, ``potential_energy_eV``, ``kinetic_energy_eV``,
            ``total_energy_eV``, ``temperature_K``, and for periodic cells ``volume_A3``;
            for NPT also ``pressure_GPa`` (instantaneous, from the virial + kinetic term).
        ensemble: ``"nve"``, ``"nvt"`` or ``"npt"``.
        settings: The run's arguments (temperature_K, steps, timestep_fs, ...).
    """

    atoms: Atoms
    log: dict[str, np.ndarray]
    ensemble: str = "nvt"
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self, path: str | Path) -> None:
        """Write the log, the settings and the final structure to a JSON file."""
        data = {
            "ensemble": self.ensemble,
            "settings": self.settings,
            "log": {name: np.asarray(values).tolist() for name, values in self.log.items()},
            "final_atoms": {
                "numbers": self.atoms.numbers.tolist(),
                "positions_A": self.atoms.positions.tolist(),
                "cell_A": self.atoms.cell.array.tolist(),
                "pbc": [bool(p) for p in self.atoms.pbc],
                "momenta": self.atoms.get_momenta().tolist(),
            },
        }
        Path(path).write_text(json.dumps(data, indent=1))

    @classmethod
    def from_json(cls, path: str | Path) -> MDResult:
        """Read an :class:`MDResult` written by :meth:`to_json`."""
        data = json.loads(Path(path).read_text())
        final = data["final_atoms"]
        atoms = Atoms(
            numbers=final["numbers"],
            positions=final["positions_A"],
            cell=final["cell_A"],
            pbc=final["pbc"],
            momenta=final["momenta"],
        )
        log = {name: np.asarray(values, dtype=float) for name, values in data["log"].items()}
        return cls(atoms=atoms, log=log, ensemble=data["ensemble"], settings=data["settings"])


def plot_md_log(result_or_log: MDResult | dict[str, np.ndarray], path_png: str | Path) -> None:
    """Plot an MD log to a PNG: energies and temperature vs time, volume if it changes.

    Args:
        result_or_log: An :class:`MDResult` or its ``log`` dict (keys as in MDResult).
        path_png: Output PNG path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    log = result_or_log.log if isinstance(result_or_log, MDResult) else result_or_log
    time_fs = np.asarray(log["time_fs"])
    volume = log.get("volume_A3")
    show_volume = volume is not None and len(volume) > 1 and float(np.ptp(volume)) > 0.0
    n_panels = 3 if show_volume else 2
    # Figure + Agg canvas directly: no pyplot global state, works without a display.
    figure = Figure(figsize=(7.0, 2.4 * n_panels), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(n_panels, 1, sharex=True, squeeze=False)[:, 0]
    axes[0].plot(time_fs, log["potential_energy_eV"], label="potential")
    axes[0].plot(time_fs, log["total_energy_eV"], label="total")
    axes[0].set_ylabel("energy (eV)")
    axes[0].legend(loc="best")
    axes[1].plot(time_fs, log["temperature_K"], color="tab:red")
    axes[1].set_ylabel("temperature (K)")
    if show_volume:
        assert volume is not None
        axes[2].plot(time_fs, volume, color="tab:green")
        axes[2].set_ylabel("volume (Å³)")
    axes[-1].set_xlabel("time (fs)")
    figure.savefig(Path(path_png), dpi=100)
