"""One plain value of a configuration file, checked against its knob's annotation.

Kept out of `basketcast.config`, which holds the knobs themselves: this is only
"is 3 a whole number, is "auto" allowed here", with an error that names the key.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any

from basketcast.errors import ConfigError

__all__ = ["check_value"]


def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {list: "a list", dict: "a section"}
    return names.get(type(value), type(value).__name__)


def check_value(value: Any, kind: str, where: str, enums: Mapping[str, type[enum.StrEnum]]) -> Any:
    """`value` as the field type `kind` (the annotation's text), or ConfigError naming `where`.

    `enums` maps an enum annotation's text to its class: a value must be a member's value.
    """
    shown = json.dumps(value) if isinstance(value, str | int | float | bool) else repr(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be true or false, got {shown} ({_type_name(value)})")
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be a whole number, got {shown} ({_type_name(value)})")
    if kind == "int | str":  # a number or the word "auto"; the dataclass checks the range
        if (isinstance(value, int) and not isinstance(value, bool)) or value == "auto":
            return value
        raise ConfigError(f'{where} must be a whole number or "auto", got {shown}')
    if kind == "float | str":  # a number or the word "auto"; the dataclass checks the range
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if value == "auto":
            return value
        raise ConfigError(f'{where} must be a number or "auto", got {shown}')
    if kind == "float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where} must be a number, got {shown} ({_type_name(value)})")
    if kind in enums:
        members = enums[kind]
        choices = ", ".join(m.value for m in members)
        if isinstance(value, str) and value in {m.value for m in members}:
            return members(value)
        raise ConfigError(f"{where} must be one of {choices}, got {shown}")
    if kind == "str":
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where} must be a string, got {shown} ({_type_name(value)})")
    if kind == "tuple[str, ...]":
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"{where} must be a list of strings, got {shown}")
    if kind == "tuple[int, ...]":
        if isinstance(value, list | tuple) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            return tuple(value)
        raise ConfigError(f"{where} must be a list of whole numbers, got {shown}")
    raise TypeError(f"no check for configuration type {kind!r} ({where})")  # a bug, not input
