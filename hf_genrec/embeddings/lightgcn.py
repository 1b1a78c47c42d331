"""LightGCN collaborative item embeddings (He et al., SIGIR 2020), the ``e_collab`` input of PRISM's quantizer.

PRISM (arXiv 2601.16556, §3.3 and footnote 1) feeds the quantizer 64-d LightGCN item vectors and says nothing
more; the settings below are the facts of the authors' code (commit 2c5e414) as ``specs/prism.md`` §1.1.1 and
§5.3 item 1 record them:

* **Graph**: the bipartite user-item graph of the training part only (each user's items without the last two),
  every (user, item) pair once, normalised as ``D^-1/2 A D^-1/2`` (a torch sparse matrix over users then items).
* **Model**: ``E^(k+1) = Â E^(k)`` for ``num_layers`` layers from ego embeddings ``E^(0) ~ N(0, 0.1)``; the
  final embedding is the mean over layers ``0..K``.
* **Loss**: BPR ``mean(softplus(s_neg - s_pos))``, one uniformly drawn negative per training pair that is not
  a training positive of its user, plus ``reg * ½(‖u‖² + ‖i+‖² + ‖i-‖²) / B`` on the batch's ego embeddings.
* **Training**: Adam, full passes over the training pairs; validation Recall@20 (full ranking of the validation
  target, the user's training items masked) every ``eval_every`` epochs; early stop after ``patience``
  evaluations without improvement.
* ``keep="best"`` (default, spec §6) returns the best validation checkpoint; ``keep="final"`` returns the last
  model, as the official code does.

:func:`collab_embeddings` caches the result in the prepared folder (``collab_embeddings.safetensors`` + a JSON
with the options and the measured validation recall) and reloads it while the options and the data match.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._version import __version__
from ..utils.io import atomic_write_json, read_json_file, sha256_of_strings
from ..utils.logging import get_logger
from ..utils.progress import progress
from .encoder import load_item_embeddings, save_item_embeddings

logger = get_logger(__name__)

COLLAB_EMBEDDINGS_FILE = "collab_embeddings.safetensors"
COLLAB_METADATA_FILE = "collab_embeddings.json"
KEEP_MODES = ("best", "final")
RECALL_K = 20


# ------------------------------------------------------------------------------------------------ data
@dataclass
class InteractionGraph:
    """The training interactions of a prepared dataset, plus the validation targets used for early stopping.

    ``users``/``items`` are the de-duplicated training pairs sorted by (user, item); ``valid_users`` /
    ``valid_targets`` one row per validation example.
    """

    num_users: int
    num_items: int
    users: np.ndarray
    items: np.ndarray
    valid_users: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    valid_targets: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @classmethod
    def from_pairs(cls, users, items, num_users: int, num_items: int, valid_users=(), valid_targets=()) -> "InteractionGraph":
        """De-duplicate and sort the pairs; check every id is in range."""
        users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
        for name, ids, size in (("user", users, num_users), ("item", items, num_items)):
            if ids.size and (ids.min() < 0 or ids.max() >= size):
                raise ValueError(f"{name} ids must lie in [0, {size}); got {int(ids.min())}..{int(ids.max())}")
        keys = np.unique(users * num_items + items)
        return cls(num_users, num_items, keys // num_items, keys % num_items,
                   np.asarray(valid_users, dtype=np.int64), np.asarray(valid_targets, dtype=np.int64))

    @property
    def pair_keys(self) -> np.ndarray:
        """``user * num_items + item`` of every training pair, sorted (membership by binary search)."""
        return self.users * self.num_items + self.items

    def fingerprint(self) -> str:
        """A hash of the graph and the validation rows: a cached embedding is reused only on the same data."""
        digest = hashlib.sha256(f"lightgcn-graph|{self.num_users}|{self.num_items}".encode())
        for array in (self.users, self.items, self.valid_users, self.valid_targets):
            digest.update(len(array).to_bytes(8, "little"))
            digest.update(np.ascontiguousarray(array, dtype="<i8").tobytes())
        return digest.hexdigest()


def _list_column(table, name: str) -> Tuple[np.ndarray, np.ndarray]:
    """``(flat values, offsets)`` of a list column of an Arrow table."""
    import pyarrow as pa

    column = table.column(name).combine_chunks()
    if isinstance(column, pa.ChunkedArray):  # an empty table
        column = pa.array([], type=column.type)
    offsets = column.offsets.to_numpy().astype(np.int64)
    values = column.values.to_numpy().astype(np.int64)
    return values[offsets[0]:offsets[-1]], offsets - offsets[0]


def _split_rows(prepared, split: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(user of each row, target, flat history, history offsets)`` of a prepared split."""
    try:
        table = prepared.splits[split].with_format("arrow")[:]
    except KeyError:
        raise ValueError(f"the prepared dataset has no '{split}' split (splits: {list(prepared.splits)})") from None
    missing = {"user_idx", "history", "target"} - set(table.column_names)
    if missing:
        raise ValueError(f"the prepared '{split}' split lacks the column(s) {sorted(missing)}")
    history, offsets = _list_column(table, "history")
    users, targets = (table.column(name).to_numpy().astype(np.int64) for name in ("user_idx", "target"))  # writable copies
    return users, targets, history, offsets


