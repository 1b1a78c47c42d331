"""Blocks shared by several methods: backbones, beam-sharing decoders, and (later) HSTU, RAN, Engram, MoE."""
