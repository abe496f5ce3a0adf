"""The one error converters raise: input a dialect cannot carry, answered with a 400 naming the field."""

from __future__ import annotations

__all__ = ["ConversionError"]


class ConversionError(Exception):
    """Input the target dialect cannot represent; the proxy answers 400 invalid_request_error."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param  # dotted path into the request body, e.g. "messages.3.content.0.source"