def interaction_graph(prepared) -> InteractionGraph:
    """The LightGCN graph of a :class:`~hf_genrec.data.PreparedDataset`: training part only (spec §1.1.1).

    A user's training part is everything before the validation target: the histories and targets of the user's
    training rows plus the validation row's history. With ``train_examples: all_prefixes`` (the default) this is
    the whole of ``seq[:-2]``; with ``"last"`` the items older than ``max_history`` before the last training
    target are not in any row and so not in the graph (a warning says so).
    """
    train_users, train_targets, train_history, train_offsets = _split_rows(prepared, "train")
    valid_users, valid_targets, valid_history, valid_offsets = _split_rows(prepared, "validation")
    users = np.concatenate([train_users, np.repeat(train_users, np.diff(train_offsets)),
                            np.repeat(valid_users, np.diff(valid_offsets))])
    items = np.concatenate([train_targets, train_history, valid_history])
    if (prepared.config or {}).get("train_examples", "all_prefixes") != "all_prefixes":
        logger.warning("the prepared dataset was made with train_examples != 'all_prefixes': items older than "
                       "max_history before a user's last training target are missing from the LightGCN graph")
    num_users = int(max(valid_users.max(initial=-1), users.max(initial=-1))) + 1
    return InteractionGraph.from_pairs(users, items, num_users, prepared.num_items, valid_users, valid_targets)


def normalized_adjacency(graph: InteractionGraph) -> torch.Tensor:
    """``D^-1/2 A D^-1/2`` of the bipartite graph as a coalesced sparse ``[U + I, U + I]`` tensor.

    Nodes ``0..U-1`` are users, ``U..U+I-1`` items. A node without edges (an item seen only as a validation or
    test target) has degree 0 and an all-zero row and column.
    """
    size = graph.num_users + graph.num_items
    rows = np.concatenate([graph.users, graph.items + graph.num_users])
    cols = np.concatenate([graph.items + graph.num_users, graph.users])
    degree = np.bincount(rows, minlength=size).astype(np.float64)
    inv_sqrt = np.zeros(size)
    inv_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    values = torch.from_numpy((inv_sqrt[rows] * inv_sqrt[cols]).astype(np.float32))
    indices = torch.from_numpy(np.stack([rows, cols]))
    return torch.sparse_coo_tensor(indices, values, (size, size), check_invariants=False).coalesce()


# ------------------------------------------------------------------------------------------------ model
def propagate(adjacency: torch.Tensor, ego: torch.Tensor, num_layers: int) -> torch.Tensor:
    """LightGCN propagation: the mean of ``Â^k E^(0)`` over ``k = 0..num_layers`` (He et al. 2020, Eq. 3-4)."""
    layers = [ego]
    for _ in range(num_layers):
        layers.append(torch.sparse.mm(adjacency, layers[-1]))
    return torch.stack(layers).mean(0)


