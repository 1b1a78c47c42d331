"""Small shared helpers: atomic file output, JSON summaries, progress bars."""

from .io import atomic_output_dir, atomic_write_bytes, atomic_write_json, atomic_write_text, sha256_of_strings
from .progress import progress

__all__ = [
    "atomic_output_dir",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "progress",
    "sha256_of_strings",
]
