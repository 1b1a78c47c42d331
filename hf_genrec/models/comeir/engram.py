"""Engram conditional memory: hashed suffix n-gram lookup with a context-aware gate.

ComeIR (``../shared/papers/comeir.md``) §3.3 and App. A.1 / B.2.2. A memory *instance* (intra-item or
inter-item) owns, for every SID level ``l`` and n-gram order ``o`` in that level's order set, ``K`` sparse
hash tables ``M_{l,o,k}`` of ``d_m / K`` columns. Reading a discrete pattern ``p = (p_1, ..., p_T)``:

* Eq. 13: the order-``o`` key is the pattern's last ``o`` elements;
* Eq. 39: head ``k`` hashes a key ``(x_1, ..., x_o)`` to ``(XOR_a x_a * m_{a,k}) mod H_{l,o,k}`` with odd
  multipliers ``m_{a,k}`` generated from a seed and a distinct prime ``H_{l,o,k}`` per table;
* Eq. 14: the ``K`` rows are concatenated into the address ``a_{l,o}(p)`` (``d_m`` values);
* Eq. 15: a scalar gate ``lambda_{l,o} = sigmoid((W_Q q)^T (W_K a) / sqrt(d))`` scores the address against
  the context query ``q``;
* Eq. 16 (= Eq. 5): ``R_l(q, p) = LN(sum_o lambda_{l,o} W_V a_{l,o}(p))``.

Table sizes follow Eq. 31-38 (:func:`intra_table_rows`, :func:`inter_table_rows`); :func:`table_parameters`
gives P_S / P_T (Eq. 34, 38).

Conventions (where the paper leaves room; documented in ``docs/methods/comeir.md``):

* discrete units are encoded as positive integers (``1 + code`` or ``1 + prefix index``) and ``0`` means
  "no element": keys are right-aligned, so the truncated keys of Eq. 13 at the start of a history hash
  like the full key with absent (zero) elements, and no real key collides with them systematically;
* each head uses the smallest prime at or above the target bucket count that no other table of the
  same memory instance uses;
* the hash constants (multipliers, moduli, row offsets) are persistent buffers, saved with the weights
  (``from_pretrained`` builds models on the meta device, where derived buffers would be lost);
* all tables of an instance are packed into one ``nn.Embedding`` (``sparse=True`` by default) with a row
  offset per table: one lookup and one sparse gradient per read.
"""

from __future__ import annotations

import math
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import torch
from torch import nn

H_MAX = 20_000_000  # maximum buckets of one table (App. B.2.2)
D_MAX = 2_097_152  # cap of the integer domain of one discrete unit (Eq. 31, 35)
_MASK64 = (1 << 64) - 1
_MR_BASES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)  # deterministic Miller-Rabin for n < 3.3e24


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    for p in _MR_BASES:
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for a in _MR_BASES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def next_unused_prime(target: int, used: Set[int]) -> int:
    """Smallest prime ``>= target`` not in ``used`` (which it joins)."""
    n = max(2, int(target))
    while not is_prime(n) or n in used:
        n += 1
    used.add(n)
    return n


