"""What a summary says that its source (the paper's title and the text the model read) does
not: the flags a reader should check before quoting it.

Four kinds, each a deterministic rule on the two texts:

- number: a number the source does not contain (`validate.unsupported_numbers`), or a
  quantity such as "70B", "128k", "10ms" whose digits the source does not contain.
- name: a token that looks like the name of a model, dataset, method or organisation and
  does not occur in the source. Name-like: an all-caps acronym or a camel-case word (MMLU,
  ImageNet, LLaMA, vLLM), letters and digits in one word (GSM8K, o1, T5), a capitalised
  word with a version (Llama-3, Gemini-1.5, GPT-4o), or a capitalised word that does not
  open a sentence (Claude, Lean, Wikipedia). It occurs in the source when the same
  letters and digits appear there ignoring case, hyphens, spaces and dots ("GPT 4o",
  "Qwen-2.5", "imagenet"), a plural "s" aside ("LLMs" and "LLM"); a hyphenated word counts
  without its lower-case parts ("LLM-based" as "LLM"); an acronym also counts when the source
  spells it out ("RLHF": "reinforcement learning from human feedback"). `GENERIC` words never
  count: they name the field, not something the paper claims.
- overclaim: a strong word (`OVERCLAIMS`: "state-of-the-art", "significantly", "always", "the
  first to", "outperforms all"...) whose word or stem the source does not use itself; a
  negated one ("not always") hedges instead and is not flagged.
- loop: a sentence said twice, or any run of `LOOP_WORDS` words said twice that the source
  does not say twice itself (`clean_output` rejects heavier repetition outright; this
  catches what it lets through).

`Flags.stored()` gives the `kind:value` strings kept in `Summary.flags`; rows written before
the kinds existed hold bare numbers, which `Flags.from_stored` reads as numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.summarize.validate import unsupported_numbers

NUMBER, NAME, OVERCLAIM, LOOP = "number", "name", "overclaim", "loop"
KINDS = (NUMBER, NAME, OVERCLAIM, LOOP)


@dataclass(frozen=True)
class Flags:
    numbers: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    overclaims: tuple[str, ...] = ()
    loops: tuple[str, ...] = ()  # the start of each repeated passage

    def __bool__(self) -> bool:
        return bool(self.numbers or self.names or self.overclaims or self.loops)

    def stored(self) -> list[str]:
        """As kept in `Summary.flags`: `number:37%`, `name:GPT-5`, `overclaim:always`..."""
        pairs = zip(KINDS, (self.numbers, self.names, self.overclaims, self.loops), strict=True)
        return [f"{kind}:{value}" for kind, values in pairs for value in values]

    @classmethod
    def from_stored(cls, flags: Iterable[str]) -> Flags:
        """Read `stored()` back; a flag without a known kind (older rows) is a number."""
        found: dict[str, list[str]] = {kind: [] for kind in KINDS}
        for flag in flags:
            kind, sep, value = flag.partition(":")
            if sep and kind in found:
                found[kind].append(value)
            else:
                found[NUMBER].append(flag)
        return cls(*(tuple(found[kind]) for kind in KINDS))


def check(output: str, source: str) -> Flags:
    """Every flag of `output` (a summary) against `source` (title + the text it was written
    from)."""
    return Flags(
        tuple(unsupported_numbers(output, source) + unsupported_quantities(output, source)),
        tuple(unsupported_names(output, source)),
        tuple(overclaims(output, source)),
        tuple(loops(output, source)),
    )


# ----------------------------------------------------------------------------- tokens
# Words of ASCII letters and digits joined by hyphens; a dot only inside a number (Qwen2.5).
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:(?:-|(?<=\d)\.(?=\d))[A-Za-z0-9]+)*")
# Units glued to a number: counts (70B, 128k), time, memory, frequency, pixels, points.
_QUANTITY = re.compile(
    r"(\d+(?:\.\d+)?)(K|k|M|B|T|G|ms|s|h|min|KB|kB|MB|GB|TB|Hz|kHz|MHz|GHz|px|fps|pp)"
)
_ORDINAL = re.compile(r"\d+(?:st|nd|rd|th)", re.IGNORECASE)
_ROMAN = re.compile(r"[IVX]{2,4}")
_MULTIPLE = re.compile(r"\d+(?:\.\d+)?[xX]")  # "2x": a number to `unsupported_numbers`
_DIGITS = re.compile(r"\d+(?:\.\d+)?")


def _key(text: str) -> str:
    """Letters and digits only, lower case, a plural "s" dropped: "LLMs" and "llm" match."""
    return _plural(re.sub(r"[^a-z0-9]", "", text.lower()))


def _source_keys(source: str, span: int = 8) -> set[str]:
    """The keys of every run of up to `span` consecutive words of the source, so "GPT 4o",
    "GPT-4o" and "GPT4o" all match."""
    atoms = [a.lower().replace(".", "") for a in re.findall(r"[A-Za-z]+|\d+(?:\.\d+)?", source)]
    keys = set()
    for i in range(len(atoms)):
        joined = ""
        for atom in atoms[i : i + span]:
            joined += atom
            keys.add(_plural(joined))
    return keys


def _plural(key: str) -> str:
    return key[:-1] if len(key) >= 3 and key.endswith("s") and not key.endswith("ss") else key


# ----------------------------------------------------------------------------- names
# Words that name the field rather than something a paper made or used: a summary may write
# "LLM" or "GPU" when its abstract says "language model" or "accelerator" without claiming
# anything new. Kept short on purpose: every entry is a name the check can no longer catch.
GENERIC = frozenset(_key(w) for w in ("AI", "ML", "NLP", "LLM", "LM", "RL", "GPU", "CPU", "API"))
GENERIC_SHAPES = frozenset({"1d", "2d", "3d", "4d"})
_STOPWORDS = frozenset("a an and for from in of on the to via with".split())


def _name_like(token: str, sentence_start: bool) -> bool:
    if re.fullmatch(r"[\d.-]+", token) or _ROMAN.fullmatch(token):
        return False
    if not sentence_start and re.fullmatch(r"[A-Z][a-z]{2,}(?:-[A-Za-z]+)*", token):
        return True  # Lean, Claude, Wikipedia: capitalised inside a sentence
    parts = token.split("-")
    if any(sum(c.isupper() for c in p) >= 2 or re.search(r"[a-z][A-Z]", p) for p in parts):
        return True  # MMLU, ImageNet, LLaMA, vLLM
    if any(re.search(r"[A-Za-z]", p) and re.search(r"\d", p) for p in parts):
        return True  # GSM8K, o1, T5, gpt-4o
    return any(c.isupper() for c in token) and any(c.isdigit() for c in token)  # Llama-3


def _sentence_start(text: str, at: int) -> bool:
    """Whether position `at` opens a sentence, a clause after a colon, or a quotation."""
    before = text[:at].rstrip()
    return not before or before[-1] in ".!?:;\"'“‘"


def _core(token: str) -> str:
    """A hyphenated word without its lower-case parts: "LLM-based" -> "LLM"."""
    parts = [p for p in token.split("-") if not re.fullmatch(r"[a-z]+", p)]
    return "-".join(parts) if parts else token


def _spelled_out(acronym: str, words: list[str]) -> bool:
    """Whether consecutive `words` start with the acronym's letters (small words may be
    skipped): "RLHF" in "reinforcement learning from human feedback"."""
    letters = acronym.lower()
    if letters.endswith("s") and len(letters) > 2 and acronym[-1] == "s":
        letters = letters[:-1]  # "LLMs"
    for start in range(len(words)):
        i, pos = 0, start
        while i < len(letters) and pos < len(words):
            word = words[pos]
            if word[0] == letters[i]:
                i += 1
            elif word not in _STOPWORDS:
                break
            pos += 1
        if i == len(letters):
            return True
    return False


def unsupported_names(output: str, source: str) -> list[str]:
    """Name-like tokens of `output` that do not occur in `source` (see the module doc)."""
    keys = _source_keys(source)
    words = [w.lower() for w in re.findall(r"[A-Za-z]+", source)]
    flagged: dict[str, str] = {}
    for m in _TOKEN.finditer(output):
        token = m.group(0)
        if _ORDINAL.fullmatch(token) or _QUANTITY.fullmatch(token) or _MULTIPLE.fullmatch(token):
            continue  # "2nd"; quantities such as "70B" or "3x" are checked as numbers
        if not _name_like(token, _sentence_start(output, m.start())):
            continue
        core = _core(token)
        key = _key(token)
        if key in keys or _key(core) in keys or key in flagged:
            continue
        if _key(core) in GENERIC or core.lower() in GENERIC_SHAPES:
            continue
        acronym = core.isalpha() and not re.fullmatch(r"[A-Z][a-z]+", core)
        if acronym and 2 <= len(core) <= 8 and _spelled_out(core, words):
            continue
        flagged[key] = token
    return list(flagged.values())


def unsupported_quantities(output: str, source: str) -> list[str]:
    """Numbers with a unit glued on ("70B", "128k", "10ms") whose digits the source lacks
    anywhere ("70 billion" supports "70B")."""
    known = set(_DIGITS.findall(source))
    flagged: list[str] = []
    for m in _TOKEN.finditer(output):
        q = _QUANTITY.fullmatch(_core(m.group(0)))
        if q is None or q.group(1) in known:
            continue
        if q.group(0) not in flagged:
            flagged.append(q.group(0))
    return flagged


# ----------------------------------------------------------------------------- overclaims
_NEGATION = re.compile(r"(?:\b(?:not|no|never|without|nor|hardly|cannot)|n't)\s+(?:\w+\s+)?$")


@dataclass(frozen=True)
class Overclaim:
    claim: re.Pattern[str]  # in the summary
    support: re.Pattern[str]  # in the source: the same word or stem, so the claim is theirs
    negatable: bool = True  # "not always" hedges rather than claims


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_WHAT = (
    r"(?:to|method|approach|work|framework|model|study|paper|system|benchmark|dataset|"
    r"attempt|algorithm|technique|analysis|evaluation|investigation)"
)
_BEAT = r"(?:outperform|surpass|beat|exceed|dominat)\w*"
# Words LLM summaries add to a paper's claims. Left out: "novel" (nearly every summary of a
# method says it and it claims nothing checkable: flagging it would bury the real flags),
# "proves" and "eliminates" (faithful paraphrases of "we show" and "removes the need").
OVERCLAIMS = (
    Overclaim(
        _rx(r"\bstate[- ]of[- ]the[- ]art\b|\bSOTA\b"),
        _rx(r"\bstate[- ]of[- ](?:the[- ])?art\b|\bSOTA\b"),
    ),
    Overclaim(_rx(r"\bsignificant(?:ly)?\b"), _rx(r"\bsignifican")),
    Overclaim(_rx(r"\bdramatic(?:al)?(?:ly)?\b"), _rx(r"\bdramatic")),
    Overclaim(_rx(r"\balways\b"), _rx(r"\balways\b")),
    Overclaim(_rx(r"\bnever\b"), _rx(r"\bnever\b"), negatable=False),
    Overclaim(_rx(r"\bguarantee(?:s|d|ing)?\b"), _rx(r"\bguarant")),
    Overclaim(
        _rx(rf"\bfor the first time\b|\b(?:the|is|are) first\s+(?:[\w-]+\s+){{0,2}}?{_WHAT}\b"),
        _rx(rf"\bfor the first time\b|\bfirst\s+(?:[\w-]+\s+){{0,2}}?{_WHAT}\b"),
    ),
    Overclaim(
        _rx(rf"\b{_BEAT}\s+(?:all|every)\b|\bbetter than all\b"),
        _rx(rf"\b{_BEAT}\W+(?:[\w-]+\W+){{0,6}}?(?:all|every|each)\b|\bthe best\b"),
    ),
    Overclaim(_rx(r"\bunprecedented\b"), _rx(r"\bunprecedented\b")),
    Overclaim(
        _rx(r"\b(?:breakthroughs?|groundbreaking|revolution(?:ary|i[sz]es?|i[sz]ing))\b"),
        _rx(r"\bbreakthrough|\bgroundbreaking\b|\brevolution"),
    ),
)


def overclaims(output: str, source: str) -> list[str]:
    """The words of `output` that make one of the `OVERCLAIMS` the source does not make (as
    written: "significantly", "state-of-the-art", "the first method")."""
    found = []
    for rule in OVERCLAIMS:
        if rule.support.search(source):
            continue
        for m in rule.claim.finditer(output):
            if rule.negatable and _NEGATION.search(output[max(0, m.start() - 40) : m.start()]):
                continue
            found.append(" ".join(m.group(0).split()))
            break
    return found


# ----------------------------------------------------------------------------- loops
LOOP_WORDS = 8
_SENTENCES = re.compile(r"(?<=[.!?])\s+")


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _start(text: str, words: int = 8) -> str:
    head = text.split()
    return " ".join(head[:words]) + ("…" if len(head) > words else "")


def loops(output: str, source: str = "") -> list[str]:
    """The start of each sentence said twice (of 4 words or more); else of the first run of
    `LOOP_WORDS` words said twice that the source does not itself say twice."""
    seen: set[str] = set()
    repeated: list[str] = []
    for sentence in _SENTENCES.split(output.strip()):
        plain = _plain(sentence)
        if len(plain.split()) < 4:
            continue
        if plain in seen and _start(sentence) not in repeated:
            repeated.append(_start(sentence))
        seen.add(plain)
    if repeated:
        return repeated
    words = output.split()
    plain_words = [_plain(w) for w in words]
    grams: set[tuple[str, ...]] = set()
    for i in range(len(words) - LOOP_WORDS + 1):
        gram = tuple(plain_words[i : i + LOOP_WORDS])
        if gram in grams and not _said_twice(gram, source):
            return [" ".join(words[i : i + LOOP_WORDS])]
        grams.add(gram)
    return []


def _said_twice(gram: tuple[str, ...], source: str) -> bool:
    plain = f" {' '.join(_plain(w) for w in source.split())} "
    return plain.count(f" {' '.join(gram)} ") >= 2
