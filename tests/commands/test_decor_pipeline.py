"""DECOR end to end on a small synthetic dataset: ``hf-genrec train`` installs the quantizer's codebooks as DECOR's
frozen pretrained table (Eq. 9), trains, evaluates, and the saved folder reloads and decodes the same."""

import torch
from helpers.tiny import train_tiny_t5_folder

from hf_genrec.quantization import Quantizer


def test_train_decor_reads_the_quantizer_codebooks_and_reloads(prepared_synthetic, synthetic_sids, tmp_path):
    result, model, tokenizer = train_tiny_t5_folder("decor", prepared_synthetic, synthetic_sids, tmp_path / "model",
                                                    num_bos_queries=4)
    assert result["global_step"] > 0 and "recall@10" in result["test"]["metrics"]
    assert type(model).__name__ == "DecorForGenerativeRecommendation"
    # the frozen table holds the quantizer's codewords, level by level (the collision level has none: zero rows)
    books = Quantizer.from_pretrained(synthetic_sids / "quantizer").codebooks
    assert model.config.codebook_dim == books[0].shape[1]
    start = 0
    for book in books:
        assert torch.allclose(model.codebook_vectors[start: start + len(book), : book.shape[1]], book.float())
        start += len(book)
    assert not bool(model.codebook_vectors[start:].any())  # the collision level has no codewords
    batch = tokenizer([[0, 1, 2], [3]], return_tensors="pt")
    out = model.generate(**batch, num_beams=5)
    assert bool((out.items >= 0).all()) and int(out.items.max()) < tokenizer.num_items
