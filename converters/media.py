"""Images, documents and other non-text blocks between Anthropic and the forms the OpenAI dialects use.

OpenAI Chat (``image_url``, ``file`` parts) and the Responses API (``input_image``,
``input_file``) both name an image by an http(s) URL or a base64 data URL, and a PDF by a data
URL; Anthropic uses ``image`` / ``document`` blocks with a base64 or URL ``source``. These
functions are the one mapping each way; the dialect converters only put the result in their own
part shape. Errors are ConversionErrors naming the field (a 400 for the client).

Two Anthropic blocks have no OpenAI form and are said as text instead (``said_as_text``):
``search_result`` blocks (title, source, then their text), and, in a tool result, the
``tool_reference`` blocks tool search answers with (Claude Code's ToolSearch loads a deferred tool
that way; other providers get every tool up front, since ``defer_loading`` is not forwarded, so the
reference only needs saying).
"""

from __future__ import annotations

from typing import Any

from converters.errors import ConversionError

__all__ = [
    "IMAGE_TYPES", "image_block", "document_block", "image_url", "document_source", "document_text", "said_as_text",
]

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})  # what Anthropic reads


def image_block(url: Any, param: str) -> dict[str, Any]:
    """An image named by URL or base64 data URL -> an Anthropic image block."""
    if not isinstance(url, str) or not url:
        raise ConversionError("an image needs a url", param)
    if url.startswith("data:"):
        media_type, data = _data_url(url, param)
        if media_type not in IMAGE_TYPES:
            raise ConversionError(f"image type {media_type!r} is not supported; send JPEG, PNG, GIF or WebP", param)
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}  # Anthropic fetches it
    raise ConversionError("an image must be an http(s) URL or a base64 data URL", param)


def document_block(data_url: Any, filename: Any, param: str) -> dict[str, Any]:
    """A PDF as a base64 data URL (or an http(s) URL) -> an Anthropic document block."""
    if isinstance(data_url, str) and data_url.startswith(("https://", "http://")):
        block: dict[str, Any] = {"type": "document", "source": {"type": "url", "url": data_url}}
    elif isinstance(data_url, str) and data_url.startswith("data:"):
        media_type, data = _data_url(data_url, param)
        if media_type != "application/pdf":
            raise ConversionError(f"file type {media_type!r} is not supported; Anthropic models read PDFs", param)
        block = {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}}
    else:
        raise ConversionError("a file must be a PDF sent as a data URL (data:application/pdf;base64,...) "
                              "or an http(s) URL; file ids are not supported", param)
    if isinstance(filename, str) and filename:
        block["title"] = filename
    return block


def image_url(block: dict[str, Any], param: str) -> str:
    """An Anthropic image block -> its http(s) URL or a base64 data URL."""
    source = block.get("source")
    if not isinstance(source, dict):
        raise ConversionError("image block has no source object", param)
    kind = source.get("type")
    if kind == "base64":
        media_type, data = source.get("media_type"), source.get("data")
        if isinstance(media_type, str) and isinstance(data, str):
            return f"data:{media_type};base64,{data}"
    elif kind == "url":
        if isinstance(url := source.get("url"), str):
            return url
    else:
        raise ConversionError(f"image source type {kind!r} is not supported by OpenAI-compatible upstreams; "
                              "send the image as base64 or as a URL", param)
    raise ConversionError(f"image source of type {kind!r} is missing its data", param)


def document_source(block: dict[str, Any], param: str) -> tuple[str, str] | None:
    """An Anthropic document block holding a file -> (data URL or http(s) URL, filename);
    None for text documents (``document_text`` reads those)."""
    source = block.get("source")
    if not isinstance(source, dict):
        raise ConversionError("document block has no source object", param)
    kind = source.get("type")
    if kind in ("text", "content"):
        return None
    title = block.get("title")
    filename = title if isinstance(title, str) and title else "document.pdf"
    if kind == "base64":
        media_type, data = source.get("media_type"), source.get("data")
        if isinstance(media_type, str) and isinstance(data, str) and data:
            return f"data:{media_type};base64,{data}", filename
    elif kind == "url":
        if isinstance(url := source.get("url"), str) and url:
            return url, filename
    else:
        raise ConversionError(f"document source type {kind!r} cannot be sent to this provider", param)
    raise ConversionError(f"document source of type {kind!r} is missing its data", param)


def document_text(block: dict[str, Any]) -> str | None:
    """A plain-text document's text (``source`` of type text or content); None for files."""
    source = block.get("source")
    if not isinstance(source, dict):
        return None
    if source.get("type") == "text":
        data = source.get("data")
        return data if isinstance(data, str) else None
    if source.get("type") == "content":
        content = source.get("content")
        if isinstance(content, str):
            return content
        texts = [b["text"] for b in content or () if isinstance(b, dict) and b.get("type") == "text"
                 and isinstance(b.get("text"), str) and b["text"].strip()] if isinstance(content, list) else []
        return "\n\n".join(texts) or None
    return None


def said_as_text(block: dict[str, Any], in_tool_result: bool) -> str | None:
    """The text a ``search_result`` (or, in a tool result, a ``tool_reference``) block is sent as;
    None for any other block."""
    kind = block.get("type")
    if kind == "search_result":
        title, source = block.get("title"), block.get("source")
        head = [f"Search result: {title}" if isinstance(title, str) and title.strip() else "Search result",
                *([f"Source: {source}"] if isinstance(source, str) and source.strip() else ())]
        content = block.get("content")
        content = [{"type": "text", "text": content}] if isinstance(content, str) else content
        texts = [b["text"] for b in content if isinstance(b, dict) and b.get("type") == "text"
                 and isinstance(b.get("text"), str) and b["text"].strip()] if isinstance(content, list) else []
        return "\n".join(head) + ("\n\n" + "\n\n".join(texts) if texts else "")
    if kind == "tool_reference" and in_tool_result:
        name = block.get("tool_name")
        return f"[tool {name} loaded]" if isinstance(name, str) and name else ""
    return None


def _data_url(url: str, param: str) -> tuple[str, str]:
    header, comma, data = url[5:].partition(",")
    media_type, *flags = header.split(";")
    if not comma or "base64" not in flags or not data:
        raise ConversionError("data URLs must be base64: data:<media type>;base64,<data>", param)
    return media_type.strip().lower(), data
