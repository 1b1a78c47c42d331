"""ComeIR: the Engram hash and tables (sizes against the paper), each memory's shapes, masking and gates,
the ablation switches, normalisation over valid codes, exact beam search (normal and NEZHA with its
per-hypothesis recurrent state), the sparse-aware optimizer, resume, and save/load through AutoModel."""

import math

import pytest
import torch
from helpers.tiny import CODES, LLAMA, NUM_ITEMS, QWEN, SIZES
from helpers.tiny import TINY_COMEIR as SMALL
from transformers import AutoModel

from hf_genrec.models import build_model
from hf_genrec.models.comeir import ComeIRConfig
from hf_genrec.models.comeir.engram import (EngramMemory, default_inter_orders, inter_table_rows, intra_table_rows,
                                            is_prime, odd_multipliers, prefix_units, table_parameters, unique_keys)
from hf_genrec.tokenization import SIDTokenizer
from hf_genrec.training import SparseAwareAdamW, clip_grad_norm_, sparse_parameters


def features(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(NUM_ITEMS, 12, generator=g), [torch.randn(s, 6, generator=g) for s in SIZES]


def setup(**options):
    tok = SIDTokenizer.from_sids(CODES, SIZES)
    torch.manual_seed(0)
    items, books = features()
    model = build_model("comeir", tok, item_embeddings=items, codebooks=books, **{**SMALL, **options})
    return model.eval(), tok


def batch_of(tok, histories=([0, 1, 2, 3], [5], [7, 7, 9])):
    return tok([list(h) for h in histories], mode="item", return_tensors="pt")


# ---------------------------------------------------------------------------------------------- hashing

def test_hash_is_seeded_deterministic_odd_with_distinct_prime_tables():
    assert odd_multipliers(3, 3, 4) == odd_multipliers(3, 3, 4) != odd_multipliers(4, 3, 4)
    assert all(m % 2 == 1 and 0 < m < 2 ** 31 for row in odd_multipliers(3, 3, 4) for m in row)
    rows = inter_table_rows([16, 16, 16], scale=0.5, base=16, num_heads=4)
    primes = [h for sizes in rows.values() for h in sizes]
    assert all(is_prime(h) for h in primes) and len(set(primes)) == len(primes)  # distinct per head and table
    memory = EngramMemory(rows, hidden_size=8, address_dim=8, seed=5)
    twin = EngramMemory(rows, hidden_size=8, address_dim=8, seed=5)
    keys = torch.randint(1, 17, (50, 3))
    assert torch.equal(memory.bucket_rows(0, 3, keys), twin.bucket_rows(0, 3, keys))
    other = EngramMemory(rows, hidden_size=8, address_dim=8, seed=6)
    assert not torch.equal(memory.bucket_rows(0, 3, keys), other.bucket_rows(0, 3, keys))
    # Eq. 39 by hand for one key and head: (x1*m1 XOR x2*m2 XOR x3*m3) mod H + offset
    m = memory.multipliers
    x = keys[0]
    expected = ((int(x[0]) * int(m[0, 1])) ^ (int(x[1]) * int(m[1, 1])) ^ (int(x[2]) * int(m[2, 1]))) % rows[(0, 3)][1]
    assert int(memory.bucket_rows(0, 3, keys[:1])[0, 1]) == expected + int(memory.offsets_0_3[1])
    # each head stays inside its own table
    got = memory.bucket_rows(0, 3, keys)
    for k in range(4):
        low = int(memory.offsets_0_3[k])
        assert bool(((got[:, k] >= low) & (got[:, k] < low + rows[(0, 3)][k])).all())


def test_hash_collision_behaviour():
    # order-1 keys from a domain no larger than the prime table never collide (odd multiplier, prime modulus)
    rows = intra_table_rows([64, 64], scale=1.0, num_heads=2)
    memory = EngramMemory(rows, hidden_size=8, address_dim=8, seed=0)
    codes = torch.arange(1, 65)[:, None]
    for k in range(2):
        assert len(set(memory.bucket_rows(1, 1, codes)[:, k].tolist())) == 64
    # a large key space in a small table: heads collide at about the birthday rate, but independently,
    # so two keys rarely share all K rows (the concatenated address still tells them apart)
    rows = {(0, 2): [101, 103, 107, 109]}
    memory = EngramMemory(rows, hidden_size=8, address_dim=8, seed=1)
    keys = torch.unique(torch.randint(1, 5000, (2000, 2), generator=torch.Generator().manual_seed(0)), dim=0)[:1500]
    buckets = memory.bucket_rows(0, 2, keys)
    same = buckets[:, None, :] == buckets[None, :, :]
    off_diagonal = ~torch.eye(len(keys), dtype=torch.bool)
    per_head = same[off_diagonal].float().mean(0)
    assert bool(((per_head > 0.5 / 107) & (per_head < 2.0 / 101)).all())  # near uniform: ~1/H per head
    all_heads = same.all(-1)[off_diagonal].float().mean()
    assert float(all_heads) < 1e-5


def test_unique_keys_matches_torch_unique():
    keys = torch.randint(0, 7, (2000, 3), generator=torch.Generator().manual_seed(0))
    keys[:, 2] *= 3_000_000  # large unit values (inter-item prefixes) must not overflow the folding
    distinct, inverse = unique_keys(keys)
    assert torch.equal(distinct[inverse], keys)
    assert len(distinct) == len(torch.unique(keys, dim=0)) == len(torch.unique(distinct, dim=0))


def test_table_parameter_counts_match_the_paper():
    """App. B.3.3: s_T from 0.5 to 4.0 spans about 1.4M to 4.431B inter-table parameters (C = 128, L = 3)."""
    p_t = {s: table_parameters(inter_table_rows([128] * 3, s, 16, 4), 256) for s in (0.5, 1.0, 2.0, 4.0)}
    assert round(p_t[0.5] / 1e6, 1) == 1.4 and round(p_t[4.0] / 1e9, 3) == 4.431
    assert p_t[0.5] < p_t[1.0] < p_t[2.0] < p_t[4.0]
    # H_max caps a table; s_T = 8 reaches the base bound 16 * 8 = C
    assert max(max(h) for h in inter_table_rows([128] * 3, 8.0, 16, 4).values()) < 20_000_000 + 1000
    p_s = table_parameters(intra_table_rows([128] * 3, 1.0, None, 2), 256)
    # Eq. 34 by hand: levels 2 and 3, orders 1..min(l, 3), two heads of 128 dims over primes >= 128^o
    assert p_s == 128 * sum(sum(r) for r in intra_table_rows([128] * 3, 1.0, None, 2).values())
    assert 2 * 128 * (2 * 128 + 2 * 128 ** 2 + 128 ** 3) <= p_s < 2 * 128 * (2 * 128 + 2 * 128 ** 2 + 128 ** 3) * 1.01
    model, _ = setup()
    counts = model.table_parameter_counts()
    assert counts["P_S"] == model.intra_memory.parameter_count and counts["P_T"] == model.inter_memory.parameter_count
    assert default_inter_orders(3) == [3, 2, 1]


def test_prefix_units_are_positive_distinct_and_capped():
    codes = torch.cartesian_prod(torch.arange(4), torch.arange(3))
    units = prefix_units(codes, [4, 3])
    assert units.min() == 1 and len(set(units.tolist())) == 12
    assert int(prefix_units(codes, [4, 3], max_domain=5).max()) <= 5


# --------------------------------------------------------------------------------------------- memories

def test_engram_read_shapes_gates_and_absent_keys():
    torch.manual_seed(0)
    rows = inter_table_rows([4, 3, 5], 0.5, 16, 4)
    memory = EngramMemory(rows, hidden_size=16, address_dim=8)
    pattern = torch.tensor([[0, 0, 3], [1, 2, 3], [4, 2, 3]])
    out, gates = memory.read(0, torch.randn(3, 16), pattern, return_gates=True)
    assert out.shape == (3, 16) and gates.shape == (3, 3)
    assert bool(((gates > 0) & (gates < 1)).all())
    assert torch.allclose(out.mean(-1), torch.zeros(3), atol=1e-5)  # LayerNorm output
    # orders 1 share the last unit: same order-1 address, different order-2/3 addresses
    a1 = memory.address(0, 1, pattern)
    a3 = memory.address(0, 3, pattern)
    assert torch.equal(a1[0], a1[1]) and not torch.equal(a3[0], a3[1])
    # the gate depends on the query: a shared query through query_index gives the same result
    q = torch.randn(1, 16)
    shared = memory.read(0, q, pattern, query_index=torch.zeros(3, dtype=torch.long))
    assert torch.allclose(shared, memory.read(0, q.expand(3, -1), pattern), atol=1e-6)
    with pytest.raises(KeyError, match="level 7"):
        memory.read(7, q, pattern)


def test_encoding_shapes_padding_invariance_and_mm_scoring():
    model, tok = setup()
    short = {"item_ids": torch.tensor([[4, 5, 6]])}
    padded = {"item_ids": torch.tensor([[-1, -1, 4, 5, 6]]), "attention_mask": torch.tensor([[0, 0, 1, 1, 1]])}
    with torch.no_grad():
        e1, m1, h1 = model.encode_history(**short)
        e2, m2, h2 = model.encode_history(**padded)
    assert e1.shape == (1, 3, 16) and e2.shape == (1, 5, 16)
    assert torch.allclose(e1[0], e2[0, 2:], atol=1e-5) and bool((e2[0, :2] == 0).all())
    assert torch.equal(h1.contexts[h1.context_mask], h2.contexts[h2.context_mask])
    assert [u.shape[1] for u in h1.units] == [t - 1 for t in model.inter_orders]
    units = model.history_units(padded["item_ids"], padded["attention_mask"].bool())
    assert bool((units[0, :2] == 0).all()) and bool((units[0, 2:] > 0).all())
    # Eq. 4: softmax weights over the L codes, steered by the cached item embedding
    items = torch.tensor([4, 5])
    tokens = model.item_token_embeddings(items)
    _, weights = model.item_contexts(items, tokens, return_weights=True)
    assert weights.shape == (2, 3) and torch.allclose(weights.sum(-1), torch.ones(2))
    with torch.no_grad():
        model.item_embeddings[4] += 5.0
    _, changed = model.item_contexts(items, tokens, return_weights=True)
    assert not torch.allclose(weights[0], changed[0]) and torch.allclose(weights[1], changed[1])
    # Eq. 6: no intra memory at level 1; Eq. 18-21: inter memory for every level
    with torch.no_grad():
        intra = model.intra_item_memory(items, model.item_contexts(items, tokens))
    assert bool((intra[:, 0] == 0).all()) and bool((intra[:, 1:].abs().sum(-1) > 0).all())


def test_inter_memory_reads_the_transition_suffix():
    model, _ = setup()
    items = torch.tensor([[0, 1, 2, 3]])
    mask = torch.ones_like(items, dtype=torch.bool)
    with torch.no_grad():
        tokens = model.item_token_embeddings(items)
        contexts = model.item_contexts(items, tokens)
        units = model.history_units(items, mask)
        base = model.inter_item_memory(contexts, mask, units)
        changed_units = units.clone()
        changed_units[0, 0] = units[0, 0] % 7 + 1  # change item 0's prefixes: only keys whose suffix covers it
        changed = model.inter_item_memory(contexts, mask, changed_units)
    assert base.shape == (1, 4, 3, 16)
    # level 3 uses order 1 (its own unit only): later positions are unaffected
    assert torch.allclose(base[0, 1:, 2], changed[0, 1:, 2])
    # level 1 uses orders up to 3: position 2 still sees item 0, position 3 no longer does
    assert not torch.allclose(base[0, 2, 0], changed[0, 2, 0]) and torch.allclose(base[0, 3, 0], changed[0, 3, 0])



def test_inter_memory_dropout_drops_whole_reads_per_state_in_training_only():
    """hf_genrec's ``inter_memory_dropout``: each state's inter reads are kept (scaled by 1 / (1 - p)) or zeroed
    as a whole, all candidates of one decoding state share the draw, and evaluation is unchanged."""
    model, tok = setup(inter_memory_dropout=0.5)
    plain, _ = setup()  # the option creates no parameters: the same weights
    items = torch.tensor([[0, 1, 2, 3]] * 8)
    mask = torch.ones_like(items, dtype=torch.bool)
    with torch.no_grad():
        contexts = model.item_contexts(items, model.item_token_embeddings(items))
        units = model.history_units(items, mask)
        base = plain.inter_item_memory(contexts, mask, units)
        assert torch.equal(model.inter_item_memory(contexts, mask, units), base)  # eval mode: no dropout
        torch.manual_seed(3)
        dropped = model.train().inter_item_memory(contexts, mask, units)
    zero = (dropped == 0).all(-1)
    assert torch.allclose(dropped[~zero], 2 * base[~zero], atol=1e-6)
    assert 0 < int(zero.sum()) < zero.numel()  # 96 reads, each dropped with probability 0.5
    reads = torch.randn(6, 4)
    state_of_read = torch.tensor([0, 0, 1, 1, 2, 2])
    torch.manual_seed(0)
    out = model.drop_inter_reads(reads, 3, state_of_read).view(3, 2, 4)
    for state, rows in enumerate(reads.view(3, 2, 4)):
        assert torch.equal(out[state], 2 * rows) or bool((out[state] == 0).all())
    batch = batch_of(tok)
    labels = CODES[torch.tensor([4, 6, 8])]
    with torch.no_grad():
        reference = plain.eval()(**batch, labels=labels).loss
        assert torch.allclose(plain.train()(**batch, labels=labels).loss, reference)  # nothing else is random
        assert torch.allclose(model.eval()(**batch, labels=labels).loss, reference)
        torch.manual_seed(0)
        assert not torch.allclose(model.train()(**batch, labels=labels).loss, reference)
    with pytest.raises(ValueError, match="inter_memory_dropout"):
        ComeIRConfig(inter_memory_dropout=1.0)


def test_memory_merge_gates_and_linear_ablation():
    model, _ = setup()
    contexts, intra, inter = torch.randn(2, 16), torch.randn(2, 3, 16), torch.randn(2, 3, 16)
    with torch.no_grad():
        out = model.merge(contexts, intra, inter)
        assert out.shape == (2, 16)
        model.merge_bias.fill_(-1e4)  # all gates closed: r = LN(s^0)
        closed = model.merge(contexts, intra, inter)
    assert torch.allclose(closed, model.output_norm(contexts), atol=1e-5) and not torch.allclose(closed, out)
    linear, _ = setup(token_merge="linear")
    assert hasattr(linear, "linear_merge") and not hasattr(linear, "merge_key")
    assert linear.merge(contexts, intra, inter).shape == (2, 16)


ABLATIONS = {
    "w/o MM-Scoring": dict(token_scoring="mean"),
    "w/o Mem. Merge": dict(token_merge="linear"),
    "w/o E-intra": dict(encode_intra=False),
    "w/o E-inter": dict(encode_inter=False),
    "w/o D-intra": dict(decode_intra=False),
    "w/o D-inter": dict(decode_inter=False),
    "w/o intra": dict(encode_intra=False, decode_intra=False),
    "w/o inter": dict(encode_inter=False, decode_inter=False),
}


@pytest.mark.parametrize("name", sorted(ABLATIONS))
def test_ablation_switches(name):
    full, tok = setup()
    model, _ = setup(**ABLATIONS[name])
    batch = batch_of(tok)
    labels = CODES[[3, 8, 11]]
    out = model(**batch, labels=labels)
    out.loss.backward()
    assert torch.isfinite(out.loss)
    options = ABLATIONS[name]
    assert hasattr(model, "mm_query") == (options.get("token_scoring", "mm") == "mm")
    assert hasattr(model, "intra_memory") == (options.get("encode_intra", True) or options.get("decode_intra", True))
    assert hasattr(model, "inter_memory") == (options.get("encode_inter", True) or options.get("decode_inter", True))
    assert hasattr(model, "intra_adapters") == options.get("encode_intra", True)
    assert hasattr(model, "transition_query") == options.get("encode_inter", True)
    assert hasattr(model, "head_intra") == options.get("decode_intra", True)
    assert hasattr(model, "decode_query") == options.get("decode_inter", True)
    # the switched-off part really is off: its output no longer depends on what it would read
    with torch.no_grad():
        items = torch.tensor([[0, 1, 2, 3]])
        mask = torch.ones_like(items, dtype=torch.bool)
        contexts = model.item_contexts(items[0], model.item_token_embeddings(items[0]))[None]
        units = model.history_units(items, mask)
        if not options.get("encode_inter", True):
            assert bool((model.inter_item_memory(contexts, mask, units) == 0).all())
        if not options.get("encode_intra", True):
            assert bool((model.intra_item_memory(items[0], contexts[0]) == 0).all())
    # decoding side: with D-inter off, a candidate's score ignores the history's transition units
    _, _, history = model.encode_history(batch["item_ids"], batch["attention_mask"])
    zeta = torch.randn(3, 1, 16)
    valid = torch.ones(3, 1, SIZES[1], dtype=torch.bool)
    prefix = labels[:, None, :1]
    with torch.no_grad():
        before = model.candidate_logits(1, zeta, prefix, valid, history)
        if history.units is not None:
            history.units = [u % 5 + 1 for u in history.units]
        after = model.candidate_logits(1, zeta, prefix, valid, history)
    assert torch.allclose(before, after) == (not options.get("decode_inter", True))


# ------------------------------------------------------------------------------------------ head / loss

def test_logits_are_normalised_over_valid_children_only_and_loss_is_eq12():
    model, tok = setup()
    batch = batch_of(tok)
    labels = CODES[[3, 8, 11]]
    out = model(**batch, labels=labels)
    assert out.logits.shape == (3, 3, max(SIZES))
    trie = model.catalog_trie()
    node = torch.zeros(3, dtype=torch.long)
    nll = []
    for level in range(3):
        valid = trie.valid_children_mask(level, node)
        logits = out.logits[:, level, : SIZES[level]]
        assert bool(torch.isinf(logits[~valid]).all()) and bool(torch.isfinite(logits[valid]).all())
        log_probs = torch.log_softmax(logits, -1)
        assert torch.allclose(log_probs.exp().sum(-1), torch.ones(3), atol=1e-5)
        nll.append(-log_probs.gather(1, labels[:, level, None]).mean())
        node = trie.next_prefix(level, node, labels[:, level])
    assert torch.allclose(out.loss, torch.stack(nll).mean(), atol=1e-5)
    first = model(**batch)  # without labels: the first level's logits, as transformers models return logits
    assert first.loss is None and first.logits.shape == (3, 1, max(SIZES))
    assert torch.allclose(first.logits[:, 0], out.logits[:, 0])


def catalog_scores(model, batch):
    """Teacher-forced log-likelihood of every catalog SID for every user ``[B, num_items]``."""
    B = batch["item_ids"].shape[0]
    columns = []
    with torch.no_grad():
        for item in range(NUM_ITEMS):
            labels = CODES[item].expand(B, -1)
            log_probs = torch.log_softmax(model(**batch, labels=labels).logits, -1)
            columns.append(log_probs.gather(2, labels[..., None]).squeeze(-1).sum(-1))
    return torch.stack(columns, 1)


@pytest.mark.parametrize("variant", [
    dict(),
    dict(architecture="nezha"),
    dict(architecture="nezha", nezha_transition_input="code"),
    dict(prefix_feedback=True),
    dict(representation="flatten"),
    dict(representation="token_merge"),
    dict(representation="flatten", architecture="nezha"),
])
def test_beam_search_is_exact_over_the_catalog(variant):
    """With as many beams as items, beam search must return the teacher-forced ranking of the whole
    catalog: this checks restored memories at decoding time, and NEZHA's per-hypothesis GRU state."""
    model, tok = setup(**variant)
    batch = batch_of(tok)
    calls = []
    model.backbone.register_forward_hook(lambda *args: calls.append(1))
    out = model.generate(**batch, num_beams=NUM_ITEMS, num_return_sequences=NUM_ITEMS)
    if not model.config.prefix_feedback:
        assert len(calls) == 1  # one backbone pass per generate (item-level input)
    scores = catalog_scores(model, batch)
    assert torch.allclose(out.scores, scores.sort(dim=1, descending=True).values, atol=1e-4)
    ranked = scores.gather(1, out.items)
    assert torch.allclose(ranked, out.scores, atol=1e-4)
    assert sorted(out.items[0].tolist()) == list(range(NUM_ITEMS))


def test_nezha_placeholders_and_recurrent_state():
    model, tok = setup(architecture="nezha")
    batch = batch_of(tok)
    state = model.prepare_decoding(**batch)
    assert state.placeholder_states.shape == (3, 3, 16) and state.recurrent.shape == (3, 1, 16)
    # xi_l = h_u^l + h_l: one state per hypothesis, advanced by the generated code through a GRU
    xi = model.nezha.layer_state(state.recurrent, state.placeholder_states, 0)
    assert torch.allclose(xi[:, 0], state.recurrent[:, 0] + state.placeholder_states[:, 0])
    model.decode_step(state, 0, torch.ones(3, 1, SIZES[0], dtype=torch.bool), torch.ones(3, 1))
    parent = torch.zeros(3, 2, dtype=torch.long)
    codes = torch.tensor([[0, 1]] * 3)
    state = model.update_decoding_state(state, 0, parent, codes)
    assert state.recurrent.shape == (3, 2, 16) and not torch.allclose(state.recurrent[:, 0], state.recurrent[:, 1])
    assert state.codes.tolist() == [[[0], [1]]] * 3


def test_features_must_be_installed():
    tok = SIDTokenizer.from_sids(CODES, SIZES)
    with pytest.raises(ValueError, match="item embeddings"):
        build_model("comeir", tok, **SMALL)
    with pytest.raises(ValueError, match="codebook_embedding_dim=0"):  # Eq. 2's codewords: from the quantizer
        build_model("comeir", tok, item_embedding_dim=12, **SMALL)
    model = build_model("comeir", tok, item_embedding_dim=12, codebook_embedding_dim=0, **SMALL)
    with pytest.raises(ValueError, match="set_item_features"):
        model(**batch_of(tok), labels=CODES[[1, 2, 3]])
    with pytest.raises(ValueError, match="shape"):
        model.set_item_features(item_embeddings=torch.zeros(NUM_ITEMS, 5))
    with pytest.raises(ValueError, match="representation"):
        ComeIRConfig(representation="sum")


# ------------------------------------------------------------------------------------ sparse optimizer

def test_sparse_aware_adamw_is_adamw_on_dense_and_lazy_on_rows():
    torch.manual_seed(0)
    dense = torch.nn.Linear(4, 3)
    reference = torch.nn.Linear(4, 3)
    reference.load_state_dict(dense.state_dict())
    ours = SparseAwareAdamW(dense.parameters(), lr=0.01, weight_decay=0.1)
    theirs = torch.optim.AdamW(reference.parameters(), lr=0.01, weight_decay=0.1)
    for _ in range(5):
        x = torch.randn(8, 4)
        for module, optim in ((dense, ours), (reference, theirs)):
            optim.zero_grad()
            module(x).pow(2).sum().backward()
            optim.step()
    assert torch.allclose(dense.weight, reference.weight, atol=1e-6)
    # sparse table: untouched rows keep their values and get no state; touched rows follow per-row Adam
    table = torch.nn.Embedding(10_000, 32, sparse=True)
    initial = table.weight.detach().clone()
    optim = SparseAwareAdamW([table.weight], lr=0.1)
    for rows in ([1, 2, 3], [3, 4], [1]):
        optim.zero_grad()
        table(torch.tensor(rows)).sum().backward()
        optim.step()
    changed = (table.weight != initial).any(-1).nonzero().flatten().tolist()
    assert changed == [1, 2, 3, 4]
    state = optim.state[table.weight]
    assert int(state["used"]) == 4 and optim.state_bytes() < 2 * table.weight.numel() * 4 / 5  # vs dense AdamW
    # row 4 was updated once: a first Adam step moves each weight by exactly lr (gradient 1)
    assert torch.allclose(table.weight[4], initial[4] - 0.1, atol=1e-5)
    assert state["row_step"][state["slot"][[1, 2, 3, 4]].long()].tolist() == [2, 1, 2, 1]
    # reload keeps the integer slot map exact
    again = SparseAwareAdamW([table.weight], lr=0.1)
    again.load_state_dict(optim.state_dict())
    assert again.state[table.weight]["slot"].dtype == torch.int32


def test_sparse_gradients_are_clipped_with_the_dense_ones():
    table = torch.nn.Embedding(100, 3, sparse=True)
    linear = torch.nn.Linear(3, 1)
    (linear(table(torch.tensor([1, 2, 2]))).sum() * 100).backward()
    params = [table.weight, *linear.parameters()]
    expected = math.sqrt(sum(float(p.grad.coalesce()._values().pow(2).sum() if p.grad.is_sparse else p.grad.pow(2).sum())
                             for p in params))
    total = clip_grad_norm_(params, 1.0)
    assert math.isclose(float(total), expected, rel_tol=1e-5)
    after = math.sqrt(sum(float(p.grad.coalesce()._values().pow(2).sum() if p.grad.is_sparse else p.grad.pow(2).sum())
                          for p in params))
    assert math.isclose(after, 1.0, rel_tol=1e-4)


def test_model_tables_are_sparse():
    model, _ = setup()
    assert {id(p) for p in sparse_parameters(model)} == {id(model.intra_memory.table.weight),
                                                          id(model.inter_memory.table.weight)}


# --------------------------------------------------------------------------------- save, load, backbones

@pytest.mark.parametrize("backbone", [QWEN, LLAMA], ids=["qwen3", "llama"])
@pytest.mark.parametrize("architecture", ["normal", "nezha"])
def test_save_and_auto_model_reload_generates_the_same_ranking(backbone, architecture, tmp_path):
    model, tok = setup(backbone_config=backbone, architecture=architecture)
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert type(loaded).__name__ == "ComeIRForGenerativeRecommendation"
    assert loaded.backbone.config.model_type == backbone["model_type"]
    batch = batch_of(tok)
    a, b = model.generate(**batch, num_beams=10), loaded.generate(**batch, num_beams=10)
    assert torch.equal(a.items, b.items) and torch.allclose(a.scores, b.scores, atol=1e-5)
    assert torch.equal(loaded.inter_memory.multipliers, model.inter_memory.multipliers)
    assert bool(loaded.features_ready.all())


def test_training_with_sparse_tables_resumes_bit_exactly(run_config, tmp_path):
    from safetensors.torch import load_file

    from hf_genrec.commands.train import run_train

    run_config["model"] = {"type": "comeir", "hidden_size": 16, "num_layers": 1, "num_heads": 2, "engram_dim": 8,
                           "intra_scale": 0.5, "inter_scale": 0.25, "max_history": 5}
    base = dict(run_config["training"], max_steps=6, eval_steps=3, num_epochs=1, warmup_steps=2, final_test=False,
                gradient_accumulation_steps=1, max_grad_norm=1.0)
    run_train({**run_config, "training": dict(base, output_dir=str(tmp_path / "full"))})
    run_train({**run_config, "training": dict(base, output_dir=str(tmp_path / "split"), stop_at_step=3)})
    run_train({**run_config, "training": dict(base, output_dir=str(tmp_path / "split"), resume_from="latest")})
    a = load_file(str(tmp_path / "full" / "checkpoint-6" / "model.safetensors"))
    b = load_file(str(tmp_path / "split" / "checkpoint-6" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    start = load_file(str(tmp_path / "full" / "checkpoint-3" / "model.safetensors"))
    table = "inter_memory.table.weight"
    moved = (a[table] != start[table]).any(-1)
    assert 0 < int(moved.sum()) < moved.numel()  # only the rows the batches touched were updated
    # the frozen features travelled with the weights
    assert a["features_ready"].tolist() == [1, 1] and a["item_embeddings"].abs().sum() > 0


def test_trust_remote_code_export_of_comeir_loads_without_hf_genrec(tmp_path):
    """The bundled code (Engram, NEZHA, tree decoding, backbones) loads and decodes without hf_genrec."""
    from helpers.remote_code import load_without_hf_genrec

    from hf_genrec.hub import export_remote_code, save_model_folder

    model, tok = setup(backbone_config=QWEN, architecture="nezha")
    folder = save_model_folder(model, tok, tmp_path / "folder", metrics={}, training={},
                               item_titles=[f"Title {i}" for i in range(NUM_ITEMS)], dataset_name="synthetic")
    export_remote_code(folder)
    assert (folder / "modeling_comeir.py").exists() and (folder / "genrec_models_comeir_engram.py").exists()
    expected = model.generate(**batch_of(tok, ([0, 1, 2], [5])), num_beams=5).items.tolist()
    loaded = load_without_hf_genrec(folder, tmp_path, [[0, 1, 2], [5]])
    assert loaded["items"] == expected and loaded["hf_genrec"] is False


@pytest.mark.parametrize("kind", ["qwen3", "llama"])
def test_pretrained_backbone_by_path_with_lora_trains_merges_and_reloads(kind, tmp_path):
    """``backbone_name_or_path`` (a Hub id such as Qwen/Qwen3-0.6B, here a local tiny LM) + LoRA: the
    Engram tables, head and embeddings train fully, the backbone only through its adapters."""
    from helpers.tiny import save_tiny_causal_lm

    from hf_genrec.training import LoraSettings, apply_lora, merge_lora

    path = save_tiny_causal_lm(kind, tmp_path)
    model, tok = setup(backbone_name_or_path=str(path))
    assert model.config.backbone_name_or_path == str(path) and model.backbone.config.hidden_size == 64
    reference = AutoModel.from_pretrained(path)
    assert torch.equal(model.backbone.layers[0].mlp.up_proj.weight, reference.layers[0].mlp.up_proj.weight)
    apply_lora(model, LoraSettings(r=4, alpha=8, dropout=0.0))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert {"inter_memory.table.weight", "intra_memory.table.weight", "token_embeddings.weight"} <= trainable
    assert all("lora_" in n for n in trainable if n.startswith("backbone."))
    model.train()
    optim = SparseAwareAdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    batch = batch_of(tok)
    labels = CODES[[3, 8, 11]]
    losses = []
    for _ in range(3):
        optim.zero_grad()
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    model.eval()
    before = model.generate(**batch, num_beams=8)
    merge_lora(model)
    model.save_pretrained(tmp_path / "merged")
    reloaded = AutoModel.from_pretrained(tmp_path / "merged")
    after = reloaded.generate(**batch, num_beams=8)
    assert torch.equal(before.items, after.items) and torch.allclose(before.scores, after.scores, atol=1e-4)


@pytest.mark.parametrize("variant", [dict(), dict(architecture="nezha"), dict(prefix_feedback=True),
                                     dict(representation="flatten"), dict(representation="token_merge"),
                                     *ABLATIONS.values()], ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) or "full")
def test_every_trainable_parameter_gets_a_gradient(variant):
    """DDP needs it; unused weights would also be dead weight (the backbone's word embeddings are frozen:
    hf_genrec feeds inputs_embeds)."""
    model, tok = setup(**variant)
    model.train()
    model(**batch_of(tok), labels=CODES[[3, 8, 11]]).loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing
    assert not model.backbone.get_input_embeddings().weight.requires_grad


def test_data_parallel_step_with_sparse_tables_equals_the_single_process_step(tmp_path):
    """torchrun, 2 CPU processes (gloo), each on its own batch: sparse table gradients are all-reduced."""
    import json

    from helpers.launch import torchrun_two
    from helpers.tiny import REPO_ROOT

    torchrun_two([str(REPO_ROOT / "tests" / "helpers" / "ddp_sparse_check.py"), str(tmp_path / "ddp.json")])
    outcome = json.loads((tmp_path / "ddp.json").read_text())
    assert outcome == {"ranks_identical": True, "matches_single_process": True, "rows_moved": outcome["rows_moved"]}
    assert outcome["rows_moved"] > 0
