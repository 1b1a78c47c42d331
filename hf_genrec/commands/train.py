"""``hf-genrec train``: a model from a YAML run config (sections ``data``, ``model``, ``finetuning``, ``training``).

Works in one process and under ``accelerate launch`` / ``torchrun`` (every process runs it; only the main
process writes files). The model class declares the cached item features it reads
(``item_feature_spec``); this command loads each from its source and installs it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional

from .._version import __version__
from ..data import PreparedDataset
from ..utils.dataclass_dict import dataclass_from_dict
from ..utils.io import atomic_write_json, check_output_folder_is_not_an_input
from .common import SUMMARY_FILE, now, read_json


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
    try:
        config = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(f"{path}{where}: not valid YAML ({problem})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: a run config must be a mapping with data/model/training sections")
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not of the form section.key=value")
        dotted, raw = item.split("=", 1)
        node = config
        keys = dotted.split(".")
        if not all(keys):
            raise ValueError(f"override {item!r}: empty key in {dotted!r}")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {key} is not a section")
        try:
            node[keys[-1]] = yaml.load(raw, Loader=loader)
        except yaml.YAMLError:
            raise ValueError(f"override {item!r}: the value is not valid YAML") from None
    return config


def _quantizer_codebooks(prepared_dir, sids_dir):
    from ..quantization import Quantizer

    folder = Path(sids_dir) / "quantizer"
    if not folder.exists():
        imported = (read_json(Path(sids_dir) / SUMMARY_FILE) or {}).get("quantizer", {}).get("quantizer_type")
        raise FileNotFoundError(f"{folder} is missing" + (
            " (these SIDs were imported with build-sids --import, which writes no quantizer: build the SIDs with a "
            "quantizer, e.g. hf-genrec build-sids --quantizer rqvae, for a model that reads codebooks)"
            if imported == "imported" else ""))
    return [book.detach().float() for book in Quantizer.from_pretrained(folder).codebooks]


def _item_embeddings(prepared_dir, sids_dir):
    from ..embeddings import load_item_embeddings

    return load_item_embeddings(prepared_dir)[0]


def _collab_embeddings(prepared_dir, sids_dir):
    from ..embeddings import load_collab_embeddings

    return load_collab_embeddings(prepared_dir)[0]


def _item_tags(prepared_dir, sids_dir):
    from ..data.tags import load_tags

    folder = Path(sids_dir) / "tags"
    if not folder.exists():
        raise FileNotFoundError(f"{folder} is missing (hf-genrec build-sids --quantizer prism writes it)")
    return load_tags(folder)[0].labels


#: where each :class:`~hf_genrec.modeling_utils.ItemFeature` source is read from: ``(prepared, sids) -> value``
FEATURE_SOURCES = {"item_embeddings": _item_embeddings, "quantizer_codebooks": _quantizer_codebooks,
                   "collab_embeddings": _collab_embeddings, "item_tags": _item_tags}


def load_item_features(model_type: str, model_options: Dict[str, Any], tokenizer, prepared_dir,
                       sids_dir) -> Dict[str, Any]:
    """The cached item features that the configured model reads, loaded from the prepared data and SIDs folders."""
    from ..models import model_classes

    config_class, model_class = model_classes(model_type)
    if not model_class.item_features:
        return {}
    config = config_class(codebook_sizes=tokenizer.codebook_sizes, num_items=tokenizer.num_items, **model_options)
    features = {}
    for feature in model_class.item_feature_spec(config):
        try:
            features[feature.name] = FEATURE_SOURCES[feature.source](prepared_dir, sids_dir)
        except FileNotFoundError as error:
            hint = f" or set model.{feature.opt_out.replace('=', ': ')}" if feature.opt_out else ""
            raise FileNotFoundError(f"{error}: {model_type} reads {feature.description} from there; rebuild the "
                                    f"data{hint}") from error
    return features


SECTIONS = {"data": ("prepared", "sids"), "model": None, "finetuning": ("mode", "lora"), "training": None}


def check_run_config(config: Dict[str, Any]) -> None:
    """Unknown sections and keys are errors that name them (the model and training sections are checked against
    their config classes when they are built)."""
    if not isinstance(config, dict):
        raise ValueError("a run config must be a mapping with data, model, finetuning and training sections")
    unknown = sorted(set(config) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown run config section(s) {unknown}; known: {sorted(SECTIONS)}")
    for section, keys in SECTIONS.items():
        value = config.get(section)
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"the config's {section} section must be a mapping, got {value!r}")
        if keys and value:
            wrong = sorted(set(value) - set(keys))
            if wrong:
                raise ValueError(f"unknown {section} option(s) {wrong}; known: {list(keys)}")
    data = config.get("data") or {}
    if "prepared" not in data or "sids" not in data:
        raise ValueError("the config's data section needs 'prepared' (hf-genrec prepare) and 'sids' (hf-genrec build-sids)")
    from ..models import check_model_options
    from ..training import LoraSettings, TrainingConfig

    model_options = dict(config.get("model") or {})
    check_model_options(model_options.pop("type", "tiger"), model_options)
    TrainingConfig.from_dict(dict(config.get("training") or {}))
    dataclass_from_dict(LoraSettings, dict((config.get("finetuning") or {}).get("lora") or {}), "finetuning.lora")


def check_history_length(model_config, prepared: PreparedDataset, where: str) -> None:
    """A model that reads longer histories than the prepared data holds would silently see shorter ones (IntRR's
    ``history_setting: ssl`` would equal ``sac``): refuse it, naming both lengths."""
    held = int(prepared.config.get("max_history") or 0)
    wanted = int(model_config.max_history)
    if held and wanted > held:
        setting = getattr(model_config, "history_setting", None)
        why = f" (history_setting {setting!r} gives it {wanted})" if setting == "ssl" else ""
        raise ValueError(f"the model reads histories of up to {wanted} items{why} but {where} holds at most {held}: "
                         f"prepare the data with --max-history {wanted}, or lower model.max_history")


def run_train(config: Dict[str, Any]) -> Dict[str, Any]:
    """Train a model from a run config (sections ``data``, ``model``, ``finetuning``, ``training``)."""
    started = now()
    trainer = build_trainer(config)
    result = trainer.train()
    summary = {"command": "train", "hf_genrec_version": __version__, "started": started, "finished": now(),
               "config": config, **result}
    if trainer.is_main:
        atomic_write_json(Path(trainer.config.output_dir) / SUMMARY_FILE, summary)
    return summary


def build_trainer(config: Dict[str, Any]):
    """The :class:`~hf_genrec.training.GenRecTrainer` a run config describes (data checked, tokenizer, model, item
    features and fine-tuning mode built), before any training step; ``run_train`` and the profiler share it."""
    import torch

    from ..models import build_model
    from ..tokenization import SIDTokenizer
    from ..training import GenRecTrainer, LoraSettings, TrainingConfig, configure_finetuning

    check_run_config(config)
    data = config["data"]
    for key in ("prepared", "sids"):
        if not Path(data[key]).is_dir():
            raise FileNotFoundError(f"data.{key}: {data[key]} is not a folder (hf-genrec "
                                    f"{'prepare' if key == 'prepared' else 'build-sids'} writes it)")
    prepared = PreparedDataset.load(data["prepared"])
    tokenizer_folder = Path(data["sids"]) / "tokenizer"
    if not tokenizer_folder.is_dir():
        raise FileNotFoundError(f"data.sids: {data['sids']} has no tokenizer/ folder; is it an hf-genrec build-sids "
                                "output?")
    tokenizer = SIDTokenizer.from_pretrained(tokenizer_folder)
    if tokenizer.num_items != prepared.num_items:
        raise ValueError(f"the SIDs in {data['sids']} cover {tokenizer.num_items} items but {data['prepared']} has "
                         f"{prepared.num_items}; build the SIDs from this prepared dataset")
    model_options = dict(config.get("model") or {})
    model_type = model_options.pop("type", "tiger")
    training = TrainingConfig.from_dict(dict(config.get("training") or {}))
    check_output_folder_is_not_an_input(training.output_dir, [data["prepared"], data["sids"]])
    torch.manual_seed(training.seed)
    features = load_item_features(model_type, model_options, tokenizer, data["prepared"], data["sids"])
    model = build_model(model_type, tokenizer, **features, **model_options)
    check_history_length(model.config, prepared, data["prepared"])
    finetuning = dict(config.get("finetuning") or {})
    lora = dataclass_from_dict(LoraSettings, dict(finetuning.get("lora") or {}), "finetuning.lora")
    model = configure_finetuning(model, finetuning.get("mode", "full"), lora)
    trainer = GenRecTrainer(model, tokenizer, prepared.splits["train"], prepared.splits["validation"],
                            prepared.splits["test"], training, prepared.items["train_count"],
                            run_metadata={"model_type": model_type, "model": model_options, "finetuning": finetuning,
                                          "data": data},
                            item_titles=prepared.items["title"], dataset_name=prepared.name,
                            sid_quality=read_json(Path(data["sids"]) / SUMMARY_FILE),
                            redistribution_restricted=prepared.redistribution_restricted,
                            license_note=prepared.license_note)
    return trainer
