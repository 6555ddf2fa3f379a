"""The HTML email made ready to send: its stylesheet inlined into `style` attributes.

Many mail clients drop `<style>` blocks, so every rule of the template's first stylesheet is
copied onto the elements it matches (and the block removed).  The template's second
stylesheet, marked `data-css-inline="keep"`, holds what cannot be inlined -- the
`prefers-color-scheme: dark` and small-screen `@media` rules -- and stays in the head for
the clients that honour it.  Nothing is fetched: remote stylesheets are never loaded.
"""

from __future__ import annotations

import css_inline

_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False)


def finish(html: str) -> str:
    """The rendered newsletter with its CSS inlined (deterministic: same input, same output)."""
    return _INLINER.inline(html)
