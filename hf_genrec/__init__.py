"""hf_genrec: generative recommendation with semantic IDs, built on the Hugging Face stack.

The pipeline runs one way: raw logs -> :mod:`hf_genrec.data` -> :mod:`hf_genrec.embeddings`
-> :mod:`hf_genrec.quantization` (semantic IDs) -> :mod:`hf_genrec.tokenization` -> models ->
generation -> :mod:`hf_genrec.evaluation` -> Hub.

``import hf_genrec`` registers the library's configs, models and the SID tokenizer with the
transformers Auto classes, so ``AutoTokenizer.from_pretrained(folder)`` works afterwards.
"""

from ._version import __version__
from .auto import register_auto_classes

register_auto_classes()

__all__ = ["__version__", "register_auto_classes"]
