"""The common model API: ``GenRecPreTrainedModel``, its outputs, item features and a catalog-constrained ``generate``.

Every hf_genrec model

* is a ``PreTrainedModel`` (save/load/push, ``AutoModel``) that also inherits ``GenerationMixin``;
* holds its catalog - the SID of every item - as the persistent buffer ``item_sids`` ``[num_items, L]``,
  so a saved folder can decode on its own;
* declares the cached item features it reads besides the SIDs (:class:`ItemFeature`, e.g. the text
  embeddings that produced the SIDs, the quantizer's codebooks); they are buffers saved with the weights;
* returns a :class:`GenRecOutput` from ``forward``: ``logits`` always, ``loss`` when ``labels`` (target codes)
  are given, so it also trains with ``transformers.Trainer``;
* implements the decoding protocol of :mod:`hf_genrec.generation.beam_search`
  (``prepare_decoding`` / ``decode_step`` / ``update_decoding_state``), which ``generate`` drives.

``docs/architecture.md`` says how a new method plugs in.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F
from transformers import GenerationConfig, GenerationMixin, PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_utils import GenRecConfig
from .generation import AdaptiveTemperature, constrained_beam_search
from .modules.backbones import backbone_config_dict, load_pretrained_backbone
from .tokenization.trie import CatalogTrie
from .utils.numerics import flush_denormals

#: Beam width of a freshly built model's ``generation_config`` (and of folders saved without one).
DEFAULT_NUM_BEAMS = 20
#: what a tokenizer or the collator may put in a batch, whichever model reads it
BATCH_INPUTS = ("input_ids", "attention_mask", "item_ids", "timestamps", "user_ids", "target_items")
#: ``generate`` options of transformers that catalog decoding has no use for (accepted and ignored)
IGNORED_GENERATE_OPTIONS = ("max_new_tokens", "max_length", "min_length", "early_stopping", "use_cache",
                            "pad_token_id", "bos_token_id", "eos_token_id", "output_attentions",
                            "output_hidden_states")


@dataclass
class GenRecOutput(ModelOutput):
    """Output of every hf_genrec model's ``forward``.

    * ``logits [B, L', K_max]``: unnormalised scores of level ``l``'s codes, teacher-forced on the labels'
      prefix ``c^{<l}``. With ``labels`` ``L' = L`` (every level); without labels ``L' = 1`` (the first level,
      which needs no prefix). Entries past a level's codebook size, and codes the model rules out (ComeIR
      scores catalog-valid children only), are ``-inf``. ``model.level_log_probs(logits[:, l], l)`` turns them
      into the log-probabilities that decoding adds up (a log-softmax over the level's codes; TIGER with
      ``loss_vocabulary='vocab'`` returns log-probabilities over its whole vocabulary, which it keeps).
    * ``loss``: the method's training objective (when ``labels`` are given); ``loss_terms`` its parts.

    Models that score items directly instead of decoding SIDs (SASRec; ``scores_items = True``) return
    ``logits [B, num_items]``, one score per catalog item, with or without labels.
    """

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    loss_terms: Optional[dict] = None
    hidden_states: Optional[torch.FloatTensor] = None


@dataclass
class GenRecGenerateOutput(ModelOutput):
    """Ranked recommendations: ``items [B, K]`` (``-1`` padded), their ``sids [B, K, L]`` and ``scores [B, K]``
    (sum of per-level log-probabilities); with ``verifier="none"`` also ``invalid_sid_rate``."""

    items: Optional[torch.LongTensor] = None
    sids: Optional[torch.LongTensor] = None
    scores: Optional[torch.FloatTensor] = None
    invalid_sid_rate: Optional[float] = None  # verifier="none" only: share of final beams that are no catalog SID

    @property
    def sequences(self) -> Optional[torch.LongTensor]:
        """transformers' name for the generated sequences: here the SID codes ``[B, K, L]`` of the ranked items."""
        return self.sids

    @property
    def sequences_scores(self) -> Optional[torch.FloatTensor]:
        """transformers' name for the final beam scores: ``scores [B, K]``."""
        return self.scores


