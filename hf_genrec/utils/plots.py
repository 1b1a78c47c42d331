"""Every PNG hf_genrec writes: dataset statistics, SID code usage, quantizer and model training curves.

All plots use matplotlib's non-interactive ``Agg`` backend (no display needed) and are written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> Path:
    """Write the figure through a temporary file and a rename, then release it."""
    import io

    from .io import atomic_write_bytes

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    _pyplot().close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


def plot_dataset_statistics(sequence_lengths: np.ndarray, item_counts: np.ndarray, path: str | os.PathLike,
                            title: str = "") -> Path:
    """Two panels: histogram of interactions per user, and item popularity by rank (log-log)."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    upper = int(np.percentile(sequence_lengths, 99)) + 1 if len(sequence_lengths) else 1
    lowest = int(sequence_lengths.min()) if len(sequence_lengths) else 0
    left.hist(np.minimum(sequence_lengths, upper), bins=range(lowest, upper + 2), color="#4c72b0")
    left.set_xlabel(f"interactions per user (clipped at p99 = {upper})")
    left.set_ylabel("users")
    ranked = np.sort(np.asarray(item_counts))[::-1]
    right.loglog(np.arange(1, len(ranked) + 1), np.maximum(ranked, 0.5), color="#dd8452")
    right.set_xlabel("item rank")
    right.set_ylabel("training occurrences")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def _integer_ticks(axis) -> None:
    """Ticks at whole numbers only (codes, ranks and steps have no halves)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def plot_code_usage(usage: Mapping[str, Sequence[np.ndarray]], path: str | os.PathLike, title: str = "",
                    quality: Optional[Mapping[str, Mapping]] = None) -> Path:
    """A grid of bar charts: one row per SID table, one column per level, each the items per code sorted from the
    most to the least used code, annotated with the level's used codes / codebook size, perplexity and (given the
    table's ``quality``) prefix collision rate.

    ``usage`` maps a table's name to its per-level code counts (``hf_genrec.quantization.code_usage``); ``quality``
    maps the same names to :func:`~hf_genrec.quantization.sid_quality` reports (optional: without one the
    perplexity and utilisation are computed from the counts and no collision rate is shown). Tables may have
    different numbers of levels (a suffix level, LETTER's fourth level): missing panels stay empty."""
    from ..quantization.quality import usage_perplexity

    plt = _pyplot()
    quality = quality or {}
    levels = max(len(counts) for counts in usage.values())
    rows = len(usage)
    fig, axes = plt.subplots(rows, levels, figsize=(3.3 * levels, 2.5 * rows + 0.8), squeeze=False)
    for row, (name, per_level) in enumerate(usage.items()):
        report = quality.get(name) or {}
        rates = report.get("collision_rate_per_level") or []
        for level in range(levels):
            ax = axes[row, level]
            if level >= len(per_level):
                ax.axis("off")
                continue
            counts = np.asarray(per_level[level])
            ranked = np.sort(counts)[::-1]
            ax.bar(np.arange(len(ranked)), ranked, width=1.0 if len(ranked) > 40 else 0.8, color=f"C{row}",
                   linewidth=0)
            used = int((counts > 0).sum())
            lines = [f"used {used}/{len(counts)} ({used / max(len(counts), 1):.0%})",
                     f"perplexity {usage_perplexity(counts) if counts.sum() else 0.0:.1f}"]
            if level < len(rates):
                lines.append(f"collision rate {rates[level]:.3f}")
            ax.text(0.97, 0.95, "\n".join(lines), transform=ax.transAxes, ha="right", va="top", fontsize=7,
                    bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "alpha": 0.85, "edgecolor": "0.7"})
            positive = ranked[ranked > 0]
            ax.set_xlim(-0.6, max(len(ranked), 1) - 0.4)
            if len(ranked) <= 12:  # a small codebook (a suffix level): a tick under every code
                ax.set_xticks(range(len(ranked)))
            else:
                _integer_ticks(ax.xaxis)
            if len(positive) and positive[0] > 20 * positive[-1]:  # e.g. a suffix level: most items take code 0
                ax.set_yscale("log")
                ax.set_ylim(0.7, positive[0] * 6)
            else:
                ax.set_ylim(0, max(float(ranked.max()) if len(ranked) else 0.0, 1.0) * 1.45)
                _integer_ticks(ax.yaxis)
            ax.tick_params(labelsize=7)
            if row == 0 or level >= len(list(usage.values())[row - 1]):
                ax.set_title(f"level {level + 1}", fontsize=9)
            if row == rows - 1:
                ax.set_xlabel("code rank (most used first)", fontsize=8)
            if level == 0:
                ax.set_ylabel(f"{name}\nitems per code", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_quantizer_history(history: List[Dict[str, float]], path: str | os.PathLike, title: str = "") -> Path:
    """Loss terms of an autoencoder quantizer (RQ-VAE, VQ-VAE, PRISM) per epoch, log scale; with a second panel
    of each level's code perplexity when the history has it (a collapsing level falls towards 1)."""
    plt = _pyplot()
    with_usage = bool(history) and "code_perplexity" in history[0]
    fig, axes = plt.subplots(1, 2 if with_usage else 1, figsize=(11 if with_usage else 6, 3.6), squeeze=False)
    ax = axes[0][0]
    epochs = [row["epoch"] for row in history]
    for key in ("loss", "reconstruction", "codebook", "commitment", "acd", "hsa_class", "hsa_anchor"):
        if history and key in history[0]:
            ax.plot(epochs, [max(row[key], 1e-12) for row in history], label=key)
    ax.set_xlabel("epoch")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.set_title(title)
    if with_usage:
        usage_ax = axes[0][1]
        for level in range(len(history[0]["code_perplexity"])):
            usage_ax.plot(epochs, [row["code_perplexity"][level] for row in history], label=f"level {level + 1}")
        usage_ax.set_xlabel("epoch")
        usage_ax.set_ylabel("code perplexity exp(H)")
        usage_ax.set_yscale("log")
        usage_ax.legend(fontsize=7)
        usage_ax.set_title("code usage per epoch")
    fig.tight_layout()
    return _save(fig, path)


def _best_step(validation: List[Dict[str, float]], metric: str) -> Optional[int]:
    """The first step with the highest validation ``metric`` (the trainer's rule: only a strict improvement
    moves the best step)."""
    best = None
    for row in validation:
        value = row.get(metric)
        if value is not None and (best is None or value > best[1]):
            best = (row["step"], value)
    return None if best is None else best[0]


def plot_training_curves(history: Dict[str, List[Dict[str, float]]], path: str | os.PathLike,
                         metric: str = "ndcg@10", title: str = "training curves",
                         best_step: Optional[int] = None) -> Path:
    """Three panels of a model's training run by step: training loss, learning rate and validation metrics.

    Every point has a marker (a run that logged one point still shows it); the best validation step (``best_step``,
    or the first step with the highest ``metric``) is a star with its value on the validation panel and a dotted
    line on the others."""
    plt = _pyplot()
    fig, (loss_ax, lr_ax, valid_ax) = plt.subplots(1, 3, figsize=(14, 3.8))
    train = [row for row in history.get("train", []) if row.get("loss") is not None]
    validation = history.get("validation", [])
    marker = {"marker": "o", "markersize": 3 if len(train) > 30 else 5}
    if train:
        loss_ax.plot([r["step"] for r in train], [r["loss"] for r in train], color="C0", **marker)
    rates = [r for r in train if r.get("learning_rate") is not None]
    if rates:
        lr_ax.plot([r["step"] for r in rates], [r["learning_rate"] for r in rates], color="C2", **marker)
        lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    keys = [key for key in dict.fromkeys((metric, "recall@10")) if any(key in row for row in validation)]
    for index, key in enumerate(keys):
        points = [(r["step"], r[key]) for r in validation if r.get(key) is not None]
        valid_ax.plot(*zip(*points), marker="os"[index % 2], linestyle="-" if index == 0 else "--",
                      color=f"C{index + 3}", label=key)
    if best_step is None and metric in keys:
        best_step = _best_step(validation, metric)
    best = [r for r in validation if r["step"] == best_step and r.get(metric) is not None]
    if best:
        value = best[-1][metric]
        valid_ax.plot([best_step], [value], marker="*", markersize=15, color="gold", markeredgecolor="black",
                      linestyle="none", label=f"best {metric} {value:.4f} (step {best_step})", zorder=5)
    if best_step is not None:
        for ax in (loss_ax, lr_ax):
            ax.axvline(best_step, color="0.5", linestyle=":", linewidth=1)
    steps = [r["step"] for r in train] + [r["step"] for r in validation]
    for ax, label, rows in ((loss_ax, "training loss", train), (lr_ax, "learning rate", rates),
                            (valid_ax, "validation", validation)):
        if steps and max(steps) - min(steps) < 4:  # one or a few steps: whole-step ticks around them
            ax.set_xlim(min(steps) - 1, max(steps) + 1)
            ax.set_xticks(range(min(steps) - 1, max(steps) + 2))
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.set_title(label, fontsize=9)
        _integer_ticks(ax.xaxis)
        if not rows:
            ax.text(0.5, 0.5, "nothing logged", transform=ax.transAxes, ha="center", va="center", color="0.5")
    if keys:
        valid_ax.legend(fontsize=7, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_reproduction(result: Dict, path: str | os.PathLike) -> Path:
    """Recall@10 and NDCG@10 of a reproduction table: reference rankers (grey), ours (blue, error bars over
    seeds) and the published rows each experiment reproduces (orange)."""
    plt = _pyplot()
    bars = []  # (label, value, error, colour)
    several = len(result["baselines"]) > 1
    shown = []  # (name, metrics) of the rankers drawn so far
    for recipe, baselines in result["baselines"].items():
        for name, metrics in baselines.items():
            if (name, metrics) in shown:  # the same ranker with the same numbers on another recipe's data: once
                continue
            shown.append((name, metrics))
            label = name.replace("_", " ") + (f" ({recipe.split('/')[0]})" if several else "")
            bars.append((label, metrics, None, "#999999"))
    for row in result["rows"]:
        ours = {metric: stat["mean"] for metric, stat in row["ours"].items()}
        errors = {metric: stat["std"] for metric, stat in row["ours"].items()}
        bars.append((f"{row['label']} (ours)", ours, errors, "#4c72b0"))
        for published in row["published"]:
            bars.append((f"{published['method']} ({published['source']})", published["metrics"], None, "#dd8452"))
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * len(bars) + 1.5), squeeze=False)
    for ax, metric in zip(axes[0], ("recall@10", "ndcg@10")):
        # numeric positions: labels may repeat (a categorical axis would merge them and shift the value texts)
        positions = list(range(len(bars)))
        values = [metrics.get(metric) or 0.0 for _, metrics, _, _ in bars]  # None: a cell the paper leaves empty
        errs = [(errors or {}).get(metric) or 0.0 for _, _, errors, _ in bars]
        ax.barh(positions, values, xerr=errs, color=[colour for *_, colour in bars])
        ax.set_yticks(positions, [label for label, *_ in bars])
        for y, value in zip(positions, values):
            if value:
                ax.text(value, y, f" {value:.4f}", va="center", fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel(f"test {metric}")
        ax.tick_params(axis="y", labelsize=7)
    for ax in axes[0][1:]:
        ax.set_yticklabels([])
    fig.suptitle(f"{result['caption']} - tier {result['tier']}", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def plot_validation_curves(runs: Sequence[Dict], path: str | os.PathLike, title: str = "") -> Path:
    """Validation Recall@10 against training minutes, one line per run (``run["validation"]`` as the reproduction
    harness records it), with the item-transition model on the same validation users as a dashed line per run."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    references = {}
    for run in runs:
        curve = run.get("validation") or {}
        if not curve.get("minutes"):
            continue
        line, = ax.plot(curve["minutes"], curve["recall@10"], marker="o", markersize=3,
                        label=f"{run.get('label', run.get('experiment'))} (seed {run.get('seed')})")
        references.setdefault(round(curve["transition_recall@10"], 4), line.get_color())
    for value in references:
        ax.axhline(value, color="grey", linestyle="--", linewidth=1)
        # at the left edge of the axes whatever the x range (a data x of 0 falls outside when the first point is later)
        ax.annotate(f"item transition {value:.4f}", (0, value), xycoords=ax.get_yaxis_transform(),
                    textcoords="offset points", xytext=(2, 3), fontsize=8, color="grey")
    ax.set_xlabel("training minutes (validation time excluded)")
    ax.set_ylabel("validation Recall@10")
    if title:  # long captions wrap instead of running off the figure
        import textwrap

        ax.set_title("\n".join(textwrap.wrap(title, 100)), fontsize=9)
    if ax.lines:
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _save(fig, path)
