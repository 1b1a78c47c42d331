"""Hugging Face Hub integration: cards, self-contained model folders, remote-code export, pushing."""

from .cards import render_dataset_card, render_model_card
from .datasets import export_dataset_folder, push_dataset, write_dataset_card
from .export import load_items, save_model_folder
from .push import HubPushError, push_folder, push_model_folder
from .remote_code import export_remote_code

__all__ = ["HubPushError", "export_dataset_folder", "export_remote_code", "load_items", "push_dataset", "push_folder",
           "push_model_folder", "render_dataset_card", "render_model_card", "save_model_folder", "write_dataset_card"]
