"""The package's layers: every import (module level or inside a function) points down.

The layers are those of docs/design.md. A lower layer importing a higher one, or one
application importing another, fails here with the file, the line and the import.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import nnpkit

PACKAGE = Path(nnpkit.__file__).parent

#: Top-level module or package of nnpkit → layer.
LAYERS = {
    "units": 0, "errors": 0, "file_writes": 0, "tensor_file": 0, "typed_config": 0,
    "data": 1, "neighbors": 1,
    "nn": 2, "models": 2, "derivatives": 2, "testing": 2,
    "training": 3, "calculators": 3, "labeling": 3, "active": 3, "md": 3, "paths": 3,
    "wavepackets": 3, "apps": 4,
    "cli": 5,
}


def _unit(module: str) -> str:
    """``nnpkit.apps.growth.kmc`` → ``apps.growth``; ``nnpkit.data.io`` → ``data``."""
    parts = module.split(".")[1:]
    if parts and parts[0] == "apps" and len(parts) > 1:
        return "apps." + parts[1]
    return parts[0] if parts else ""


def _layer(unit: str) -> int:
    return LAYERS[unit.split(".")[0]]


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return [(line, name) for line, name in found if name.startswith("nnpkit.")]


def _source_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"
                  or p.parent != PACKAGE)


def test_every_top_level_unit_has_a_layer() -> None:
    units = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in PACKAGE.iterdir()
             if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").is_file())}
    assert units - {"__init__"} <= set(LAYERS), sorted(units - set(LAYERS) - {"__init__"})


@pytest.mark.parametrize("path", _source_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    module = "nnpkit." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    own = _unit(module)
    for line, imported in _imports(path):
        target = _unit(imported)
        if target == own or not target:
            continue
        where = f"{path.relative_to(PACKAGE)}:{line} imports {imported}"
        assert _layer(target) <= _layer(own), f"{where}: layer {_layer(target)} above " \
            f"{_layer(own)}"
        if own.startswith("apps.") and target.startswith("apps."):
            raise AssertionError(f"{where}: an application imports another application")


def test_the_checker_catches_an_upward_import(tmp_path: Path) -> None:
    """The rule itself can fail: a data module importing the trainer is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from nnpkit.training.trainer import fit\n")
    (line, imported), = _imports(bad)
    assert line == 2 and _layer(_unit(imported)) > _layer("data")


def test_labelling_starts_without_torch() -> None:
    """`nnpkit label` and farm workers import the labelling layer only: torch, e3nn and
    numba (2.5–3 s to import here, most of a short labelling run) stay out of it."""
    code = ("import sys, nnpkit.labeling, nnpkit.labeling.farm, nnpkit.cli.labeling; "
            "print(sorted(m for m in ('torch', 'e3nn', 'numba') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]", result.stdout
