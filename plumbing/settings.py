"""Settings from the environment: PNR_<NAME> variables coerced once at start-up, a bad one named.

Each process keeps its own table (name -> (default, coercer)); the coercers and the reading are
here so that "true", "300" and "a,b" mean the same to the web app, the jobs and the listeners.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

ENV_PREFIX = "PNR_"
Table = Mapping[str, tuple[Any, Callable[[str], Any]]]


class SettingsError(ValueError):
    """A setting in the environment cannot be coerced or is not allowed; the message names it."""


def boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def comma_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def text(value: str) -> str:
    return value


def defaults(table: Table) -> dict[str, Any]:
    """Every setting of `table` at its default (lists copied, so no caller shares one)."""
    return {name: (list(default) if isinstance(default, list) else default) for name, (default, _) in table.items()}


def from_env(table: Table, environ: Mapping[str, str] | None = None, *, empty_is_default: bool = False) -> dict[str, Any]:
    """The settings of `table` present in the environment, coerced; raises SettingsError naming a
    bad one. With `empty_is_default`, a variable set to "" counts as absent."""
    environ = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    for name, (_, coerce) in table.items():
        raw = environ.get(ENV_PREFIX + name)
        if raw is None or (empty_is_default and raw == ""):
            continue
        try:
            found[name] = coerce(raw)
        except ValueError as exc:
            raise SettingsError(f"{ENV_PREFIX}{name}: {exc}") from None
    return found
