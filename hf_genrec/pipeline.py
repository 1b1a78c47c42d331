"""End-to-end steps shared by the CLI and the quickstart: read -> prepare -> embed -> save.

Each step returns a JSON-able summary; the CLI writes it as ``summary.json`` in the output folder.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Dict, Optional

from ._version import __version__
from .data import PrepareConfig, PreparedDataset, SyntheticConfig, format_statistics, generate_synthetic, prepare_dataset, read_dataset
from .embeddings import DEFAULT_ENCODER, ItemEncoder, save_item_embeddings
from .embeddings.encoder import EMBEDDINGS_FILE
from .utils.io import atomic_output_dir, atomic_write_json

SUMMARY_FILE = "summary.json"


def _read_json(path: Path) -> Optional[Dict[str, Any]]:
    import json

    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def embed_items(prepared: PreparedDataset, encoder: str = DEFAULT_ENCODER, batch_size: int = 64,
                device: Optional[str] = None, cache_dir: Optional[str] = None, use_cache: bool = True):
    """Encode the item texts of a prepared dataset; returns ``(embeddings, info)``."""
    start = time.perf_counter()
    item_encoder = ItemEncoder(encoder, device=device, batch_size=batch_size, cache_dir=cache_dir, use_cache=use_cache)
    embeddings, metadata = item_encoder.encode(prepared.items["text"])
    info = {"model": encoder, "num_items": int(embeddings.shape[0]), "dim": int(embeddings.shape[1]),
            "normalized": item_encoder.normalize, "cache": metadata.get("cache"),
            "cache_file": str(item_encoder.cache_path(prepared.items["text"])) if use_cache else None,
            "seconds": round(time.perf_counter() - start, 3)}
    return embeddings, info


def run_prepare(data: str | os.PathLike, out: str | os.PathLike, format: str = "auto",
                items: Optional[str] = None, config: Optional[PrepareConfig] = None,
                encoder: Optional[str] = DEFAULT_ENCODER, batch_size: int = 64, device: Optional[str] = None,
                cache_dir: Optional[str] = None, use_cache: bool = True, overwrite: bool = False,
                export_parquet: bool = False, reader_options: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Read ``data``, prepare it, embed the items (unless ``encoder`` is ``None``) and save to ``out``.

    ``out`` is written atomically; ``out/summary.json`` says what was done and measured.
    """
    config = config or PrepareConfig()
    started, timings = _now(), {}
    t = time.perf_counter()
    log = read_dataset(data, format=format, items=items, **(reader_options or {}))
    timings["read_s"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    prepared = prepare_dataset(log, config)
    timings["prepare_s"] = round(time.perf_counter() - t, 3)
    embeddings, embedding_info = (None, None)
    if encoder:
        embeddings, embedding_info = embed_items(prepared, encoder, batch_size, device, cache_dir, use_cache)
        timings["embed_s"] = embedding_info["seconds"]
    out = Path(out)
    summary: Dict[str, Any] = {
        "command": "prepare", "hf_genrec_version": __version__, "started": started,
        "inputs": {"data": os.fspath(data), "format": log.source.get("format", format), "items": items},
        "dataset": prepared.name, "config": prepared.config, "statistics": prepared.statistics,
        "embeddings": embedding_info, "redistribution_restricted": prepared.redistribution_restricted,
    }
    t = time.perf_counter()
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        prepared.write(tmp)
        outputs = {"prepared": str(out), "splits": str(out / "splits"), "items": str(out / "items"),
                   "plot": str(out / "statistics.png")}
        if embeddings is not None:
            save_item_embeddings(tmp / EMBEDDINGS_FILE, embeddings,
                                 {"model": encoder, "normalize": str(embedding_info["normalized"])})
            outputs["item_embeddings"] = str(out / EMBEDDINGS_FILE)
        if export_parquet:
            prepared.export_hub_folder(tmp / "parquet")
            outputs["parquet"] = str(out / "parquet")
        timings["save_s"] = round(time.perf_counter() - t, 3)
        summary.update({"outputs": outputs, "timings": timings, "finished": _now()})
        atomic_write_json(tmp / SUMMARY_FILE, summary)
    return summary


def run_baselines(prepared_dir: str | os.PathLike, split: str = "test") -> Dict[str, Dict[str, float]]:
    """Most-popular and item-transition baselines on a prepared dataset (reference numbers)."""
    from .evaluation import MostPopular, TransitionBaseline, evaluate_ranker

    prepared = PreparedDataset.load(prepared_dir)
    train = prepared.splits["train"]
    evaluation = prepared.splits[split]
    results = {}
    for name, cls in (("most_popular", MostPopular), ("item_transition", TransitionBaseline)):
        ranker = cls(prepared.num_items).fit(train["history"], train["target"])
        results[name] = evaluate_ranker(ranker, evaluation["history"], evaluation["target"])
    return results


QUICKSTART_MODEL = {"type": "tiger", "d_model": 64, "d_ff": 256, "num_layers": 2, "num_decoder_layers": 2, "num_heads": 4,
                    "d_kv": 16, "dropout_rate": 0.1, "max_history": 10}


def run_quickstart(out: str | os.PathLike = "runs/quickstart", data: Optional[str] = None, seed: int = 0,
                   encoder: str = DEFAULT_ENCODER, synthetic: Optional[SyntheticConfig] = None,
                   cache_dir: Optional[str] = None, epochs: float = 3.0, train: bool = True) -> Dict[str, Any]:
    """The main job: synthetic catalog (or ``data``) -> prepare -> embed -> SIDs -> train TIGER -> evaluate ->
    self-contained model folder -> reload with ``AutoModel`` -> recommendations.

    On the embedded default this takes a few minutes on two CPU cores.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = _now()
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
        import shutil

        shutil.rmtree(out / "tiger", ignore_errors=True)
        config = {"data": {"prepared": str(out / "prepared"), "sids": str(out / "sids")}, "model": dict(QUICKSTART_MODEL),
                  "training": {"output_dir": str(out / "tiger"), "learning_rate": 3e-3, "batch_size": 256,
                               "num_epochs": epochs, "warmup_steps": 30, "eval_num_beams": 20, "eval_max_users": 1000,
                               "early_stopping_patience": 3, "report_to": ["tensorboard"], "seed": seed}}
        trained = run_train(config)
        steps["train"] = {k: trained.get(k) for k in ("global_step", "seconds", "samples_per_second", "best_step",
                                                        "best_validation", "test", "model_folder", "plot")}
        steps["reload"] = _reload_and_recommend(trained["model_folder"], out / "prepared")
    summary = {"command": "quickstart", "hf_genrec_version": __version__, "started": started, "finished": _now(),
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


def describe_prepared(summary: Dict[str, Any]) -> str:
    return format_statistics(summary["statistics"])


def _reference_sid_tables(items) -> Dict[str, Any]:
    """Published SIDs shipped with a dataset (e.g. Beauty's ``letter_sid``), parsed for comparison."""
    from .quantization import parse_sid_tokens

    tables = {}
    for column in items.column_names:
        if column.endswith("_sid"):
            values = items[column]
            if all(v for v in values):
                codes, sizes = parse_sid_tokens(values)
                tables[column[: -len("_sid")]] = (codes, sizes)
    return tables


def plot_training_history(history, path: str | os.PathLike, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def run_build_sids(prepared_dir: str | os.PathLike, out: str | os.PathLike, quantizer: str = "rqkmeans",
                   levels: int = 3, codebook_size: int = 256, collisions: str = "suffix", seed: int = 0,
                   quantizer_options: Optional[Dict[str, Any]] = None, overwrite: bool = False) -> Dict[str, Any]:
    """Fit a quantizer on a prepared dataset's item embeddings and write quantizer, tokenizer and report.

    ``out/`` receives ``quantizer/``, ``tokenizer/`` (``AutoTokenizer``-loadable), ``sid_quality.png``,
    ``training_loss.png`` (autoencoder quantizers) and ``summary.json``.
    """
    import torch

    from .embeddings import load_item_embeddings
    from .quantization import build_semantic_ids, plot_code_usage, sid_quality
    from .tokenization import SIDTokenizer

    started = _now()
    prepared = PreparedDataset.load(prepared_dir)
    embeddings, embedding_meta = load_item_embeddings(prepared_dir)
    if len(embeddings) != prepared.num_items:
        raise ValueError(f"{prepared_dir}: {len(embeddings)} embeddings for {prepared.num_items} items; re-run prepare")
    t = time.perf_counter()
    fitted, sids = build_semantic_ids(embeddings, quantizer, levels=levels, codebook_size=codebook_size,
                                      collisions=collisions, seed=seed, quantizer_options=quantizer_options)
    seconds = round(time.perf_counter() - t, 3)
    tokenizer = SIDTokenizer.from_sids(sids.codes, sids.codebook_sizes, collisions=collisions,
                                       item_keys=prepared.items["item_id"])
    round_trip = None
    if collisions != "none":
        decoded = tokenizer.codes_to_items(tokenizer.item_codes(torch.arange(tokenizer.num_items)))
        round_trip = all(items == [i] for i, items in enumerate(decoded))
    references = {name: sid_quality(codes, sizes) for name, (codes, sizes) in _reference_sid_tables(prepared.items).items()}
    summary: Dict[str, Any] = {
        "command": "build-sids", "hf_genrec_version": __version__, "started": started,
        "inputs": {"prepared": os.fspath(prepared_dir), "embedding_model": embedding_meta.get("model"),
                   "items": prepared.num_items, "embedding_dim": int(embeddings.shape[1])},
        "quantizer": fitted.config.to_dict(), "seconds": seconds, **sids.summary(),
        "round_trip_ok": round_trip, "reference_sids": references,
    }
    out = Path(out)
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        fitted.save_pretrained(tmp / "quantizer")
        tokenizer.save_pretrained(tmp / "tokenizer")
        tables = {f"{quantizer} (raw)": (sids.raw_codes, fitted.codebook_sizes),
                  f"{quantizer} + {collisions}": (sids.codes, sids.codebook_sizes)}
        tables.update({f"published {name}": table for name, table in _reference_sid_tables(prepared.items).items()})
        plot_code_usage(tables, tmp / "sid_quality.png", title=f"code usage per level - {prepared.name}")
        outputs = {"quantizer": str(out / "quantizer"), "tokenizer": str(out / "tokenizer"),
                   "plot": str(out / "sid_quality.png")}
        history = sids.fit_report.get("history")
        if history:
            plot_training_history(history, tmp / "training_loss.png", title=f"{quantizer} training")
            atomic_write_json(tmp / "training_history.json", history)
            outputs["training_plot"] = str(out / "training_loss.png")
        summary.update({"outputs": outputs, "finished": _now()})
        atomic_write_json(tmp / SUMMARY_FILE, summary)
    return summary


def load_model_and_tokenizer(model_dir: str | os.PathLike, tokenizer_dir: Optional[str | os.PathLike] = None):
    """``AutoModel`` + ``AutoTokenizer`` from a saved hf_genrec model folder (tokenizer beside the weights)."""
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(model_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir or model_dir))
    tokenizer.check_compatible(model.config.num_levels, model.config.codebook_sizes, model.config.num_items)
    return model, tokenizer


def run_evaluate(model_dir: str | os.PathLike, prepared_dir: str | os.PathLike, split: str = "test",
                 out: Optional[str | os.PathLike] = None, num_beams: int = 20, batch_size: int = 64,
                 ks=(5, 10, 20), max_users: Optional[int] = None, tokenizer_dir: Optional[str] = None,
                 device: Optional[str] = None) -> Dict[str, Any]:
    """Full-ranking leave-one-out evaluation of a saved model; writes ``metrics.json`` (and ``summary.json``)."""
    import torch

    from .evaluation import Evaluator

    started = _now()
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
    out = Path(out or model_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics = {"split": split, "dataset": prepared.name, **result.to_dict(),
               "seconds": round(time.perf_counter() - t, 3)}
    atomic_write_json(out / "metrics.json", metrics)
    summary = {"command": "evaluate", "hf_genrec_version": __version__, "started": started, "finished": _now(),
               "model": os.fspath(model_dir), "data": os.fspath(prepared_dir), "device": str(device), **metrics,
               "outputs": {"metrics": str(out / "metrics.json")}}
    atomic_write_json(out / SUMMARY_FILE, summary)
    return summary


# ---------------------------------------------------------------------------------------- training
def _yaml_loader():
    """A SafeLoader that also reads ``1e-4`` as a float (YAML 1.1 wants ``1.0e-4``)."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
        list("-+0123456789."))
    return Loader


def load_yaml_config(path: str | os.PathLike, overrides: Optional[list] = None) -> Dict[str, Any]:
    """A YAML run config with ``section.key=value`` overrides (values parsed as YAML scalars)."""
    import yaml

    loader = _yaml_loader()

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"config file {path} not found")
    config = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}
    if not isinstance(config, dict):
        raise ValueError(f"{path}: a run config must be a mapping with data/model/training sections")
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not of the form section.key=value")
        dotted, raw = item.split("=", 1)
        node = config
        keys = dotted.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {key} is not a section")
        node[keys[-1]] = yaml.load(raw, Loader=loader)
    return config


def item_features(model_type: str, model_options: Dict[str, Any], prepared_dir, sids_dir) -> Dict[str, Any]:
    """Cached item features for models that read them (ComeIR, Eq. 2 and 4): the item embeddings that
    produced the SIDs (``prepared/item_embeddings.safetensors``) and the quantizer's codebooks
    (``sids/quantizer``). ``codebook_embedding_dim: 0`` or ``token_scoring: mean`` in the model section
    opts out of the respective feature."""
    from .models import MODEL_TYPES

    if model_type not in MODEL_TYPES or not hasattr(MODEL_TYPES[model_type][1], "set_item_features"):
        return {}
    from .embeddings import load_item_embeddings
    from .quantization import Quantizer

    features: Dict[str, Any] = {}
    if model_options.get("token_scoring", "mm") == "mm" and model_options.get("representation", "comeir") == "comeir":
        features["item_embeddings"], _ = load_item_embeddings(prepared_dir)
    if model_options.get("codebook_embedding_dim", None) != 0:
        folder = Path(sids_dir) / "quantizer"
        if not folder.exists():
            raise FileNotFoundError(f"{folder} is missing: ComeIR's frozen codebook embeddings (Eq. 2) come from the "
                                    "quantizer; rebuild the SIDs or set model.codebook_embedding_dim: 0")
        features["codebooks"] = [book.detach().float() for book in Quantizer.from_pretrained(folder).codebooks]
    return features


def run_train(config: Dict[str, Any]) -> Dict[str, Any]:
    """Train a model from a run config (sections ``data``, ``model``, ``finetuning``, ``training``).

    Works in one process and under ``accelerate launch`` / ``torchrun`` (every process runs it; only the
    main process writes files).
    """
    import torch

    from .models import build_model
    from .tokenization import SIDTokenizer
    from .training import GenRecTrainer, LoraSettings, TrainingConfig, configure_finetuning

    started = _now()
    data = config.get("data") or {}
    if "prepared" not in data or "sids" not in data:
        raise ValueError("the config's data section needs 'prepared' (hf-genrec prepare) and 'sids' (hf-genrec build-sids)")
    prepared = PreparedDataset.load(data["prepared"])
    tokenizer = SIDTokenizer.from_pretrained(Path(data["sids"]) / "tokenizer")
    if tokenizer.num_items != prepared.num_items:
        raise ValueError(f"the SIDs in {data['sids']} cover {tokenizer.num_items} items but {data['prepared']} has "
                         f"{prepared.num_items}; build the SIDs from this prepared dataset")
    model_options = dict(config.get("model") or {})
    model_type = model_options.pop("type", "tiger")
    training = TrainingConfig.from_dict(dict(config.get("training") or {}))
    torch.manual_seed(training.seed)
    features = item_features(model_type, model_options, data["prepared"], data["sids"])
    model = build_model(model_type, tokenizer, **features, **model_options)
    finetuning = dict(config.get("finetuning") or {})
    mode = finetuning.get("mode", "full")
    model = configure_finetuning(model, mode, LoraSettings(**(finetuning.get("lora") or {})))
    trainer = GenRecTrainer(model, tokenizer, prepared.splits["train"], prepared.splits["validation"],
                            prepared.splits["test"], training, prepared.items["train_count"],
                            run_metadata={"model_type": model_type, "model": model_options, "finetuning": finetuning,
                                          "data": data},
                            item_titles=prepared.items["title"], dataset_name=prepared.name,
                            sid_quality=_read_json(Path(data["sids"]) / SUMMARY_FILE))
    result = trainer.train()
    summary = {"command": "train", "hf_genrec_version": __version__, "started": started, "finished": _now(),
               "config": config, **result}
    if trainer.is_main:
        atomic_write_json(Path(training.output_dir) / SUMMARY_FILE, summary)
    return summary


def resolve_history(history: str, items: Dict[str, Any], num_items: int) -> list:
    """Item ids from a comma- or ``|``-separated list of item indices, raw item ids or exact titles."""
    ids = items.get("item_ids") or []
    titles = items.get("titles") or []
    by_key = {str(k): i for i, k in enumerate(ids)}
    by_title = {str(t).strip().lower(): i for i, t in enumerate(titles) if t}
    separator = "|" if "|" in history else ","
    resolved = []
    for token in (t.strip() for t in history.split(separator) if t.strip()):
        if token in by_key:
            resolved.append(by_key[token])
        elif token.lower() in by_title:
            resolved.append(by_title[token.lower()])
        elif token.isdigit() and int(token) < num_items:
            resolved.append(int(token))
        else:
            raise ValueError(f"history item {token!r} is neither an item index, an item id nor a title of this model")
    if not resolved:
        raise ValueError("the history is empty")
    return resolved


def run_recommend(model_dir: str, history: str, top_k: int = 10, num_beams: int = 20,
                  out: Optional[str | os.PathLike] = None) -> Dict[str, Any]:
    """Top-K recommendations for one history; writes ``recommendations.json`` and ``summary.json`` to ``out``."""
    from .hub.export import load_items
    from .utils.io import atomic_write_json as write

    model, tokenizer = load_model_and_tokenizer(model_dir)
    local = Path(model_dir)
    items = load_items(local) if local.is_dir() else _hub_items(model_dir)
    history_ids = resolve_history(history, items, model.config.num_items)
    history_ids = history_ids[-model.config.max_history:]
    batch = tokenizer([history_ids], mode=model.config.input_mode, return_tensors="pt")
    output = model.generate(**batch, num_beams=max(num_beams, top_k), num_return_sequences=top_k)
    titles, keys = items.get("titles") or [], items.get("item_ids") or []
    rows = []
    for rank, (item, score) in enumerate(zip(output.items[0].tolist(), output.scores[0].tolist()), start=1):
        if item < 0:
            continue
        rows.append({"rank": rank, "item_idx": item, "item_id": keys[item] if item < len(keys) else str(item),
                     "title": titles[item] if item < len(titles) else "", "score": round(score, 5)})
    summary = {"command": "recommend", "hf_genrec_version": __version__, "model": str(model_dir),
               "history": history_ids, "top_k": top_k, "num_beams": max(num_beams, top_k), "recommendations": rows}
    if out is not None:
        write(Path(out) / "recommendations.json", rows)
        write(Path(out) / SUMMARY_FILE, summary)
    return summary


def _hub_items(repo_id: str) -> Dict[str, Any]:
    import json

    from huggingface_hub import hf_hub_download

    try:
        return json.loads(Path(hf_hub_download(repo_id, "items.json")).read_text(encoding="utf-8"))
    except Exception:  # a model without display titles still recommends by index
        return {}
