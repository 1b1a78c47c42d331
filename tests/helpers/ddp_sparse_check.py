"""Run under ``torchrun --nproc_per_node 2``: one DDP step of ComeIR with sparse Engram tables, each rank
on its own batch, must equal one single-process step on the mean of both ranks' losses (checked on
rank 0, which writes the result as JSON to argv[1])."""

import json
import os
import sys
from pathlib import Path

import torch
from accelerate import Accelerator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script by torchrun: make helpers importable
from helpers.tiny import CODES, SIZES  # noqa: E402
from hf_genrec.models import build_model  # noqa: E402
from hf_genrec.tokenization import SIDTokenizer  # noqa: E402
from hf_genrec.training import SparseAwareAdamW  # noqa: E402

SPARSE = os.environ.get("SPARSE", "1") == "1"
HISTORIES = [[[0, 1, 2, 3], [5]], [[7, 7, 9], [2, 4, 6]]]
TARGETS = [[3, 8], [11, 1]]


def fresh():
    tok = SIDTokenizer.from_sids(CODES, SIZES)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = build_model("comeir", tok, item_embeddings=torch.randn(len(CODES), 12, generator=g),
                        codebooks=[torch.randn(s, 6, generator=g) for s in SIZES], hidden_size=16, num_layers=1,
                        num_heads=2, engram_dim=8, intra_scale=1.0, inter_scale=0.5, sparse_tables=SPARSE)
    return model, tok


def main():
    accelerator = Accelerator(cpu=True)
    rank = accelerator.process_index
    model, tok = fresh()
    optimizer = SparseAwareAdamW(model.parameters(), lr=0.05)
    model, optimizer = accelerator.prepare(model, optimizer)
    batch = tok(HISTORIES[rank], mode="item", return_tensors="pt")
    loss = model(**batch, labels=CODES[TARGETS[rank]]).loss
    accelerator.backward(loss)
    optimizer.step()
    state = {k: v.detach().clone() for k, v in accelerator.unwrap_model(model).state_dict().items()}
    gathered = [None, None]
    torch.distributed.all_gather_object(gathered, state)
    if rank == 0:
        reference, _ = fresh()
        ref_optimizer = SparseAwareAdamW(reference.parameters(), lr=0.05)
        losses = [reference(**tok(HISTORIES[r], mode="item", return_tensors="pt"), labels=CODES[TARGETS[r]]).loss
                  for r in range(2)]
        torch.stack(losses).mean().backward()
        ref_optimizer.step()
        expected = reference.state_dict()
        same_ranks = all(torch.equal(gathered[0][k], gathered[1][k]) for k in expected)
        matches = all(torch.allclose(gathered[0][k].float(), expected[k].float(), atol=1e-6) for k in expected)
        table = "inter_memory.table.weight"
        moved = int((gathered[0][table] != fresh()[0].state_dict()[table]).any(-1).sum())
        with open(sys.argv[1], "w") as handle:
            json.dump({"ranks_identical": same_ranks, "matches_single_process": matches, "rows_moved": moved}, handle)


if __name__ == "__main__":
    main()
