"""pipeline.podcast.spoken: text for a TTS engine, without URLs, markup, LaTeX, symbols, digits."""

from __future__ import annotations

import random

import pytest

from pipeline.podcast.spoken import (
    DEFAULT_REPLACEMENTS,
    duration_seconds,
    replacement_table,
    say_number,
    spoken,
    word_count,
)

FORBIDDEN = ("http", "$", "\\", "*", "_", "#", "`", "<", ">", "[", "]", "{", "}", "^")

CASES = [
    # URLs, markdown, HTML
    ("See [the code](https://github.com/a/b_c) at https://example.org/x_y.", "See the code at."),
    ("Visit www.example.com/path today.", "Visit today."),
    ("Odd [links](javascript:alert(1)) & more.", "Odd links and more."),
    (
        "**Bold**, *italic*, _under_, __strong__ and `code` here.",
        "Bold, italic, under, strong and code here.",
    ),
    ("# Results\n- first item\n- second item!", "Results. first item. second item!"),
    ("> A quoted line.", "A quoted line."),
    ("1. Alpha\n2. Beta", "Alpha. Beta."),
    ("<b>Bold</b> and <i>italic</i><br/>end.", "Bold and italic end."),
    ("An <eos> token.", "An eos token."),
    ("x<sup>2</sup> and a<sub>i</sub>.", "x squared and a sub i."),
    ("If a<b and c>d.", "If a less than b and c greater than d."),
    ("As shown [12], [3, 4].", "As shown."),
    # LaTeX and Unicode math
    (r"We set $\alpha \leq 0.5$.", "We set alpha less than or equal to zero point five."),
    (r"It runs in $O(n^2)$ time.", "It runs in O of n squared time."),
    (r"It runs in $\mathcal{O}(n \log n)$ time.", "It runs in O of n log n time."),
    (r"Vectors in $\mathbb{R}^d$.", "Vectors in R to the power of d."),
    (r"The step $\alpha_t$ decays.", "The step alpha sub t decays."),
    (r"Error $\approx 10^{-3}$.", "Error approximately ten to the power of minus three."),
    (r"Entries $x_{ij}$.", "Entries x sub ij."),
    (r"Volume $\theta^3$ and $x^{ab}$.", "Volume theta cubed and x to the power of ab."),
    (
        r"A $\pm 0.3$ margin and $\sqrt{n}$ growth to $\infty$.",
        "A plus or minus zero point three margin and square root of n growth to infinity.",
    ),
    (
        r"$\epsilon$-greedy with $\beta \neq \gamma$ and $\Delta \geq 1$.",
        "epsilon greedy with beta not equal to gamma and delta greater than or equal to one.",
    ),
    ("Θ(n) and Ω(n²) and 𝒪(1).", "theta of n and omega of n squared and O of one."),
    (
        "a ≈ b, c ∼ d, x ∈ S, a → b, ∑ x, ∏ y, 2 × 3, a · b.",
        "a approximately b, c about d, x in S, a to b, sum of x, product of y, two times three, "
        "a times b.",
    ),
    (
        "Loss ∝ N^0.5 and n^2 and W^T.",
        "Loss proportional to N to the power of zero point five and n squared and W transpose.",
    ),
    # replacement table
    (
        "LLMs vs. RLHF, e.g. SOTA ViT & MoE with a KV cache; i.e. RAG for QA.",
        "L L Ms versus R L H F, for example state of the art vision transformer and mixture of "
        "experts with a K V cache; that is rag for Q and A.",
    ),
    (
        "E.g. GPU and CPU use w.r.t. NLP APIs.",
        "For example G P U and C P U use with respect to N L P A P Is.",
    ),
    ("Work by Smith et al.", "Work by Smith and colleagues."),
    ("RL agents, GNNs and a VLM; not Rag or rl.", "R L agents, G N Ns and a V L M; not Rag or rl."),
    # numbers
    ("1,383 papers.", "one thousand three hundred and eighty-three papers."),
    ("It scored 3.5 and 0.87.", "It scored three point five and zero point eight seven."),
    ("Up 12.5% or 3.2pp.", "Up twelve point five percent or three point two percentage points."),
    (
        "It is 3x faster, 2.5x faster and 3× smaller, ~2x overall.",
        "It is three times faster, two point five times faster and three times smaller, "
        "about two times overall.",
    ),
    ("Use 10–20 or 10-20 layers.", "Use ten to twenty or ten to twenty layers."),
    ("1st, 2nd, 3rd and 21st.", "first, second, third and twenty-first."),
    ("In 2024 and since 1999.", "In twenty twenty-four and since nineteen ninety-nine."),
    ("NeurIPS 2023 (Smith, 2022).", "NeurIPS twenty twenty-three (Smith, twenty twenty-two)."),
    ("From 2020-2024.", "From twenty twenty to twenty twenty-four."),
    ("June 10–16, 2024.", "June ten to sixteen, twenty twenty-four."),
    ("Batch 2048 tokens.", "Batch two thousand and forty-eight tokens."),
    ("The 1990s.", "The nineteen nineties."),
    (
        "A 7B model, 1.5M samples, 70k and 70K steps.",
        "A seven billion model, one point five million samples, seventy thousand and seventy "
        "thousand steps.",
    ),
    ("A 13B-parameter model.", "A thirteen billion parameter model."),
    (
        "It costs $5, $1 or $2.5M.",
        "It costs five dollars, one dollar or two point five million dollars.",
    ),
    ("A change of -3.2 and −4.", "A change of minus three point two and minus four."),
    ("GPT-4o and Llama-3.1-8B.", "G P T four oh and Llama three point one eight billion."),
    # the pronunciation lexicon (issue 16)
    ("An LLM.", "An L L M."),
    ("GPT-4o-mini beats GPT-4.", "G P T four oh-mini beats G P T four."),
    ("It is 3.7× faster.", "It is three point seven times faster."),
    ("Sorting is O(n²).", "Sorting is O of n squared."),
    (
        "Trained in BF16, served in FP8 and INT4.",
        "Trained in B F sixteen, served in F P eight and int four.",
    ),
    (
        "A k-NN probe and a kNN index.",
        "A k nearest neighbours probe and a k nearest neighbours index.",
    ),
    (r"With $\alpha$ and $\lambda = 0.1$.", "With alpha and lambda equals zero point one."),
    ("Top-5, ResNet-50 and F1-score.", "Top five, ResNet fifty and F one score."),
    ("See arXiv 2406.12345.", "See archive two four zero six dot one two three four five."),
    ("From 2406.12345v2.", "From two four zero six dot one two three four five version two."),
    ("lr 1e-5 on 2x2 grids.", "lr one e minus five on two by two grids."),
    ("p < 0.05 and k=5.", "p less than zero point zero five and k equals five."),
    ("#1 on 1/2 of tasks.", "number one on one over two of tasks."),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_conversions(text: str, expected: str) -> None:
    assert spoken(text) == expected


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("3.5", "three point five"),
        ("0.87", "zero point eight seven"),
        ("3.50", "three point five zero"),
        (".5", "point five"),
        ("1,383", "one thousand three hundred and eighty-three"),
        ("007", "zero zero seven"),
        ("12%", "twelve percent"),
        ("12.5%", "twelve point five percent"),
        ("3pp", "three percentage points"),
        ("7B", "seven billion"),
        ("1.5M", "one point five million"),
        ("70k", "seventy thousand"),
        ("2T", "two trillion"),
        ("3x", "three times"),
        ("21st", "twenty-first"),
        ("$5", "five dollars"),
        ("$1", "one dollar"),
        ("-3.2", "minus three point two"),
        ("2024", "two thousand and twenty-four"),
        ("1990s", "nineteen nineties"),
        (
            "123456789012345678",
            "one two three four five six seven eight nine zero one two "
            "three four five six seven eight",
        ),  # fmt: skip
        ("GPT-4o", "GPT four oh"),
        ("v1.2.3", "v one point two point three"),
        ("no digits", "no digits"),
    ],
)
def test_say_number(token: str, expected: str) -> None:
    assert say_number(token) == expected


