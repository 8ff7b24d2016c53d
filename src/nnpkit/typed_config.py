"""Loading typed configs from YAML (layer 0): errors name the file and the key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from nnpkit.errors import ConfigError

__all__ = ["StrictConfig", "apply_overrides", "load_typed_config"]

ConfigT = TypeVar("ConfigT", bound=BaseModel)


class StrictConfig(BaseModel):
    """Base of every typed config: an unknown key is an error, never silently ignored."""

    model_config = ConfigDict(extra="forbid")


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a raw config dict."""
    result = {**raw}
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"override {override!r} is not of the form key=value")
        key, value = override.split("=", 1)
        node = result
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node[part] = dict(node.get(part) or {})
            node = node[part]
        node[parts[-1]] = yaml.safe_load(value)
    return result


def _format_validation_error(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        lines.append(f"{source}: {key}: {message}")
    return "\n".join(lines)


def load_typed_config(source: str | os.PathLike | dict, config_class: type[ConfigT],
                      overrides: list[str] | None = None) -> ConfigT:
    """Read a YAML file (or take a dict), apply overrides, validate into ``config_class``.

    Raises:
        ConfigError: a missing or malformed file (names the path) or an invalid or unknown
            key (names the file and the dotted key).
    """
    name = "<dict>"
    if isinstance(source, dict):
        raw = source
    else:
        name = str(source)
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML ({error})") from error
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: the config must be a mapping")
    raw = apply_overrides(raw, overrides or [])
    try:
        return config_class.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error, name)) from error
