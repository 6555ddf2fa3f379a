"""LaTeX in titles and abstracts shown readably: `$\\mathcal{O}(n^2)$` becomes `𝒪(n²)`.

Only balanced `$…$` / `$$…$$` segments and a few text-mode commands are converted;
everything else is left as written (an unmatched `$` stays a dollar sign).  The
result is plain text: callers still escape it for the format they write.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from pylatexenc.latex2text import LatexNodes2Text

# Pandoc's rule for inline math: `$` then a non-space, a non-space then `$` not followed by a
# digit -- so "costs $5 and $10" stays prose.
# digit -- so "costs $5 and $10" stays prose -- except that `$\\sim$3x` (a command inside)
# is math.
_MATH = re.compile(
    r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|(?<![\\$])\$(?=\S)((?:[^$\\]|\\.)+?)(?<=\S)(?<!\\)\$(?!\$)",
    re.DOTALL,
)
_TEXT_COMMANDS = re.compile(r"\\(?:textbf|textit|emph|texttt|textsc|mathrm|text)\{([^{}]*)\}")
_ESCAPED = re.compile(r"\\([%&#_$])")
_SUPER = str.maketrans(
    "0123456789+-=()abdeghijklmnoprstuvwxyzT", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ᵃᵇᵈᵉᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻᵀ"
)
_SUB = str.maketrans("0123456789+-=()aeijkmnot", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑᵢⱼₖₘₙₒₜ")
_SCRIPT = re.compile(r"([_^])(\{([^{}]{1,6})\}|([0-9A-Za-z+\-]))")


# pylatexenc logs a warning for each macro it cannot fill in; such math is shown as written.
logging.getLogger("pylatexenc").setLevel(logging.ERROR)


@lru_cache(maxsize=1)
def _converter() -> LatexNodes2Text:
    return LatexNodes2Text(math_mode="text", strict_latex_spaces="based-on-source")


def _scripts(text: str) -> str:
    """x^2 -> x², x_{ij} -> xᵢⱼ where Unicode has every character; else x^(ab)."""

    def one(m: re.Match[str]) -> str:
        mark, body = m.group(1), m.group(3) or m.group(4)
        table = _SUPER if mark == "^" else _SUB
        mapped = body.translate(table)
        if all(c != o or c in " " for c, o in zip(mapped, body, strict=True)):
            return mapped
        return f"{mark}({body})" if len(body) > 1 else f"{mark}{body}"

    return _SCRIPT.sub(one, text)


def _balanced(source: str) -> bool:
    depth = 0
    for m in re.finditer(r"(?<!\\)[{}]", source):
        depth += 1 if m.group() == "{" else -1
        if depth < 0:
            return False
    return depth == 0


def _math(source: str) -> str | None:
    """The math as Unicode text; None when it cannot be read (then it is shown as written)."""
    if not _balanced(source):
        return None
    # `\alpha_t`: end the command before its subscript turns into a Unicode letter (ₜ),
    # which pylatexenc would read as part of the command name.
    prepared = _scripts(re.sub(r"(\\[A-Za-z]+)(?=[_^])", r"\1{}", source))
    try:
        text = _converter().latex_to_text(prepared)
    except Exception:  # pylatexenc is lenient; anything it still rejects stays as written
        return None
    if "%s" in text and "%s" not in source:  # a macro it could not fill in
        return None
    return re.sub(r"\s+", " ", text).strip()


def readable(text: str) -> str:
    """The text with its LaTeX math and simple markup turned into Unicode."""
    if "$" not in text and "\\" not in text:
        return text

    def one(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return _math(m.group(1)) or m.group(0)
        body = m.group(2)
        after = m.string[m.end() : m.end() + 1]
        if after.isdigit() and not re.search(r"[\\^_{]", body):
            return m.group(0)  # "$5 and $10": prose
        return _math(body) or m.group(0)

    out = _MATH.sub(one, text)
    out = _TEXT_COMMANDS.sub(r"\1", out)
    return _ESCAPED.sub(r"\1", out)