def test_replacement_table_merges_and_removes() -> None:
    table = replacement_table({"LLM": "large language model", "GPT": "", "Qwen": "chwen"})
    assert table["LLM"] == "large language model"
    assert table["Qwen"] == "chwen"
    assert "GPT" not in table
    assert table["SOTA"] == DEFAULT_REPLACEMENTS["SOTA"]
    assert replacement_table() == DEFAULT_REPLACEMENTS
    assert replacement_table() is not DEFAULT_REPLACEMENTS


def test_spoken_uses_the_given_table() -> None:
    table = replacement_table({"LLM": "large language model", "GPT": "", "Qwen": "chwen"})
    assert spoken("An LLM, GPT and Qwen.", table) == "An large language model, GPT and chwen."
    assert spoken("GPT-4 and GPT-4o.", {"GPT-4": "gee pee tee four"}) == (
        "gee pee tee four and GPT four oh."
    )
    assert spoken("An LLM.", {}) == "An LLM."
    assert spoken("An LLM.") == "An L L M."


def test_lowercase_keys_match_any_case_and_keep_the_capital() -> None:
    table = {"approx.": "approximately", "Foo": "bar"}
    assert spoken("Approx. ten, approx. five; foo Foo.", table) == (
        "Approximately ten, approximately five; foo bar."
    )


