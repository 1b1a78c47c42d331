from .configuration_prism import PRESETS, PrismConfig, prism_preset
from .modeling_prism import PrismForGenerativeRecommendation

__all__ = ["PRESETS", "PrismConfig", "PrismForGenerativeRecommendation", "prism_preset"]
