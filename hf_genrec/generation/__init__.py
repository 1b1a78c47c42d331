"""Trie-constrained beam search shared by every model, and decoding temperature schedules."""

from .beam_search import BeamSearchResult, DecodingModel, constrained_beam_search, rescore_items
from .temperature import AdaptiveTemperature, make_schedule

__all__ = ["AdaptiveTemperature", "BeamSearchResult", "DecodingModel", "constrained_beam_search", "make_schedule",
           "rescore_items"]
