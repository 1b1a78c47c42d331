from .configuration_intrr import IntRRConfig
from .modeling_intrr import IntRRForGenerativeRecommendation

__all__ = ["IntRRConfig", "IntRRForGenerativeRecommendation"]
