"""Identifiers that must stay short and stable when they cross to OpenAI-style providers.

Claude Code's ``metadata.user_id`` is a ~160-character JSON blob; OpenAI-style hosts take at most
64 characters for ``user`` / ``safety_identifier`` / ``prompt_cache_key``. A longer value is
replaced by a stable hash of it, so the same session always maps to the same identifier (which is
what prompt caching and key affinity rely on).
"""

from __future__ import annotations

import hashlib

__all__ = ["MAX_IDENTIFIER", "short_id"]

MAX_IDENTIFIER = 64


def short_id(value: str, prefix: str = "user-") -> str:
    """``value`` itself when short enough, else ``prefix`` and 32 hex digits of its SHA-256."""
    if len(value) <= MAX_IDENTIFIER:
        return value
    return prefix + hashlib.sha256(value.encode()).hexdigest()[:32]
