"""Test configuration: offline, single-threaded, quiet; ``--runslow`` for slow tests; ../shared lookup."""

import os

# Must be set before torch / huggingface_hub are imported by any test module.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_GENREC_DISABLE_PROGRESS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from helpers.tiny import SAME_BUDGET_TRAINING, TINY_TIGER, shared_root  # noqa: E402,F401


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    run_slow = config.getoption("--runslow") or os.environ.get("HF_GENREC_RUN_SLOW") == "1"
    if run_slow:
        return
    skip = pytest.mark.skip(reason="slow test: run with --runslow or HF_GENREC_RUN_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def shared_datasets() -> Path:
    folder = shared_root() / "datasets"
    if not folder.is_dir():
        pytest.skip(f"real benchmark data not found at {folder} (set HF_GENREC_SHARED to the shared/ folder)")
    return folder


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own embedding cache so cache behaviour is deterministic."""
    monkeypatch.setenv("HF_GENREC_CACHE", str(tmp_path_factory.mktemp("hf_genrec_cache")))


@pytest.fixture(scope="session")
def prepared_synthetic(tmp_path_factory):
    """A small prepared synthetic dataset with real MiniLM item embeddings (built once per session)."""
    from hf_genrec.commands.prepare import run_prepare
    from hf_genrec.data import PrepareConfig, SyntheticConfig, generate_synthetic

    root = tmp_path_factory.mktemp("synthetic")
    generate_synthetic(root / "raw", SyntheticConfig(num_users=400, num_items=240, seed=0))
    run_prepare(root / "raw", root / "prepared", config=PrepareConfig(max_history=10),
                cache_dir=str(root / "cache"))
    return root / "prepared"


@pytest.fixture(scope="session")
def synthetic_sids(prepared_synthetic, tmp_path_factory):
    """RQ-KMeans SIDs (2 levels x 16 codes + suffix) for ``prepared_synthetic``."""
    from hf_genrec.commands.build_sids import run_build_sids

    out = tmp_path_factory.mktemp("sids") / "sids"
    run_build_sids(prepared_synthetic, out, "rqkmeans", levels=2, codebook_size=16, collisions="suffix")
    return out


@pytest.fixture(scope="session")
def embedded_default(tmp_path_factory):
    """The full embedded default (3,000 users, 1,200 items), prepared, with RQ-KMeans SIDs 3 x 64 + suffix:
    the data of the same-budget method comparisons. Returns the data section of a run config."""
    from hf_genrec.commands.build_sids import run_build_sids
    from hf_genrec.commands.prepare import run_prepare
    from hf_genrec.data import SyntheticConfig, generate_synthetic

    root = tmp_path_factory.mktemp("embedded_default")
    generate_synthetic(root / "raw", SyntheticConfig(seed=0))
    run_prepare(root / "raw", root / "prepared", cache_dir=str(root / "cache"))
    run_build_sids(root / "prepared", root / "sids", "rqkmeans", levels=3, codebook_size=64, collisions="suffix")
    return {"prepared": str(root / "prepared"), "sids": str(root / "sids")}


@pytest.fixture
def run_config(prepared_synthetic, synthetic_sids, tmp_path):
    """A tiny, fast run config on the small synthetic dataset."""
    return {"data": {"prepared": str(prepared_synthetic), "sids": str(synthetic_sids)}, "model": dict(TINY_TIGER),
            "training": {"output_dir": str(tmp_path / "run"), "learning_rate": 0.005, "batch_size": 64,
                         "num_epochs": 2, "eval_num_beams": 10, "eval_batch_size": 64, "eval_max_users": 60,
                         "logging_steps": 5, "report_to": [], "show_progress": False, "seed": 3}}
