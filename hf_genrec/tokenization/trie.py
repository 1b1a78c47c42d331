"""The catalog trie as tensors: which codes may follow a SID prefix, for a whole batch in one gather.

Built from the item SIDs ``[N, L]``. For each level ``l`` the distinct prefixes of length ``l`` are
numbered (level 0 has the single empty prefix, level ``L`` the distinct full SIDs). The edges
``prefix --code--> child`` of a level are stored sorted by ``(parent, code)`` in CSR form, so memory is
O(items x L):

* ``valid_children_mask(level, prefix_ids)``: ``[B, K_l]`` mask of catalog-valid codes (one gather of
  each row's children + one scatter);
* ``next_prefix(level, prefix_ids, codes)``: the child prefix id, or ``-1`` when the code is not valid;
* ``items_of_sid``: full-SID id -> items (several items when collisions are kept).

Levels whose dense table ``|prefixes| x K`` is small (``dense_limit`` entries) also get a dense
``int32`` lookup built at load time, which makes both operations a plain index.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

TRIE_FILE = "catalog_trie.safetensors"


def _unique_rows(rows: torch.Tensor):
    if rows.shape[1] == 0:
        return rows[:1], torch.zeros(len(rows), dtype=torch.long)
    return torch.unique(rows, dim=0, return_inverse=True)


class CatalogTrie:
    def __init__(self, tensors: Dict[str, torch.Tensor], codebook_sizes: Sequence[int], dense_limit: int = 1 << 22):
        self.codebook_sizes = [int(s) for s in codebook_sizes]
        self.levels = len(self.codebook_sizes)
        self.tensors = tensors
        self.edge_code = [tensors[f"edge_code_{l}"] for l in range(self.levels)]
        self.edge_child = [tensors[f"edge_child_{l}"] for l in range(self.levels)]
        self.offsets = [tensors[f"offsets_{l}"] for l in range(self.levels)]
        self.sid_codes = tensors["sid_codes"]  # [M, L] distinct SIDs, id = row
        self.item_sid = tensors["item_sid"]  # [N] SID id of each item
        self.sid_item_offsets = tensors["sid_item_offsets"]  # [M + 1]
        self.sid_items = tensors["sid_items"]  # [N] items grouped by SID
        self.num_prefixes = [len(o) - 1 for o in self.offsets] + [len(self.sid_codes)]
        self.max_children = [int((o[1:] - o[:-1]).max()) if len(o) > 1 else 0 for o in self.offsets]
        self._edge_key = [self._parents(l) * self.codebook_sizes[l] + self.edge_code[l] for l in range(self.levels)]
        self.dense_next: List[Optional[torch.Tensor]] = []
        for level in range(self.levels):
            size = self.num_prefixes[level] * self.codebook_sizes[level]
            if size <= dense_limit:
                table = torch.full((size,), -1, dtype=torch.int32)
                table[self._edge_key[level]] = self.edge_child[level].int()
                self.dense_next.append(table.view(self.num_prefixes[level], self.codebook_sizes[level]))
            else:
                self.dense_next.append(None)

    @property
    def device(self) -> torch.device:
        return self.sid_codes.device

    def to(self, device) -> "CatalogTrie":
        """A copy with every tensor (dense tables included) on ``device``."""
        device = torch.device(device)
        if device == self.device:
            return self
        moved = CatalogTrie.__new__(CatalogTrie)
        moved.__dict__.update(self.__dict__)
        for name, value in self.__dict__.items():
            if isinstance(value, torch.Tensor):
                setattr(moved, name, value.to(device))
            elif isinstance(value, list) and value and any(isinstance(v, torch.Tensor) for v in value):
                setattr(moved, name, [v.to(device) if isinstance(v, torch.Tensor) else v for v in value])
        moved.tensors = {k: v.to(device) for k, v in self.tensors.items()}
        return moved

    def _parents(self, level: int) -> torch.Tensor:
        offsets = self.offsets[level]
        return torch.repeat_interleave(torch.arange(len(offsets) - 1), offsets[1:] - offsets[:-1])

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_codes(cls, codes: torch.Tensor, codebook_sizes: Sequence[int], dense_limit: int = 1 << 22) -> "CatalogTrie":
        codes = torch.as_tensor(codes, dtype=torch.long)
        if codes.ndim != 2 or codes.shape[1] != len(codebook_sizes):
            raise ValueError(f"codes must be [items, {len(codebook_sizes)}], got {tuple(codes.shape)}")
        sizes = torch.tensor(list(codebook_sizes))
        if bool((codes < 0).any()) or bool((codes >= sizes).any()):
            raise ValueError("codes out of range of the codebook sizes")
        sid_codes, item_sid = torch.unique(codes, dim=0, return_inverse=True)
        order = torch.argsort(item_sid, stable=True)
        counts = torch.bincount(item_sid, minlength=len(sid_codes))
        tensors: Dict[str, torch.Tensor] = {
            "sid_codes": sid_codes, "item_sid": item_sid, "sid_items": order,
            "sid_item_offsets": torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)]),
        }
        levels = codes.shape[1]
        prefix_ids = []
        for level in range(levels + 1):
            _, inverse = _unique_rows(sid_codes[:, :level])
            prefix_ids.append(inverse)  # prefix id (at this level) of every distinct SID
        for level in range(levels):
            parent, child, code = prefix_ids[level], prefix_ids[level + 1], sid_codes[:, level]
            num_parents = int(parent.max()) + 1
            key = parent * codebook_sizes[level] + code
            unique_key, first = _first_of_each(key)
            edge_parent = unique_key // codebook_sizes[level]
            tensors[f"edge_code_{level}"] = unique_key % codebook_sizes[level]
            tensors[f"edge_child_{level}"] = child[first]
            degree = torch.bincount(edge_parent, minlength=num_parents)
            tensors[f"offsets_{level}"] = torch.cat([torch.zeros(1, dtype=torch.long), degree.cumsum(0)])
        return cls(tensors, codebook_sizes, dense_limit)

    # ------------------------------------------------------------------ queries
    def valid_children_mask(self, level: int, prefix_ids: torch.Tensor) -> torch.Tensor:
        """``[B, K_level]`` bool: codes that continue each prefix to a catalog SID."""
        dense = self.dense_next[level]
        if dense is not None:
            return dense.to(prefix_ids.device)[prefix_ids] >= 0
        offsets = self.offsets[level].to(prefix_ids.device)
        start = offsets[prefix_ids]
        degree = offsets[prefix_ids + 1] - start
        slots = torch.arange(self.max_children[level], device=prefix_ids.device)
        index = start[:, None] + slots[None, :]
        valid = slots[None, :] < degree[:, None]
        codes = self.edge_code[level].to(prefix_ids.device)[index.clamp(max=len(self.edge_code[level]) - 1)]
        size = self.codebook_sizes[level]
        mask = torch.zeros(len(prefix_ids), size + 1, dtype=torch.bool, device=prefix_ids.device)
        mask.scatter_(1, torch.where(valid, codes, torch.full_like(codes, size)), True)
        return mask[:, :size]

    def next_prefix(self, level: int, prefix_ids: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Child prefix ids (``-1`` where ``code`` does not continue the prefix in the catalog)."""
        dense = self.dense_next[level]
        if dense is not None:
            return dense.to(prefix_ids.device)[prefix_ids, codes].long()
        keys = self._edge_key[level].to(prefix_ids.device)
        query = prefix_ids * self.codebook_sizes[level] + codes
        position = torch.searchsorted(keys, query).clamp(max=len(keys) - 1)
        found = keys[position] == query
        return torch.where(found, self.edge_child[level].to(prefix_ids.device)[position], torch.full_like(query, -1))

    def items_of_sid(self, sid_id: int) -> torch.Tensor:
        return self.sid_items[self.sid_item_offsets[sid_id]:self.sid_item_offsets[sid_id + 1]]

    def sid_of_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Full-SID id of code tuples ``[B, L]`` (``-1`` when the tuple is not in the catalog)."""
        node = torch.zeros(len(codes), dtype=torch.long, device=codes.device)
        for level in range(self.levels):
            valid = node >= 0
            nxt = torch.full_like(node, -1)
            if bool(valid.any()):
                nxt[valid] = self.next_prefix(level, node[valid], codes[valid, level])
            node = nxt
        return node

    def first_items_of_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Item id ``[B]`` of code tuples ``[B, L]``: the lowest id among the items sharing the SID, ``-1`` when the
        tuple is not a catalog SID."""
        sid = self.sid_of_codes(codes)
        items = torch.full_like(sid, -1)
        items[sid >= 0] = self.sid_items[self.sid_item_offsets[sid[sid >= 0]]]
        return items

    @property
    def num_items(self) -> int:
        return len(self.item_sid)

    # ------------------------------------------------------------------ files
    def state_dict(self) -> Dict[str, torch.Tensor]:
        return {k: v.contiguous() for k, v in self.tensors.items()}

    def save(self, path: str | os.PathLike) -> Path:
        from safetensors.torch import save

        from ..utils.io import atomic_write_bytes

        metadata = {"codebook_sizes": ",".join(map(str, self.codebook_sizes))}
        return atomic_write_bytes(path, save(self.state_dict(), metadata=metadata))

    @classmethod
    def load(cls, path: str | os.PathLike, dense_limit: int = 1 << 22) -> "CatalogTrie":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            sizes = [int(s) for s in handle.metadata()["codebook_sizes"].split(",")]
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        return cls(tensors, sizes, dense_limit)


def _first_of_each(keys: torch.Tensor):
    """Sorted distinct keys and the index of one occurrence of each."""
    unique, inverse = torch.unique(keys, sorted=True, return_inverse=True)
    first = torch.full((len(unique),), len(keys), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(len(keys)), reduce="amin")
    return unique, first
