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

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_root() -> Path:
    return Path(os.environ.get("HF_GENREC_SHARED", REPO_ROOT.parent / "shared"))


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
    from hf_genrec.data import PrepareConfig, SyntheticConfig, generate_synthetic
    from hf_genrec.pipeline import run_prepare

    root = tmp_path_factory.mktemp("synthetic")
    generate_synthetic(root / "raw", SyntheticConfig(num_users=400, num_items=240, seed=0))
    run_prepare(root / "raw", root / "prepared", config=PrepareConfig(max_history=10),
                cache_dir=str(root / "cache"))
    return root / "prepared"
