"""The synthetic signature dragoman puts on thinking blocks it builds from OpenAI-dialect reasoning.

Claude Code discards thinking blocks that carry no signature (nielspeter/claude-code-proxy PR #17),
so blocks made from ``reasoning_content`` / ``reasoning`` need one. A made-up signature must never
reach a real Anthropic upstream, which would reject it (CLIProxyAPI #1584): the fixed prefix lets
the request path recognise and strip these blocks.
"""

from __future__ import annotations

__all__ = ["SYNTHETIC_SIGNATURE", "SYNTHETIC_SIGNATURE_PREFIX", "is_synthetic_signature"]

SYNTHETIC_SIGNATURE_PREFIX = "dragoman:"
SYNTHETIC_SIGNATURE = SYNTHETIC_SIGNATURE_PREFIX + "v1"


def is_synthetic_signature(signature: object) -> bool:
    """True for a signature dragoman made up (as opposed to one Anthropic issued)."""
    return isinstance(signature, str) and signature.startswith(SYNTHETIC_SIGNATURE_PREFIX)
