"""Building (frozen, nested) dataclasses from plain dicts: the one config builder every config class uses.

``from_dict(cls, data)`` checks every key against ``cls``'s fields (an unknown key is an error naming the
class and the key), builds nested dataclass fields from nested dicts by the field's type annotation, and turns
JSON lists into tuples (frozen dataclasses hold tuples). Partial dicts keep the defaults of missing fields.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

__all__ = ["from_dict"]


def from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    if not isinstance(data, Mapping):
        raise ValueError(f"{cls.__name__}: expected a mapping of field values, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            raise ValueError(f"unknown {cls.__name__} field {key!r}")
        nested = _dataclass_of(hints.get(key))
        if nested is not None and isinstance(value, Mapping):
            value = from_dict(nested, value)
        elif isinstance(value, list):
            value = _tuples(value)
        kwargs[key] = value
    return cls(**kwargs)


def _dataclass_of(hint: Any) -> type | None:
    """The dataclass type named by a field annotation (directly or as one member of a union)."""
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        found = [a for a in typing.get_args(hint) if isinstance(a, type) and dataclasses.is_dataclass(a)]
        return found[0] if len(found) == 1 else None
    return None


def _tuples(value: list) -> tuple:
    return tuple(_tuples(v) if isinstance(v, list) else v for v in value)
