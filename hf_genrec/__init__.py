"""hf_genrec: generative recommendation with semantic IDs, built on the Hugging Face stack.

The pipeline runs one way: raw logs -> :mod:`hf_genrec.data` -> :mod:`hf_genrec.embeddings`
-> semantic IDs -> models -> generation -> :mod:`hf_genrec.evaluation` -> Hub.
Heavy dependencies (torch, transformers, datasets) are imported by the submodules that need them,
so ``import hf_genrec`` stays cheap.
"""

from ._version import __version__

__all__ = ["__version__"]