@dataclass(frozen=True)
class ItemFeature:
    """A cached per-item input that a model reads besides the SIDs, declared on the model class.

    ``name`` is the keyword of :meth:`GenRecPreTrainedModel.set_item_features` and ``build_model``; the values
    live in the buffer ``buffer`` (saved with the weights). ``source`` says where ``hf-genrec train`` finds it
    (``"item_embeddings"``: the prepared folder's text embeddings; ``"quantizer_codebooks"``: the codebooks of
    the SIDs' quantizer). ``layout``:

    * ``"per_item"``: a ``[num_items, width]`` table;
    * ``"per_code"``: one ``[K_l, d_l]`` codebook per SID level, packed into ``[sum K, width]`` at the code
      offsets, zero-padded to ``width = max d_l``; levels without a codebook (a collision suffix) stay zero.

    ``width_field`` is the config field holding ``width``; ``build_model`` sets it from the data.
    ``opt_out`` names the config setting that does without the feature (for error messages).
    ``derive`` (optional) gives further config fields that follow from the value (PRISM: the number of tag classes
    per level from the tag table); ``build_model`` sets those not given. ``integer``: the values are class ids
    (``>= 0``, stored exactly in the float buffer).
    """

    name: str
    buffer: str
    source: str
    layout: str
    width_field: str
    description: str
    opt_out: str = ""
    derive: Optional[Callable[[Any], Dict[str, Any]]] = None
    integer: bool = False

    def width_of(self, value) -> int:
        if self.layout == "per_code":
            return max(int(book.shape[1]) for book in value)
        return int(value.shape[1])

    def shape(self, config: GenRecConfig) -> Tuple[int, int]:
        width = int(getattr(config, self.width_field))
        rows = sum(config.codebook_sizes) if self.layout == "per_code" else config.num_items
        return rows, width

    def as_table(self, value, config: GenRecConfig) -> torch.Tensor:
        """The buffer contents for ``value``, checked against the configuration."""
        rows, width = self.shape(config)
        if self.layout == "per_item":
            table = torch.as_tensor(value, dtype=torch.float32)
            if tuple(table.shape) != (rows, width):
                raise ValueError(f"{self.name} has shape {tuple(table.shape)}, expected {(rows, width)} "
                                 f"(num_items, {self.width_field})")
            if not bool(torch.isfinite(table).all()):
                raise ValueError(f"{self.name} contains NaN or infinite values")
            if self.integer and not bool(((table >= 0) & (table == table.round())).all()):
                raise ValueError(f"{self.name} must hold class ids (whole numbers >= 0)")
            return table
        if len(value) > config.num_levels:
            raise ValueError(f"{len(value)} codebooks for {config.num_levels} SID levels")
        table = torch.zeros(rows, width)
        for level, book in enumerate(value):
            book = torch.as_tensor(book, dtype=torch.float32)
            size = config.codebook_sizes[level]
            if book.ndim != 2 or book.shape[0] != size or book.shape[1] > width:
                raise ValueError(f"codebook {level} has shape {tuple(book.shape)}; expected {size} codes of at most "
                                 f"{width} dimensions")
            start = config.code_offsets[level]
            table[start: start + size, : book.shape[1]] = book
        return table


def _hub_model_files():
    """:mod:`hf_genrec.hub.model_files`, imported by name rather than relatively, so that the remote-code bundle
    (:mod:`hf_genrec.hub.remote_code` follows relative imports) stays without the Hub code; ``None`` where hf_genrec is
    not installed (a bundled copy then saves and pushes as plain transformers does)."""
    try:
        return importlib.import_module("hf_genrec.hub.model_files")
    except ModuleNotFoundError as error:  # hf_genrec itself is missing (a nameless error: an import hook hid it)
        if (error.name or "hf_genrec").split(".")[0] == "hf_genrec":
            return None
        raise


