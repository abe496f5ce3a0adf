"""Incremental stream transcoding: SSE parsing, per-dialect decoders and encoders, and the pump.

Decoders and encoders are synchronous state machines fed one event at a time (``feed``/``finish``);
only ``pump`` awaits. Nothing here imports ``proxy``.
"""
