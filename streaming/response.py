"""The SSE response every streaming endpoint writes to: aiohttp-sse's EventSourceResponse, with a
keepalive that speaks the client's dialect and fires only while the stream is idle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiohttp_sse import EventSourceResponse

__all__ = ["SSEStream"]


class SSEStream(EventSourceResponse):
    """An EventSourceResponse for POST endpoints whose pre-framed bytes go out with ``write()``.

    aiohttp-sse's keepalive is a ``: ping`` comment every interval. Anthropic clients expect an
    ``event: ping`` frame instead, and neither dialect needs one while data is flowing, so the
    ping loop here writes the dialect's ``keepalive`` frame only when nothing was written for
    about ``interval`` seconds. It looks at the writer's byte count twice per interval rather than
    timestamping every write, so the streaming path itself pays nothing for it.

    The same loop is what cuts a client that stopped reading: its keepalive write waits on a full
    socket buffer for at most ``send_timeout`` seconds, then the connection is aborted, which fails
    the pump's own blocked write and so ends the upstream request too (aiohttp-sse also sets
    TCP_USER_TIMEOUT, so unacknowledged data is given up on by the kernel after the same time).
    """

    def __init__(self, keepalive: bytes, interval: float, headers: Mapping[str, str] | None = None,
                 send_timeout: float | None = EventSourceResponse.DEFAULT_SEND_TIMEOUT) -> None:
        super().__init__(headers=headers, allow_all_methods=True, ping_interval=interval, sep="\n",
                         send_timeout=send_timeout)
        self._keepalive = keepalive

    async def _ping(self) -> None:
        seen = -1
        while True:
            await asyncio.sleep(self._ping_interval / 2)
            writer = self._payload_writer
            if writer is None:
                break
            if writer.output_size != seen:
                seen = writer.output_size  # data went out in the last half interval
                continue
            try:
                async with asyncio.timeout(self._send_timeout):
                    await self.write(self._keepalive)
            except TimeoutError:
                self._abort_transport()  # a peer that never drains: give up on it
                break
            except (ConnectionResetError, RuntimeError):
                break  # the client went away, or the response already ended
            seen = writer.output_size