def test_paragraphs_and_whitespace() -> None:
    text = "First  line\nwraps here .\n\n\n  Second\tparagraph ( see https://x.org )"
    assert spoken(text) == "First line wraps here.\n\nSecond paragraph (see)"


REALISTIC = [
    "We introduce **FooNet**, a 7B-parameter LLM trained on 1.2T tokens "
    "([code](https://github.com/foo/foonet)). On GSM8K it reaches 84.3% (+12.5 pp over "
    r"GPT-4o), and runs $\sim$3x faster at $O(n \log n)$ cost vs. $O(n^2)$.",
    r"Let $\mathcal{L}_{CE}$ be the loss and $\theta_t \in \mathbb{R}^{d}$ the weights; "
    r"we show $\|\nabla f\| \leq \epsilon$ after $T = 10^4$ steps, i.e. 2.5x fewer.",
    "## Key results\n* Llama-3.1-8B: 71.2 → 78.9\n* Qwen2.5-72B: ~90%\n> Note: see "
    "<https://arxiv.org/abs/2406.12345> and <b>Table 2</b> (arXiv:2406.12345v2).",
    "Costs drop from $5 to $0.50 per 1,000 queries in 2024; 10–20% of 70k samples, "
    "`batch_size=256`, lr=3e-4, #3 on the 2023 leaderboard [7].",
]


def _violations(out: str) -> list[str]:
    found = [s for s in FORBIDDEN if s in out]
    found += ["digit"] if any(c.isdigit() for c in out) else []
    found += ["double space"] if "  " in out else []
    found += [f"space before {p}" for p in ".,;:!?" if f" {p}" in out]
    return found


@pytest.mark.parametrize("text", REALISTIC)
def test_invariants_on_realistic_text(text: str) -> None:
    out = spoken(text)
    assert _violations(out) == [], out
    assert out.endswith((".", ")"))


PIECES = [
    "$", "$$", "\\", "\\alpha", "\\frac{", "}", "{", "^", "_", "²", "ᵢ", "𝒪", "ℝ", "α", "≤",
    "∑", "√", "±", "×", "~", "1", "23", "4.5", "1,000", "7B", "12%", "-3", "x", "GPT", "e.g.",
    " ", " ", "\n", ".", ",", "(", ")", "[", "]", "<", ">", "<b>", "*", "**", "#", "`",
    "http://a.b/c_d", "https://", "http", "www.x.org", "&amp;", "2024", "1st", "٣", "①", "½",
    "𝟕", "᧚", "–", "-", "—", "|", "@", "'", '"', "%", "pp", "k", "\t", "\r", "ﬁ", "⁻¹", "🙂",
    "\u0301", "\x00", "ᵀ", "₍₎", "\\cite{x}", "<eos>", "[a](b)", "99999999999999999999th",
]  # fmt: skip


def test_fuzz_never_raises_and_keeps_invariants() -> None:
    rng = random.Random(20240610)
    for _ in range(1500):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 30)))
        out = spoken(text)
        assert _violations(out) == [], (text, out)
        assert spoken(text) == out  # deterministic


def test_word_count_and_duration() -> None:
    text = "Twenty-four papers don't fit, so — we pick five."
    assert word_count(text) == 8
    assert word_count("") == 0
    assert duration_seconds(text, words_per_minute=120) == 4.0
    assert duration_seconds("one two three") == pytest.approx(1.2)
    with pytest.raises(ValueError):
        duration_seconds(text, words_per_minute=0)
