"""Semantic-ID tokenizer and catalog trie."""

from .tokenization_sid import SIDTokenizer
from .trie import CatalogTrie

__all__ = ["CatalogTrie", "SIDTokenizer"]
