"""``hf-genrec evaluate`` and ``hf-genrec recommend``: a saved model's full-ranking metrics on a prepared split,
the reference baselines on the same split, and top-K recommendations for one history."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, Dict, Optional

from .._version import __version__
from ..data import PreparedDataset
from ..hub.items import model_items, resolve_history  # noqa: F401 (resolve_history: re-exported)
from ..utils.io import atomic_write_json, output_lock
from .common import SUMMARY_FILE, now


REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def _where(name: str | os.PathLike, what: str) -> str:
    """A local folder, or a Hub repo id; a path-like name that does not exist is an error naming it."""
    text = os.fspath(name)
    if Path(text).exists():
        if not Path(text).is_dir():
            raise ValueError(f"{what} {text} is a file; pass the model folder")
        return text
    if not REPO_ID.match(text) or text.startswith((".", "/", "~")):
        raise FileNotFoundError(f"{what} {text} does not exist (and is not a Hub repo id such as org/name)")
    return text


def load_model_and_tokenizer(model_dir: str | os.PathLike, tokenizer_dir: Optional[str | os.PathLike] = None):
    """``AutoModel`` + ``AutoTokenizer`` from a saved hf_genrec model folder (tokenizer beside the weights) or a Hub
    repo id. Weights load from safetensors only and no remote code runs; a tokenizer that does not match the
    weights is refused."""
    from transformers import AutoModel, AutoTokenizer

    from ..auto import register_auto_classes

    register_auto_classes()
    model_where = _where(model_dir, "--model")
    tokenizer_where = _where(tokenizer_dir, "--tokenizer") if tokenizer_dir else model_where
    try:
        model = AutoModel.from_pretrained(model_where, use_safetensors=True, trust_remote_code=False)
    except Exception as error:  # OSError (missing / unreachable), safetensors errors, shape mismatches ...
        raise ValueError(f"{model_where}: cannot load the model ({_first_line(error)})") from None
    if not hasattr(model, "check_tokenizer"):
        raise ValueError(f"{model_where} is a {type(model).__name__}, not an hf_genrec model")
    try:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_where, trust_remote_code=False)
    except Exception as error:
        raise ValueError(f"{tokenizer_where}: cannot load the SID tokenizer ({_first_line(error)})") from None
    model.check_tokenizer(tokenizer, where=f"the tokenizer in {tokenizer_where}")
    return model, tokenizer


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]


def run_baselines(prepared_dir: str | os.PathLike, split: str = "test", max_users: Optional[int] = None,
                  subset_seed: int = 0) -> Dict[str, Dict[str, float]]:
    """Most-popular and item-transition baselines on a prepared dataset (reference numbers); with ``max_users``, on
    the same random users the trainer's evaluator draws (``eval_max_users`` / ``eval_subset_seed``)."""
    from ..evaluation import Evaluator, MostPopular, TransitionBaseline, evaluate_ranker

    prepared = PreparedDataset.load(prepared_dir)
    train = prepared.splits["train"]
    evaluation = Evaluator(None, max_users=max_users, subset_seed=subset_seed).users(prepared.splits[split])
    results = {}
    for name, cls in (("most_popular", MostPopular), ("item_transition", TransitionBaseline)):
        ranker = cls(prepared.num_items).fit(train["history"], train["target"])
        results[name] = evaluate_ranker(ranker, evaluation["history"], evaluation["target"])
    return results


def run_evaluate(model_dir: str | os.PathLike, prepared_dir: str | os.PathLike, split: str = "test",
                 out: Optional[str | os.PathLike] = None, num_beams: Optional[int] = None, batch_size: int = 64,
                 ks=(5, 10, 20), max_users: Optional[int] = None, tokenizer_dir: Optional[str] = None,
                 device: Optional[str] = None) -> Dict[str, Any]:
    """Full-ranking leave-one-out evaluation of a saved model; writes ``metrics.json`` and ``summary.json`` to ``out``
    (default ``runs/evaluate/<model folder name>-<split>``: never into the model folder unless asked to).

    ``num_beams=None`` decodes with the model's own ``generation_config``."""
    import torch

    from ..evaluation import Evaluator

    started = now()
    model, tokenizer = load_model_and_tokenizer(model_dir, tokenizer_dir)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(device)
    prepared = PreparedDataset.load(prepared_dir)
    if split not in prepared.splits:
        raise ValueError(f"{prepared_dir} has no split {split!r}; splits: {list(prepared.splits)}")
    if prepared.num_items != model.config.num_items:
        raise ValueError(f"the model knows {model.config.num_items} items but {prepared_dir} has {prepared.num_items}")
    t = time.perf_counter()
    result = Evaluator(tokenizer, ks, num_beams, batch_size, max_users).evaluate(
        model, prepared.splits[split], prepared.items["train_count"], device)
    metrics = {"split": split, "dataset": prepared.name, **result.to_dict(),
               "seconds": round(time.perf_counter() - t, 3)}
    out = Path(out) if out is not None else default_evaluation_folder(model_dir, split)
    with output_lock(out):
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "metrics.json", metrics)
        summary = {"command": "evaluate", "hf_genrec_version": __version__, "started": started, "finished": now(),
                   "model": os.fspath(model_dir), "data": os.fspath(prepared_dir), "device": str(device), **metrics,
                   "outputs": {"metrics": str(out / "metrics.json")}}
        atomic_write_json(out / SUMMARY_FILE, summary)
    return summary


def default_evaluation_folder(model_dir: str | os.PathLike, split: str) -> Path:
    """``runs/evaluate/<model folder name or repo name>-<split>``."""
    name = Path(str(model_dir).rstrip("/")).name or "model"
    return Path("runs") / "evaluate" / f"{name}-{split}"


def run_recommend(model_dir: str, history: str, top_k: int = 10, num_beams: Optional[int] = None,
                  out: Optional[str | os.PathLike] = None) -> Dict[str, Any]:
    """Top-K recommendations for one history; writes ``recommendations.json`` and ``summary.json`` to ``out``.

    The beam is ``num_beams`` (default: the model's ``generation_config``), widened to ``top_k`` if narrower."""
    model, tokenizer = load_model_and_tokenizer(model_dir)
    items = model_items(model_dir)
    history_ids = resolve_history(history, items, model.config.num_items)
    history_ids = history_ids[-model.config.max_history:]
    batch = tokenizer([history_ids], mode=model.config.input_mode, return_tensors="pt")
    beams = max(num_beams or model.default_num_beams(), top_k)
    output = model.generate(**batch, num_beams=beams, num_return_sequences=top_k)
    titles, keys = items.get("titles") or [], items.get("item_ids") or []
    rows = []
    for rank, (item, score) in enumerate(zip(output.items[0].tolist(), output.scores[0].tolist()), start=1):
        if item < 0:
            continue
        rows.append({"rank": rank, "item_idx": item, "item_id": keys[item] if item < len(keys) else str(item),
                     "title": titles[item] if item < len(titles) else "", "score": round(score, 5)})
    summary = {"command": "recommend", "hf_genrec_version": __version__, "model": str(model_dir),
               "history": history_ids, "top_k": top_k, "num_beams": beams, "recommendations": rows}
    if out is not None:
        atomic_write_json(Path(out) / "recommendations.json", rows)
        atomic_write_json(Path(out) / SUMMARY_FILE, summary)
    return summary
