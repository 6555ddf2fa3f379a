"""Text rewritten for a TTS engine: no URLs, markup, LaTeX, symbols or digits.

`spoken("GPT-4o scores 12.5% on $O(n^2)$ tasks, e.g. QA.")` gives
"G P T four oh scores twelve point five percent on O of n squared tasks, for example Q and A."
HTML tags (`<b>`, `</i>`, `<br/>`) are markup and are dropped with their brackets; a lone word
in angle brackets that is no HTML tag (`<eos>`) keeps the word.  Replacement keys in lowercase
match any case ("E.g." -> "For example"); others are case-sensitive.  1900-2099 is read as a year
("twenty twenty-four") only after "in", "since", "the", a month or a venue ("NeurIPS 2024"), or
in "(Smith, 2023)"; otherwise as a number.  Never raises.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache

from num2words import num2words

from pipeline.render.latex import readable

DEFAULT_REPLACEMENTS: dict[str, str] = {
    # abbreviations (lowercase keys match any case)
    "e.g.": "for example", "i.e.": "that is", "et al.": "and colleagues", "etc.": "et cetera",
    "vs.": "versus", "vs": "versus", "w.r.t.": "with respect to", "cf.": "compare",
    "approx.": "approximately", "resp.": "respectively", "fig.": "figure", "eq.": "equation",
    "sec.": "section", "i.i.d.": "I I D", "http": "H T T P", "https": "H T T P S",
    "&": "and", "%": "percent",
    # acronyms (case-sensitive)
    "AI": "A I", "ML": "M L", "LM": "L M", "LMs": "L Ms", "LLM": "L L M", "LLMs": "L L Ms",
    "VLM": "V L M", "VLMs": "V L Ms", "GPT": "G P T", "RL": "R L", "RLHF": "R L H F",
    "SFT": "S F T", "DPO": "D P O", "PPO": "P P O", "SOTA": "state of the art",
    "ViT": "vision transformer", "ViTs": "vision transformers", "CNN": "C N N",
    "CNNs": "C N Ns", "RNN": "R N N", "GNN": "G N N", "GNNs": "G N Ns", "LSTM": "L S T M",
    "MLP": "M L P", "MoE": "mixture of experts", "KV": "K V", "RAG": "rag", "QA": "Q and A",
    "CoT": "chain of thought", "LoRA": "lora", "NLP": "N L P", "API": "A P I",
    "APIs": "A P Is", "GPU": "G P U", "GPUs": "G P Us", "CPU": "C P U", "TPU": "T P U",
    "ASR": "A S R", "TTS": "T T S", "OCR": "O C R", "NER": "N E R", "OOD": "out of distribution",
    "VAE": "V A E", "GAN": "gan", "GANs": "gans", "SGD": "S G D", "MSE": "M S E", "KL": "K L",
    "AUC": "A U C", "BLEU": "blue", "IoU": "intersection over union", "FLOPs": "flops",
    "ICL": "in-context learning", "SSM": "S S M", "NeRF": "nerf", "arXiv": "archive",
    "SQL": "sequel", "JSON": "jason", "URL": "U R L", "PDF": "P D F",
    "k-NN": "k nearest neighbours", "kNN": "k nearest neighbours", "NN": "neural network",
    "NNs": "neural networks", "ANN": "A N N", "SNN": "S N N", "HPC": "H P C",
    # number formats (digits are read out afterwards: "BF16" -> "B F sixteen")
    "BF16": "B F 16", "FP16": "F P 16", "FP32": "F P 32", "FP64": "F P 64", "FP8": "F P 8",
    "FP4": "F P 4", "INT8": "int 8", "INT4": "int 4", "TF32": "T F 32",
}  # fmt: skip

_GREEK = {
    chr(c): n.partition("LETTER ")[2].partition(" WITH")[0].split()[-1].lower()
    for c in range(0x386, 0x3CF)
    if " LETTER " in (n := unicodedata.name(chr(c), ""))
} | {"λ": "lambda", "Λ": "lambda"}
_SYMBOLS = {
    "->": "to", "=>": "implies", "<=": "≤", ">=": "≥", "!=": "≠", "==": "equals", "−": "-",
    "≤": "less than or equal to", "≥": "greater than or equal to", "≠": "not equal to",
    "≈": "approximately", "≃": "approximately", "∼": "about", "~": "about",
    "±": "plus or minus", "∓": "minus or plus", "×": "times", "·": "times", "⋅": "times",
    "→": "to", "⟶": "to", "⇒": "implies", "∈": "in", "∉": "not in", "∞": "infinity",
    "√": "square root of", "∑": "sum of", "∏": "product of", "∫": "integral of",
    "∂": "partial", "∇": "nabla", "∀": "for all", "∃": "there exists",
    "∝": "proportional to", "≡": "equivalent to", "⊂": "subset of", "⊆": "subset of",
    "∪": "union", "∩": "intersection", "≪": "much less than", "≫": "much greater than",
    "<": "less than", ">": "greater than", "=": "equals", "+": "plus", "°": "degrees",
    "⁄": "over", "′": "prime", "@": "at", "|": " ", "—": ",", "/": " ",
}  # fmt: skip
_SYMBOL_RE = re.compile("|".join(re.escape(k) for k in sorted(_SYMBOLS, key=len, reverse=True)))
_DIGITS = "zero one two three four five six seven eight nine".split()
_MAGNITUDE = {"k": "thousand", "K": "thousand", "M": "million", "B": "billion", "bn": "billion",
              "T": "trillion"}  # fmt: skip
_CURRENCY = {"$": "dollar", "€": "euro", "£": "pound"}
_YEAR_WORDS = set(
    "the in since by from until till before after during circa early late mid year around "
    "january february march april may june july august september october november december".split()
)
_HTML_TAGS = (
    "a|abbr|b|blockquote|br|code|del|div|em|h[1-6]|hr|i|img|ins|li|mark|ol|p|pre|s|small|span"
    "|strong|sub|sup|table|td|th|tr|u|ul"
)

_URL = re.compile(
    r"(?i)<(?:https?|ftp|mailto):[^>]*>"
    r"|(?:(?:https?|ftp)://|\bwww\.)(?:\([^\s()]*\)|[^\s<>()\[\]])*(?<![.,;:!?'\"])"
)
_LINK = re.compile(
    r"!?\[([^\]\n]{0,300})\]\((?:[^()\n]|\([^()\n]*\)){0,500}\)|\[([^\]\n]{0,300})\]\[[^\]\n]{0,50}\]"
)
_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
_SUFFIX = (
    r"%|\s?pp(?!\w)|(?<=[12]\d\d0)s(?!\w)|x(?!\w)|(?:st|nd|rd|th)(?!\w)|(?:bn|[kKMBT])(?![^\W\d_])"
)
_TOKEN = rf"(?P<neg>[-−])?(?P<cur>[$€£])?(?P<num>{_NUM})(?P<suf>{_SUFFIX})?"
_TOKEN_RE = re.compile(_TOKEN)
_NUMBER_RE = re.compile(rf"(?<![\w.,\-$€£])(?:{_TOKEN})(?!\w|[.,]\d)")
_YEAR = r"(?:19|20)\d\d"
_YEAR_RANGE = re.compile(rf"(?<![\w.,\-])({_YEAR})\s?[-–]\s?({_YEAR})(?![\w.]\w)")
_RANGE = re.compile(
    rf"(?<![\w.,\-])([$€£]?(?:{_NUM})(?:[kKMBx%])?)\s?[-–]\s?(?=[$€£]?[\d.,]++(?![-–]\d))"
)
_ARXIV = re.compile(r"(?<![\w.])(\d{4})\.(\d{4,5})(?:v(\d+))?(?!\w|\.\d)")
_LINE_END = re.compile(r"[ \t]*(?:\n|$)")
_LEFTOVER = re.compile(r"(?P<num>\d+(?:\.\d+)*)(?P<suf>(?:bn|[kKMBT])(?![^\W\d_]))?")


def replacement_table(user: Mapping[str, str] | None = None) -> dict[str, str]:
    """The defaults with `user` merged over them; an empty value removes an entry."""
    table = {**DEFAULT_REPLACEMENTS, **(user or {})}
    return {key: value for key, value in table.items() if key and value}


def _digits(text: str) -> str:
    return " ".join(_DIGITS[unicodedata.digit(c, 0)] for c in text if c.isdigit())


def _cardinal(num: str) -> str:
    whole, _, frac = num.replace(",", "").partition(".")
    if not whole:
        head = "point"
    elif (len(whole) > 1 and whole.startswith("0")) or len(whole) > 15:
        head = _digits(whole)
    else:
        head = str(num2words(int(whole))).replace(",", "")
    return f"{head} point {_digits(frac)}" if frac and whole else f"{head} {_digits(frac)}".strip()


def _say(m: re.Match[str]) -> str:
    num, suf = m["num"], (m["suf"] or "").strip()
    if suf in ("st", "nd", "rd", "th") and re.fullmatch(r"[\d,]{1,15}", num):
        words = str(num2words(int(num.replace(",", "")), to="ordinal")).replace(",", "")
    elif suf == "s":  # "1990s" -> "nineteen nineties"
        words = re.sub(r"y$", "ie", str(num2words(int(num), to="year"))) + "s"
    else:
        words = _cardinal(num) + {"%": " percent", "pp": " percentage points", "x": " times"}.get(
            suf, f" {_MAGNITUDE[suf]}" if suf in _MAGNITUDE else f" {suf}"
        )
    cents = re.fullmatch(r"(\d+)\.(\d\d)", num) if m["cur"] in ("$", "€") and not suf else None
    if cents:  # "$2.50" -> "two dollars and fifty cents"
        whole = say_number(m["cur"] + cents[1]) if cents[1].strip("0") or cents[2] == "00" else ""
        part = _cardinal(cents[2].lstrip("0")) + (" cent" if cents[2] == "01" else " cents")
        words = " and ".join(w for w in (whole, part if cents[2] != "00" else "") if w)
    elif m["cur"]:
        one = num == "1" and not suf
        words = f"{words.strip()} {_CURRENCY[m['cur']]}{'' if one else 's'}"
    return ("minus " if m["neg"] else "") + words.strip()


def say_number(token: str) -> str:
    """One numeric token in words: "3.5" -> "three point five", "7B" -> "seven billion"."""
    try:
        m = _TOKEN_RE.fullmatch(token.strip())
        return _say(m) if m else _tidy(_numbers(token))
    except Exception:  # num2words on odd input: read the digits instead
        return _tidy(re.sub(r"\d", lambda d: f" {_digits(d[0])} ", token))


def _year_context(m: re.Match[str]) -> bool:
    before = m.string[max(0, m.start() - 40) : m.start()].split()
    prev = before[-1] if before else ""
    word = prev.strip("(,").lower()
    venue = sum(c.isupper() for c in prev) >= 2 and prev.isalpha()
    cited = m.string[m.end() : m.end() + 1] == ")" and prev[-1:] in (",", "(")
    return word in _YEAR_WORDS or venue or cited or bool(re.fullmatch(r"\d{1,2},", prev))


def _number(m: re.Match[str]) -> str:
    try:
        if re.fullmatch(_YEAR, m[0]) and _year_context(m):
            return f" {num2words(int(m[0]), to='year')} "
        return f" {_say(m)} "
    except Exception:  # an input num2words rejects: read the digits
        return f" {_digits(m[0])} "


def _arxiv(m: re.Match[str]) -> str:
    version = f" version {m[3]}" if m[3] else ""
    return f" {_digits(m[1])} dot {_digits(m[2])}{version} "


def _numbers(text: str) -> str:
    text = re.sub(r"#(?=\d)", "number ", text)
    text = _ARXIV.sub(_arxiv, text)
    text = re.sub(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([-−]?)\+?(\d+)(?!\w)", r"\1 e \2\3", text)
    text = _YEAR_RANGE.sub(
        lambda m: f" {num2words(int(m[1]), to='year')} to {num2words(int(m[2]), to='year')} ", text
    )
    text = _RANGE.sub(r"\1 to ", text)
    text = _NUMBER_RE.sub(_number, text)
    text = re.sub(r"(?<=[^\W_])[-–](?=\d)|(?<=\d)[-–](?=[^\W_])", " ", text)  # "Llama-3.1-8B"
    text = re.sub(r"(?<=\d)o(?![^\W\d_])", " oh", text)  # "GPT-4o" -> "four oh"
    text = _LEFTOVER.sub(_leftover, text)
    return "".join(f" {_DIGITS[unicodedata.digit(c, 0)]} " if c.isdigit() else c for c in text)


def _leftover(m: re.Match[str]) -> str:
    """Digits inside identifiers ("GPT-4o", "Llama-3.1-8B", "v1.2.3"), read part by part."""
    whole, *parts = m["num"].split(".")
    words = " point ".join([_cardinal(whole), *(_digits(p) for p in parts)])
    if m["suf"] and not m.string[m.start() - 1 : m.start()].isalpha():  # "8B", not "GSM8K"
        return f" {words} {_MAGNITUDE[m['suf']]} "
    return f" {words} {m['suf'] or ''} "


def _scripts_of(tag: str) -> str:
    chars = (chr(c) for c in range(0x80, 0x10000))
    return "".join(re.escape(c) for c in chars if unicodedata.decomposition(c).startswith(tag))


_SUPER_RE = re.compile(f"[{_scripts_of('<super>')}]+")
_SUB_RE = re.compile(f"[{_scripts_of('<sub>')}]+")
_SCRIPT_SPLIT = re.compile(f"({_SUPER_RE.pattern}|{_SUB_RE.pattern})")


def _nfkc(text: str) -> str:
    """NFKC (𝒪 -> O, ℝ -> R, ﬁ -> fi), except superscripts and subscripts, said later."""
    parts = _SCRIPT_SPLIT.split(text)
    return "".join(p if i % 2 else unicodedata.normalize("NFKC", p) for i, p in enumerate(parts))


def _power(body: str) -> str:
    body = unicodedata.normalize("NFKC", body).replace("−", "-").strip()
    return {"2": " squared ", "3": " cubed ", "T": " transpose "}.get(
        body, f" to the power of {body} "
    )


def _scripts(text: str) -> str:
    text = _SUPER_RE.sub(lambda m: _power(m[0]), text)
    text = _SUB_RE.sub(lambda m: f" sub {unicodedata.normalize('NFKC', m[0])} ", text)
    text = re.sub(
        r"\^\s*(?:\(([^()]*)\)|\{([^{}]*)\}|([-−]?\w+))",
        lambda m: _power(m[1] or m[2] or m[3] or ""),
        text,
    )
    return re.sub(r"_(?:\(([^()]*)\)|\{([^{}]*)\})", lambda m: f" sub {m[1] or m[2]} ", text)


def _lines(text: str) -> str:
    """Markdown block syntax: fences, rules and quotes dropped; headings and bullets end a
    sentence."""
    out = []
    for raw in text.split("\n"):
        if re.match(r"\s*(?:```|~~~)", raw) or re.fullmatch(r"\s*(?:[-*_]\s*){3,}", raw):
            out.append("")
            continue
        line = re.sub(r"^\s*(?:>\s?)+", "", raw)
        m = re.match(r"\s*(?:#{1,6}\s+|(?:[-*+•]|\d{1,3}[.)])\s+)", line)
        if m:
            line = line[m.end() :].rstrip().rstrip("#").rstrip()
            line += "." if line and line[-1] not in ".!?:;," else ""
        out.append(line)
    return "\n".join(out)


def _readable(text: str) -> str:
    # `\alpha_t` would reach latex.readable as the unknown macro `\alphaₜ` and vanish.
    try:
        return readable(re.sub(r"(\\[A-Za-z]+)(?=[_^])", r"\1{}", text))
    except Exception:
        return text


def _markup(text: str) -> str:
    """Inline code, HTML tags, emphasis and leftover LaTeX commands."""
    text = text.replace("`", "")
    text = re.sub(r"(?is)<sup>(.{0,40}?)</sup>", lambda m: _power(m[1]), text)
    text = re.sub(r"(?is)<sub>(.{0,40}?)</sub>", r" sub \1 ", text)
    attrs = r"""(?:\s+[\w-]+=(?:"[^"]*"|'[^']*'|[^\s>]+))*"""
    text = re.sub(rf"(?i)</?(?:{_HTML_TAGS}){attrs}\s*/?>", " ", text)
    text = re.sub(r"<\s*/?\s*([A-Za-z][\w-]*)\s*/?\s*>", r" \1 ", text)
    text = re.sub(r"(\*\*|__|~~)(?=\S)(.{1,300}?)(?<=\S)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])([*_])(?=\S)(.{1,300}?)(?<=\S)\1(?![\w*])", r"\2", text)
    text = re.sub(
        r"\\(?:cite[pt]?|ref|eqref|label|url|href|footnote)\*?(?:\[[^\]]*\])?(?:\{[^{}]*\})+",
        " ",
        text,
    )
    names = set(_GREEK.values())
    return re.sub(r"\\([A-Za-z]+)", lambda m: f" {m[1]} " if m[1] in names else " ", text)


def _symbols(text: str) -> str:
    text = re.sub(r"(?<![\w.])(\d+)[x×](\d+)(?![\w.])", r"\1 by \2", text)
    text = re.sub(r"(?<=\d)\s?/\s?(?=\d)", " over ", text)
    text = re.sub(r"√\(([^()]*)\)", r"√ \1 ", text)
    text = re.sub(r"(?<![\w])([OΘΩ])\(([^()]*)\)", r"\1 of \2 ", text)
    text = re.sub(f"[{''.join(_GREEK)}]", lambda m: f" {_GREEK[m[0]]} ", text)

    def one(m: re.Match[str]) -> str:
        word = _SYMBOLS[m[0]]
        word = _SYMBOLS.get(word, word)
        return word if word == "-" else f" {word} "

    return _SYMBOL_RE.sub(one, text)


@lru_cache(maxsize=16)
def _table_re(keys: tuple[str, ...]) -> re.Pattern[str]:
    parts = []
    for key in sorted(keys, key=len, reverse=True):
        pattern = re.escape(key)
        if key == key.lower() and any(c.isalpha() for c in key):
            pattern = f"(?i:{pattern})"
        start = r"(?<!\w)" if re.match(r"\w", key) else ""
        end = r"(?!\w)" if re.match(r"\w", key[-1]) else ""
        parts.append(f"{start}{pattern}{end}")
    return re.compile("|".join(parts))


def _replace(text: str, replacements: Mapping[str, str]) -> str:
    table = {key: value for key, value in replacements.items() if key and value}
    if not table:
        return text
    lower = {key.lower(): value for key, value in table.items() if key == key.lower()}

    def one(m: re.Match[str]) -> str:
        found = m[0]
        value = table.get(found)
        if value is None:
            value = lower.get(found.lower(), found)
            value = value[:1].upper() + value[1:] if found[:1].isupper() else value
        if found.endswith(".") and _LINE_END.match(m.string, m.end()):
            value += "."
        return f" {value} " if not (found[0].isalnum() and found[-1].isalnum()) else value

    return _table_re(tuple(sorted(table))).sub(one, text)


def _tidy(text: str) -> str:
    """Single spaces, no space before punctuation, no empty clauses; paragraphs kept."""
    paragraphs = []
    for para in re.split(r"\n\s*\n", text):
        p = " ".join(para.split())
        p = re.sub(r" [-–]+ ", ", ", f" {p} ")
        p = re.sub(r"(?<= )[-–]+|[-–]+(?= )", " ", p)
        p = re.sub(r"\(\s*[,.;:]?\s*\)", " ", p)
        p = re.sub(r"\(\s+", "(", re.sub(r"\s+([.,;:!?)])", r"\1", p))
        p = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", p)
        p = re.sub(r"[,;:]\s*([.!?])", r"\1", p)
        p = re.sub(r"([.!?])(?:\s*[,;:])+", r"\1", p)
        p = re.sub(r"(?<!\.)\.\s+\.(?!\.)", ".", p)
        p = " ".join(re.sub(r"^[\s,.;:!?)]+", "", p).split())
        if p:
            paragraphs.append(p)
    return "\n\n".join(paragraphs)


def _spoken(text: str, replacements: Mapping[str, str]) -> str:
    text = _nfkc(html.unescape(text).replace("\r\n", "\n").replace("\r", "\n"))
    text = _LINK.sub(lambda m: m[1] if m[1] is not None else m[2], text)
    text = re.sub(r"\[\d+(?:\s*[,–-]\s*\d+)*\]", "", text)  # numeric citations
    text = _URL.sub(" ", text)
    text = _nfkc(_readable(_lines(text)))
    text = _symbols(_scripts(_markup(text)))
    text = _numbers(_replace(text, replacements))
    text = re.sub(r"[*_#`\\\[\]{}^<>$|]|[^\S\n]|[\x00-\x09\x0b-\x1f\x7f]", " ", text)
    return _tidy(text.replace("http", " H T T P "))


def spoken(text: str, replacements: Mapping[str, str] | None = None) -> str:
    """`text` as a TTS engine should read it; `replacements` is the whole table (see
    `replacement_table`), None for the defaults."""
    try:
        return _spoken(text, DEFAULT_REPLACEMENTS if replacements is None else replacements)
    except Exception:  # a bug here must not stop a podcast: keep letters and punctuation
        kept = "".join(c if c.isalpha() or c in " .,;:!?'\n" else " " for c in text)
        return _tidy(re.sub(r"(?i)https?", " ", kept))


def word_count(text: str) -> int:
    """Words as a listener hears them ("twenty-four" and "don't" are one each)."""
    return len(re.findall(r"[^\W_]+(?:['’-][^\W_]+)*", text))


def duration_seconds(text: str, words_per_minute: int = 150) -> float:
    """Seconds to read `text` aloud at `words_per_minute`."""
    if words_per_minute <= 0:
        raise ValueError("words_per_minute must be positive")
    return word_count(text) / words_per_minute * 60
