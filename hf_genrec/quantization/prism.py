"""PRISM's Purified Semantic Quantizer (PSQ; Fang et al. 2026, arXiv 2601.16556, Sec. 3.3, Eq. 2-9).

An RQ-VAE (:class:`~hf_genrec.quantization.rqvae.RQVAE`: residual codebooks, k-means initialisation,
EMA updates, straight-through estimator, the fit loop and safetensors files) with PRISM's three additions,
each with its own switch:

* **ACD** (``use_acd``, Eq. 2-4): a trust gate ``g = sigmoid(phi_gate(e_collab))`` purifies the
  collaborative embedding, ``e~_collab = g * e_collab``; ``L_acd`` ties the mean gate to the item's popularity
  and keeps the gate from collapsing to one value. Off ("w/o ACD"): no gate, no fusion LayerNorm, no ``L_acd``.
* **HSA** (``use_hsa``, Eq. 6-7): per level ``l`` a projected tag anchor ``p_l`` pulled towards its soft
  prototype over codebook ``l`` and a tag classifier on ``q_1 || ... || q_l``. Off ("w/o HSA"): no
  projectors, classifiers or tag tables, no ``L_hsa``.
* **DHR** (``use_dhr``, Eq. 8): a shared decoder trunk with a content head and a collaborative head
  (target ``e~_collab``). Off ("w/o DHR"): one head reconstructing ``e_cont || e_collab`` (un-gated collab).

Total (Eq. 9): ``L_psq = L_dhr + beta L_commit + lambda1 L_acd + lambda2 L_hsa`` (+ the codebook term when
``codebook_update="gradient"``).

Inputs (fixed convention): ``embeddings = e_cont || e_collab`` ``[N, content_dim + collab_dim]``, so the base
``encode`` / ``latent`` / collision handling work unchanged; :meth:`PrismQuantizer.fit` also takes
``popularity [N]`` in [0, 1], ``tag_labels [N, L]`` (0 = PAD, classes 1..n_l; SID level ``l`` = tag depth
``l + 1`` below the root) and ``tag_embeddings`` (``L`` tables ``[n_l, d_tag]``, row ``c - 1`` = class ``c``).

Defaults follow the paper; where the paper is silent (layer sizes, dropout, optimiser, schedule, k-means
initialisation, early stopping) they follow the official code at commit 2c5e414 (github.com/DengzhaoFang/
PRISM-Rec; facts only, no code: the repository has no licence). ``PrismQuantizerConfig.from_preset("official")``
switches every place where that code differs from the paper (listed in ``PRESETS``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from .autoencoder import mlp
from .base import register_quantizer
from .kmeans import squared_distances
from .rqvae import RQVAE, RQVAEConfig

#: Where the official code (2c5e414, Beauty scripts) differs from the paper; ``from_preset("official")``.
#: Sports/Toys/CDs scripts use ``acd_diversity_weight=2.0``, ``acd_margin=0.04`` and ``collab_recon_weight=1.0``.
PRESETS: Dict[str, Dict[str, Any]] = {
    "paper": {},
    "official": {
        "fusion_norm": True,  # LayerNorm(e_cont || e~_collab) before the encoder
        "gate_variance": "across_batch", "acd_diversity_weight": 3.5, "acd_margin": 0.09,  # 0.3 ** 2
        "commit_level_grad": "first", "norm_reduction": "mean",  # F.mse_loss: mean over elements
        "recon_loss": "cosine", "collab_recon_weight": 2.0,
        "tag_projector": "mlp", "tag_classifier": "mlp", "anchor_distance": "euclid",
        "hsa_class_weight": 0.25, "hsa_anchor_weight": 0.3, "hsa_level_reduction": "mean",
        "curriculum": "official",
    },
}

#: Collision handling that goes with each preset (``resolve_collisions`` mode).
PRESET_COLLISIONS = {"paper": "sinkhorn", "official": "first_free"}

CHOICES = {
    "codebook_update": ("ema", "gradient"),
    "commit_level_grad": ("all", "first"),
    "commitment": ("per_level", "total"),
    "norm_reduction": ("sum", "mean"),
    "gate_variance": ("within_item", "across_batch"),
    "tag_projector": ("linear", "mlp"),
    "tag_classifier": ("linear", "mlp"),
    "anchor_distance": ("sq_euclid", "euclid"),
    "hsa_level_reduction": ("sum", "mean"),
    "curriculum": ("none", "official"),
    "recon_loss": ("mse", "cosine"),
}


@dataclass
class PrismQuantizerConfig(RQVAEConfig):
    """PSQ options. ``None`` sizes are derived: ``input_dim = content_dim + collab_dim``, decoder trunk =
    reversed ``hidden_dims``, heads ``2 * content_dim`` / ``4 * collab_dim`` / ``2 * input_dim`` wide (the
    official 1536 / 256 / 1664 for 768 / 64 / 832), ``ema`` from ``codebook_update``."""

    input_dim: Optional[int] = None
    content_dim: int = 768
    collab_dim: int = 64
    # encoder, codebooks and training (paper Sec. 4.1: L = 3, K = 256, d_cb = 32; the rest from 2c5e414)
    hidden_dims: List[int] = field(default_factory=lambda: [512, 256, 128])
    latent_dim: int = 32
    dropout: float = 0.1
    learning_rate: float = 1e-4
    weight_decay: float = 1e-4
    epochs: int = 500
    batch_size: int = 512
    kmeans_iterations: int = 100
    kmeans_init_samples: int = 8192
    ema: Optional[bool] = None
    dead_code_reset: bool = False
    lr_schedule: str = "warmup_cosine"
    max_grad_norm: Optional[float] = 1.0
    early_stopping_patience: Optional[int] = 30
    keep_best: bool = True
    codebook_update: str = "ema"  # "gradient": no EMA; codebook loss, and HSA anchors move the codebooks
    commit_level_grad: str = "all"  # "first": only level 1's commitment (and q_1) reach the encoder (2c5e414)
    commitment: str = "per_level"  # sum_l ||r_l - sg(e_l)||^2; "total": ||z - sg(z_q)||^2 as Eq. 9 writes it
    norm_reduction: str = "sum"  # ||.||^2 sums over dimensions; "mean" averages (the official F.mse_loss)
    # ACD (Eq. 2-4)
    use_acd: bool = True
    gate_hidden_dim: int = 128
    gate_dropout: float = 0.2
    fusion_norm: bool = False
    gate_variance: str = "within_item"
    acd_weight: float = 0.8  # lambda1
    acd_margin: float = 0.1  # delta
    acd_diversity_weight: float = 1.0
    # HSA (Eq. 6-7)
    use_hsa: bool = True
    tag_classes: Optional[List[int]] = None  # n_l per level; set by fit from the tag tables
    tag_dim: Optional[int] = None  # d_tag; set by fit
    tag_projector: str = "linear"
    tag_projector_hidden_dim: int = 64
    tag_classifier: str = "linear"
    classifier_dropout: float = 0.1
    anchor_distance: str = "sq_euclid"
    tau_hsa: float = 0.15
    hsa_weight: float = 0.2  # lambda2, for both terms unless the next two are set
    hsa_class_weight: Optional[float] = None
    hsa_anchor_weight: Optional[float] = None
    hsa_level_reduction: str = "sum"
    curriculum: str = "none"  # "official": class weight 0 for 5 epochs, then a linear ramp over 20
    curriculum_warmup_epochs: int = 5
    curriculum_ramp_epochs: int = 20
    # DHR (Eq. 8)
    use_dhr: bool = True
    decoder_hidden_dims: Optional[List[int]] = None
    content_head_dim: Optional[int] = None
    collab_head_dim: Optional[int] = None
    joint_head_dim: Optional[int] = None
    recon_loss: str = "mse"
    content_recon_weight: float = 1.0
    collab_recon_weight: float = 1.0
    detach_collab_target: bool = False  # 2c5e414 lets the gate learn through the target e~_collab too

    def __post_init__(self):
        self._derive_sizes()
        super().__post_init__()
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.ema != (self.codebook_update == "ema"):
            raise ValueError(f"ema={self.ema} contradicts codebook_update={self.codebook_update!r}; set codebook_update only")
        if self.normalize_input:
            raise ValueError("normalize_input is not supported by the PRISM quantizer (its inputs are two embeddings)")
        self._check_ranges()
        self._check_tag_structure()

    def _derive_sizes(self) -> None:
        if self.input_dim is None:
            self.input_dim = self.content_dim + self.collab_dim
        if self.input_dim != self.content_dim + self.collab_dim:
            raise ValueError(f"input_dim ({self.input_dim}) must equal content_dim ({self.content_dim}) + collab_dim "
                             f"({self.collab_dim}): embeddings are concat(e_cont, e_collab)")
        if self.ema is None:
            self.ema = self.codebook_update == "ema"
        if self.decoder_hidden_dims is None:
            self.decoder_hidden_dims = list(reversed(self.hidden_dims))
        if self.content_head_dim is None:
            self.content_head_dim = 2 * self.content_dim
        if self.collab_head_dim is None:
            self.collab_head_dim = 4 * self.collab_dim
        if self.joint_head_dim is None:
            self.joint_head_dim = 2 * self.input_dim

    def _check_ranges(self) -> None:
        positive = {"content_dim": self.content_dim, "collab_dim": self.collab_dim, "gate_hidden_dim": self.gate_hidden_dim,
                    "tag_projector_hidden_dim": self.tag_projector_hidden_dim, "kmeans_init_samples": self.kmeans_init_samples,
                    "content_head_dim": self.content_head_dim, "collab_head_dim": self.collab_head_dim,
                    "joint_head_dim": self.joint_head_dim, "curriculum_ramp_epochs": self.curriculum_ramp_epochs,
                    "tau_hsa": self.tau_hsa, "decoder_hidden_dims": min(self.decoder_hidden_dims, default=0)}
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        not_negative = ("acd_weight", "acd_margin", "acd_diversity_weight", "hsa_weight", "hsa_class_weight",
                        "hsa_anchor_weight", "content_recon_weight", "collab_recon_weight", "curriculum_warmup_epochs")
        for name in not_negative:
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        for name in ("gate_dropout", "classifier_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")

    def _check_tag_structure(self) -> None:
        if (self.tag_classes is None) != (self.tag_dim is None):
            raise ValueError("tag_classes and tag_dim are set together (fit sets both from tag_embeddings)")
        if self.tag_classes is not None and (len(self.tag_classes) != self.levels or min(self.tag_classes) < 1
                                             or self.tag_dim < 1):
            raise ValueError(f"tag_classes must give n_l >= 1 for each of the {self.levels} levels and tag_dim must be "
                             f"positive, got {self.tag_classes} and {self.tag_dim}")

    @property
    def class_weight(self) -> float:
        """Weight of the HSA classification term (``hsa_class_weight``, else lambda2)."""
        return self.hsa_weight if self.hsa_class_weight is None else self.hsa_class_weight

    @property
    def anchor_weight(self) -> float:
        """Weight of the HSA anchor term (``hsa_anchor_weight``, else lambda2)."""
        return self.hsa_weight if self.hsa_anchor_weight is None else self.hsa_anchor_weight

    @classmethod
    def from_preset(cls, name: str = "paper", **overrides) -> "PrismQuantizerConfig":
        """The ``paper`` configuration (the defaults) or the ``official`` one (commit 2c5e414, Beauty), with overrides."""
        if name not in PRESETS:
            raise ValueError(f"preset must be one of {tuple(PRESETS)}, got {name!r}")
        return cls(**{**PRESETS[name], **overrides})


# ---------------------------------------------------------------------------------------------- equations
def acd_losses(gate: torch.Tensor, popularity: torch.Tensor, gate_variance: str = "within_item",
               margin: float = 0.1) -> Tuple[torch.Tensor, torch.Tensor]:
    """The two terms of ``L_acd`` (Eq. 4), averaged over the batch: ``(mean_d(g) - p)^2`` and the diversity hinge.

    ``within_item`` (paper): ``ReLU(delta - Var_d(g_v))``, the (population) variance of one item's gate
    elements. ``across_batch`` (2c5e414): ``ReLU(margin - Var_batch(mean_d(g)))``, the unbiased variance of the
    per-item mean gate across the batch (0 for a batch of one item).
    """
    mean_gate = gate.mean(-1)
    alignment = (mean_gate - popularity).pow(2).mean()
    if gate_variance == "within_item":
        diversity = F.relu(margin - gate.var(-1, correction=0)).mean()
    elif len(mean_gate) > 1:
        diversity = F.relu(margin - mean_gate.var())
    else:
        diversity = gate.sum() * 0.0
    return alignment, diversity


def soft_anchor(anchors: torch.Tensor, codebook: torch.Tensor, tau: float = 0.15,
                squared: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
    """Eq. 6: ``alpha_k = softmax_k(-||p - e_k||^2 / tau)`` and ``p~ = sum_k alpha_k e_k`` for anchors ``[T, d]``.

    Returns ``(p~ [T, d], alpha [T, K])``. ``squared=False`` uses the plain Euclidean distance (2c5e414).
    """
    distance = squared_distances(anchors, codebook)
    if not squared:
        distance = distance.clamp_min(1e-12).sqrt()
    alpha = torch.softmax(-distance / tau, dim=-1)
    return alpha @ codebook, alpha


def class_weight_scale(epoch: int, warmup_epochs: int = 5, ramp_epochs: int = 20) -> float:
    """The official curriculum's factor on the classification weight at 0-based ``epoch``: 0 for the first
    ``warmup_epochs`` epochs, then linear up to 1 over ``ramp_epochs`` epochs (1 from epoch 25 on by default)."""
    if epoch < warmup_epochs:
        return 0.0
    return min(1.0, (epoch - warmup_epochs + 1) / ramp_epochs)


def straight_through_levels(inputs: Sequence[torch.Tensor], chosen: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    """``q_l = r_l + sg(e_l - r_l)``: the codeword's value with the residual's gradient."""
    return [r + (e - r).detach() for r, e in zip(inputs, chosen)]


class ReconstructionDecoder(nn.Module):
    """Eq. 8's decoders: a shared trunk ``[Linear -> LN -> ReLU -> Dropout]`` per width, then one
    ``Linear -> LN -> ReLU -> Linear`` head per target; returns ``{target name: reconstruction}``."""

    def __init__(self, latent_dim: int, trunk_dims: Sequence[int], heads: Dict[str, Tuple[int, int]], dropout: float):
        super().__init__()
        self.trunk = mlp([latent_dim, *trunk_dims], dropout, layer_norm=True, activate_last=True)
        self.heads = nn.ModuleDict({name: mlp([trunk_dims[-1], hidden, out], layer_norm=True)
                                    for name, (hidden, out) in heads.items()})

    def forward(self, quantized_latent: torch.Tensor) -> Dict[str, torch.Tensor]:
        shared = self.trunk(quantized_latent)
        return {name: head(shared) for name, head in self.heads.items()}


class PrismEncoding(NamedTuple):
    """One batch through ACD and the encoder (Eq. 2, 3, 5); ``gate`` is None without ACD."""

    content: torch.Tensor
    collab: torch.Tensor
    gate: Optional[torch.Tensor]
    gated_collab: torch.Tensor
    latent: torch.Tensor


@contextlib.contextmanager
def evaluating(module: nn.Module):
    """Eval mode and no gradients inside the block; the previous mode afterwards."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)


