"""Every PNG hf_genrec writes: dataset statistics, SID code usage, quantizer and model training curves.

All plots use matplotlib's non-interactive ``Agg`` backend (no display needed) and are written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Mapping, Sequence

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


def plot_code_usage(usage: Mapping[str, Sequence[np.ndarray]], path: str | os.PathLike, title: str = "") -> Path:
    """One panel per level: code usage sorted from most to least used, one line per SID table.

    ``usage`` maps a table's name to its per-level code counts (``hf_genrec.quantization.code_usage``)."""
    plt = _pyplot()
    levels = max(len(counts) for counts in usage.values())
    fig, axes = plt.subplots(1, levels, figsize=(3.6 * levels, 3.4), squeeze=False)
    styles = ["--", "-", ":", "-."]
    for index, (name, per_level) in enumerate(usage.items()):
        for level, counts in enumerate(per_level):
            axes[0, level].plot(np.sort(counts)[::-1], styles[index % len(styles)], color=f"C{index}", label=name)
    for level in range(levels):
        ax = axes[0, level]
        ax.set_title(f"level {level + 1}")
        ax.set_xlabel("code (sorted by use)")
        ax.set_yscale("symlog")
        if level == 0:
            ax.set_ylabel("items")
    handles: Dict[str, object] = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=len(handles), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return _save(fig, path)


def plot_quantizer_history(history: List[Dict[str, float]], path: str | os.PathLike, title: str = "") -> Path:
    """Loss terms of an autoencoder quantizer (RQ-VAE, VQ-VAE) per epoch, log scale."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    epochs = [row["epoch"] for row in history]
    for key in ("loss", "reconstruction", "codebook", "commitment"):
        if key in history[0]:
            ax.plot(epochs, [row[key] for row in history], label=key)
    ax.set_xlabel("epoch")
    ax.set_yscale("log")
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_training_curves(history: Dict[str, List[Dict[str, float]]], path: str | os.PathLike,
                         metric: str = "ndcg@10") -> Path:
    """Training loss by step (left) and validation metrics by step (right) of a model's training run."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    train = history.get("train", [])
    if train:
        left.plot([r["step"] for r in train], [r["loss"] for r in train])
    left.set_xlabel("step")
    left.set_ylabel("training loss")
    validation = history.get("validation", [])
    for key in (metric, "recall@10"):
        if validation and key in validation[0]:
            right.plot([r["step"] for r in validation], [r[key] for r in validation], marker="o", label=key)
    right.set_xlabel("step")
    right.set_ylabel("validation")
    if validation:
        right.legend()
    fig.tight_layout()
    return _save(fig, path)


def plot_reproduction(result: Dict, path: str | os.PathLike) -> Path:
    """Recall@10 and NDCG@10 of a reproduction table: reference rankers (grey), ours (blue, error bars over
    seeds) and the published rows each experiment reproduces (orange)."""
    plt = _pyplot()
    bars = []  # (label, value, error, colour)
    for baselines in result["baselines"].values():
        for name, metrics in baselines.items():
            bars.append((name.replace("_", " "), metrics, None, "#999999"))
    for row in result["rows"]:
        ours = {metric: stat["mean"] for metric, stat in row["ours"].items()}
        errors = {metric: stat["std"] for metric, stat in row["ours"].items()}
        bars.append((f"{row['label']} (ours)", ours, errors, "#4c72b0"))
        for published in row["published"]:
            bars.append((f"{published['method']} ({published['source']})", published["metrics"], None, "#dd8452"))
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * len(bars) + 1.5), squeeze=False)
    for ax, metric in zip(axes[0], ("recall@10", "ndcg@10")):
        labels = [label for label, *_ in bars]
        values = [metrics.get(metric, 0.0) for _, metrics, _, _ in bars]
        errs = [(errors or {}).get(metric, 0.0) for _, _, errors, _ in bars]
        ax.barh(labels, values, xerr=errs, color=[colour for *_, colour in bars])
        for y, value in enumerate(values):
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
        ax.annotate(f"item transition {value:.4f}", (0, value), textcoords="offset points", xytext=(2, 3),
                    fontsize=8, color="grey")
    ax.set_xlabel("training minutes (validation time excluded)")
    ax.set_ylabel("validation Recall@10")
    if title:
        ax.set_title(title, fontsize=9)
    if ax.lines:
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _save(fig, path)
