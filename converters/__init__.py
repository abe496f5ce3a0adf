"""Pure request/response converters between the Anthropic Messages and OpenAI Chat dialects.

Everything here is dict in, dict out: no I/O, no logging, no imports from ``proxy``.
"""