def odd_multipliers(seed: int, max_order: int, num_heads: int) -> List[List[int]]:
    """``m[a][k]``: odd multipliers below 2^31 from a SplitMix64 stream (Eq. 39), platform independent."""
    state = (int(seed) * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & _MASK64
    out = []
    for _ in range(max_order):
        row = []
        for _ in range(num_heads):
            state = (state + 0x9E3779B97F4A7C15) & _MASK64
            z = state
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
            z ^= z >> 31
            row.append(int((z >> 33) | 1))  # 31 bits, odd
        out.append(row)
    return out


def _prod(values: Iterable[int]) -> int:
    result = 1
    for v in values:
        result *= int(v)
    return result


def _target(base_power: float, domain: int, h_max: int) -> int:
    """``max(2, min(floor(B^o), domain, H_max))`` (Eq. 33, 37)."""
    return max(2, min(int(math.floor(base_power)), int(domain), int(h_max)))


def intra_orders(num_levels: int, max_order: int = 3) -> Dict[int, List[int]]:
    """``O^S_l = {1, ..., min(l, 3)}`` for levels ``l = 2..L`` (0-based keys ``1..L-1``)."""
    return {level: list(range(1, min(level + 1, max_order) + 1)) for level in range(1, num_levels)}


def default_inter_orders(num_levels: int, max_order: int = 3) -> List[int]:
    """``(O^T_1, O^T_2, O^T_3) = (3, 2, 1)`` for L = 3; generally ``min(3, L - l + 1)``: longer transition
    contexts for coarse prefixes, shorter ones for deep, specific prefixes (App. B.2.2)."""
    return [max(1, min(max_order, num_levels - level)) for level in range(num_levels)]


def intra_table_rows(codebook_sizes: Sequence[int], scale: float = 1.0, base: Optional[float] = None,
                     num_heads: int = 2, max_order: int = 3, h_max: int = H_MAX) -> Dict[Tuple[int, int], List[int]]:
    """Prime bucket counts ``H^S_{l,o,k}`` (Eq. 32-33): base ``B^S = C * s_S`` (``base`` overrides ``C``),
    target ``max(2, min(floor(B^o), C^o, H_max))`` with ``C^o`` the exact domain of an order-``o`` key."""
    used: Set[int] = set()
    rows = {}
    for level, orders in intra_orders(len(codebook_sizes), max_order).items():
        level_base = (base if base is not None else codebook_sizes[level]) * scale
        for order in orders:
            domain = _prod(codebook_sizes[level - order + 1: level + 1])
            target = _target(level_base ** order, domain, h_max)
            rows[(level, order)] = [next_unused_prime(target, used) for _ in range(num_heads)]
    return rows


def inter_table_rows(codebook_sizes: Sequence[int], scale: float = 2.0, base: float = 16.0, num_heads: int = 4,
                     orders: Optional[Sequence[int]] = None, h_max: int = H_MAX) -> Dict[Tuple[int, int], List[int]]:
    """Prime bucket counts ``H^T_{l,o,k}`` (Eq. 36-37): level base ``B^T_l = (16 s_T)^l``, target
    ``max(2, min(floor(B_l^o), (C^l)^o, H_max))`` with ``C^l`` the prefix domain of level ``l``."""
    orders = list(orders or default_inter_orders(len(codebook_sizes)))
    if len(orders) != len(codebook_sizes):
        raise ValueError(f"inter_orders has {len(orders)} entries for {len(codebook_sizes)} SID levels")
    used: Set[int] = set()
    rows = {}
    for level, max_order in enumerate(orders):
        level_base = (base * scale) ** (level + 1)
        prefix_domain = _prod(codebook_sizes[: level + 1])
        for order in range(1, int(max_order) + 1):
            target = _target(level_base ** order, prefix_domain ** order, h_max)
            rows[(level, order)] = [next_unused_prime(target, used) for _ in range(num_heads)]
    return rows


def table_parameters(rows: Dict[Tuple[int, int], List[int]], address_dim: int = 256) -> int:
    """``P = d_m / K * sum_{l,o,k} H_{l,o,k}`` (Eq. 34 for intra, Eq. 38 for inter)."""
    heads = {len(r) for r in rows.values()}
    if len(heads) > 1:
        raise ValueError("every table group needs the same number of heads")
    k = heads.pop() if heads else 1
    return address_dim // k * sum(sum(r) for r in rows.values())


def prefix_units(codes: torch.Tensor, codebook_sizes: Sequence[int], max_domain: int = D_MAX) -> torch.Tensor:
    """One positive integer per SID prefix ``codes [..., l]`` (App. A.3: a prefix is one discrete unit):
    ``1 + (mixed-radix index mod D_max)`` (Eq. 35 caps the domain at ``D_max``)."""
    index = torch.zeros(codes.shape[:-1], dtype=torch.long, device=codes.device)
    for level in range(codes.shape[-1]):
        index = index * int(codebook_sizes[level]) + codes[..., level].long()
    if _prod(codebook_sizes[: codes.shape[-1]]) > max_domain:
        index = index % max_domain
    return index + 1


def unique_keys(keys: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Distinct rows of non-negative integer keys ``[M, o]`` and the inverse index ``[M]``.

    Same result as ``torch.unique(keys, dim=0, return_inverse=True)`` up to row order, through 1-D
    uniques only (much faster): columns are folded in one at a time, compacting the running id in between
    so that ``id * radix + column`` never overflows.
    """
    if keys.shape[0] == 0:
        return keys, torch.zeros(0, dtype=torch.long, device=keys.device)
    radix = int(keys.max()) + 1
    ids = keys[:, 0].long()
    for column in range(1, keys.shape[1]):
        _, ids = torch.unique(ids, return_inverse=True)
        ids = ids * radix + keys[:, column].long()
    distinct, inverse = torch.unique(ids, return_inverse=True)
    positions = torch.arange(len(ids), device=keys.device)
    first = torch.full((len(distinct),), len(ids), dtype=torch.long, device=keys.device)
    first = first.scatter_reduce(0, inverse, positions, reduce="amin")
    return keys[first], inverse


class EngramMemory(nn.Module):
    """One memory instance (e.g. ComeIR's intra-item or inter-item Engram) over several SID levels.

    ``rows[(level, order)]`` lists the bucket counts of the ``K`` heads. ``read(level, query, pattern)``
    returns ``R_level(query, pattern)`` (Eq. 16) for right-aligned integer patterns (``0`` = absent).
    """

    def __init__(self, rows: Dict[Tuple[int, int], List[int]], hidden_size: int, address_dim: int = 256,
                 seed: int = 0, sparse: bool = True, init_std: float = 0.02):
        super().__init__()
        heads = {len(r) for r in rows.values()}
        if len(heads) != 1:
            raise ValueError("every table needs the same number of hash heads")
        self.num_heads = heads.pop()
        if address_dim % self.num_heads:
            raise ValueError(f"address dim {address_dim} is not divisible by {self.num_heads} heads")
        self.address_dim = address_dim
        self.hidden_size = hidden_size
        self.rows = {key: list(value) for key, value in sorted(rows.items())}
        self.orders: Dict[int, List[int]] = {}
        offsets, start = {}, 0
        for (level, order), sizes in self.rows.items():
            self.orders.setdefault(level, []).append(order)
            offsets[(level, order)] = start
            start += sum(sizes)
        self.total_rows = start
        max_order = max(o for (_, o) in self.rows)
        self.register_buffer("multipliers", torch.tensor(odd_multipliers(seed, max_order, self.num_heads),
                                                         dtype=torch.long))
        for (level, order), sizes in self.rows.items():
            head_offsets = [offsets[(level, order)] + sum(sizes[:k]) for k in range(self.num_heads)]
            self.register_buffer(f"moduli_{level}_{order}", torch.tensor(sizes, dtype=torch.long))
            self.register_buffer(f"offsets_{level}_{order}", torch.tensor(head_offsets, dtype=torch.long))
        self.table = nn.Embedding(self.total_rows, address_dim // self.num_heads, sparse=sparse)
        nn.init.normal_(self.table.weight, std=init_std)
        self.query = nn.ModuleDict({str(l): nn.Linear(hidden_size, hidden_size, bias=False) for l in self.orders})
        # W_K and W_V of one (level, order) share one matrix: [W_K; W_V] a
        self.key_value = nn.ModuleDict({f"{l}_{o}": nn.Linear(address_dim, 2 * hidden_size, bias=False)
                                        for (l, o) in self.rows})
        self.norm = nn.ModuleDict({str(l): nn.LayerNorm(hidden_size) for l in self.orders})

    @property
    def parameter_count(self) -> int:
        """Sparse table parameters of this instance (Eq. 34 / 38)."""
        return self.total_rows * (self.address_dim // self.num_heads)

    def bucket_rows(self, level: int, order: int, keys: torch.Tensor) -> torch.Tensor:
        """Global table rows ``[..., K]`` of order-``order`` keys ``[..., order]`` (Eq. 39)."""
        mixed = keys.long()[..., :, None] * self.multipliers[:order]  # [..., o, K]
        hashed = mixed[..., 0, :]
        for a in range(1, order):
            hashed = torch.bitwise_xor(hashed, mixed[..., a, :])
        return hashed % getattr(self, f"moduli_{level}_{order}") + getattr(self, f"offsets_{level}_{order}")

    def address(self, level: int, order: int, pattern: torch.Tensor) -> torch.Tensor:
        """``a_{l,o}(p)`` (Eq. 13-14): the concatenated head rows of the pattern's last ``order`` elements."""
        if pattern.shape[-1] < order:
            raise ValueError(f"pattern of length {pattern.shape[-1]} is shorter than order {order}")
        rows = self.bucket_rows(level, order, pattern[..., pattern.shape[-1] - order:])
        return self.table(rows).flatten(-2)

    def project_query(self, level: int, query: torch.Tensor) -> torch.Tensor:
        return self.query[str(level)](query)

    def read(self, level: int, query: torch.Tensor, pattern: torch.Tensor, query_index: Optional[torch.Tensor] = None,
             projected_query: Optional[torch.Tensor] = None, return_gates: bool = False):
        """``R_level(q, p)`` (Eq. 5 / 16) for patterns ``[M, T]``.

        ``query`` is ``[M, d]``, or ``[Q, d]`` with ``query_index [M]`` choosing a row per pattern (so a
        query shared by many candidates is projected once); ``projected_query`` skips ``W_Q``.
        """
        if level not in self.orders:
            raise KeyError(f"this memory has no tables for level {level} (levels: {sorted(self.orders)})")
        q = projected_query if projected_query is not None else self.project_query(level, query)
        total, gates = None, []
        scale = 1.0 / math.sqrt(self.hidden_size)
        for order in self.orders[level]:
            # many patterns share their order-o key (all candidates of a code x share the order-1 key,
            # users share history items): look up and project each distinct key once
            keys, inverse = unique_keys(pattern[:, pattern.shape[-1] - order:])
            address = self.address(level, order, keys).to(q.dtype)  # [U, d_m]
            w_key, w_value = self.key_value[f"{level}_{order}"].weight.chunk(2, dim=0)  # each [d, d_m]
            # Eq. 15 as (W_K^T q) . a: the query moves into the address space once per query row, so
            # per pattern only d_m-sized rows are gathered
            query_address = q @ w_key
            if query_index is not None:
                query_address = query_address.index_select(0, query_index)
            gate = torch.sigmoid((query_address * address.index_select(0, inverse)).sum(-1, keepdim=True) * scale)
            value = (address @ w_value.T).index_select(0, inverse)  # W_V a
            gates.append(gate)
            total = gate * value if total is None else total + gate * value
        out = self.norm[str(level)](total)
        return (out, torch.cat(gates, -1)) if return_gates else out
