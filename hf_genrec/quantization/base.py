"""One interface for every quantizer: ``fit`` / ``encode`` / codebooks / ``save_pretrained`` / ``from_pretrained``.

A quantizer maps item embeddings ``[N, d]`` to codes ``[N, L]``. Besides that it exposes the geometry
that collision handling needs: the latent vector of an item (:meth:`Quantizer.latent`) and the latent
reconstruction of any code tuple (:meth:`Quantizer.codes_to_latent`), so that "the nearest free SID"
has one meaning for every quantizer.

Files: ``quantizer_config.json`` (JSON) + ``quantizer.safetensors`` (tensors); never pickle.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Dict, List, Type

import torch
from torch import nn

from ..utils.dataclass_dict import dataclass_from_dict
from ..utils.io import atomic_write_bytes, atomic_write_json, read_json_file

CONFIG_FILE = "quantizer_config.json"
WEIGHTS_FILE = "quantizer.safetensors"

QUANTIZERS: Dict[str, Type["Quantizer"]] = {}


def register_quantizer(cls: Type["Quantizer"]) -> Type["Quantizer"]:
    QUANTIZERS[cls.quantizer_type] = cls
    return cls


@dataclass
class QuantizerConfig:
    """Options shared by all quantizers. ``codebook_size`` is one size for every level or a list."""

    input_dim: int = 384
    levels: int = 3
    codebook_size: Any = 256
    seed: int = 0
    quantizer_type: str = ""

    def __post_init__(self):
        if self.levels < 1:
            raise ValueError(f"levels must be at least 1, got {self.levels}")
        if self.input_dim < 1:
            raise ValueError(f"input_dim must be at least 1, got {self.input_dim}")
        if any(size < 2 for size in self.codebook_sizes):
            raise ValueError(f"every codebook needs at least 2 codes, got codebook_size {self.codebook_size}")

    @property
    def codebook_sizes(self) -> List[int]:
        sizes = list(self.codebook_size) if isinstance(self.codebook_size, (list, tuple)) else [int(self.codebook_size)] * self.levels
        if len(sizes) != self.levels:
            raise ValueError(f"codebook_size has {len(sizes)} entries but levels = {self.levels}")
        return [int(s) for s in sizes]

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "QuantizerConfig":
        return dataclass_from_dict(cls, data)


class Quantizer(nn.Module):
    """Base class. Subclasses set ``quantizer_type`` and ``config_class`` and implement the hooks."""

    quantizer_type: ClassVar[str] = ""
    config_class: ClassVar[Type[QuantizerConfig]] = QuantizerConfig

    def __init__(self, config: QuantizerConfig):
        super().__init__()
        config.quantizer_type = self.quantizer_type
        config.codebook_sizes  # validates levels vs sizes
        self.config = config
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    # ------------------------------------------------------------------ to implement
    def fit(self, embeddings: torch.Tensor, **kwargs) -> Dict[str, Any]:
        raise NotImplementedError

    @property
    def codebooks(self) -> List[torch.Tensor]:
        """Per-level codebooks ``[K_l, d_l]``."""
        raise NotImplementedError

    def latent(self, embeddings: torch.Tensor) -> torch.Tensor:
        """The vector the codes approximate (identity for RQ-KMeans, the encoder output for VAEs)."""
        raise NotImplementedError

    def codes_to_latent(self, codes: torch.Tensor) -> torch.Tensor:
        """Latent reconstruction of code tuples ``[N, L]``."""
        raise NotImplementedError

    def quantize_latent(self, latent: torch.Tensor) -> torch.Tensor:
        """Nearest-codeword assignment of latent vectors, ``[N, L]``."""
        raise NotImplementedError

    def level_inputs(self, latent: torch.Tensor, codes: torch.Tensor) -> List[torch.Tensor]:
        """The vector compared with codebook ``l`` for each item (residual or chunk), one ``[N, d_l]`` per level."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared
    @torch.no_grad()
    def encode(self, embeddings: torch.Tensor, batch_size: int = 8192) -> torch.LongTensor:
        """Codes ``[N, L]`` (long) of item embeddings ``[N, d]``."""
        self._check_fitted()
        embeddings = self._as_input(embeddings)
        was_training = self.training
        self.eval()
        try:
            parts = [self.quantize_latent(self.latent(embeddings[i:i + batch_size]))
                     for i in range(0, len(embeddings), batch_size)]
        finally:
            self.train(was_training)
        return torch.cat(parts).long()

    @torch.no_grad()
    def reconstruction_error(self, embeddings: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Squared latent distance between each item and the reconstruction of ``codes`` (per item)."""
        latent = self.latent(self._as_input(embeddings))
        return (latent - self.codes_to_latent(codes)).pow(2).sum(-1)

    def _as_input(self, embeddings) -> torch.Tensor:
        tensor = torch.as_tensor(embeddings, dtype=torch.float32)
        if tensor.ndim != 2 or tensor.shape[1] != self.config.input_dim:
            raise ValueError(f"{type(self).__name__} expects embeddings of shape [N, {self.config.input_dim}], "
                             f"got {tuple(tensor.shape)}")
        return tensor

    def _check_fitted(self):
        if not bool(self.fitted):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit(embeddings) or from_pretrained(folder)")

    @property
    def codebook_sizes(self) -> List[int]:
        return self.config.codebook_sizes

    @property
    def levels(self) -> int:
        return self.config.levels

    # ------------------------------------------------------------------ files
    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        from safetensors.torch import save

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {name: t.detach().cpu().contiguous() for name, t in self.state_dict().items()}
        atomic_write_bytes(folder / WEIGHTS_FILE, save(tensors, metadata={"quantizer_type": self.quantizer_type}))
        atomic_write_json(folder / CONFIG_FILE, self.config.to_dict())
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike) -> "Quantizer":
        """Load any registered quantizer from a folder (dispatches on ``quantizer_type``)."""
        from safetensors.torch import load_file

        folder = Path(folder)
        config_path = folder / CONFIG_FILE
        if not config_path.exists():
            raise FileNotFoundError(f"no {CONFIG_FILE} in {folder}")
        data = read_json_file(config_path)
        kind = data.get("quantizer_type")
        target = QUANTIZERS.get(kind)
        if target is None:
            raise ValueError(f"{config_path}: unknown quantizer_type {kind!r}; known: {sorted(QUANTIZERS)}")
        if cls is not Quantizer and not issubclass(target, cls):
            raise ValueError(f"{config_path} holds a {kind} quantizer, not a {cls.quantizer_type}")
        model = target(target.config_class.from_dict(data))
        model.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
        model.eval()
        return model


def build_quantizer(name: str, **options) -> Quantizer:
    """Create an unfitted quantizer by name (``rqkmeans``, ``rqvae``, ``vqvae``, ...)."""
    if name not in QUANTIZERS:
        raise ValueError(f"unknown quantizer {name!r}; choose from {sorted(QUANTIZERS)}")
    cls = QUANTIZERS[name]
    return cls(cls.config_class(**options))


def lookup(codebook: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``codebook[index]``; when gradients flow, computed as a one-hot matmul so that the backward pass is
    deterministic (the scatter-add behind indexing is not, on multi-threaded CPUs)."""
    if codebook.requires_grad and torch.is_grad_enabled():
        return torch.nn.functional.one_hot(index, codebook.shape[0]).to(codebook.dtype) @ codebook
    return codebook[index]


def residual_quantize(latent: torch.Tensor, codebooks: List[torch.Tensor]):
    """Residual quantization (ComeIR Eq. 29, DECOR Eq. 3-4): returns ``(codes [N, L], inputs, quantized)``.

    ``inputs[l]`` is the residual compared with codebook ``l``; ``quantized[l]`` the chosen codewords.
    """
    from .kmeans import nearest

    residual = latent
    codes, inputs, quantized = [], [], []
    for codebook in codebooks:
        inputs.append(residual)
        index = nearest(residual, codebook)
        chosen = codebook[index]
        codes.append(index)
        quantized.append(chosen)
        residual = residual - chosen
    return torch.stack(codes, dim=1), inputs, quantized


def residual_inputs(latent: torch.Tensor, codes: torch.Tensor, codebooks: List[torch.Tensor]) -> List[torch.Tensor]:
    """Residuals seen by each level for given codes (not necessarily the nearest ones)."""
    residual, inputs = latent, []
    for level, codebook in enumerate(codebooks):
        inputs.append(residual)
        residual = residual - codebook[codes[:, level]]
    return inputs


__all__ = ["QUANTIZERS", "Quantizer", "QuantizerConfig", "build_quantizer", "register_quantizer",
           "residual_inputs", "residual_quantize"]
