"""Hugging Face Hub integration: cards rendered from templates, pushing prepared artefacts."""

from .cards import render_dataset_card

__all__ = ["render_dataset_card"]
