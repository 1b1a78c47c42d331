"""Blocks that two or more models share: Hugging Face backbones built from config dicts, the item-level sequence
backbone (T5 encoder, HSTU, causal LM) and HSTU. A block used by one model lives in that model's folder."""
