from .configuration_tiger import TigerConfig
from .modeling_tiger import TigerForGenerativeRecommendation

__all__ = ["TigerConfig", "TigerForGenerativeRecommendation"]
