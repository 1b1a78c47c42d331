"""An AdamW that keeps optimizer state only for the rows of sparse tables that were ever touched.

Engram hash tables (ComeIR App. B.2.2) reach billions of parameters, but a batch reads a few thousand
rows. ``nn.Embedding(sparse=True)`` yields row-sparse gradients; :class:`SparseAwareAdamW` updates

* dense parameters exactly like ``torch.optim.AdamW`` (decoupled weight decay, bias correction);
* row-sparse parameters *lazily*: a row's moments are created the first time it receives a gradient and
  updated only when it does; each row counts its own steps, so its first update is a plain Adam first
  step. State per table: the moments of touched rows (grown by doubling) plus one int32 slot index per
  row, instead of two dense float copies of the whole table.

:func:`clip_grad_norm_` clips dense and sparse gradients together (``torch.nn.utils.clip_grad_norm_``
cannot take sparse gradients).
"""

from __future__ import annotations

import fnmatch
import math
from typing import Any, Dict, Iterable, List, Optional, Tuple

import torch
from torch import nn


def sparse_parameters(model: nn.Module) -> List[nn.Parameter]:
    """Weights of the model's ``nn.Embedding(sparse=True)`` modules (their gradients are row-sparse)."""
    found, seen = [], set()
    for module in model.modules():
        if isinstance(module, nn.Embedding) and module.sparse and module.weight.requires_grad:
            if id(module.weight) not in seen:
                seen.add(id(module.weight))
                found.append(module.weight)
    return found


def parameter_groups(model: nn.Module, learning_rate: float, weight_decay: float,
                     lr_multipliers: Optional[Dict[str, float]] = None) -> Tuple[List[Dict[str, Any]], List[nn.Parameter]]:
    """Optimizer groups of a model's trainable dense parameters, and its sparse ones.

    Dense parameters split by weight decay (matrices decay, vectors and norms do not) and by ``lr_multipliers``
    (``{fnmatch pattern over parameter names: factor}``, first match wins; each group's ``lr`` is
    ``factor x learning_rate``; a pattern that matches nothing is an error). The two default groups always come first,
    so optimizer states saved before multipliers existed still load."""
    sparse = {id(p) for p in sparse_parameters(model)}
    multipliers = dict(lr_multipliers or {})
    matched = set()
    dense: Dict[Tuple[bool, float], list] = {(True, 1.0): [], (False, 1.0): []}
    sparse_group = []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        if id(parameter) in sparse:
            sparse_group.append(parameter)
            continue
        pattern = next((p for p in multipliers if fnmatch.fnmatchcase(name, p)), None)
        factor = float(multipliers[pattern]) if pattern is not None else 1.0
        matched.add(pattern)
        decays = not (parameter.ndim < 2 or "norm" in name.lower())
        dense.setdefault((decays, factor), []).append(parameter)
    unused = sorted(set(multipliers) - matched)
    if unused:
        raise ValueError(f"training.lr_multipliers patterns {unused} match no trainable parameter of "
                         f"{type(model).__name__} (patterns are fnmatch patterns over names such as "
                         f"{next(n for n, _ in model.named_parameters())!r})")
    groups = [{"params": params, "weight_decay": weight_decay if decays else 0.0, "lr": learning_rate * factor}
              for (decays, factor), params in dense.items() if params or factor == 1.0]
    return groups, sparse_group


@torch.no_grad()
def clip_grad_norm_(parameters: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale all gradients (dense and sparse) so that their joint L2 norm is at most ``max_norm``."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    norms = []
    for g in grads:
        values = g.coalesce()._values() if g.is_sparse else g
        norms.append(torch.linalg.vector_norm(values.float()))
    total = torch.linalg.vector_norm(torch.stack([n.to(norms[0].device) for n in norms]))
    coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.to(g.device, g.dtype))
    return total


