from .configuration_sasrec import SASRecConfig
from .modeling_sasrec import SASRecForSequentialRecommendation

__all__ = ["SASRecConfig", "SASRecForSequentialRecommendation"]