class LightGCN(nn.Module):
    """Ego embeddings of users and items; :meth:`forward` returns the propagated ``(users, items)`` tables."""

    def __init__(self, num_users: int, num_items: int, dim: int = 64, num_layers: int = 3, init_std: float = 0.1,
                 generator: Optional[torch.Generator] = None):
        super().__init__()
        self.num_users, self.num_items, self.num_layers = num_users, num_items, num_layers
        self.user_embedding = nn.Parameter(torch.randn(num_users, dim, generator=generator) * init_std)
        self.item_embedding = nn.Parameter(torch.randn(num_items, dim, generator=generator) * init_std)

    def forward(self, adjacency: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        ego = torch.cat([self.user_embedding, self.item_embedding])
        final = propagate(adjacency, ego, self.num_layers)
        return final[:self.num_users], final[self.num_users:]


def bpr_loss(users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """BPR ``mean(softplus(s_neg - s_pos))`` with dot-product scores (rows of the three tables pair up)."""
    return F.softplus((users * negatives).sum(-1) - (users * positives).sum(-1)).mean()


def ego_l2(users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """``½(‖u‖² + ‖i+‖² + ‖i-‖²) / B`` over a batch of ego embeddings (squared Frobenius norms)."""
    return 0.5 * (users.pow(2).sum() + positives.pow(2).sum() + negatives.pow(2).sum()) / len(users)


def sample_negatives(users: np.ndarray, graph: InteractionGraph, rng: np.random.Generator,
                     max_rounds: int = 1000) -> np.ndarray:
    """One item per user drawn uniformly among the items that are not the user's training positives."""
    keys = graph.pair_keys
    negatives = rng.integers(0, graph.num_items, size=len(users))
    redo = np.arange(len(users))
    for _ in range(max_rounds):
        probe = users[redo] * graph.num_items + negatives[redo]
        position = np.minimum(np.searchsorted(keys, probe), max(len(keys) - 1, 0))
        clash = keys[position] == probe if len(keys) else np.zeros(len(probe), dtype=bool)
        redo = redo[clash]
        if not redo.size:
            return negatives
        negatives[redo] = rng.integers(0, graph.num_items, size=redo.size)
    raise ValueError(f"no negative item found for user {int(users[redo[0]])} after {max_rounds} draws: the user's "
                     "training items cover (almost) the whole catalog")


# ------------------------------------------------------------------------------------------------ evaluation
@torch.no_grad()
def validation_recall(user_table: torch.Tensor, item_table: torch.Tensor, graph: InteractionGraph, k: int = RECALL_K,
                      chunk: int = 1024) -> float:
    """Recall@k of the validation targets over the full catalog, each user's training items masked."""
    if not len(graph.valid_users):
        raise ValueError("no validation rows to evaluate LightGCN on")
    device = item_table.device
    starts = np.searchsorted(graph.users, np.arange(graph.num_users + 1))
    hits = 0
    for begin in range(0, len(graph.valid_users), chunk):
        users = graph.valid_users[begin:begin + chunk]
        scores = user_table[torch.from_numpy(users).to(device)] @ item_table.T
        counts = starts[users + 1] - starts[users]
        rows = np.repeat(np.arange(len(users)), counts)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        columns = graph.items[np.repeat(starts[users], counts) + within]
        scores[torch.from_numpy(rows).to(device), torch.from_numpy(columns).to(device)] = -math.inf
        top = scores.topk(min(k, scores.shape[1]), dim=1).indices
        targets = torch.from_numpy(graph.valid_targets[begin:begin + chunk]).to(device)
        hits += int((top == targets[:, None]).any(1).sum())
    return hits / len(graph.valid_users)


# ------------------------------------------------------------------------------------------------ training
@dataclass
class LightGCNResult:
    """What :func:`train_lightgcn` returns; the tables are float32 on the CPU, rows = hf_genrec's ids."""

    item_embeddings: torch.Tensor
    user_embeddings: torch.Tensor
    history: List[Dict[str, float]]
    epochs_run: int
    best_epoch: int
    validation_recall: float
    best_validation_recall: float
    stopped: str
    options: Dict[str, Any]
    seconds: float

    def summary(self) -> Dict[str, Any]:
        """Everything but the tables (JSON-ready)."""
        return {"validation_recall@20": self.validation_recall, "best_validation_recall@20": self.best_validation_recall,
                "best_epoch": self.best_epoch, "epochs_run": self.epochs_run, "stopped": self.stopped,
                "seconds": self.seconds, "history": self.history}


def train_epoch(model: LightGCN, adjacency: torch.Tensor, graph: InteractionGraph, optimizer: torch.optim.Optimizer,
                rng: np.random.Generator, batch_size: int, reg: float) -> float:
    """One shuffled pass over the training pairs (a fresh negative for each); returns the mean loss."""
    model.train()
    device = adjacency.device
    order = rng.permutation(len(graph.users))
    total = 0.0
    for begin in range(0, len(order), batch_size):
        rows = order[begin:begin + batch_size]
        users, positives = graph.users[rows], graph.items[rows]
        negatives = sample_negatives(users, graph, rng)
        u, i, j = (torch.from_numpy(a).to(device) for a in (users, positives, negatives))
        user_table, item_table = model(adjacency)
        loss = bpr_loss(user_table[u], item_table[i], item_table[j]) + \
            reg * ego_l2(model.user_embedding[u], model.item_embedding[i], model.item_embedding[j])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(rows)
    return total / len(order)


def _check_options(dim, num_layers, epochs, batch_size, lr, reg, eval_every, patience, keep, max_minutes) -> None:
    positive = {"dim": dim, "epochs": epochs, "batch_size": batch_size, "eval_every": eval_every, "patience": patience}
    bad = {name: value for name, value in positive.items() if not isinstance(value, int) or value < 1}
    if bad:
        raise ValueError(f"LightGCN option(s) must be integers >= 1: {bad}")
    if not isinstance(num_layers, int) or num_layers < 0:
        raise ValueError(f"num_layers must be an integer >= 0, got {num_layers!r}")
    if lr <= 0 or reg < 0:
        raise ValueError(f"lr must be positive and reg not negative, got lr={lr}, reg={reg}")
    if keep not in KEEP_MODES:
        raise ValueError(f"keep must be one of {KEEP_MODES}, got {keep!r}")
    if max_minutes is not None and max_minutes <= 0:
        raise ValueError(f"max_minutes must be positive or None, got {max_minutes}")


def train_lightgcn(prepared, dim: int = 64, num_layers: int = 3, epochs: int = 500, batch_size: int = 2048,
                   lr: float = 1e-3, reg: float = 1e-4, eval_every: int = 2, patience: int = 20, keep: str = "best",
                   seed: int = 0, max_minutes: Optional[float] = None, device: Optional[str] = None,
                   graph: Optional[InteractionGraph] = None) -> LightGCNResult:
    """Train LightGCN on the training part of ``prepared`` (spec §1.1.1 defaults) and return its embeddings.

    ``keep="best"`` returns the model of the best validation Recall@20, ``"final"`` the last one (official).
    ``max_minutes`` stops training after that wall-clock budget. ``graph`` overrides the graph built from
    ``prepared`` (which may then be ``None``).
    """
    _check_options(dim, num_layers, epochs, batch_size, lr, reg, eval_every, patience, keep, max_minutes)
    options = dict(dim=dim, num_layers=num_layers, epochs=epochs, batch_size=batch_size, lr=lr, reg=reg,
                   eval_every=eval_every, patience=patience, keep=keep, seed=seed, max_minutes=max_minutes)
    graph = graph if graph is not None else interaction_graph(prepared)
    if not len(graph.users):
        raise ValueError("the training part has no interactions: LightGCN has nothing to learn from")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    model = LightGCN(graph.num_users, graph.num_items, dim, num_layers,
                     generator=torch.Generator().manual_seed(seed)).to(device)
    adjacency = normalized_adjacency(graph).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    history: List[Dict[str, float]] = []
    best = {"recall": -1.0, "epoch": 0, "state": None}
    evaluations_without_gain, stopped, epoch = 0, "max_epochs", 0

    def evaluate(at_epoch: int, loss: float) -> float:
        model.eval()
        with torch.no_grad():
            recall = validation_recall(*model(adjacency), graph)
        history.append({"epoch": at_epoch, "loss": loss, "recall@20": recall})
        if recall > best["recall"]:
            best.update(recall=recall, epoch=at_epoch, state=copy.deepcopy(model.state_dict()))
        return recall

    bar = progress(range(1, epochs + 1), desc="training LightGCN", unit="epoch")
    loss_value, evaluated_at = float("nan"), 0
    for epoch in bar:
        loss_value = train_epoch(model, adjacency, graph, optimizer, rng, batch_size, reg)
        if epoch % eval_every == 0:
            previous_best = best["recall"]
            recall = evaluate(epoch, loss_value)
            evaluated_at = epoch
            evaluations_without_gain = 0 if recall > previous_best else evaluations_without_gain + 1
            bar.set_postfix(loss=f"{loss_value:.4f}", recall=f"{recall:.4f}", best=f"{best['recall']:.4f}")
            if evaluations_without_gain >= patience:
                stopped = "early_stopping"
                break
        if max_minutes is not None and time.perf_counter() - start > 60 * max_minutes:
            stopped = "time_budget"
            break
    bar.close()
    if evaluated_at != epoch:  # the returned model must have a measured recall
        evaluate(epoch, loss_value)
    final_recall = history[-1]["recall@20"]
    if keep == "best":
        model.load_state_dict(best["state"])
    model.eval()
    with torch.no_grad():
        user_table, item_table = (t.detach().float().cpu().contiguous() for t in model(adjacency))
    return LightGCNResult(item_embeddings=item_table, user_embeddings=user_table, history=history, epochs_run=epoch,
                          best_epoch=best["epoch"], validation_recall=best["recall"] if keep == "best" else final_recall,
                          best_validation_recall=best["recall"], stopped=stopped, options=options,
                          seconds=round(time.perf_counter() - start, 3))


# ------------------------------------------------------------------------------------------------ cache
#: the options of :func:`train_lightgcn` that change its result, with their defaults (the cache key)
LIGHTGCN_DEFAULTS: Dict[str, Any] = {name: parameter.default for name, parameter in
                                     inspect.signature(train_lightgcn).parameters.items()
                                     if name not in ("prepared", "device", "graph")}


def lightgcn_options(**options) -> Dict[str, Any]:
    """The full option set of :func:`train_lightgcn` (defaults filled in); unknown names are an error."""
    unknown = sorted(set(options) - set(LIGHTGCN_DEFAULTS))
    if unknown:
        raise TypeError(f"unknown LightGCN option(s) {unknown}; choose from {list(LIGHTGCN_DEFAULTS)}")
    return {**LIGHTGCN_DEFAULTS, **options}


def _options_key(options: Dict[str, Any], fingerprint: str) -> str:
    return sha256_of_strings([json.dumps(options, sort_keys=True), fingerprint], prefix="lightgcn|")


def load_collab_embeddings(prepared_dir: str | os.PathLike) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """Read ``collab_embeddings.safetensors`` and its JSON from a prepared folder: ``(tensor [N, dim], metadata)``."""
    folder = Path(prepared_dir)
    path, meta_path = folder / COLLAB_EMBEDDINGS_FILE, folder / COLLAB_METADATA_FILE
    if not path.exists() or not meta_path.exists():
        raise FileNotFoundError(f"no LightGCN embeddings in {folder} ({COLLAB_EMBEDDINGS_FILE} + {COLLAB_METADATA_FILE}); "
                                "make them with hf_genrec.embeddings.collab_embeddings")
    table, tensor_meta = load_item_embeddings(path)
    metadata = read_json_file(meta_path)
    if tensor_meta.get("options_sha256") != metadata.get("options_sha256"):
        raise ValueError(f"{path} and {meta_path} come from different runs (options_sha256 differs); "
                         "make the embeddings again")
    return torch.from_numpy(table), metadata


def collab_embeddings(prepared_dir: str | os.PathLike, overwrite: bool = False, device: Optional[str] = None,
                      **options) -> torch.Tensor:
    """LightGCN item embeddings ``[num_items, dim]`` of a prepared folder, trained once and cached there.

    ``options`` are those of :func:`train_lightgcn`. The cache (``collab_embeddings.safetensors`` + ``.json``) is
    reused when its options and its data fingerprint equal the requested ones; otherwise (or with ``overwrite``)
    LightGCN is trained again and the files are replaced atomically. ``device`` is not part of the key.
    """
    from ..data import PreparedDataset

    folder = Path(prepared_dir)
    options = lightgcn_options(**options)
    prepared = PreparedDataset.load(folder)
    graph = interaction_graph(prepared)
    key = _options_key(options, graph.fingerprint())
    if not overwrite and (folder / COLLAB_EMBEDDINGS_FILE).exists() and (folder / COLLAB_METADATA_FILE).exists():
        try:
            table, metadata = load_collab_embeddings(folder)
        except (ValueError, FileNotFoundError) as error:
            logger.warning(f"ignoring the cached LightGCN embeddings: {error}")
        else:
            if metadata.get("options_sha256") == key and table.shape[0] == prepared.num_items:
                return table
            logger.info(f"the cached LightGCN embeddings in {folder} were made with other options or data; training again")
    result = train_lightgcn(prepared, device=device, graph=graph, **options)
    save_item_embeddings(folder / COLLAB_EMBEDDINGS_FILE, result.item_embeddings.numpy(),
                         {"model": "lightgcn", "options_sha256": key})
    atomic_write_json(folder / COLLAB_METADATA_FILE, {
        "model": "lightgcn", "hf_genrec_version": __version__, "options": options, "options_sha256": key,
        "data_fingerprint": graph.fingerprint(), "num_users": graph.num_users, "num_items": graph.num_items,
        "training_pairs": int(len(graph.users)), **result.summary()})
    return result.item_embeddings
