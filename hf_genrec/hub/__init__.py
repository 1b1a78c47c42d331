"""Hugging Face Hub integration: cards rendered from templates, self-contained model folders."""

from .cards import render_dataset_card, render_model_card
from .export import load_items, save_model_folder

__all__ = ["load_items", "render_dataset_card", "render_model_card", "save_model_folder"]
