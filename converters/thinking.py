"""Thinking signatures and encrypted reasoning, as they cross between dialects.

Each provider family seals its reasoning for the next turn in its own opaque token: Anthropic a
thinking block's ``signature``, the Responses API a reasoning item's ``encrypted_content``. A
client of one dialect served by a provider of another carries the other's token back unread, so
dragoman wraps it in the client's field with a prefix that says where it came from:

- ``SYNTHETIC_SIGNATURE`` (``dragoman:v1``): a thinking block dragoman built from OpenAI Chat
  reasoning (``reasoning_content``). Claude Code discards thinking blocks that carry no signature
  (nielspeter/claude-code-proxy PR #17), so such blocks need one; no provider can verify it.
- ``dragoman:rs:<encrypted_content>`` as an Anthropic signature: reasoning from a Responses
  provider, handed to an Anthropic-dialect client.
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


def signature_from_responses(encrypted_content: str) -> str:
    """A Responses provider's encrypted reasoning, as the signature of an Anthropic thinking block."""
    return _FROM_RESPONSES + encrypted_content


def responses_in_signature(signature: object) -> str | None:
    """The Responses encrypted content a signature carries; None when it carries none."""
    if isinstance(signature, str) and signature.startswith(_FROM_RESPONSES) and len(signature) > len(_FROM_RESPONSES):
        return signature[len(_FROM_RESPONSES):]
    return None


def encrypted_from_anthropic(signature: str) -> str:
    """An Anthropic thinking signature, as a Responses reasoning item's encrypted_content."""
    return _FROM_ANTHROPIC + signature


def anthropic_in_encrypted(encrypted_content: object) -> str | None:
    """The Anthropic signature an encrypted_content carries; None when it is not one dragoman wrapped."""
    if (isinstance(encrypted_content, str) and encrypted_content.startswith(_FROM_ANTHROPIC)
            and len(encrypted_content) > len(_FROM_ANTHROPIC)):
        return encrypted_content[len(_FROM_ANTHROPIC):]
    return None
