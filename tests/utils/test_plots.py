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


def test_reproduction_plot_puts_each_value_on_its_own_bar_when_two_recipes_share_baseline_names(tmp_path, figures):
    """Two data recipes (TIGER's and PRISM's) give the rankers twice: identical numbers are shown once, different
    ones get the recipe in their label; a published cell the paper leaves empty is an empty bar, not a shifted text."""
    ranker = {"recall@10": 0.0366, "ndcg@10": 0.0233}
    result = {"caption": "Sports", "tier": "cpu",
              "baselines": {"sports-h20/rqvae": {"item_transition": ranker},
                            "sports-h20-brand/prism": {"item_transition": dict(ranker),
                                                       "most_popular": {"recall@10": 0.0087, "ndcg@10": 0.0049}},
                            "sports-h20-other/prism": {"most_popular": {"recall@10": 0.0090, "ndcg@10": 0.0050}}},
              "rows": [{"label": "TIGER", "ours": {"recall@10": {"mean": 0.0100, "std": 0.0}},
                        "published": [{"method": "TIGER", "source": "prism/2", "metrics": {"recall@10": 0.0401}}]},
                       {"label": "PRISM", "ours": {"recall@10": {"mean": 0.0168, "std": 0.0}},
                        "published": [{"method": "PRISM", "source": "prism/2", "metrics": {"recall@10": None}}]}]}
    plots.plot_reproduction(result, tmp_path / "results.png")
    ax = figures[-1].axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["item transition (sports-h20)", "most popular (sports-h20-brand)",
                      "most popular (sports-h20-other)", "TIGER (ours)", "TIGER (prism/2)", "PRISM (ours)",
                      "PRISM (prism/2)"]
    texts = {round(t.get_position()[1]): t.get_text().strip() for t in ax.texts}
    assert texts == {0: "0.0366", 1: "0.0087", 2: "0.0090", 3: "0.0100", 4: "0.0401", 5: "0.0168"}
    assert [round(p.get_width(), 4) for p in ax.patches] == [0.0366, 0.0087, 0.009, 0.01, 0.0401, 0.0168, 0.0]


def test_validation_curves_label_the_transition_line_inside_the_axes(tmp_path, figures):
    """The dashed transition line's label sits at the left edge of the axes, also when the first validation comes late."""
    runs = [{"experiment": "tiger", "seed": 42, "validation": {"minutes": [5.0, 10.0, 20.0],
                                                               "recall@10": [0.02, 0.05, 0.07],
                                                               "transition_recall@10": 0.0857}}]
    plots.plot_validation_curves(runs, tmp_path / "curves.png")
    fig = figures[-1]
    ax = fig.axes[0]
    [label] = [t for t in ax.texts if t.get_text() == "item transition 0.0857"]
    box, axes_box = label.get_window_extent(), ax.get_window_extent()  # as the saved PNG drew them
    assert axes_box.x0 <= box.x0 < axes_box.x1
