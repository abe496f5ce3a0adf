"""POST /v1/messages and /v1/messages/count_tokens: the Anthropic Messages API on an
OpenAI-compatible provider.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import aiohttp
import orjson
import structlog
from aiohttp import web

from converters.chat_response import to_messages_response
from converters.messages_request import ChatTarget, ConversionError, to_chat_request
from converters.token_count import count_tokens, estimate_input_tokens
from converters.tool_names import restore_map
from streaming.chat_decoder import ChatChunkDecoder
from streaming.messages_encoder import ANTHROPIC_PING, MessagesEncoder
from streaming.pump import relay
from streaming.replay import message_events
from streaming.response import SSEStream

from ..config import Config
from ..errors import ProxyError, redact, upstream_error
from ..middlewares import ACCESS, AccessRecord
from ..routing import Target, resolve
from ..upstream import UPSTREAMS, Upstream
from ..validation import parse_count_tokens_request, parse_messages_request

__all__ = ["routes", "CONFIG"]

log = structlog.get_logger("dragoman")
routes = web.RouteTableDef()
CONFIG = web.AppKey("config", Config)
_ERROR_BODY_LIMIT = 64 * 1024


@routes.post("/v1/messages")
async def create_message(request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    body = parse_messages_request(raw)
    config = request.app[CONFIG]
    target = resolve(config, body["model"])
    record: AccessRecord = request[ACCESS]
    stream = bool(body.get("stream"))
    record.client_model, record.provider, record.upstream_model, record.stream = (
        body["model"], target.provider.name, target.upstream_model, stream)
    route = target.route
    chat_target = ChatTarget(model=target.upstream_model, max_tokens=route.max_tokens,
                             default_max_tokens=route.default_max_tokens,
                             reasoning_effort=target.provider.reasoning_effort)
    try:
        chat_body = to_chat_request(body, chat_target)
    except ConversionError as exc:
        raise ProxyError(400, str(exc), param=exc.param) from None
    upstream = request.app[UPSTREAMS][target.provider.name]
    tool_names = restore_map(body.get("tools"))
    response = await upstream.post(upstream.chat_url, orjson.dumps(chat_body))
    try:
        if response.status >= 400:
            raise upstream_error(target.provider.name, response.status,
                                 await response.content.read(_ERROR_BODY_LIMIT),
                                 response.headers.get("retry-after"), secret=target.provider.api_key)
        if stream:
            return await _stream(request, response, target, tool_names, estimate_input_tokens(len(raw)))
        return await _respond(request, response, target, tool_names)
    except BaseException:
        response.close()  # never return a half-read connection to the pool
        raise
    finally:
        response.release()


async def _respond(request: web.Request, upstream: Any, target: Target,
                   tool_names: dict[str, str]) -> web.Response:
    message = await _read_message(upstream, target, tool_names)
    record: AccessRecord = request[ACCESS]
    usage = message["usage"]
    record.input_tokens, record.output_tokens = usage.get("input_tokens"), usage.get("output_tokens")
    record.first_byte()
    return web.Response(body=orjson.dumps(message), content_type="application/json")


async def _read_message(upstream: Any, target: Target, tool_names: dict[str, str]) -> dict[str, Any]:
    # The body can fail after the headers came: a read timeout or a cut must be a 504/502 the
    # client can act on, not an unhandled exception answered as a 500 "internal error".
    try:
        raw = await upstream.read()
    except asyncio.TimeoutError:
        raise ProxyError(504, f"Upstream provider '{target.provider.name}' stopped sending data "
                              "(read timeout).") from None
    except aiohttp.ClientError as exc:
        raise ProxyError(502, f"The connection to upstream provider '{target.provider.name}' was lost "
                              f"while reading its response: {type(exc).__name__}.") from None
    try:
        payload = orjson.loads(raw)
        return to_messages_response(payload, model=target.response_model, tool_names=tool_names)
    except (orjson.JSONDecodeError, ValueError, TypeError, AttributeError, KeyError):
        raise ProxyError(502, f"Upstream provider '{target.provider.name}' sent a response dragoman "
                              "could not read as a chat completion.") from None


async def _stream(request: web.Request, upstream: Any, target: Target,
                  tool_names: dict[str, str], input_estimate: int) -> web.StreamResponse:
    record: AccessRecord = request[ACCESS]
    config = request.app[CONFIG]
    encoder = MessagesEncoder("msg_" + secrets.token_hex(12), target.response_model, input_estimate)
    client = SSEStream(ANTHROPIC_PING, config.server.ping_interval)
    await client.prepare(request)
    async with client:
        await client.write(encoder.start())
        record.first_byte()
        try:
            if "text/event-stream" in upstream.headers.get("Content-Type", ""):
                outcome = await relay(upstream, client, ChatChunkDecoder(tool_names), encoder,
                                      scrub=lambda text: redact(text, target.provider.api_key))
                usage, record.error = outcome.usage, outcome.error
            else:
                # an upstream that answered a stream request with one JSON body (some servers
                # ignore "stream" in some modes): replay the converted message as events
                message = await _read_message(upstream, target, tool_names)
                usage = message["usage"]
                await client.write(b"".join(encoder.feed(e) for e in message_events(message)))
        except ProxyError as exc:
            usage, record.error = None, exc.error_type
            await client.write(encoder.failure(exc.error_type, exc.message))
        except (ConnectionResetError, RuntimeError):
            raise
        except Exception:  # a bug must still end the client's stream visibly
            log.exception("stream failed", path=request.path)
            usage, record.error = None, "api_error"
            await client.write(encoder.failure("api_error", "Internal error in dragoman while streaming."))
        if usage:
            record.input_tokens, record.output_tokens = usage.get("input_tokens"), usage.get("output_tokens")
    await client.write_eof()
    return client


@routes.post("/v1/messages/count_tokens")
async def count_message_tokens(request: web.Request) -> web.Response:
    """Answered locally: Claude Code calls this dozens of times at start-up; never forwarded."""
    body = parse_count_tokens_request(await request.read())
    request[ACCESS].client_model = body["model"]
    return web.json_response({"input_tokens": count_tokens(body)})