class SparseAwareAdamW(torch.optim.Optimizer):
    """AdamW for dense parameters and lazy, row-sparse AdamW for parameters with sparse gradients."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        if lr < 0 or eps < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"invalid AdamW settings lr={lr} betas={betas} eps={eps}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    self._sparse_step(p, group)
                else:
                    self._dense_step(p, group)
        return loss

    def _dense_step(self, p: torch.Tensor, group) -> None:
        beta1, beta2 = group["betas"]
        state = self.state[p]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["step"] += 1
        step = float(state["step"])
        grad = p.grad
        p.mul_(1 - group["lr"] * group["weight_decay"])
        state["exp_avg"].lerp_(grad, 1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2 ** step)).add_(group["eps"])
        p.addcdiv_(state["exp_avg"], denom, value=-group["lr"] / (1 - beta1 ** step))

    def _sparse_step(self, p: torch.Tensor, group) -> None:
        beta1, beta2 = group["betas"]
        grad = p.grad.coalesce()
        rows, values = grad._indices()[0], grad._values()
        if rows.numel() == 0:
            return
        state = self.state[p]
        if not state:
            state["slot"] = torch.full((p.shape[0],), -1, dtype=torch.int32, device=p.device)
            state["used"] = torch.zeros((), dtype=torch.long)
            state["exp_avg"] = p.new_zeros((0, *p.shape[1:]))
            state["exp_avg_sq"] = p.new_zeros((0, *p.shape[1:]))
            state["row_step"] = torch.zeros(0, dtype=torch.float32, device=p.device)
        slots = state["slot"][rows].long()
        new = slots < 0
        if bool(new.any()):
            used = int(state["used"])
            count = int(new.sum())
            self._reserve(state, used + count)
            fresh = torch.arange(used, used + count, device=p.device)
            state["slot"][rows[new]] = fresh.to(torch.int32)
            slots[new] = fresh
            state["used"] = torch.tensor(used + count)
        exp_avg = state["exp_avg"][slots]
        exp_avg_sq = state["exp_avg_sq"][slots]
        steps = state["row_step"][slots] + 1
        exp_avg.lerp_(values, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(values, values, value=1 - beta2)
        shape = (-1,) + (1,) * (values.dim() - 1)
        bias1 = (1 - beta1 ** steps).view(shape)
        bias2 = (1 - beta2 ** steps).view(shape)
        update = (exp_avg / bias1) / ((exp_avg_sq / bias2).sqrt() + group["eps"])
        weights = p[rows]
        weights.mul_(1 - group["lr"] * group["weight_decay"]).add_(update, alpha=-group["lr"])
        p[rows] = weights
        state["exp_avg"][slots] = exp_avg
        state["exp_avg_sq"][slots] = exp_avg_sq
        state["row_step"][slots] = steps

    @staticmethod
    def _reserve(state, needed: int) -> None:
        capacity = state["exp_avg"].shape[0]
        if needed <= capacity:
            return
        grown = max(needed, 2 * capacity, 1024)
        for key in ("exp_avg", "exp_avg_sq"):
            old = state[key]
            new = old.new_zeros((grown, *old.shape[1:]))
            new[:capacity] = old
            state[key] = new
        steps = state["row_step"].new_zeros(grown)
        steps[:capacity] = state["row_step"]
        state["row_step"] = steps

    def load_state_dict(self, state_dict) -> None:
        """As ``torch.optim.Optimizer``, except that the row-slot map and the row count stay integers
        (the base class casts all state to the parameter's float dtype, inexact beyond 2^24 rows)."""
        integers = {pid: {k: v.clone() for k, v in st.items() if k in ("slot", "used")}
                    for pid, st in state_dict["state"].items()}
        super().load_state_dict(state_dict)
        ids = [pid for group in state_dict["param_groups"] for pid in group["params"]]
        params = [p for group in self.param_groups for p in group["params"]]
        for pid, p in zip(ids, params):
            for key, value in integers.get(pid, {}).items():
                self.state[p][key] = value.to(p.device) if key == "slot" else value.cpu()

    def state_bytes(self) -> int:
        """Bytes held as optimizer state (to compare with a dense optimizer's two full copies)."""
        return sum(v.numel() * v.element_size() for s in self.state.values() for v in s.values()
                   if isinstance(v, torch.Tensor))