def history_mask(item_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Real positions of an item-level history: ``item_ids >= 0`` (padding is ``-1``), and the attention mask."""
    mask = item_ids >= 0
    return mask if attention_mask is None else attention_mask.bool() & mask


class GenRecPreTrainedModel(PreTrainedModel, GenerationMixin):
    config_class = GenRecConfig
    base_model_prefix = "genrec"
    main_input_name = "input_ids"
    _supports_sdpa = True
    #: every cached item feature the class can read; the order fixes the slots of the ``features_ready`` buffer
    item_features: Tuple[ItemFeature, ...] = ()
    #: config values a pretrained causal-LM backbone requires (``None``: the method takes no pretrained backbone)
    pretrained_backbone_config: Optional[Dict[str, Any]] = None
    #: ``True`` for models that score every item directly (no SID decoding): ``search`` ranks the whole catalog
    scores_items: bool = False

    @classmethod
    def sequence_training_unsupported(cls, config: GenRecConfig) -> Optional[str]:
        """Why ``training.train_examples: sequence`` cannot train this model with ``config`` (``None``: it can).

        Sequence-level training (labels ``[B, T, L]``, a target after every history position, one pass per window)
        needs a causal backbone whose state at a position does not depend on later positions. Models that support
        it override this; the default refuses."""
        return (f"{cls.__name__} trains on one prefix per example only (its backbone sees the whole history at every "
                "position)")

    def __init__(self, config: GenRecConfig):
        super().__init__(config)
        self.register_buffer("item_sids", torch.zeros(config.num_items, config.num_levels, dtype=torch.long))
        self._register_item_feature_buffers(config)
        self._trie_cache: dict = {}
        self.generation_config = GenerationConfig(num_beams=DEFAULT_NUM_BEAMS, do_sample=False,
                                                  pad_token_id=config.pad_token_id, bos_token_id=config.bos_token_id,
                                                  eos_token_id=config.eos_token_id)

    # ------------------------------------------------------------------ weights
    def _init_weights(self, module):
        """hf_genrec's initialisation policy: a backbone initialises itself when it is built, and each model
        initialises the modules it adds in its constructor (:meth:`init_added_modules` or its own rule). Nothing is
        re-initialised here, so transformers' hooks never overwrite either."""

    @torch.no_grad()
    def init_added_modules(self, std: float, skip: Sequence[str] = ()) -> None:
        """``N(0, std)`` weights and zero biases for every ``nn.Linear`` / ``nn.Embedding`` outside the backbone and
        outside the module paths in ``skip`` (prefixes such as ``"intra_memory.table"``), in registration order."""
        prefixes = ("backbone", *skip)
        for name, module in self.named_modules():
            if name.startswith(prefixes) or not isinstance(module, (nn.Linear, nn.Embedding)):
                continue
            nn.init.normal_(module.weight, std=std)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    # ------------------------------------------------------------------ saving
    def save_pretrained(self, save_directory, *args, **kwargs):
        """``PreTrainedModel.save_pretrained``, then the rest of a self-contained folder: the SID tokenizer (in the
        model's input layout), catalog trie, items, metrics, data licence and hf_genrec's model card
        (:func:`hf_genrec.hub.model_files.write_model_files`). ``push_to_hub=True`` pushes it (:meth:`push_to_hub`).
        A backbone with unmerged LoRA adapters is saved merged, with the adapter next to it
        (:func:`hf_genrec.training.lora.save_with_lora`), never as weights that reload randomly."""
        from .training.lora import is_lora, save_with_lora

        if is_lora(self):
            return save_with_lora(self, save_directory, *args, **kwargs)
        push = kwargs.pop("push_to_hub", False)
        hub_options = {k: kwargs.pop(k) for k in ("repo_id", "commit_message", "create_pr", "private", "token")
                       if k in kwargs}
        result = super().save_pretrained(save_directory, *args, **kwargs)
        files = _hub_model_files()
        if files is not None and (args[0] if args else kwargs.get("is_main_process", True)):
            files.write_model_files(self, save_directory)
        if push:
            self.push_to_hub(hub_options.pop("repo_id", Path(save_directory).name), **hub_options)
        return result

    def push_to_hub(self, repo_id: str, **kwargs):
        """Push the whole folder of :meth:`save_pretrained` - tokenizer, items and hf_genrec's card included - in one
        commit (:func:`hf_genrec.hub.model_files.push_model`; ``allow_restricted=True`` for a model trained on data
        whose licence restricts redistribution). A remote-code copy without hf_genrec pushes as transformers does."""
        files = _hub_model_files()
        if files is None:
            return super().push_to_hub(repo_id, **kwargs)
        return files.push_model(self, repo_id, **kwargs)

    # ------------------------------------------------------------------ backbone
    @classmethod
    def from_backbone(cls, name_or_path: str, codebook_sizes, num_items: int, **config_kwargs) -> "GenRecPreTrainedModel":
        """The model on a pretrained causal LM (``"Qwen/Qwen3-0.6B"``, ``"meta-llama/Llama-3.2-1B"`` or a local
        folder): the backbone weights are loaded once and saved with the model afterwards."""
        required = cls.pretrained_backbone_config
        if required is None:
            raise ValueError(f"{cls.__name__} does not take a pretrained causal-LM backbone")
        for key, value in required.items():
            given = config_kwargs.pop(key, value)
            if given != value:
                raise ValueError(f"a pretrained causal-LM backbone needs {key}={value!r}, got {given!r}")
        config = cls.config_class(codebook_sizes=codebook_sizes, num_items=num_items,
                                  backbone_config=backbone_config_dict(name_or_path), backbone_name_or_path=name_or_path,
                                  **required, **config_kwargs)
        model = cls(config)
        model.pretrained_backbone_module().load_state_dict(load_pretrained_backbone(name_or_path).state_dict())
        return model

    def pretrained_backbone_module(self) -> nn.Module:
        """The module that holds a pretrained causal LM's weights (``self.backbone`` unless a model wraps it)."""
        return self.backbone

    def backbone_sid_parameters(self):
        """Backbone parameters that are SID embeddings (they stay trainable under LoRA / a frozen backbone)."""
        return []

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

    def check_tokenizer(self, tokenizer, where: str = "the tokenizer") -> None:
        """The tokenizer must assign every item the SID this model was trained with (a tokenizer or weights file
        swapped from another run with the same shapes would otherwise rank silently wrong)."""
        tokenizer.check_compatible(self.config.num_levels, self.config.codebook_sizes, self.config.num_items)
        table = torch.as_tensor(tokenizer.item_sid_table, dtype=torch.long)
        differ = (table != self.item_sids.detach().cpu()).any(-1)
        if bool(differ.any()):
            raise ValueError(f"{where} gives {int(differ.sum())} of {len(table)} items another SID than the model's "
                             f"catalog (first: item {int(differ.nonzero()[0])}): tokenizer and weights come from "
                             "different runs")

    def catalog_trie(self, device: Optional[torch.device] = None) -> CatalogTrie:
        """The catalog trie of the ``item_sids`` buffer on ``device``, rebuilt only when the catalog changed. The
        buffer object and its in-place version counter answer most calls (training steps call this every step);
        when either differs the catalog's bytes decide, so a reloaded but equal catalog keeps its trie."""
        device = torch.device(device or self.item_sids.device)
        sids = self.item_sids
        cached = self._trie_cache.get(str(device))
        if cached is not None and cached["buffer"] is sids and cached["version"] == sids._version:
            return cached["trie"]
        digest = hash(sids.detach().cpu().numpy().tobytes())
        if cached is None or cached["digest"] != digest:
            cached = {"trie": CatalogTrie.from_codes(sids.cpu(), self.config.codebook_sizes).to(device),
                      "digest": digest}
        self._trie_cache = {str(device): {**cached, "buffer": sids, "version": sids._version}}
        return cached["trie"]

    # ------------------------------------------------------------------ item features
    @classmethod
    def item_feature_spec(cls, config: GenRecConfig) -> Tuple[ItemFeature, ...]:
        """The features this configuration reads (default: every declared feature); models override it when a
        setting does without one (ComeIR's ``token_scoring='mean'``)."""
        return cls.item_features

    def _register_item_feature_buffers(self, config: GenRecConfig) -> None:
        if not self.item_features:
            return
        for feature in self.item_feature_spec(config):
            if not getattr(config, feature.width_field, None):
                hint = f", or set {feature.opt_out}" if feature.opt_out else ""
                raise ValueError(f"{type(self).__name__} reads {feature.description} ({feature.name}) but "
                                 f"{feature.width_field} is not set: pass {feature.name}=... to build_model (hf-genrec "
                                 f"train does), or set {feature.width_field} and call set_item_features{hint}")
            self.register_buffer(feature.buffer, torch.zeros(*feature.shape(config)))
        # which features were installed, one slot per declared feature
        self.register_buffer("features_ready", torch.zeros(len(self.item_features), dtype=torch.uint8))

    @torch.no_grad()
    def set_item_features(self, **features) -> None:
        """Install cached item features by name (see :attr:`item_features`); features this configuration does not
        read are ignored. They are buffers, saved with the model."""
        declared = {feature.name: slot for slot, feature in enumerate(self.item_features)}
        unknown = sorted(set(features) - set(declared))
        if unknown:
            raise ValueError(f"{type(self).__name__} reads no item feature named {unknown}; it declares "
                             f"{sorted(declared) or 'none'}")
        for feature in self.item_feature_spec(self.config):
            value = features.get(feature.name)
            if value is None:
                continue
            buffer = getattr(self, feature.buffer)
            buffer.copy_(feature.as_table(value, self.config).to(buffer.device))
            self.features_ready[declared[feature.name]] = 1

    def check_item_features(self) -> None:
        """Raise a clear error when a feature this configuration reads was never installed."""
        for slot, feature in enumerate(self.item_features):
            if feature in self.item_feature_spec(self.config) and not bool(self.features_ready[slot]):
                raise ValueError(f"{feature.description} ({feature.name}) are not installed: call "
                                 f"set_item_features({feature.name}=...) (build_model and hf-genrec train do this)")

    # ------------------------------------------------------------------ inputs
    @staticmethod
    def sequence_targets(labels: Optional[torch.Tensor], target_items: Optional[torch.Tensor]):
        """For sequence-level batches (``labels [B, T, L]``): the positions that have a target ``[B, T]`` (bool),
        with ``(labels, target_items)`` unchanged; ``None`` for prefix batches (``labels [B, L]``)."""
        if labels is not None:
            return labels[..., 0] != -100 if labels.dim() == 3 else None
        if target_items is not None and target_items.dim() == 2:
            return target_items != -100
        return None

    def check_history_inputs(self, input_ids: Optional[torch.Tensor] = None, attention_mask: Optional[torch.Tensor] = None,
                             item_ids: Optional[torch.Tensor] = None) -> None:
        """Clear errors for histories encoded for another layout than the model's ``input_mode`` (the tokenizer's
        ``mode``) and for empty histories; ``forward`` and ``generate`` call it first."""
        name = type(self).__name__
        fix = ("or set tokenizer.default_mode = '{0}'. A tokenizer saved by model.save_pretrained has the model's "
               "mode; one saved on its own keeps its default_mode (tokenizer_config.json)")
        if self.config.input_mode == "item":
            if item_ids is None:
                raise ValueError(f"{name} reads one position per history item (config.input_mode 'item') but this "
                                 "batch has no item_ids: it was encoded with mode='flat', the tokenizer's default_mode "
                                 "unless given. Encode with tokenizer(histories, mode='item') " + fix.format("item"))
            mask = history_mask(item_ids, attention_mask)
        else:
            if item_ids is not None or input_ids is None or input_ids.dim() != 2:
                raise ValueError(f"{name} reads the histories' SID tokens one after the other (config.input_mode "
                                 "'flat') but this batch is laid out per item (mode='item', the tokenizer's "
                                 "default_mode unless given). Encode with tokenizer(histories, mode='flat') "
                                 + fix.format("flat"))
            mask = attention_mask.bool() if attention_mask is not None else input_ids != self.config.pad_token_id
        empty = torch.nonzero(~mask.any(-1)).flatten().tolist() if mask.shape[-1] else list(range(mask.shape[0]))
        if empty:
            raise ValueError(f"the histories of batch rows {empty[:10]} are empty: every history needs at least one item")

    def target_items_of(self, labels: torch.Tensor) -> torch.Tensor:
        """Item ids of target SIDs ``[B, L]`` (the lowest id of a SID shared by several items)."""
        items = self.catalog_trie(labels.device).first_items_of_codes(labels)
        if bool((items < 0).any()):
            raise ValueError("a target SID is not in the model's catalog")
        return items

    # ------------------------------------------------------------------ scores
    def level_log_probs(self, logits: torch.Tensor, level: int) -> torch.Tensor:
        """Log-probabilities of level ``level``'s codes from ``GenRecOutput.logits[:, level]`` ``[..., K_max]``."""
        return F.log_softmax(logits[..., : self.config.codebook_sizes[level]].float(), dim=-1)

    def sid_log_likelihood(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``sum_l log p(c_l | c_<l)`` ``[B]`` of the labels under teacher-forced ``logits [B, L, K_max]``: the score
        that beam search gives the same SID."""
        total = torch.zeros(labels.shape[0], device=logits.device)
        for level in range(labels.shape[1]):
            total = total + self.level_log_probs(logits[:, level], level).gather(1, labels[:, level, None]).squeeze(1)
        return total

    @staticmethod
    def pad_levels(per_level, width: int) -> torch.Tensor:
        """Stack per-level logits ``[B, K_l]`` into ``[B, L, width]`` with ``-inf`` past each level's codes."""
        return torch.stack([F.pad(x.float(), (0, width - x.shape[-1]), value=float("-inf")) for x in per_level], 1)

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

    def default_num_beams(self, generation_config: Optional[GenerationConfig] = None) -> int:
        """The beam width ``generate`` uses when none is passed: the model's ``generation_config.num_beams``
        (:data:`DEFAULT_NUM_BEAMS` when that is unset or 1, transformers' default for folders saved without one)."""
        configured = getattr(generation_config or self.generation_config, "num_beams", None) or 1
        return configured if configured > 1 else DEFAULT_NUM_BEAMS

    @torch.no_grad()
    def generate(self, input_ids: Optional[torch.LongTensor] = None, attention_mask: Optional[torch.Tensor] = None,
                 generation_config: Optional[GenerationConfig] = None, num_beams: Optional[int] = None,
                 num_return_sequences: Optional[int] = None, temperature=None, adaptive_temperature: bool = False,
                 timings: Optional[dict] = None, verifier: str = "mask", **inputs) -> GenRecGenerateOutput:
        """Recommend catalog items with trie-constrained beam search.

        Honoured ``GenerationConfig`` fields: ``num_beams``, ``num_return_sequences`` (default: all beams; with
        collisions kept, a beam's SID may stand for several items, so more items than beams can come back)
        and ``temperature`` (a float, or a per-level list). ``adaptive_temperature=True`` switches on PRISM's
        density-dependent temperature (Eq. 16). Sampling is not supported: every result is the beam search's.
        ``verifier`` (``"mask"``, ``"post_filter"``, ``"none"``): how catalog validity enters the search
        (:func:`~hf_genrec.generation.beam_search.constrained_beam_search`); only ``"mask"`` guarantees ``num_beams``
        valid SIDs.

        Returns a :class:`GenRecGenerateOutput` (``return_dict_in_generate=False``: the ``items`` tensor only;
        ``output_scores=False``: without ``scores``). Keyword arguments that are neither batch inputs of this model
        nor generation options are an error, as in transformers.
        """
        generation_config = generation_config or self.generation_config
        if getattr(generation_config, "do_sample", False) or inputs.pop("do_sample", False):
            raise NotImplementedError("hf_genrec decodes with trie-constrained beam search; sampling (do_sample=True) "
                                      "is not implemented")
        return_dict = inputs.pop("return_dict_in_generate", True)
        output_scores = inputs.pop("output_scores", True)
        for unused in IGNORED_GENERATE_OPTIONS:  # transformers options that have no meaning for catalog decoding
            inputs.pop(unused, None)
        self._check_generate_inputs(inputs)
        configured_return = getattr(generation_config, "num_return_sequences", None) or 1
        num_beams = num_beams or self.default_num_beams(generation_config)
        num_return_sequences = num_return_sequences or (configured_return if configured_return > 1 else num_beams)
        if adaptive_temperature:
            temperature = AdaptiveTemperature(self.config.num_items)
        elif temperature is None and getattr(generation_config, "temperature", None) not in (None, 1.0):
            temperature = generation_config.temperature
        was_training = self.training
        if was_training:
            self.eval()
        self.check_history_inputs(input_ids, attention_mask, inputs.get("item_ids"))
        try:  # on CPU, subnormal activations slow decoding several times over (utils/numerics.py)
            with flush_denormals(self.device.type == "cpu"):
                state = self.prepare_decoding(input_ids=input_ids, attention_mask=attention_mask, **inputs)
                batch_size = int(input_ids.shape[0]) if input_ids is not None else int(next(iter(
                    v for v in inputs.values() if isinstance(v, torch.Tensor))).shape[0])
                result = self.search(state, batch_size, num_beams, num_return_sequences, temperature, timings,
                                     verifier)
        finally:
            if was_training:
                self.train()
        if not return_dict:
            return result.items
        return GenRecGenerateOutput(items=result.items, sids=result.sids, scores=result.scores if output_scores else None,
                                    invalid_sid_rate=getattr(result, "invalid_sid_rate", None))

    def _check_generate_inputs(self, inputs: Dict[str, Any]) -> None:
        """Unknown keyword arguments of ``generate`` (a typo such as ``num_beam``) are an error naming them."""
        accepted = set(BATCH_INPUTS)
        for method in (self.forward, self.prepare_decoding):
            accepted |= {name for name, p in inspect.signature(method).parameters.items()
                         if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        unknown = sorted(set(inputs) - accepted)
        if unknown:
            raise ValueError(f"The following generate arguments are not used by {type(self).__name__}: {unknown} "
                             f"(batch inputs it reads: {sorted(accepted - {'labels'})})")

    def search(self, state: Any, batch_size: int, num_beams: int, num_return_sequences: int, temperature=None,
               timings: Optional[dict] = None, verifier: str = "mask"):
        """The best ``num_return_sequences`` catalog items per user: the trie-constrained beam search over SIDs
        (models that score items directly override this with a ranking of the whole catalog)."""
        return constrained_beam_search(self, state, batch_size, self.catalog_trie(self.item_sids.device), num_beams,
                                       num_return_sequences, temperature, timings, verifier)
