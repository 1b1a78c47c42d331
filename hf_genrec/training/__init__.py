"""Training utilities: the batch collator (shared by every model) and, later, the accelerate trainer."""

from .collator import GenRecCollator

__all__ = ["GenRecCollator"]
