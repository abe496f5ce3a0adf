"""The dialects, as the one flow (proxy/flow.py) sees them: a client side and a provider side each.

Requests meet in the middle: a client's request is turned into the hub, an Anthropic Messages
request (``ClientSide.to_hub``), and the hub into the provider's dialect (``ProviderSide.request``);
a client on a provider of its own dialect skips both and is passed through. Answers do the same
in reverse: a provider's whole answer becomes an Anthropic message (``ProviderSide.message``),
rendered for the client by the ``Reply`` its side made at planning time; a stream goes through
the provider's decoder into the internal events and out through the client's encoder. So each
dialect is written once per side (one module each here), and every rule two dialects share lives
in converters/.
"""

from __future__ import annotations

from typing import Any, Protocol

from multidict import CIMultiDictProxy

from streaming.pump import Decoder, Encoder

from ..conditions import Facts
from ..fallback import Outbound
from ..routing import Dialect, Target
from ..upstream import Upstream

__all__ = ["Reply", "ClientSide", "ProviderSide"]


class Reply:
    """What answering one client request needs, fixed when the request was planned."""

    __slots__ = ()

    def encoder(self) -> Encoder:
        raise NotImplementedError

    def render(self, message: dict[str, Any]) -> dict[str, Any]:
        """The hub (Anthropic) message as the client's whole answer."""
        raise NotImplementedError

    def finish(self, encoder: Encoder) -> None:
        """The stream ``encoder`` encoded has ended (the Responses dialect remembers it)."""


class ClientSide(Protocol):
    dialect: Dialect

    def parse(self, raw: bytes) -> dict[str, Any]: ...
    def facts(self, body: dict[str, Any]) -> Facts: ...
    def passthrough(self, raw: bytes, body: dict[str, Any], target: Target,
                    headers: CIMultiDictProxy[str]) -> tuple[bytes, dict[str, str]]:
        """The request for a provider of the client's own dialect: (body, extra headers)."""
    def to_hub(self, raw: bytes, body: dict[str, Any], target: Target) -> tuple[dict[str, Any], Reply]:
        """(the request as an Anthropic Messages request, what answering will need)."""
    def conversation(self, body: dict[str, Any], headers: CIMultiDictProxy[str]) -> str | None:
        """What identifies the request's conversation (a session), for provider prompt caches and
        key affinity; None when the client sends nothing that does."""


class ProviderSide(Protocol):
    def url(self, upstream: Upstream, target: Target) -> Any: ...
    def request(self, hub: dict[str, Any], target: Target, upstream: Upstream,
                conversation: str | None) -> tuple[Outbound, dict[str, str]]:
        """(the upstream request, shortened tool name -> the hub's name)."""
    def decoder(self, tool_names: dict[str, str]) -> Decoder: ...
    def message(self, payload: Any, target: Target, tool_names: dict[str, str]) -> dict[str, Any]:
        """The provider's whole answer as an Anthropic message; ValueError when it is not one."""
