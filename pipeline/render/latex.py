"""LaTeX in titles and abstracts shown readably: `$\\mathcal{O}(n^2)$` becomes `𝒪(n²)`.

Only balanced `$…$` / `$$…$$` segments are converted as math; an unmatched `$` stays a
dollar sign.  Outside math:

- a few text-mode commands keep their argument (`\\textbf{x}`, `\\url{u}`, `{\\em x}` -> x);
- any other command becomes its symbol when it is one (`\\ldots` -> …, `\\alpha` -> α)
  and else its bare name (`\\method`, `\\ours{}` -> method, ours); an argument it takes is
  kept as text (`\\sys{v2}` -> v2);
- `~`, LaTeX's non-breaking space, becomes a space when it is tied to the word before it
  (`Fig.~3`, `et al.~[4]`, `\\cite{x}~shows`, `$n$~steps`).  A `~` that starts a word
  (`~5%`, `(~5%)`: "approximately") or follows `/` stays, and so does every `~` in a URL.

The result is plain text: callers still escape it for the format they write.
"""

from __future__ import annotations

import logging
import re
import unicodedata
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


# Outside math, in one left-to-right pass: URLs (kept whole), commands with their argument,
# font switches, other commands, and ties. Commands whose argument holds math or braces are
# left for `_TEXT_COMMANDS` (after the math is converted) or as written.
_PROSE = re.compile(
    r"(?P<link>(?:https?|ftp)://\S+|www\.\S+)"
    r"|\\url\{(?P<url>[^{}\s]*)\}"
    r"|\\href\{[^{}\s]*\}\{(?P<href>[^{}$\\]*)\}"
    r"|\{\\(?:em|bf|it|sl|sc|tt|rm|sf)\s+(?P<switch>[^{}$\\]*)\}"
    r"|(?P<newline>\\\\)"
    r"|\\(?P<name>[A-Za-z]+)(?:\{(?P<arg>[^{}$\\]*)\}|(?![{A-Za-z]))(?P<space>\\ )?"
    r"|(?<=[\w.,;:!?)\]}$'\"])(?P<tie>~)"
)
_KEEP = frozenset({"textbf", "textit", "emph", "texttt", "textsc", "mathrm", "text"})
_MARKUP_CHARS = frozenset("<>*_[]`#|\\{}~&")


@lru_cache(maxsize=512)
def _command(name: str) -> str:
    """A command outside math: its symbol if it is one (`\\ldots` -> …), else its name."""
    symbol = _math("\\" + name) or ""
    if len(symbol) == 1 and symbol not in _MARKUP_CHARS:
        if not unicodedata.category(symbol).startswith("M"):  # not a bare accent
            return symbol
    return name


def _prose(m: re.Match[str]) -> str:
    if m.group("link") is not None:
        return m.group(0)
    for group in ("url", "href", "switch"):
        if m.group(group) is not None:
            return m.group(group)
    if m.group("tie") is not None or m.group("newline") is not None:
        return " "
    name, arg = m.group("name"), m.group("arg")
    if name in _KEEP:
        return m.group(0)  # `_TEXT_COMMANDS` takes it
    return (arg or _command(name)) + (" " if m.group("space") else "")


def _outside_math(text: str, after_math: bool) -> str:
    if "\\" not in text and "~" not in text:
        return text
    # "$n$~steps": the `$` before the gap is what a tie there is tied to.
    prefix = "$" if after_math else ""
    return _PROSE.sub(_prose, prefix + text)[len(prefix) :]


def readable(text: str) -> str:
    """The text with its LaTeX math and simple markup turned into Unicode."""
    if "$" not in text and "\\" not in text and "~" not in text:
        return text

    def one(m: re.Match[str]) -> str:
        body = m.group(1) if m.group(1) is not None else m.group(2)
        after = m.string[m.end() : m.end() + 1]
        if m.group(1) is None and after.isdigit() and not re.search(r"[\\^_{]", body):
            return m.group(0)  # "$5 and $10": prose
        shown = _math(body)
        if shown == "":  # only commands pylatexenc does not know, as in `$\\method$`
            shown = _outside_math(body, after_math=False).strip()
            return shown if shown and "\\" not in shown else m.group(0)
        return shown or m.group(0)

    parts, done = [], 0
    for m in _MATH.finditer(text):
        parts += [_outside_math(text[done : m.start()], done > 0), one(m)]
        done = m.end()
    parts.append(_outside_math(text[done:], done > 0))
    out = _TEXT_COMMANDS.sub(r"\1", "".join(parts))
    return _ESCAPED.sub(r"\1", out)
