"""Decoding temperatures for the constrained beam search.

* a constant ``tau`` (1.0 = plain beam search);
* one temperature per SID level;
* :class:`AdaptiveTemperature` - PRISM's Adaptive Temperature Scaling (Sec. 3.4.3, Eq. 16):
  ``tau(N) = tau_min + (tau_max - tau_min) * exp(-alpha * N / N_ref)`` where ``N`` is the number of
  catalog-valid children of the beam's prefix; ``N_ref`` defaults to ``sqrt(|items|) / 2``.

A schedule is called as ``schedule(level, num_valid_children [N]) -> tau [N]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import torch

TemperatureLike = Union[None, float, Sequence[float], Callable[[int, torch.Tensor], torch.Tensor]]


@dataclass
class AdaptiveTemperature:
    """PRISM Eq. 16. Defaults: ``[tau_min, tau_max] = [0.5, 1.0]``, ``alpha = 0.5`` (PRISM Sec. 4.1). Levels before
    ``start_level`` get ``tau = 1`` (the authors' code starts at the second level). PRISM's model applies the same
    schedule in its training loss (Eq. 17, ``hf_genrec.models.prism``)."""

    num_items: int
    tau_min: float = 0.5
    tau_max: float = 1.0
    alpha: float = 0.5
    n_ref: Optional[float] = None
    start_level: int = 0

    def __post_init__(self):
        if self.n_ref is None:
            self.n_ref = math.sqrt(max(1, self.num_items)) / 2.0

    def __call__(self, level: int, num_valid: torch.Tensor) -> torch.Tensor:
        n = num_valid.to(torch.float32)
        if level < self.start_level:
            return torch.ones_like(n)
        return self.tau_min + (self.tau_max - self.tau_min) * torch.exp(-self.alpha * n / self.n_ref)


def make_schedule(temperature: TemperatureLike) -> Callable[[int, torch.Tensor], torch.Tensor]:
    """Normalise any accepted temperature argument into a schedule function."""
    if temperature is None:
        temperature = 1.0
    if callable(temperature):
        return temperature
    if isinstance(temperature, (int, float)):
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        value = float(temperature)
        return lambda level, num_valid: torch.full(num_valid.shape, value, device=num_valid.device)
    values = [float(t) for t in temperature]
    if any(t <= 0 for t in values):
        raise ValueError(f"temperatures must be > 0, got {values}")
    return lambda level, num_valid: torch.full(num_valid.shape, values[level], device=num_valid.device)
