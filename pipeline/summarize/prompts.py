"""Prompt files (`prompts/*.j2`): rendered with StrictUndefined, versioned by content hash.

A prompt file sets two variables, `system` and `user`, with `{% set %}` blocks.
Editing a prompt changes its hash, so summaries made with the old text are stale.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from pipeline.llm.base import Message
from pipeline.resources import resource_dir


@dataclass(frozen=True)
class Prompt:
    name: str
    hash: str
    messages: list[Message]


@cache
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(resource_dir("prompts")),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
    )


def prompt_hash(name: str) -> str:
    source = (resource_dir("prompts") / f"{name}.j2").read_bytes()
    return hashlib.sha256(source).hexdigest()[:16]


def render_prompt(name: str, **variables: Any) -> Prompt:
    module = _env().get_template(f"{name}.j2").make_module(variables)
    system = str(getattr(module, "system", "")).strip()
    user = str(getattr(module, "user")).strip()  # noqa: B009  (a template variable)
    messages: list[Message] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": user})
    return Prompt(name=name, hash=prompt_hash(name), messages=messages)
