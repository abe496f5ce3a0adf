"""Thinking signatures and encrypted reasoning, as they cross between dialects.

Each provider family seals its reasoning for the next turn in its own opaque token: Anthropic a
thinking block's ``signature``, the Responses API a reasoning item's ``encrypted_content``. A
client of one dialect served by a provider of another carries the other's token back unread, so
dragoman wraps it in the client's field with a prefix that says where it came from:

- ``SYNTHETIC_SIGNATURE`` (``dragoman:v1``): a thinking block dragoman built from OpenAI Chat
  reasoning (``reasoning_content``). Claude Code discards thinking blocks that carry no signature
  (nielspeter/claude-code-proxy PR #17), so such blocks need one; no provider can verify it.
- ``dragoman:rs:<item id>:<encrypted_content>`` as an Anthropic signature: reasoning from a
  Responses provider, handed to an Anthropic-dialect client (the item id goes back with it: the
  Responses API wants reasoning items returned whole).
- ``dragoman:an:<signature>`` as a Responses ``encrypted_content``: Anthropic thinking, handed to
  a Responses-dialect client.

Everything with the ``dragoman:`` prefix is dragoman's own: never sent to a provider that did not
issue what is inside (a made-up signature makes Anthropic answer 400, CLIProxyAPI #1584; foreign
encrypted content fails to decrypt, openai/codex #8119).
"""

from __future__ import annotations

__all__ = [
    "SYNTHETIC_SIGNATURE", "SYNTHETIC_SIGNATURE_PREFIX", "is_synthetic_signature",
    "responses_in_signature", "signature_from_responses", "anthropic_in_encrypted", "encrypted_from_anthropic",
]

SYNTHETIC_SIGNATURE_PREFIX = "dragoman:"
SYNTHETIC_SIGNATURE = SYNTHETIC_SIGNATURE_PREFIX + "v1"
_FROM_RESPONSES = SYNTHETIC_SIGNATURE_PREFIX + "rs:"
_FROM_ANTHROPIC = SYNTHETIC_SIGNATURE_PREFIX + "an:"


def is_synthetic_signature(signature: object) -> bool:
    """True for a signature dragoman wrote (as opposed to one Anthropic issued)."""
    return isinstance(signature, str) and signature.startswith(SYNTHETIC_SIGNATURE_PREFIX)


def signature_from_responses(item_id: str, encrypted_content: str) -> str:
    """A Responses provider's encrypted reasoning item, as the signature of an Anthropic thinking block."""
    return f"{_FROM_RESPONSES}{item_id.replace(':', '_')}:{encrypted_content}"


def responses_in_signature(signature: object) -> tuple[str, str] | None:
    """(reasoning item id, encrypted content) a signature carries; None when it carries none."""
    if not isinstance(signature, str) or not signature.startswith(_FROM_RESPONSES):
        return None
    item_id, colon, encrypted = signature[len(_FROM_RESPONSES):].partition(":")
    return (item_id, encrypted) if colon and encrypted else None


def encrypted_from_anthropic(signature: str) -> str:
    """An Anthropic thinking signature, as a Responses reasoning item's encrypted_content."""
    return _FROM_ANTHROPIC + signature


def anthropic_in_encrypted(encrypted_content: object) -> str | None:
    """The Anthropic signature an encrypted_content carries; None when it is not one dragoman wrapped."""
    if (isinstance(encrypted_content, str) and encrypted_content.startswith(_FROM_ANTHROPIC)
            and len(encrypted_content) > len(_FROM_ANTHROPIC)):
        return encrypted_content[len(_FROM_ANTHROPIC):]
    return None
