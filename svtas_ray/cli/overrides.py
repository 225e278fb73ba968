"""``--set key.sub=value`` text to typed override values: the only place config text is parsed.

The annotated type of each dotted key decides how its text is read: ``none``/``null`` for an
optional field, comma-separated items or a JSON list for a tuple (``a,b`` or ``[1, 2]``; empty
text is an empty tuple), the text itself otherwise (pydantic converts numbers and booleans when
:func:`svtas_ray.config.override` validates the result).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterable
from typing import Any

from svtas_ray.config import field_type
from svtas_ray.errors import ConfigError


def parse_overrides(cls: type, items: Iterable[str]) -> dict[str, Any]:
    """``["algo.lr=3e-4", ...]`` -> ``{"algo.lr": "3e-4", ...}`` typed by ``cls``'s fields."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        out[key] = parse_value(raw.strip(), field_type(cls, key), key)
    return out


def parse_value(raw: str, kind: Any, key: str) -> Any:
    """Command-line text ``raw`` for a field annotated ``kind``."""
    if dataclasses.is_dataclass(kind):
        raise ConfigError(f"{key!r} is a section; set one of its fields, e.g. {key}.x=1")
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if type(None) in args and raw.lower() in ("none", "null"):
            return None
        kind = next(a for a in args if a is not type(None))
    if typing.get_origin(kind) is not tuple:
        return raw
    if raw.startswith("["):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise ConfigError(f"{key!r}: cannot parse {raw!r} as a JSON list") from None
    return [item.strip() for item in raw.split(",")] if raw else []
