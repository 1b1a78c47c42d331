from .configuration_decor import DecorConfig, decor_ablation
from .modeling_decor import DecorForGenerativeRecommendation

__all__ = ["DecorConfig", "DecorForGenerativeRecommendation", "decor_ablation"]
