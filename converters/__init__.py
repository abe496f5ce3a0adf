"""Pure request/response converters between the Anthropic Messages, OpenAI Chat and
OpenAI Responses dialects.

Everything here is dict in, dict out: no I/O, no logging, no imports from ``proxy``.
"""
