"""IntRR: each equation's shapes and behaviour, the ablation switches, one backbone pass per generate,
exact beam search, HSTU, and save/load through AutoModel."""

import pytest
import torch
from helpers.tiny import CODES, SIZES
from helpers.tiny import TINY_INTRR as SMALL
from torch.nn import functional as F
from transformers import AutoModel

from hf_genrec.models import build_model
from hf_genrec.models.intrr import IntRRConfig
from hf_genrec.models.intrr.ran import RecursiveAssignmentNetwork
from hf_genrec.modules.hstu import HSTU
from hf_genrec.tokenization import SIDTokenizer


def setup(**options):
    tok = SIDTokenizer.from_sids(CODES, SIZES)
    torch.manual_seed(0)
    return build_model("intrr", tok, **{**SMALL, **options}), tok


def test_ran_equations():
    torch.manual_seed(0)
    ran = RecursiveAssignmentNetwork(SIZES, dim=8)
    x = torch.randn(5, 8)
    codes = CODES[:5]
    stacked, per_level, soft = ran(x, soft=True)
    assert stacked.shape == (5, 3, 5) and torch.isinf(stacked[:, 1, 3:]).all()
    assert torch.allclose(per_level[0], x @ ran.codebooks[0].T)  # Eq. 4-5: h_1 = x
    for level in range(3):  # Eq. 6: z_l = sum_k p_l(k) V_l(k)
        assert torch.allclose(soft[level], F.softmax(per_level[level], -1) @ ran.codebooks[level])
    hidden = ran.mlps[2](torch.cat([x, soft[0], soft[1]], -1))  # Eq. 4: MLP_l[x || z_<l], z_<l concatenated
    assert torch.allclose(per_level[2], hidden @ ran.codebooks[2].T, atol=1e-6)
    _, hard_levels, hard = ran(x, codes=codes, soft=False)  # teacher forcing: z_l = V_l(c_l)
    for level in range(3):
        assert torch.equal(hard[level], ran.codebooks[level][codes[:, level]])
    expected = sum(F.log_softmax(hard_levels[l], -1)[torch.arange(5), codes[:, l]] for l in range(3))
    assert torch.allclose(ran.code_log_likelihood(hard_levels, codes), expected)
    for context in ("sum", "last"):
        other = RecursiveAssignmentNetwork(SIZES, dim=8, context=context)
        assert other.mlps[2][0].in_features == 16 and other(x, soft=True)[0].shape == (5, 3, 5)
    with pytest.raises(ValueError, match="teacher forcing needs the codes"):
        ran(x, soft=False)


def test_item_representation_is_the_sum_of_soft_contexts_and_alignment_reaches_uids():
    model, tok = setup()
    items = torch.tensor([0, 3, 7])
    reps, aln = model.item_representations(items)
    _, per_level, contexts = model.ran(model.uid_embeddings(items), soft=True)
    assert torch.allclose(reps, sum(contexts))  # Eq. 7
    assert torch.allclose(aln, model.ran.code_log_likelihood(per_level, model.item_sids[items]))  # Eq. 8
    batch = tok([[0, 3], [7]], mode="item", return_tensors="pt")
    out = model(**batch, labels=tok.encode_targets([1, 2]))
    out.loss_terms["aln"].requires_grad  # detached copy for logging
    model.zero_grad()
    (-aln.mean()).backward()
    grad = model.uid_embeddings.weight.grad
    assert grad[[0, 3, 7]].abs().sum() > 0 and grad[[1, 2, 4]].abs().sum() == 0
    total = out.loss_terms["rec"] + model.config.alignment_weight * out.loss_terms["aln"]
    assert torch.allclose(out.loss.detach(), total)  # Eq. 11 with lambda = 0.1


