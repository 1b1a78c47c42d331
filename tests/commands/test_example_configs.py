"""Every example config parses, its training section validates and its model section builds a config."""


import pytest
from helpers.tiny import REPO_ROOT

from hf_genrec.commands.train import load_yaml_config
from hf_genrec.models import MODEL_TYPES
from hf_genrec.training import TrainingConfig

CONFIGS = sorted((REPO_ROOT / "examples" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_example_config_is_valid(path):
    config = load_yaml_config(path)
    assert {"data", "model", "training"} <= set(config), path.name
    assert {"prepared", "sids"} <= set(config["data"]), path.name
    TrainingConfig.from_dict(dict(config["training"]))
    model = dict(config["model"])
    model_type = model.pop("type")
    model.pop("backbone_name_or_path", None)  # a Hub backbone (not downloaded here)
    config_class, _ = MODEL_TYPES[model_type]
    built = config_class(codebook_sizes=[8, 8, 8], num_items=20, **model)
    assert built.model_type == model_type
    for key, value in model.items():  # every option the file sets is a real config field
        assert hasattr(built, key), f"{path.name}: model.{key} is not a {config_class.__name__} field"
    # every config states its example mode, schedule and budget (issue [4/8])
    text = path.read_text()
    assert {"train_examples", "scheduler", "warmup_steps"} <= set(config["training"]), path.name
    assert "\n# Budget: " in text and "\n# Schedule: " in text, f"{path.name}: no '# Budget:' / '# Schedule:' line"


def test_comeir_configs_use_the_paper_defaults():
    config = load_yaml_config(REPO_ROOT / "examples" / "configs" / "comeir_yelp.yaml")
    training = config["training"]
    assert config["data"]["prepared"] and "yelp" in config["data"]["prepared"]
    assert training["mixed_precision"] == "bf16" and training["learning_rate"] == 1e-5
    assert training["weight_decay"] == 1e-4 and training["batch_size"] * training["gradient_accumulation_steps"] == 128
    assert config["model"]["backbone_name_or_path"] == "Qwen/Qwen3-0.6B"
