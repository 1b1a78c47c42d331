"""Row orders: every row once per epoch, reproducible from (seed, epoch); length grouping cuts padding."""

import torch

from hf_genrec.training.samplers import EpochShuffleSampler, LengthGroupedSampler


def _padding_share(batches, lengths):
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    return 1 - sum(lengths) / padded


def test_length_grouped_batches_cover_every_row_once_and_repeat_for_the_same_epoch():
    g = torch.Generator().manual_seed(0)
    lengths = (torch.distributions.Geometric(0.15).sample((1003,)).long() + 1).clamp(max=30).tolist()
    sampler = LengthGroupedSampler(lengths, batch_size=16, seed=7, mega_batches=8)
    sampler.set_epoch(3)
    order = list(sampler)
    assert sorted(order) == list(range(1003))
    assert order == list(sampler)  # same (seed, epoch), same order: resumes replay it
    sampler.set_epoch(4)
    assert list(sampler) != order
    sampler.set_epoch(3)
    batches = sampler.batches()
    assert all(len(b) == 16 for b in batches[:-1]) and len(batches[-1]) == 1003 % 16  # the short batch is last
    # the DataLoader cuts the flat order into the same batches
    flat = [order[i:i + 16] for i in range(0, len(order), 16)]
    assert [sorted(b) for b in flat] == [sorted(b.tolist()) for b in batches]
    random_batches = [list(map(int, b)) for b in torch.randperm(1003, generator=g).split(16)]
    grouped = _padding_share([b.tolist() for b in batches], lengths)
    assert grouped < 0.5 * _padding_share(random_batches, lengths)


def test_the_shuffle_sampler_is_a_permutation_per_epoch():
    sampler = EpochShuffleSampler(50, seed=1)
    first = list(sampler)
    sampler.set_epoch(1)
    assert sorted(first) == list(range(50)) and list(sampler) != first
