"""The common model API: ``GenRecPreTrainedModel``, its outputs, and a catalog-constrained ``generate``.

Every hf_genrec model

* is a ``PreTrainedModel`` (save/load/push, ``AutoModel``) that also inherits ``GenerationMixin``;
* holds its catalog - the SID of every item - as the persistent buffer ``item_sids`` ``[num_items, L]``,
  so a saved folder can decode on its own;
* returns a :class:`GenRecOutput` with ``loss`` from ``forward(..., labels=target_codes)``, so it also
  trains with ``transformers.Trainer``;
* implements the decoding protocol of :mod:`hf_genrec.generation.beam_search`
  (``prepare_decoding`` / ``decode_step`` / ``update_decoding_state``), which ``generate`` drives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
from transformers import GenerationConfig, GenerationMixin, PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_utils import GenRecConfig
from .generation import AdaptiveTemperature, constrained_beam_search
from .tokenization.trie import CatalogTrie

DEFAULT_NUM_BEAMS = 20


@dataclass
class GenRecOutput(ModelOutput):
    """``loss`` (when labels are given) and the per-level logits ``[B, L, K]`` (or model-specific)."""

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    loss_terms: Optional[dict] = None
    hidden_states: Optional[torch.FloatTensor] = None


@dataclass
class GenRecGenerateOutput(ModelOutput):
    """Ranked recommendations: ``items [B, K]`` (``-1`` padded), their ``sids [B, K, L]`` and ``scores [B, K]``
    (sum of per-level log-probabilities)."""

    items: Optional[torch.LongTensor] = None
    sids: Optional[torch.LongTensor] = None
    scores: Optional[torch.FloatTensor] = None


class GenRecPreTrainedModel(PreTrainedModel, GenerationMixin):
    config_class = GenRecConfig
    base_model_prefix = "genrec"
    main_input_name = "input_ids"
    _supports_sdpa = True

    def __init__(self, config: GenRecConfig):
        super().__init__(config)
        self.register_buffer("item_sids", torch.zeros(config.num_items, config.num_levels, dtype=torch.long))
        self._trie_cache: dict = {}
        self.generation_config = GenerationConfig(num_beams=DEFAULT_NUM_BEAMS, do_sample=False,
                                                  pad_token_id=config.pad_token_id, bos_token_id=config.bos_token_id,
                                                  eos_token_id=config.eos_token_id)

    # ------------------------------------------------------------------ catalog
    def set_catalog(self, item_sids) -> None:
        """Install the SIDs of the catalog (a ``[num_items, L]`` table or a :class:`SIDTokenizer`)."""
        table = getattr(item_sids, "item_sid_table", item_sids)
        table = torch.as_tensor(table, dtype=torch.long)
        expected = (self.config.num_items, self.config.num_levels)
        if tuple(table.shape) != expected:
            raise ValueError(f"catalog has shape {tuple(table.shape)} but the model was configured for {expected} "
                             f"(num_items, levels)")
        sizes = torch.tensor(self.config.codebook_sizes)
        if bool(((table < 0) | (table >= sizes)).any()):
            raise ValueError("catalog codes fall outside the configured codebook sizes")
        self.item_sids.copy_(table.to(self.item_sids.device))
        self._trie_cache = {}

    def catalog_trie(self, device: Optional[torch.device] = None) -> CatalogTrie:
        device = torch.device(device or self.item_sids.device)
        key = (str(device), hash(self.item_sids.detach().cpu().numpy().tobytes()))
        if key not in self._trie_cache:
            trie = CatalogTrie.from_codes(self.item_sids.cpu(), self.config.codebook_sizes)
            self._trie_cache = {key: trie.to(device)}
        return self._trie_cache[key]

    # ------------------------------------------------------------------ decoding protocol (per model)
    def prepare_decoding(self, **inputs) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement prepare_decoding")

    def decode_step(self, state: Any, level: int, valid_mask: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement decode_step")

    def update_decoding_state(self, state: Any, level: int, parent: torch.Tensor, codes: torch.Tensor) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement update_decoding_state")

    # ------------------------------------------------------------------ generate
    def can_generate(self) -> bool:  # noqa: D401 - transformers hook
        return True

    @torch.no_grad()
    def generate(self, input_ids: Optional[torch.LongTensor] = None, attention_mask: Optional[torch.Tensor] = None,
                 generation_config: Optional[GenerationConfig] = None, num_beams: Optional[int] = None,
                 num_return_sequences: Optional[int] = None, temperature=None, adaptive_temperature: bool = False,
                 timings: Optional[dict] = None, **inputs) -> GenRecGenerateOutput:
        """Recommend catalog items with trie-constrained beam search.

        Honoured ``GenerationConfig`` fields: ``num_beams``, ``num_return_sequences`` (default: all beams; with
        collisions kept, a beam's SID may stand for several items, so more items than beams can come back)
        and ``temperature`` (a float, or a per-level list). ``adaptive_temperature=True`` switches on PRISM's
        density-dependent temperature (Eq. 16). Sampling is not supported: every result is the beam search's.
        """
        generation_config = generation_config or self.generation_config
        if getattr(generation_config, "do_sample", False) or inputs.pop("do_sample", False):
            raise NotImplementedError("hf_genrec decodes with trie-constrained beam search; sampling (do_sample=True) "
                                      "is not implemented")
        for unused in ("max_new_tokens", "max_length", "min_length", "early_stopping", "use_cache"):
            inputs.pop(unused, None)
        configured_beams = getattr(generation_config, "num_beams", None) or 1
        configured_return = getattr(generation_config, "num_return_sequences", None) or 1
        num_beams = num_beams or (configured_beams if configured_beams > 1 else DEFAULT_NUM_BEAMS)
        num_return_sequences = num_return_sequences or (configured_return if configured_return > 1 else num_beams)
        if adaptive_temperature:
            temperature = AdaptiveTemperature(self.config.num_items)
        elif temperature is None and getattr(generation_config, "temperature", None) not in (None, 1.0):
            temperature = generation_config.temperature
        was_training = self.training
        if was_training:
            self.eval()
        try:
            state = self.prepare_decoding(input_ids=input_ids, attention_mask=attention_mask, **inputs)
            batch_size = int(input_ids.shape[0]) if input_ids is not None else int(next(iter(
                v for v in inputs.values() if isinstance(v, torch.Tensor))).shape[0])
            result = constrained_beam_search(self, state, batch_size, self.catalog_trie(self.item_sids.device),
                                             num_beams, num_return_sequences, temperature, timings)
        finally:
            if was_training:
                self.train()
        return GenRecGenerateOutput(items=result.items, sids=result.sids, scores=result.scores)
