"""The SID quality and training-curve figures: written for one logged point and for several, with their titles,
numbers, best-step marker and whole-number ticks."""

import numpy as np
import pytest
import torch

from hf_genrec.quantization import code_usage, sid_quality, suffix_codes
from hf_genrec.utils import plots


@pytest.fixture
def figures(monkeypatch):
    """Every figure a plot function saves (the file is still written)."""
    saved = []
    original = plots._save

    def keep(fig, path):
        saved.append(fig)
        return original(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return saved


def texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_sid_quality_plot_shows_every_table_level_and_number(tmp_path, figures):
    rng = np.random.default_rng(0)
    raw = np.stack([rng.integers(0, 16, 240), rng.integers(0, 16, 240)], 1)
    suffixed, size = suffix_codes(torch.as_tensor(raw))
    tables = {"raw": (raw, [16, 16]), "raw + suffix": (suffixed.numpy(), [16, 16, size])}
    quality = {name: sid_quality(c, s) for name, (c, s) in tables.items()}
    path = plots.plot_code_usage({name: code_usage(c, s) for name, (c, s) in tables.items()}, tmp_path / "q.png",
                                 title="code usage", quality=quality)
    assert path.read_bytes()[:4] == b"\x89PNG"
    fig = figures[-1]
    assert fig._suptitle.get_text() == "code usage"
    axes = np.asarray(fig.axes).reshape(2, 3)
    assert not axes[0, 2].axison and axes[1, 2].axison  # the raw table has no third (suffix) level
    suffix_ticks = axes[1, 2].get_xticks()
    assert list(suffix_ticks) == list(range(size))  # one tick per suffix code, no half codes
    numbers = texts(fig)
    raw_quality = quality["raw"]
    assert len(numbers) == 5 and f"collision rate {raw_quality['collision_rate_per_level'][1]:.3f}" in numbers[1]
    assert f"perplexity {raw_quality['perplexity'][0]:.1f}" in numbers[0] and "used 16/16 (100%)" in numbers[0]


@pytest.mark.parametrize("points", [1, 12])
def test_training_curves_have_title_learning_rate_and_best_step(tmp_path, figures, points):
    steps = list(range(5, 5 * points + 1, 5))
    history = {"train": [{"step": s, "loss": 3.0 / s, "learning_rate": 1e-3 * s / steps[-1]} for s in steps],
               "validation": [{"step": s, "ndcg@10": 0.1 - abs(s - steps[len(steps) // 2]) / 1000, "recall@10": 0.2}
                              for s in steps[::3]]}
    path = plots.plot_training_curves(history, tmp_path / "curves.png", title="tiger on synthetic")
    assert path.read_bytes()[:4] == b"\x89PNG"
    fig = figures[-1]
    loss_ax, lr_ax, valid_ax = fig.axes
    assert fig._suptitle.get_text() == "tiger on synthetic"
    assert lr_ax.get_ylabel() == "learning rate" and len(lr_ax.lines[0].get_xdata()) == points
    assert loss_ax.lines[0].get_marker() == "o"  # a single logged point is visible
    best = max(history["validation"], key=lambda r: r["ndcg@10"])
    labels = valid_ax.get_legend_handles_labels()[1]
    assert f"best ndcg@10 {best['ndcg@10']:.4f} (step {best['step']})" in labels
    assert all(float(t).is_integer() for t in loss_ax.get_xticks())
    plots.plot_training_curves({"train": [], "validation": []}, tmp_path / "empty.png")
    assert "nothing logged" in texts(figures[-1])
