"""Thinking signatures and encrypted reasoning, as they cross between dialects.

Each provider family seals its reasoning for the next turn in its own opaque token: Anthropic a
thinking block's ``signature``, the Responses API a reasoning item's ``encrypted_content``. A
client of one dialect served by a provider of another carries the other's token back unread, so
dragoman wraps it in the client's field with a prefix that says where it came from:

- ``SYNTHETIC_SIGNATURE`` (``dragoman:v1``): a thinking block dragoman built from OpenAI Chat
  reasoning (``reasoning_content``). Claude Code discards thinking blocks that carry no signature
  (nielspeter/claude-code-proxy PR #17), so such blocks need one; no provider can verify it.
- ``dragoman:rs:<item id>:<following item id>:<encrypted_content>`` as an Anthropic signature:
  reasoning from a Responses provider, handed to an Anthropic-dialect client. The ids go back
  with it: the Responses API wants a reasoning item returned whole and followed by the item that
  followed it, which it finds by that item's id (else "provided without its required following
  item").
- ``dragoman:an:<signature>`` as a Responses ``encrypted_content``: Anthropic thinking, handed to
  a Responses-dialect client.

Everything with the ``dragoman:`` prefix is dragoman's own: never sent to a provider that did not
issue what is inside (a made-up signature makes Anthropic answer 400, CLIProxyAPI #1584; foreign
encrypted content fails to decrypt, openai/codex #8119).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "SYNTHETIC_SIGNATURE", "SYNTHETIC_SIGNATURE_PREFIX", "is_synthetic_signature",
    "responses_in_signature", "signature_from_responses", "anthropic_in_encrypted", "encrypted_from_anthropic",
    "CarriedReasoning",
]

SYNTHETIC_SIGNATURE_PREFIX = "dragoman:"
SYNTHETIC_SIGNATURE = SYNTHETIC_SIGNATURE_PREFIX + "v1"
_FROM_RESPONSES = SYNTHETIC_SIGNATURE_PREFIX + "rs:"
_FROM_ANTHROPIC = SYNTHETIC_SIGNATURE_PREFIX + "an:"


def is_synthetic_signature(signature: object) -> bool:
    """True for a signature dragoman wrote (as opposed to one Anthropic issued)."""
    return isinstance(signature, str) and signature.startswith(SYNTHETIC_SIGNATURE_PREFIX)


class CarriedReasoning(NamedTuple):
    """A Responses reasoning item, as a signature carries it."""

    item_id: str
    following: str      # the id of the output item that came after it ("" when none did)
    encrypted: str


def signature_from_responses(item_id: str, encrypted_content: str, following: str = "") -> str:
    """A Responses provider's encrypted reasoning item, as the signature of an Anthropic thinking block."""
    return f"{_FROM_RESPONSES}{item_id.replace(':', '_')}:{following.replace(':', '_')}:{encrypted_content}"


def responses_in_signature(signature: object) -> CarriedReasoning | None:
    """The reasoning item a signature carries; None when it carries none."""
    if not isinstance(signature, str) or not signature.startswith(_FROM_RESPONSES):
        return None
    parts = signature[len(_FROM_RESPONSES):].split(":", 2)
    return CarriedReasoning(*parts) if len(parts) == 3 and parts[2] else None


def encrypted_from_anthropic(signature: str) -> str:
    """An Anthropic thinking signature, as a Responses reasoning item's encrypted_content."""
    return _FROM_ANTHROPIC + signature


def anthropic_in_encrypted(encrypted_content: object) -> str | None:
    """The Anthropic signature an encrypted_content carries; None when it is not one dragoman wrapped."""
    if (isinstance(encrypted_content, str) and encrypted_content.startswith(_FROM_ANTHROPIC)
            and len(encrypted_content) > len(_FROM_ANTHROPIC)):
        return encrypted_content[len(_FROM_ANTHROPIC):]
    return None
