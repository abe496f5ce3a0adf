"""``dragoman init [--provider P] [--out FILE] [--force]``: a commented starter config.

The templates are data, one YAML file per provider in proxy/commands/templates/ (shipped as
package data): keys from the environment, dragoman's own key from ``DRAGOMAN_API_KEY``, and routes
for Claude Code's haiku / sonnet / opus names, for Chat Completions apps and for Responses clients
(Codex). tests/test_init.py runs check-config on every one of them.
"""

from __future__ import annotations

import re
import secrets
import sys
from importlib import resources
from pathlib import Path

__all__ = ["PROVIDERS", "template", "required_variables", "run"]

PROVIDERS = {"openai": "OpenAI", "azure": "Azure OpenAI", "openrouter": "OpenRouter", "deepseek": "DeepSeek",
             "gemini": "Gemini", "vertex": "Gemini on Vertex AI", "groq": "Groq", "ollama": "Ollama",
             "vllm": "vLLM", "anthropic": "Anthropic"}
_REQUIRED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")   # ${VAR} without a default
_COMMENT = re.compile(r"(^|\s)#.*$")   # a YAML comment (the templates quote no "#")
_OWN_KEY = "DRAGOMAN_API_KEY"


def template(provider: str) -> str:
    return resources.files(__package__).joinpath("templates", f"{provider}.yaml").read_text(encoding="utf-8")


def required_variables(text: str) -> list[str]:
    """The variables a config needs set (``${VAR}`` without a default), in order, once each,
    dragoman's own key left out (it is optional on loopback)."""
    code = "\n".join(_COMMENT.sub("", line) for line in text.splitlines())
    names = dict.fromkeys(_REQUIRED.findall(code))
    names.pop(_OWN_KEY, None)
    return list(names)


def run(provider: str, out: str, force: bool) -> int:
    text = template(provider).replace("--config FILE", f"--config {out}")
    path = Path(out)
    try:
        # "x": never replace a file that appeared between a check and the write
        with path.open("w" if force else "x", encoding="utf-8") as stream:
            stream.write(text)
    except FileExistsError:
        print(f"dragoman: {out} already exists; not overwriting it (--force replaces it, or choose another "
              "file with --out)", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"dragoman: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    exports = " ".join(f"{name}=..." for name in required_variables(text))
    own_key = f"{_OWN_KEY}=dm-{secrets.token_urlsafe(18)}"
    print(f"wrote {out}: dragoman on {PROVIDERS[provider]}")
    print("\nnext, set the keys and start dragoman (the dragoman key is a fresh random one; keep it):")
    print(f"  export {exports + ' ' if exports else ''}{own_key}")
    print(f"  dragoman serve --config {out}")
    print("then, in another terminal with the same DRAGOMAN_API_KEY, run Claude Code through it:")
    config_option = "" if out == "config.yaml" else f" --config {out}"
    print(f"  dragoman claude{config_option}      (or once for good: dragoman setup claude-code{config_option})")
    return 0