# ---------------------------------------------------------------------------------------------- quantizer
@register_quantizer
class PrismQuantizer(RQVAE):
    """PRISM's Purified Semantic Quantizer; see the module docstring and :class:`PrismQuantizerConfig`."""

    quantizer_type = "prism"
    config_class = PrismQuantizerConfig

    def __init__(self, config: PrismQuantizerConfig):
        super().__init__(config)
        self.gate = self.fusion_norm = self.tag_projectors = self.tag_classifiers = None
        if config.use_acd:
            self.gate = mlp([config.collab_dim, config.gate_hidden_dim, config.collab_dim], config.gate_dropout,
                            layer_norm=True)
            self.fusion_norm = nn.LayerNorm(config.input_dim) if config.fusion_norm else None
        if config.use_hsa and config.tag_classes is not None:
            self._build_hsa()
        self.hsa_class_scale = 1.0

    # ------------------------------------------------------------------ modules
    def build_encoder(self) -> nn.Module:
        """Eq. 5's ``Enc``: ``[Linear -> LN -> ReLU -> Dropout]`` per hidden width, then ``Linear -> d_cb``."""
        config = self.config
        return mlp([config.input_dim, *config.hidden_dims, config.latent_dim], config.dropout, layer_norm=True)

    def build_decoder(self) -> nn.Module:
        config = self.config
        if config.use_dhr:
            heads = {"content": (config.content_head_dim, config.content_dim),
                     "collab": (config.collab_head_dim, config.collab_dim)}
        else:
            heads = {"joint": (config.joint_head_dim, config.input_dim)}
        return ReconstructionDecoder(config.latent_dim, config.decoder_hidden_dims, heads, config.dropout)

    def _build_hsa(self) -> None:
        """Per level: a tag projector ``d_tag -> d_cb``, a classifier on ``q_1 || .. || q_l`` (``d_cb * l`` inputs,
        ``n_l + 1`` outputs with class 0 = PAD) and the tag-embedding table (a buffer, saved with the weights)."""
        config = self.config
        d = config.latent_dim
        if config.tag_projector == "linear":
            projectors = [nn.Linear(config.tag_dim, d) for _ in config.tag_classes]
        else:
            projectors = [mlp([config.tag_dim, config.tag_projector_hidden_dim, d], layer_norm=True) for _ in config.tag_classes]
        self.tag_projectors = nn.ModuleList(projectors)
        self.tag_classifiers = nn.ModuleList([self._classifier(d * (level + 1), classes + 1)
                                              for level, classes in enumerate(config.tag_classes)])
        for level, classes in enumerate(config.tag_classes):
            self.register_buffer(f"tag_embeddings_{level}", torch.zeros(classes, config.tag_dim))

    def _classifier(self, inputs: int, outputs: int) -> nn.Module:
        """``linear`` (paper) or the official two-hidden-layer MLP of widths ``h, h/2`` with ``h = max(2 in, 128)``."""
        if self.config.tag_classifier == "linear":
            return nn.Linear(inputs, outputs)
        hidden = max(2 * inputs, 128)
        return mlp([inputs, hidden, hidden // 2, outputs], self.config.classifier_dropout, layer_norm=True)

    def tag_embeddings(self) -> List[torch.Tensor]:
        """The per-level tag tables ``[n_l, d_tag]`` given to :meth:`fit`."""
        self._require("use_hsa", self.tag_classifiers)
        return [getattr(self, f"tag_embeddings_{level}") for level in range(self.levels)]

    # ------------------------------------------------------------------ forward pieces
    def encode_parts(self, embeddings: torch.Tensor) -> PrismEncoding:
        """Eq. 2 ``g = sigmoid(phi_gate(e_collab))``, Eq. 3 ``e~_collab = g * e_collab``, Eq. 5
        ``z = Enc(e_cont || e~_collab)`` (with the official LayerNorm on the concatenation if ``fusion_norm``)."""
        content, collab = embeddings.split([self.config.content_dim, self.config.collab_dim], dim=-1)
        gate = torch.sigmoid(self.gate(collab)) if self.gate is not None else None
        gated = collab if gate is None else gate * collab
        fused = torch.cat([content, gated], dim=-1)
        if self.fusion_norm is not None:
            fused = self.fusion_norm(fused)
        return PrismEncoding(content, collab, gate, gated, self.encoder(fused))

    def latent(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.encode_parts(embeddings).latent

    def level_inputs(self, latent: torch.Tensor, codes: torch.Tensor) -> List[torch.Tensor]:
        """Residuals ``r_l``; with ``commit_level_grad="first"`` those of levels 2.. carry no gradient, so only
        level 1's commitment and ``q_1`` reach the encoder (the official STE, where ``r_{l+1} = -sg(e_l - r_l)``)."""
        inputs = super().level_inputs(latent, codes)
        if self.config.commit_level_grad == "first":
            inputs = inputs[:1] + [r.detach() for r in inputs[1:]]
        return inputs

    def squared_error(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``||a - b||^2`` averaged over rows; ``norm_reduction="mean"`` also averages over dimensions."""
        if self.config.norm_reduction == "mean":
            return (a - b).pow(2).mean()
        return super().squared_error(a, b)

    def commitment_loss(self, inputs: List[torch.Tensor], chosen: List[torch.Tensor]) -> torch.Tensor:
        """``L_commit`` (Eq. 9): per level ``sum_l ||r_l - sg(e_l)||^2`` (the RQ-VAE form, also 2c5e414's), or with
        ``commitment="total"`` Eq. 9 read literally, ``||z - sg(z_q)||^2`` (``inputs[0]`` is ``z``)."""
        if self.config.commitment == "total":
            return self.squared_error(inputs[0], sum(e.detach() for e in chosen))
        return super().commitment_loss(inputs, chosen)

    def reconstruction_error(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Squared error (Eq. 8) or, with ``recon_loss="cosine"`` (2c5e414), ``1 - cos`` averaged over rows."""
        if self.config.recon_loss == "cosine":
            return (1 - F.cosine_similarity(prediction, target, dim=-1)).mean()
        return self.squared_error(prediction, target)

    def reconstruction_losses(self, outputs: Dict[str, torch.Tensor], parts: PrismEncoding) -> Dict[str, torch.Tensor]:
        """``L_dhr`` (Eq. 8): content head vs ``e_cont`` and collab head vs ``e~_collab``, weighted; without DHR one
        head vs ``e_cont || e_collab`` (un-gated). The paper does not say whether the target ``e~_collab`` passes
        gradient to the gate; 2c5e414 lets it (default). With the squared error that pulls the gate towards 0
        (a smaller target is easier to match; the cosine loss is blind to scale); ``detach_collab_target`` stops it."""
        if "joint" in outputs:
            target = torch.cat([parts.content, parts.collab], dim=-1)
            return {"reconstruction": self.reconstruction_error(outputs["joint"], target)}
        content = self.reconstruction_error(outputs["content"], parts.content)
        target = parts.gated_collab.detach() if self.config.detach_collab_target else parts.gated_collab
        collab = self.reconstruction_error(outputs["collab"], target)
        total = self.config.content_recon_weight * content + self.config.collab_recon_weight * collab
        return {"content_reconstruction": content, "collab_reconstruction": collab, "reconstruction": total}

    def acd_loss(self, gate: torch.Tensor, popularity: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """``L_acd`` (Eq. 4) = alignment + ``acd_diversity_weight`` x diversity (see :func:`acd_losses`)."""
        if popularity is None:
            raise ValueError("popularity [N] is required while use_acd is on")
        alignment, diversity = acd_losses(gate, popularity, self.config.gate_variance, self.config.acd_margin)
        return {"acd_alignment": alignment, "acd_diversity": diversity,
                "acd": alignment + self.config.acd_diversity_weight * diversity, "gate_mean": gate.mean().detach()}

    def anchor_loss(self, level: int) -> torch.Tensor:
        """Eq. 7's first term at ``level`` over all of the level's tags: ``mean_t ||p_t - p~_t||^2`` with
        ``p_t = Proj_l(tag embedding)`` and ``p~_t`` the Eq. 6 soft prototype over codebook ``level``. Under EMA
        the codebook takes no gradient, so only the projector learns from it."""
        anchors = self.tag_projectors[level](getattr(self, f"tag_embeddings_{level}"))
        prototypes, _ = soft_anchor(anchors, self.codebooks[level], self.config.tau_hsa,
                                    squared=self.config.anchor_distance == "sq_euclid")
        return self.squared_error(anchors, prototypes)

    def classification_losses(self, inputs: List[torch.Tensor], chosen: List[torch.Tensor],
                              tag_labels: torch.Tensor) -> List[torch.Tensor]:
        """Eq. 7's second term: ``CE(phi_cls^l(q_1 || .. || q_l), t_l)`` per level, PAD (0) ignored; levels whose
        batch has only PAD are left out. ``q_l`` are straight-through codewords: their gradient goes to the encoder
        (levels 2.. only with ``commit_level_grad="all"``), never to the codebooks."""
        levels = straight_through_levels(inputs, chosen)
        losses = []
        for level, classifier in enumerate(self.tag_classifiers):
            labels = tag_labels[:, level]
            if bool((labels > 0).any()):
                logits = classifier(torch.cat(levels[:level + 1], dim=-1))
                losses.append(F.cross_entropy(logits, labels, ignore_index=0))
        return losses

    def hsa_loss(self, inputs: List[torch.Tensor], chosen: List[torch.Tensor],
                 tag_labels: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """``L_hsa`` (Eq. 7): both terms summed over levels (paper) or averaged (``hsa_level_reduction="mean"``)."""
        if tag_labels is None:
            raise ValueError("tag_labels [N, L] are required while use_hsa is on")
        reduce = (lambda values: sum(values) / max(1, len(values))) if self.config.hsa_level_reduction == "mean" else sum
        classification = reduce(self.classification_losses(inputs, chosen, tag_labels))
        anchor = reduce([self.anchor_loss(level) for level in range(self.levels)])
        if not torch.is_tensor(classification):  # only PAD labels in this batch
            classification = anchor * 0.0
        return {"hsa_class": classification, "hsa_anchor": anchor}

    def losses(self, x: torch.Tensor, popularity: Optional[torch.Tensor] = None,
               tag_labels: Optional[torch.Tensor] = None) -> Tuple[Dict[str, torch.Tensor], torch.Tensor, List[torch.Tensor]]:
        """Eq. 9 for a batch: ``L_dhr + beta L_commit + lambda1 L_acd + w_cls L_cls + w_anchor L_anchor`` (+ the
        codebook term without EMA); returns the terms, the codes and each level's detached input (for EMA)."""
        config = self.config
        parts = self.encode_parts(x)
        terms, quantized = self.quantize_with_losses(parts.latent)
        terms.update(self.reconstruction_losses(self.decode(quantized.straight_through), parts))
        total = terms["reconstruction"] + terms.get("codebook", 0.0) + config.beta * terms["commitment"]
        if parts.gate is not None:
            terms.update(self.acd_loss(parts.gate, popularity))
            total = total + config.acd_weight * terms["acd"]
        if self.tag_classifiers is not None:
            terms.update(self.hsa_loss(quantized.inputs, quantized.chosen, tag_labels))
            total = (total + config.class_weight * self.hsa_class_scale * terms["hsa_class"]
                     + config.anchor_weight * terms["hsa_anchor"])
        terms["loss"] = total
        return terms, quantized.codes, [r.detach() for r in quantized.inputs]

    # ------------------------------------------------------------------ training
    def fit(self, embeddings, popularity=None, tag_labels=None, tag_embeddings=None, epochs: Optional[int] = None,
            device: Optional[str] = None, log_every: int = 1) -> Dict[str, Any]:
        """Train on the whole catalog; returns the JSON-able report with the per-epoch mean of every loss term.

        ``embeddings`` ``[N, content_dim + collab_dim]`` = ``e_cont || e_collab``; ``popularity`` ``[N]`` in [0, 1]
        (needed with ACD); ``tag_labels`` ``[N, L]`` (0 = PAD) and ``tag_embeddings`` (``L`` tables ``[n_l, d_tag]``)
        (needed with HSA). Inputs of a switched-off component are ignored.
        """
        return super().fit(embeddings, epochs=epochs, device=device, log_every=log_every, popularity=popularity,
                           tag_labels=tag_labels, tag_embeddings=tag_embeddings)

    def prepare_fit(self, embeddings: torch.Tensor, popularity=None, tag_labels=None,
                    tag_embeddings=None) -> Dict[str, torch.Tensor]:
        per_item: Dict[str, torch.Tensor] = {}
        if self.config.use_acd:
            per_item["popularity"] = _checked_popularity(popularity, len(embeddings))
        if self.config.use_hsa:
            tables = _checked_tag_tables(tag_embeddings, self.levels)
            per_item["tag_labels"] = _checked_tag_labels(tag_labels, len(embeddings), [len(t) for t in tables])
            self._install_tag_tables(tables)
        return per_item

    def _install_tag_tables(self, tables: List[torch.Tensor]) -> None:
        classes, dim = [len(t) for t in tables], int(tables[0].shape[1])
        if self.tag_classifiers is None:
            self.config.tag_classes, self.config.tag_dim = classes, dim
            self._build_hsa()
        elif classes != list(self.config.tag_classes) or dim != self.config.tag_dim:
            raise ValueError(f"tag_embeddings have {classes} classes of width {dim}, but this quantizer was built for "
                             f"{self.config.tag_classes} of width {self.config.tag_dim}")
        for level, table in enumerate(tables):
            getattr(self, f"tag_embeddings_{level}").copy_(table)

    def kmeans_init_latent(self, embeddings: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Latents of ``min(kmeans_init_samples, N)`` random items from the untrained encoder in train mode
        (dropout on, as in 2c5e414)."""
        count = min(self.config.kmeans_init_samples, len(embeddings))
        pick = torch.randperm(len(embeddings), generator=generator)[:count].to(embeddings.device)
        self.train()
        return self.latent(embeddings[pick])

    def init_codebooks(self, latent: torch.Tensor) -> None:
        """Residual k-means per level (:class:`RQVAE`, run on the CPU); EMA statistics restart at the centroids
        with count 1."""
        super().init_codebooks(latent.cpu())
        if self.config.ema:
            for level in range(self.levels):
                getattr(self, f"ema_count_{level}").fill_(1.0)

    def begin_epoch(self, epoch: int) -> None:
        if self.config.curriculum == "official":
            self.hsa_class_scale = class_weight_scale(epoch, self.config.curriculum_warmup_epochs,
                                                      self.config.curriculum_ramp_epochs)

    # ------------------------------------------------------------------ outputs beyond the codes
    def item_quantized_vectors(self, embeddings, codes: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``[N, L, d_cb]``: codebook ``l``'s vector of each item's level-``l`` code (``codes`` default: :meth:`encode`)."""
        self._check_fitted()
        codes = self.encode(embeddings) if codes is None else torch.as_tensor(codes, dtype=torch.long)
        if codes.ndim != 2 or codes.shape[1] != self.levels:
            raise ValueError(f"codes must be [N, {self.levels}], got {tuple(codes.shape)}")
        return torch.stack([codebook.detach()[codes[:, level]] for level, codebook in enumerate(self.codebooks)], dim=1)

    def predict_tags(self, embeddings, codes: Optional[torch.Tensor] = None) -> torch.LongTensor:
        """``[N, L]``: argmax of each level's tag classifier on the item's ``q_1 || .. || q_l`` (PAD included)."""
        self._require("use_hsa", self.tag_classifiers)
        vectors = self.item_quantized_vectors(embeddings, codes)
        with evaluating(self):
            return torch.stack([classifier(vectors[:, :level + 1].flatten(1)).argmax(-1)
                                for level, classifier in enumerate(self.tag_classifiers)], dim=1)

    def gate_values(self, embeddings, batch_size: int = 8192) -> torch.Tensor:
        """``[N, collab_dim]``: the ACD trust gate ``g`` (Eq. 2) of each item, in eval mode."""
        self._require("use_acd", self.gate)
        collab = self._as_input(embeddings)[:, self.config.content_dim:]
        with evaluating(self):
            return torch.cat([torch.sigmoid(self.gate(collab[i:i + batch_size])) for i in range(0, len(collab), batch_size)])

    def _require(self, switch: str, module) -> None:
        if module is None:
            state = "off" if not getattr(self.config, switch) else "on but the quantizer is not fitted with tags yet"
            raise RuntimeError(f"{switch} is {state}: this output needs that component")


def _checked_popularity(popularity, count: int) -> torch.Tensor:
    if popularity is None:
        raise ValueError("fit needs popularity [N] in [0, 1] while use_acd is on (or set use_acd=False)")
    popularity = torch.as_tensor(popularity, dtype=torch.float32)
    if popularity.shape != (count,):
        raise ValueError(f"popularity must have shape [{count}], got {tuple(popularity.shape)}")
    if not bool(((popularity >= 0) & (popularity <= 1)).all()):
        raise ValueError("popularity must lie in [0, 1] (min-max normalise the counts first)")
    return popularity


def _checked_tag_tables(tag_embeddings, levels: int) -> List[torch.Tensor]:
    if tag_embeddings is None:
        raise ValueError("fit needs tag_embeddings (one [n_l, d_tag] table per level) while use_hsa is on "
                         "(or set use_hsa=False)")
    tables = [torch.as_tensor(t, dtype=torch.float32) for t in tag_embeddings]
    if len(tables) != levels or any(t.ndim != 2 or len(t) < 1 for t in tables) or len({t.shape[1] for t in tables}) != 1:
        raise ValueError(f"tag_embeddings must be {levels} non-empty tables [n_l, d_tag] of one width d_tag, got shapes "
                         f"{[tuple(t.shape) for t in tables]}")
    return tables


def _checked_tag_labels(tag_labels, count: int, classes: List[int]) -> torch.Tensor:
    if tag_labels is None:
        raise ValueError("fit needs tag_labels [N, L] (0 = PAD) while use_hsa is on (or set use_hsa=False)")
    labels = torch.as_tensor(tag_labels)
    if labels.dtype.is_floating_point or labels.shape != (count, len(classes)):
        raise ValueError(f"tag_labels must be integer [{count}, {len(classes)}], got {labels.dtype} {tuple(labels.shape)}")
    labels = labels.long()
    limits = torch.tensor(classes)
    if bool((labels < 0).any()) or bool((labels > limits).any()):
        raise ValueError(f"tag_labels of level l must be in 0..n_l with n_l = {classes} (0 = PAD)")
    return labels


__all__ = ["PRESETS", "PRESET_COLLISIONS", "PrismQuantizer", "PrismQuantizerConfig", "ReconstructionDecoder",
           "acd_losses", "class_weight_scale", "soft_anchor"]
