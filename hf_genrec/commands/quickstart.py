"""``hf-genrec quickstart``: the main job on the embedded default (or ``--data``), end to end."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional

from .._version import __version__
from ..data import PreparedDataset, SyntheticConfig, generate_synthetic
from ..defaults import DEFAULT_ENCODER
from ..utils.io import atomic_write_json, check_output_folder_is_not_an_input, marker_of, output_lock, write_marker
from .build_sids import run_build_sids
from .common import SUMMARY_FILE, now, read_json
from .evaluate import run_baselines, run_recommend
from .prepare import run_prepare
from .train import run_train

# The quickstart's model: TIGER's flattened SIDs read by a small decoder-only HSTU, trained with sequence examples
# (a target at every position of each window, one pass per window; issue [4/8]). Measured on the embedded default
# it learns fastest of the generative models and beats the item-transition and most-popular rankers within a few
# minutes on two cores (docs/results.md, "Embedded default"); the T5 encoder-decoder of the same size did not.
QUICKSTART_MODEL = {"type": "tiger", "architecture": "decoder_only", "decoder_backbone": "hstu", "hidden_size": 64,
                    "num_layers": 2, "num_heads": 2, "dropout_rate": 0.1, "max_history": 10}
QUICKSTART_EPOCHS = 25.0
QUICKSTART_TRAINING = {"train_examples": "sequence", "learning_rate": 3e-3, "batch_size": 256, "warmup_steps": 30,
                       "eval_steps": 60, "eval_max_users": 1000, "early_stopping_patience": 3}


def run_quickstart(out: str | os.PathLike = "runs/quickstart", data: Optional[str] = None, seed: int = 0,
                   encoder: str = DEFAULT_ENCODER, synthetic: Optional[SyntheticConfig] = None,
                   cache_dir: Optional[str] = None, epochs: float = QUICKSTART_EPOCHS, train: bool = True) -> Dict[str, Any]:
    """The main job: synthetic catalog (or ``data``) -> prepare -> embed -> SIDs -> train TIGER -> evaluate ->
    self-contained model folder -> reload with ``AutoModel`` -> recommendations.

    The model is :data:`QUICKSTART_MODEL` (decoder-only TIGER on HSTU, sequence examples); on the embedded default
    the whole job takes a few minutes on two CPU cores.
    """
    out = Path(out)
    with output_lock(out):
        _claim(out, data)
        started = now()
        steps: Dict[str, Any] = {}
        if data is None:
            synthetic = synthetic or SyntheticConfig(seed=seed)
            steps["synthetic"] = generate_synthetic(out / "raw", synthetic, overwrite=True)
            data = str(out / "raw")
        prepare_summary = run_prepare(data, out / "prepared", encoder=encoder, overwrite=True, cache_dir=cache_dir)
        steps["prepare"] = {k: prepare_summary[k] for k in ("statistics", "embeddings", "timings", "outputs")}
        sids_summary = run_build_sids(out / "prepared", out / "sids", "rqkmeans", levels=3, codebook_size=64,
                                      collisions="suffix", seed=seed, overwrite=True)
        steps["sids"] = {k: sids_summary[k] for k in ("codebook_sizes", "quality_before_collision_handling", "quality",
                                                      "seconds", "outputs")}
        steps["baselines"] = run_baselines(out / "prepared", "test")
        if train:
            config = {"data": {"prepared": str(out / "prepared"), "sids": str(out / "sids")},
                      "model": dict(QUICKSTART_MODEL),
                      "training": {**QUICKSTART_TRAINING, "output_dir": str(out / "tiger"), "overwrite_output_dir": True,
                                   "num_epochs": epochs, "report_to": ["tensorboard"], "seed": seed}}
            trained = run_train(config)
            steps["train"] = {k: trained.get(k) for k in ("global_step", "seconds", "samples_per_second", "best_step",
                                                            "best_validation", "test", "model_folder", "plot")}
            steps["reload"] = _reload_and_recommend(trained["model_folder"], out / "prepared")
        summary = {"command": "quickstart", "hf_genrec_version": __version__, "started": started, "finished": now(),
                   "data": data, "steps": steps}
        atomic_write_json(out / SUMMARY_FILE, summary)
        return summary


def _reload_and_recommend(model_folder: str, prepared_dir: Path, user: int = 0) -> Dict[str, Any]:
    """Reload the saved folder through ``AutoModel`` and recommend for one test user (shown by the quickstart)."""
    prepared = PreparedDataset.load(prepared_dir)
    row = prepared.splits["test"][user]
    history = ",".join(str(i) for i in row["history"])
    result = run_recommend(model_folder, history, top_k=5)
    titles = prepared.items["title"]
    return {"model_folder": model_folder, "user_id": row["user_id"],
            "history_titles": [titles[i] for i in row["history"][-5:]], "target_title": titles[row["target"]],
            "target_in_top5": any(r["item_idx"] == row["target"] for r in result["recommendations"]),
            "recommendations": result["recommendations"]}


def _claim(out: Path, data: Optional[str]) -> None:
    """The quickstart owns ``out``: it must be new, empty, or a previous quickstart's folder (whose raw/,
    prepared/, sids/ and tiger/ it replaces); never an arbitrary folder, nor one holding the ``data`` it reads."""
    check_output_folder_is_not_an_input(out, [data])
    if out.is_dir() and any(out.iterdir()) and not _is_quickstart_folder(out):
        raise FileExistsError(f"{out} is not empty and is not a previous quickstart's folder; the quickstart replaces "
                              "its raw/, prepared/, sids/ and tiger/ subfolders, so choose a new or empty --out")
    out.mkdir(parents=True, exist_ok=True)
    write_marker(out, "quickstart")


def _is_quickstart_folder(folder: Path) -> bool:
    if marker_of(folder).get("command") == "quickstart":
        return True
    summary = read_json(folder / SUMMARY_FILE) if (folder / SUMMARY_FILE).exists() else None  # before the marker
    return bool(summary) and summary.get("command") == "quickstart"
