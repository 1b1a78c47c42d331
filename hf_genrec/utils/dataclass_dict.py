"""Strict dict -> dataclass conversion shared by the option dataclasses (quantizers, training)."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Type, TypeVar

T = TypeVar("T")


def dataclass_from_dict(cls: Type[T], data: Dict[str, Any], what: str = "") -> T:
    """``cls(**data)``, but an unknown key is an error that names it (a typo must not pass silently)."""
    names = {field.name for field in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {what or cls.__name__} option(s): {sorted(unknown)}")
    return cls(**data)
