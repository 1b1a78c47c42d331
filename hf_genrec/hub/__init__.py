"""Hugging Face Hub integration: cards, self-contained model folders, remote-code export, pushing, and prepared
datasets read back from the Hub."""

from .cards import render_dataset_card, render_model_card
from .dataset_loading import load_prepared_dataset
from .datasets import export_dataset_folder, push_dataset, write_dataset_card
from .export import load_items, save_model_folder
from .model_files import attach_model_files
from .push import HubPushError, push_folder, push_model_folder
from .remote_code import export_remote_code

__all__ = ["HubPushError", "attach_model_files", "export_dataset_folder", "export_remote_code", "load_items",
           "load_prepared_dataset", "push_dataset", "push_folder", "push_model_folder", "render_dataset_card",
           "render_model_card", "save_model_folder", "write_dataset_card"]
