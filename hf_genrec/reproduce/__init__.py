"""The reproduction harness: published results, the experiments that reproduce them, and the runner behind
``hf-genrec reproduce`` (see :mod:`.registry` and :mod:`.runner`)."""

from .registry import EXPERIMENTS, TABLES, DataRecipe, Experiment, Published, ReproductionTable, published_rows

__all__ = ["EXPERIMENTS", "TABLES", "DataRecipe", "Experiment", "Published", "ReproductionTable", "published_rows"]
