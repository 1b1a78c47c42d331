"""Turn rows of a prepared split (``history``, ``target``, ``user_idx``, ...) into model inputs.

Works as a ``DataCollator`` for ``transformers.Trainer`` (set ``remove_unused_columns=False``) and for
hf_genrec's own trainer and evaluator. Histories are truncated to ``max_history`` items (most recent
kept) and laid out by the tokenizer in the model's mode (``flat`` or ``item``); ``labels`` are the target
item's SID codes ``[B, L]`` and ``target_items`` its id (for models that score items, and IntRR's alignment);
``user_ids`` and ``history_timestamps`` (item mode, for time-aware models) are passed along when present.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

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

    def __call__(self, rows: Sequence[Dict[str, Any]]) -> Dict[str, torch.Tensor]:
        batch = dict(self.tokenizer(self._histories(rows), mode=self.mode, return_tensors="pt"))
        if self.with_labels and "target" in rows[0]:
            targets = [row["target"] for row in rows]
            batch["labels"] = self.tokenizer.encode_targets(targets)
            batch["target_items"] = torch.tensor(targets, dtype=torch.long)
        if "user_idx" in rows[0]:
            batch["user_ids"] = torch.tensor([row["user_idx"] for row in rows], dtype=torch.long)
        if self.mode == "item" and "history_timestamps" in rows[0]:
            stamps = self._histories(rows, "history_timestamps")
            width = batch["attention_mask"].shape[1]
            padded = torch.zeros(len(rows), width, dtype=torch.long)
            for i, s in enumerate(stamps):
                if s:
                    if self.tokenizer.padding_side == "left":
                        padded[i, width - len(s):] = torch.tensor(s)
                    else:
                        padded[i, :len(s)] = torch.tensor(s)
            batch["timestamps"] = padded
        return batch
