"""Turn rows of a prepared split (``history``, ``target``, ``user_idx``, ...) into model inputs.

Works as a ``DataCollator`` for ``transformers.Trainer`` (set ``remove_unused_columns=False``) and for
hf_genrec's own trainer and evaluator. Histories are truncated to ``max_history`` items (most recent
kept) and laid out by the tokenizer in the model's mode (``flat`` or ``item``); ``labels`` are the target
item's SID codes ``[B, L]`` and ``target_items`` its id (for models that score items, and IntRR's alignment);
``user_ids`` and ``history_timestamps`` (item mode, for time-aware models) are passed along when present.

Sequence-level rows (:mod:`hf_genrec.data.sequence_examples`: ``targets``, one per history item) give
``labels [B, T, L]`` (the SID of the item after each history position) and ``target_items [B, T]``, padded with
``-100`` where the history is padded, laid out as the history is (left padding by default).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch


class GenRecCollator:
    def __init__(self, tokenizer, mode: str = "flat", max_history: Optional[int] = None, with_labels: bool = True):
        self.tokenizer = tokenizer
        self.mode = mode
        self.max_history = max_history
        self.with_labels = with_labels

    def _histories(self, rows: Sequence[Dict[str, Any]], key: str = "history") -> List[List[int]]:
        histories = [list(row[key]) for row in rows]
        if self.max_history:
            histories = [h[-self.max_history:] for h in histories]
        return histories

    def _per_position(self, values: List[List[int]], width: int, fill: int) -> torch.Tensor:
        """Per-history-item values ``[B, width]``, padded as the tokenizer pads the history."""
        out = np.full((len(values), width), fill, dtype=np.int64)  # numpy rows: no torch op per row
        left = self.tokenizer.padding_side == "left"
        for i, row in enumerate(values):
            if row:
                if left:
                    out[i, width - len(row):] = row
                else:
                    out[i, :len(row)] = row
        return torch.from_numpy(out)

    def __call__(self, rows: Sequence[Dict[str, Any]]) -> Dict[str, torch.Tensor]:
        histories = self._histories(rows)
        batch = dict(self.tokenizer(histories, mode=self.mode, return_tensors="pt"))
        if self.with_labels and "targets" in rows[0]:  # sequence-level rows: a target after every history item
            targets = self._histories(rows, "targets")
            width = max(len(h) for h in histories)
            items = self._per_position(targets, width, -100)
            codes = self.tokenizer.encode_targets(items.clamp(min=0).reshape(-1)).reshape(len(rows), width, -1)
            batch["labels"] = codes.masked_fill((items < 0)[..., None], -100)
            batch["target_items"] = items
        elif self.with_labels and "target" in rows[0]:
            targets = [row["target"] for row in rows]
            batch["labels"] = self.tokenizer.encode_targets(targets)
            batch["target_items"] = torch.tensor(targets, dtype=torch.long)
        if "user_idx" in rows[0]:
            batch["user_ids"] = torch.tensor([row["user_idx"] for row in rows], dtype=torch.long)
        if self.mode == "item" and "history_timestamps" in rows[0]:
            batch["timestamps"] = self._per_position(self._histories(rows, "history_timestamps"),
                                                     batch["attention_mask"].shape[1], 0)
        return batch