def test_ablation_switches():
    model, tok = setup(item_redistribution=False)
    items = torch.tensor([1, 2])
    reps, _ = model.item_representations(items)
    path = sum(model.ran.codebooks[l][model.item_sids[items][:, l]] for l in range(3))
    assert torch.allclose(reps, path)  # "w/o Redistribution": the hard SID path
    separate, _ = setup(shared_ran=False)
    shared, _ = setup()
    assert separate.user_ran is not separate.ran and shared.user_ran is shared.ran
    assert sum(p.numel() for p in separate.parameters()) > sum(p.numel() for p in shared.parameters())
    batch = tok([[0, 1]], mode="item", return_tensors="pt")
    no_aln, _ = setup(alignment_weight=0.0)
    out = no_aln(**batch, labels=tok.encode_targets([2]))
    assert torch.allclose(out.loss.detach(), out.loss_terms["rec"])
    teacher, _ = setup()
    teacher.eval()
    a = teacher(**batch, labels=tok.encode_targets([2])).logits
    b = teacher(**batch, labels=tok.encode_targets([5])).logits
    differs = not torch.allclose(a[:, 1], b[:, 1]) if (CODES[2, 0] != CODES[5, 0]) else True
    assert torch.allclose(a[:, 0], b[:, 0]) and differs  # level 1 ignores the labels, later levels use them
    soft, _ = setup(user_teacher_forcing=False)
    soft.eval()
    assert torch.allclose(soft(**batch, labels=tok.encode_targets([2])).logits,
                          soft(**batch, labels=tok.encode_targets([5])).logits)
    assert IntRRConfig(codebook_sizes=[8] * 4, max_history=30, history_setting="ssl").max_history == 120
    assert IntRRConfig(codebook_sizes=[8] * 4, max_history=30).max_history == 30


@pytest.mark.parametrize("backbone", ["t5", "hstu"])
def test_one_backbone_pass_per_generate_and_exact_beam_search(backbone):
    model, tok = setup(backbone=backbone)
    model.eval()
    calls = []
    model.backbone.register_forward_hook(lambda *args: calls.append(1))
    batch = tok([[0, 1, 2], [5]], mode="item", return_tensors="pt")
    out = model.generate(**batch, num_beams=len(CODES), num_return_sequences=len(CODES))
    assert len(calls) == 1
    # brute force: the user-side RAN's teacher-forced log-likelihood of every catalog SID
    with torch.no_grad():
        user = model.backbone.user_state(*model._history(batch["item_ids"], batch["attention_mask"])[:2])
        scores = torch.stack([model.user_ran.code_log_likelihood(
            model.user_ran(user, codes=CODES[i].expand(2, -1), soft=False)[1], CODES[i].expand(2, -1))
            for i in range(len(CODES))], 1)
    assert torch.equal(out.items, scores.argsort(dim=1, descending=True))
    assert torch.allclose(out.scores, scores.sort(dim=1, descending=True).values, atol=1e-5)


def test_hstu_is_causal_time_aware_and_padding_invariant():
    torch.manual_seed(0)
    hstu = HSTU(dim=16, num_layers=2, num_heads=2, dropout=0.0, max_positions=16).eval()
    with torch.no_grad():
        for bias in hstu.biases:  # non-zero relative biases so that time matters
            bias.time.normal_()
            bias.position.normal_()
    x = torch.randn(1, 5, 16)
    mask = torch.ones(1, 5, dtype=torch.bool)
    ts = torch.tensor([[0, 10, 100, 1000, 10000]])
    full = hstu(x, mask, ts)
    changed = x.clone()
    changed[0, 4] += 1.0
    assert torch.allclose(hstu(changed, mask, ts)[0, :4], full[0, :4])  # causal: the future does not leak
    assert not torch.allclose(hstu(x, mask, ts * 7)[0, -1], full[0, -1])  # time differences matter
    padded = hstu(torch.cat([torch.randn(1, 2, 16), x], 1), torch.cat([torch.zeros(1, 2, dtype=torch.bool), mask], 1),
                  torch.cat([torch.zeros(1, 2, dtype=torch.long), ts], 1))
    assert torch.allclose(padded[0, -1], full[0, -1], atol=1e-5)


@pytest.mark.parametrize("backbone", ["t5", "hstu", "causal_lm"])
def test_save_and_auto_model_reload(backbone, tmp_path):
    options = {"backbone": backbone}
    if backbone == "causal_lm":
        options["backbone_config"] = {"model_type": "qwen3", "vocab_size": 8, "hidden_size": 32, "intermediate_size": 64,
                                      "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
                                      "head_dim": 16, "max_position_embeddings": 128}
    model, tok = setup(**options)
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert type(loaded).__name__ == "IntRRForGenerativeRecommendation" and loaded.config.backbone == backbone
    batch = tok([[0, 1, 2], [5]], mode="item", return_tensors="pt")
    a, b = model.eval().generate(**batch, num_beams=6), loaded.generate(**batch, num_beams=6)
    assert torch.equal(a.items, b.items) and torch.allclose(a.scores, b.scores, atol=1e-6)
