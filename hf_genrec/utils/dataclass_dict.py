"""Strict dict -> dataclass conversion shared by the option dataclasses (quantizers, training).

An unknown key is an error that names it (a typo must not pass silently), and every value must have its field's
type: ``int`` fields take integers (not ``True``), ``float`` fields integers or floats (finite), ``bool`` fields
booleans, ``str`` fields strings, ``Optional[...]`` also ``None``, ``List[...]`` lists of the element type.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Dict, Type, TypeVar

T = TypeVar("T")

_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def dataclass_from_dict(cls: Type[T], data: Dict[str, Any], what: str = "") -> T:
    """``cls(**data)`` with unknown keys and wrongly typed values reported as ``ValueError`` naming the key."""
    if not isinstance(data, dict):
        raise ValueError(f"the {what or cls.__name__} section must be a mapping of options, got {type(data).__name__}")
    names = {field.name for field in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {what or cls.__name__} option(s): {sorted(unknown)}; known: {sorted(names)}")
    hints = typing.get_type_hints(cls)
    for key, value in data.items():
        problem = _type_problem(value, hints[key])
        if problem:
            raise ValueError(f"{what + '.' if what else ''}{key} must be {problem}, got {value!r}")
    return cls(**data)


def _type_problem(value: Any, hint: Any) -> str:
    """``""`` when ``value`` fits the annotation ``hint``, else what it should be."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        options = [a for a in args if a is not type(None)]
        if value is None and len(options) < len(args):
            return ""
        problems = [_type_problem(value, option) for option in options]
        return "" if "" in problems else " or ".join(problems) + (" or null" if len(options) < len(args) else "")
    if origin in (list, typing.List):
        if not isinstance(value, (list, tuple)):
            return "a list"
        element = args[0] if args else Any
        inner = next((p for p in (_type_problem(v, element) for v in value) if p), "")
        return f"a list of {inner.split(' ', 1)[-1]}s" if inner else ""
    if hint is bool:
        return "" if isinstance(value, bool) else _NAMES[bool]
    if hint is int:
        return "" if isinstance(value, int) and not isinstance(value, bool) else _NAMES[int]
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _NAMES[float]
        return "" if math.isfinite(value) else "a finite number"
    if hint is str:
        return "" if isinstance(value, str) else _NAMES[str]
    return ""
