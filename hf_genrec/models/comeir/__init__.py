from .configuration_comeir import ComeIRConfig
from .modeling_comeir import ComeIRForGenerativeRecommendation

__all__ = ["ComeIRConfig", "ComeIRForGenerativeRecommendation"]
