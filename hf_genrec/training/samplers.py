"""Training-row orders that depend only on ``(seed, epoch)``, so a resumed run reads the same batches.

* :class:`EpochShuffleSampler`: a random permutation per epoch.
* :class:`LengthGroupedSampler` (``training.group_by_length``): batches of rows with similar history lengths, in a
  random order. The collator pads a batch to its longest history, and Amazon histories are short and skewed
  (Beauty: median 6 of at most 30 items), so random batches are mostly padding; grouping removes most of it
  (``scripts/profile_training.py`` measures the padding share and the speed with and without).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch.utils.data import Sampler


class EpochShuffleSampler(Sampler):
    """A permutation per epoch from ``seed + epoch``: the same order after a resume, independent of any RNG."""

    def __init__(self, size: int, seed: int):
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())

    def __len__(self) -> int:
        return self.size


class LengthGroupedSampler(EpochShuffleSampler):
    """Rows in batches of similar length, the batches in a random order each epoch.

    Every epoch: a permutation from ``seed + epoch``, cut into groups of ``mega_batches`` batches; each group is
    sorted by length (longest first) and cut into batches of ``batch_size``; the full batches are shuffled and the
    one short batch (if any) goes last. A ``DataLoader`` with the same ``batch_size`` therefore reads exactly these
    batches. Every row is still seen once per epoch; which rows share a batch is no longer uniform (the usual
    trade of length grouping, as in ``transformers.Trainer(group_by_length=True)``).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, mega_batches: int = 50):
        super().__init__(len(lengths), seed)
        if batch_size < 1 or mega_batches < 1:
            raise ValueError(f"batch_size and mega_batches must be positive, got {batch_size} and {mega_batches}")
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.long)
        self.batch_size, self.mega_batches = batch_size, mega_batches

    def batches(self):
        """This epoch's batches (tensors of row indices), in the order they are read."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.size, generator=generator)
        group = self.batch_size * self.mega_batches
        full, short = [], []
        for start in range(0, self.size, group):
            rows = order[start:start + group]
            rows = rows[torch.argsort(self.lengths[rows], descending=True, stable=True)]
            for batch in rows.split(self.batch_size):
                (full if len(batch) == self.batch_size else short).append(batch)
        shuffled = [full[i] for i in torch.randperm(len(full), generator=generator).tolist()]
        return shuffled + short

    def __iter__(self):
        batches = self.batches()
        return iter(torch.cat(batches).tolist() if batches else [])
