"""Method implementations; each folder holds ``configuration_<method>.py`` and ``modeling_<method>.py``."""

from .tiger import TigerConfig, TigerForGenerativeRecommendation

__all__ = ["TigerConfig", "TigerForGenerativeRecommendation"]
