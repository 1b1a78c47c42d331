"""hf_genrec: generative recommendation with semantic IDs, built on the Hugging Face stack.

The pipeline runs one way: raw logs -> :mod:`hf_genrec.data` -> :mod:`hf_genrec.embeddings`
-> :mod:`hf_genrec.quantization` (semantic IDs) -> :mod:`hf_genrec.tokenization` -> :mod:`hf_genrec.models`
-> :mod:`hf_genrec.generation` -> :mod:`hf_genrec.evaluation` -> :mod:`hf_genrec.hub`.

``import hf_genrec`` registers the library's configs, models and the SID tokenizer with the transformers
Auto classes, so ``AutoModel.from_pretrained(folder)`` and ``AutoTokenizer.from_pretrained(folder)`` work
afterwards. The registration happens on the Auto classes' first lookup (:mod:`hf_genrec.auto`), so the
import itself is light. Likewise the ``recommendation`` pipeline task (:mod:`hf_genrec.pipelines`) is registered
once ``transformers.pipelines`` is imported: ``pipeline("recommendation", model=folder)``.
"""

from ._version import __version__
from .auto import install_lazy_registration, register_auto_classes
from .pipelines import install_pipeline_registration

install_lazy_registration()
install_pipeline_registration()

__all__ = ["__version__", "register_auto_classes"]
