"""``SIDTokenizer``: the one tokenizer every hf_genrec model uses.

Vocabulary: the special tokens ``<pad>`` (0), ``<bos>`` (1), ``<eos>`` (2), then one token per
(level, code) with readable names ``<a_0> .. <a_{K1-1}>, <b_0> ..`` (the LETTER/LC-Rec convention).
Token id of code ``c`` at level ``l`` = ``3 + sum_{j<l} K_j + c`` (:mod:`.sid_vocab` has the offsets).

The tokenizer holds the item -> SID table (``semantic_ids.json``, JSON only) and encodes histories of
item ids in two layouts:

* ``mode="flat"`` (TIGER): ``input_ids [B, T*L]`` - L tokens per history item;
* ``mode="item"`` (IntRR, ComeIR, PRISM, DECOR): ``input_ids [B, T, L]`` token ids of each item's SID
  plus ``item_ids [B, T]`` (padding ``-1``) - one position per item.

Histories are truncated from the left and padded on the left by default (the most recent item is
always last), both configurable. ``decode`` turns token ids into SID strings; ``decode_items`` and
``codes_to_items`` map token ids or code tuples back to item ids.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from transformers.tokenization_utils_base import AddedToken, BatchEncoding, PreTrainedTokenizerBase

from ..utils.io import read_json_file
from .sid_vocab import SPECIAL_TOKENS, token_offsets
from .trie import CatalogTrie

SID_FILE = "semantic_ids.json"
LEVEL_LETTERS = "abcdefghijklmnopqrstuvwxyz"
MODES = ("flat", "item")


def _follow_model_input_mode(written: Path, folder: Path) -> None:
    """A tokenizer saved beside an hf_genrec model encodes histories the way that model reads them: the saved
    ``default_mode`` (``tokenizer_config.json`` in ``written``) becomes the ``input_mode`` of ``folder/config.json``
    when there is one. ``transformers.Trainer`` saves the model, then its ``processing_class``, so without this a
    checkpoint of an item-level model (IntRR, ComeIR, ...) would get a ``flat`` tokenizer."""
    from ..utils.io import atomic_write_json

    model_config, tokenizer_config = folder / "config.json", written / "tokenizer_config.json"
    if not model_config.exists() or not tokenizer_config.exists():
        return
    mode = read_json_file(model_config).get("input_mode")
    saved = read_json_file(tokenizer_config)
    if mode in MODES and saved.get("default_mode") != mode:
        saved["default_mode"] = mode
        atomic_write_json(tokenizer_config, saved)


class SIDTokenizer(PreTrainedTokenizerBase):
    """Tokenizer of semantic IDs; see the module docstring for the layouts."""

    vocab_files_names = {"sid_file": SID_FILE}
    model_input_names = ["input_ids", "attention_mask"]
    padding_side = "left"
    truncation_side = "left"

    def __init__(self, sid_file: Optional[str] = None, item_sids: Optional[Sequence[Sequence[int]]] = None,
                 codebook_sizes: Optional[Sequence[int]] = None, collisions: Optional[str] = None,
                 item_keys: Optional[Sequence[str]] = None, default_mode: str = "flat",
                 pad_token: str = "<pad>", bos_token: str = "<bos>", eos_token: str = "<eos>", **kwargs):
        if sid_file is not None:
            data = read_json_file(sid_file)
            item_sids, codebook_sizes = data["item_sids"], data["codebook_sizes"]
            collisions, item_keys = data.get("collisions"), data.get("item_keys")
        if item_sids is None or codebook_sizes is None:
            raise ValueError("SIDTokenizer needs item_sids and codebook_sizes (or a semantic_ids.json sid_file)")
        if default_mode not in MODES:
            raise ValueError(f"default_mode must be one of {MODES}")
        self.item_sid_table = torch.as_tensor(np.asarray(item_sids, dtype=np.int64))
        self.codebook_sizes = [int(s) for s in codebook_sizes]
        if self.item_sid_table.ndim != 2 or self.item_sid_table.shape[1] != len(self.codebook_sizes):
            raise ValueError(f"item_sids must be [items, {len(self.codebook_sizes)}], got {tuple(self.item_sid_table.shape)}")
        if len(self.codebook_sizes) > len(LEVEL_LETTERS):
            raise ValueError(f"at most {len(LEVEL_LETTERS)} SID levels are supported")
        bad = (self.item_sid_table < 0) | (self.item_sid_table >= torch.tensor(self.codebook_sizes))
        if bool(bad.any()):
            item, level = (int(v) for v in torch.nonzero(bad)[0])
            raise ValueError(f"item {item}: code {int(self.item_sid_table[item, level])} at level {level} is outside "
                             f"its codebook of size {self.codebook_sizes[level]}")
        self.collisions = collisions or "unknown"
        self.item_keys = list(item_keys) if item_keys is not None else None
        if self.item_keys is not None and len(self.item_keys) != len(self.item_sid_table):
            raise ValueError(f"{len(self.item_keys)} item keys for {len(self.item_sid_table)} items")
        self.default_mode = default_mode
        self.token_offsets = token_offsets(self.codebook_sizes)  # token id of code 0 of each level
        self._vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
        for level, size in enumerate(self.codebook_sizes):
            for code in range(size):
                self._vocab[self.code_token(level, code)] = self.token_offsets[level] + code
        self._ids_to_tokens = {index: token for token, index in self._vocab.items()}
        self._trie: Optional[CatalogTrie] = None
        super().__init__(pad_token=pad_token, bos_token=bos_token, eos_token=eos_token, default_mode=default_mode,
                         **kwargs)

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_sids(cls, item_sids, codebook_sizes: Sequence[int], collisions: Optional[str] = None,
                  item_keys: Optional[Sequence[str]] = None, **kwargs) -> "SIDTokenizer":
        sids = item_sids.tolist() if hasattr(item_sids, "tolist") else item_sids
        return cls(item_sids=sids, codebook_sizes=list(codebook_sizes), collisions=collisions, item_keys=item_keys,
                   **kwargs)

    @staticmethod
    def code_token(level: int, code: int) -> str:
        return f"<{LEVEL_LETTERS[level]}_{code}>"

    # ------------------------------------------------------------------ sizes and vocab
    @property
    def num_levels(self) -> int:
        return len(self.codebook_sizes)

    @property
    def num_items(self) -> int:
        return int(self.item_sid_table.shape[0])

    @property
    def vocab_size(self) -> int:
        return len(self._vocab)

    def __len__(self) -> int:
        return len(self._vocab)

    def get_vocab(self) -> Dict[str, int]:
        return dict(self._vocab)

    @property
    def added_tokens_decoder(self) -> Dict[int, AddedToken]:
        return {i: AddedToken(t, special=True, normalized=False) for i, t in enumerate(SPECIAL_TOKENS)}

    @property
    def added_tokens_encoder(self) -> Dict[str, int]:
        return {t: i for i, t in enumerate(SPECIAL_TOKENS)}

    def _convert_token_to_id(self, token: str) -> int:
        if token not in self._vocab:
            raise KeyError(f"unknown SID token {token!r}")
        return self._vocab[token]

    def convert_tokens_to_ids(self, tokens: Union[str, Sequence[str]]):
        if isinstance(tokens, str):
            return self._convert_token_to_id(tokens)
        return [self._convert_token_to_id(t) for t in tokens]

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False):
        if isinstance(ids, int):
            return self._id_to_token(ids)
        return [self._id_to_token(int(i)) for i in ids if not (skip_special_tokens and int(i) < len(SPECIAL_TOKENS))]

    def _id_to_token(self, index: int) -> str:
        if index not in self._ids_to_tokens:
            raise ValueError(f"token id {index} is outside the vocabulary (size {self.vocab_size})")
        return self._ids_to_tokens[index]

    def convert_tokens_to_string(self, tokens: List[str]) -> str:
        return "".join(tokens)

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return 0

    # ------------------------------------------------------------------ items <-> SIDs
    def _check_items(self, items: torch.Tensor) -> None:
        if items.numel() == 0:
            return
        bad = (items < 0) | (items >= self.num_items)
        if bool(bad.any()):
            raise ValueError(f"unknown item id {int(items[bad][0])}: the tokenizer knows items 0..{self.num_items - 1}")

    def item_codes(self, items) -> torch.Tensor:
        """Codes ``[..., L]`` of item ids (any shape)."""
        items = torch.as_tensor(items, dtype=torch.long)
        self._check_items(items)
        return self.item_sid_table[items]

    def codes_to_token_ids(self, codes: torch.Tensor) -> torch.Tensor:
        return codes + torch.tensor(self.token_offsets)

    def token_ids_to_codes(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Token ids ``[..., L]`` -> codes, checking that every token belongs to its level."""
        token_ids = torch.as_tensor(token_ids, dtype=torch.long)
        if token_ids.shape[-1] != self.num_levels:
            raise ValueError(f"expected {self.num_levels} tokens per SID, got {token_ids.shape[-1]}")
        codes = token_ids - torch.tensor(self.token_offsets)
        bad = (codes < 0) | (codes >= torch.tensor(self.codebook_sizes))
        if bool(bad.any()):
            position = torch.nonzero(bad)[0]
            raise ValueError(f"token id {int(token_ids[tuple(position)])} is not a level-{int(position[-1])} SID token")
        return codes

    def items_to_token_ids(self, items) -> torch.Tensor:
        """Token ids ``[..., L]`` of item ids (e.g. the labels of a flattened decoder)."""
        return self.codes_to_token_ids(self.item_codes(items))

    @property
    def catalog_trie(self) -> CatalogTrie:
        if self._trie is None:
            self._trie = CatalogTrie.from_codes(self.item_sid_table, self.codebook_sizes)
        return self._trie

    def codes_to_items(self, codes) -> List[List[int]]:
        """Item ids of each code tuple ``[B, L]`` (several with ``collisions='none'``; empty if unknown)."""
        codes = torch.as_tensor(codes, dtype=torch.long).reshape(-1, self.num_levels)
        bad = (codes < 0) | (codes >= torch.tensor(self.codebook_sizes))
        if bool(bad.any()):
            row, level = (int(v) for v in torch.nonzero(bad)[0])
            raise ValueError(f"code {int(codes[row, level])} at level {level} is out of range (size {self.codebook_sizes[level]})")
        trie = self.catalog_trie
        sid_ids = trie.sid_of_codes(codes)
        return [trie.items_of_sid(int(s)).tolist() if s >= 0 else [] for s in sid_ids]

    def decode_items(self, token_ids) -> List[List[int]]:
        """Token ids of whole SIDs (``[B, L]``, or flat ``[B, n*L]``) -> item ids per SID."""
        token_ids = torch.as_tensor(token_ids, dtype=torch.long)
        return self.codes_to_items(self.token_ids_to_codes(token_ids.reshape(-1, self.num_levels)))

    def check_compatible(self, levels: int, codebook_sizes: Sequence[int], num_items: Optional[int] = None,
                         what: str = "model") -> None:
        """Raise a clear error when a model was built for other SID levels, sizes or catalog."""
        if levels != self.num_levels or list(codebook_sizes) != self.codebook_sizes:
            raise ValueError(f"tokenizer has {self.num_levels} levels with codebook sizes {self.codebook_sizes} but the "
                             f"{what} expects {levels} levels with sizes {list(codebook_sizes)}")
        if num_items is not None and num_items != self.num_items:
            raise ValueError(f"tokenizer knows {self.num_items} items but the {what} expects {num_items}")

    # ------------------------------------------------------------------ encoding
    def __call__(self, histories, mode: Optional[str] = None, padding: Union[bool, str] = True,
                 truncation: Optional[bool] = None, max_length: Optional[int] = None,
                 padding_side: Optional[str] = None, truncation_side: Optional[str] = None,
                 return_tensors: Optional[str] = None, add_eos: bool = False,
                 return_attention_mask: bool = True, **kwargs) -> BatchEncoding:
        """Encode a batch of histories (lists of item ids; a single flat list counts as one history).

        ``max_length`` counts tokens in ``flat`` mode (whole items are dropped, never part of a SID) and
        items in ``item`` mode. ``padding`` is ``True``/``"longest"``, ``"max_length"`` or ``False``.
        """
        if kwargs:
            raise TypeError(f"unexpected argument(s) {sorted(kwargs)}")
        mode = mode or self.default_mode
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if isinstance(histories, torch.Tensor):
            histories = histories.tolist()
        if len(histories) and not isinstance(histories[0], (list, tuple, np.ndarray, torch.Tensor)):
            histories = [histories]
        padding_side = padding_side or self.padding_side
        truncation_side = truncation_side or self.truncation_side
        for side, name in ((padding_side, "padding_side"), (truncation_side, "truncation_side")):
            if side not in ("left", "right"):
                raise ValueError(f"{name} must be 'left' or 'right', got {side!r}")
        L = self.num_levels
        extra = 1 if add_eos else 0
        if truncation is None:
            truncation = max_length is not None
        item_limit = None
        if truncation:
            limit = max_length if max_length is not None else self.model_max_length
            item_limit = limit if mode == "item" else max(0, (limit - extra) // L)
        rows = []
        for history in histories:
            items = torch.as_tensor(list(history) if not isinstance(history, torch.Tensor) else history, dtype=torch.long).reshape(-1)
            if item_limit is not None and len(items) > item_limit:
                items = items[len(items) - item_limit:] if truncation_side == "left" else items[:item_limit]
            rows.append(items)
        pad_to = None
        if padding in (True, "longest"):
            pad_to = max((len(r) for r in rows), default=0)
        elif padding == "max_length":
            if max_length is None:
                raise ValueError("padding='max_length' needs max_length")
            pad_to = max_length if mode == "item" else max(0, (max_length - extra) // L)
        elif padding not in (False, "do_not_pad"):
            raise ValueError(f"unknown padding strategy {padding!r}")
        if pad_to is None and return_tensors is not None and len({len(r) for r in rows}) > 1:
            raise ValueError("histories of different lengths need padding to be returned as tensors")
        encoded = self._lay_out(rows, mode, pad_to, padding_side, add_eos, as_lists=return_tensors is None)
        if not return_attention_mask:
            encoded.pop("attention_mask")
        if return_tensors is not None:  # explicit shapes, so that empty histories still give [B, 0(, L)]
            if return_tensors not in ("pt", "np"):
                raise ValueError(f"return_tensors must be 'pt', 'np' or None, got {return_tensors!r}")
            mask = encoded.get("attention_mask", encoded["input_ids"])
            width = mask.shape[1] if isinstance(mask, np.ndarray) else len(mask[0])
            shapes = {"input_ids": (len(rows), width, L) if mode == "item" else (len(rows), width),
                      "attention_mask": (len(rows), width), "item_ids": (len(rows), width)}
            for key, value in encoded.items():
                tensor = (torch.from_numpy(value) if isinstance(value, np.ndarray) else
                          torch.tensor(value, dtype=torch.long)).reshape(shapes[key])
                encoded[key] = tensor if return_tensors == "pt" else tensor.numpy()
        return BatchEncoding(encoded)

    def _lay_out(self, rows: List[torch.Tensor], mode: str, pad_to: Optional[int], padding_side: str,
                 add_eos: bool, as_lists: bool) -> Dict[str, Any]:
        """Token ids, attention mask (and item ids in item mode) of every history: ``[B, W(, L)]`` numpy arrays when
        the batch is padded to one width, lists of rows otherwise (or with ``as_lists``).

        All items of the batch are looked up in one call (which also validates them) and each row is written into a
        numpy array with slices: no tensor operation per history (the collator's cost, docs/performance.md)."""
        L, extra, left = self.num_levels, 1 if add_eos else 0, padding_side == "left"
        lengths = [len(r) for r in rows]
        if pad_to is None and len(set(lengths)) > 1:  # ragged rows (no padding): one array each
            batches = [self._lay_out([row], mode, len(row), padding_side, add_eos, as_lists=True) for row in rows]
            return {key: [b[key][0] for b in batches] for key in batches[0]}
        items = torch.cat(rows) if rows else torch.zeros(0, dtype=torch.long)
        tokens = self.items_to_token_ids(items).numpy()
        items = items.numpy()
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        width, size = (pad_to if pad_to is not None else (lengths[0] if lengths else 0)), len(rows)
        if mode == "flat":
            ids = np.full((size, width * L + extra), self.pad_token_id, dtype=np.int64)
            mask = np.zeros((size, width * L + extra), dtype=np.int64)
        else:
            ids = np.full((size, width, L), self.pad_token_id, dtype=np.int64)
            mask = np.zeros((size, width), dtype=np.int64)
            item_ids = np.full((size, width), -1, dtype=np.int64)
        for i, n in enumerate(lengths):
            first = width - n if left else 0  # the row's first real item
            a, b = offsets[i], offsets[i + 1]
            if mode == "flat":
                start = first * L
                ids[i, start:start + n * L] = tokens[a:b].reshape(-1)
                if add_eos:
                    ids[i, start + n * L] = self.eos_token_id
                mask[i, start:start + n * L + extra] = 1
            else:
                ids[i, first:first + n] = tokens[a:b]
                mask[i, first:first + n] = 1
                item_ids[i, first:first + n] = items[a:b]
        encoded = {"input_ids": ids, "attention_mask": mask, **({"item_ids": item_ids} if mode == "item" else {})}
        return {key: value.tolist() for key, value in encoded.items()} if as_lists else encoded

    def encode_targets(self, items, return_tensors: str = "pt", as_token_ids: bool = False):
        """Labels for the next-item SID: codes ``[B, L]`` (or token ids with ``as_token_ids``)."""
        codes = self.item_codes(items)
        out = self.codes_to_token_ids(codes) if as_token_ids else codes
        return out if return_tensors == "pt" else out.numpy()

    # ------------------------------------------------------------------ decoding
    def _decode(self, token_ids, skip_special_tokens: bool = False, **kwargs) -> str:
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        return "".join(self.convert_ids_to_tokens([int(t) for t in token_ids], skip_special_tokens=skip_special_tokens))

    def decode(self, token_ids, skip_special_tokens: bool = False, **kwargs) -> str:
        """Token ids -> a string of SID tokens, e.g. ``"<a_12><b_7><c_3>"``."""
        if isinstance(token_ids, torch.Tensor):
            token_ids = token_ids.reshape(-1).tolist()
        return self._decode(token_ids, skip_special_tokens=skip_special_tokens)

    def batch_decode(self, sequences, skip_special_tokens: bool = False, **kwargs) -> List[str]:
        return [self.decode(s, skip_special_tokens=skip_special_tokens) for s in sequences]

    # ------------------------------------------------------------------ files
    def save_vocabulary(self, save_directory: str, filename_prefix: Optional[str] = None) -> Tuple[str]:
        from ..utils.io import atomic_write_json

        name = (filename_prefix + "-" if filename_prefix else "") + SID_FILE
        path = Path(save_directory) / name
        atomic_write_json(path, {"codebook_sizes": self.codebook_sizes, "collisions": self.collisions,
                                 "num_items": self.num_items, "item_keys": self.item_keys,
                                 "item_sids": self.item_sid_table.tolist()})
        return (str(path),)

    def save_pretrained(self, save_directory: Union[str, os.PathLike], *args, **kwargs):
        """Write the JSON files to a temporary folder first, then move each into place (no half-written files).
        Saved beside an hf_genrec model (a ``config.json`` with ``input_mode``), the files take that model's layout
        as ``default_mode``."""
        save_directory = Path(save_directory)
        save_directory.mkdir(parents=True, exist_ok=True)
        push_to_hub = kwargs.pop("push_to_hub", False)
        with tempfile.TemporaryDirectory(dir=save_directory, prefix=".tokenizer-") as tmp:
            written = super().save_pretrained(tmp, *args, **kwargs)
            _follow_model_input_mode(Path(tmp), save_directory)
            final = []
            for path in written:
                if not Path(path).exists():  # the base lists added_tokens.json even when it writes none
                    continue
                target = save_directory / Path(path).name
                os.replace(path, target)
                final.append(str(target))
        if push_to_hub:
            self.push_to_hub(kwargs.get("repo_id", save_directory.name), token=kwargs.get("token"))
        return tuple(final)

    def __repr__(self) -> str:
        return (f"SIDTokenizer(items={self.num_items}, levels={self.num_levels}, codebook_sizes={self.codebook_sizes}, "
                f"collisions={self.collisions!r}, vocab_size={self.vocab_size}, default_mode={self.default_mode!r})")
