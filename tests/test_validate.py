"""Output checks: formatting stripped, lengths bounded, loops rejected, numbers flagged."""

from __future__ import annotations

import pytest

from pipeline.summarize.validate import BadOutput, clean_output, unsupported_numbers

GOOD = (
    "The paper claims that adaptive sampling matches fixed-budget self-consistency. It stops "
    "sampling once the vote margin is decisive, evaluated on GSM8K and MATH. Accuracy is "
    "unchanged while samples drop threefold. A critique is that the stopping rule assumes "
    "independent samples. The implication is cheaper test-time compute."
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("**Summary:** " + GOOD, GOOD),
        ("Here is the summary: " + GOOD + "\n\nKey results:\n1. stuff", GOOD),
        (GOOD + " And then the model kept going without an end", GOOD),
        ("# " + GOOD, GOOD),
        ("<p> " + GOOD + "</p>", GOOD),
        ('<div class="x"><strong>' + GOOD + "</strong><br/></div>", GOOD),
    ],
)
def test_summary_formatting_is_stripped(raw: str, expected: str) -> None:
    assert clean_output("summary", raw, "prompt") == expected


@pytest.mark.parametrize(
    "raw", ["", "Short.", "The same sentence. " * 8, "<paper> " + GOOD, "a b " * 30]
)
def test_degenerate_summaries_are_rejected(raw: str) -> None:
    with pytest.raises(BadOutput):
        clean_output("summary", raw, "prompt text")


def test_echoed_prompt_and_loops_are_rejected() -> None:
    with pytest.raises(BadOutput, match="echoed"):
        clean_output("summary", "Paper Title Authors: A. B Abstract: " + GOOD, "Title: x")
    with pytest.raises(BadOutput, match="echoed"):
        clean_output("summary", GOOD, "Title: T\nAbstract: " + GOOD)
    loop = GOOD + " " + " ".join(["The method is also more efficient than previous ones."] * 4)
    with pytest.raises(BadOutput, match="repetition"):
        clean_output("summary", loop, "prompt")


def test_long_output_is_cut_at_a_sentence() -> None:
    words = [f"w{i}" for i in range(400)]
    long = " ".join(" ".join(words[i : i + 10]) + "." for i in range(0, 400, 10))
    text = clean_output("summary", long, "prompt")
    assert len(text.split()) <= 200 and text.endswith(".")


def test_oneliner_is_one_sentence() -> None:
    raw = '"A new sampler cuts reasoning cost threefold on GSM8K. It also does more."'
    assert (
        clean_output("oneliner", raw, "p")
        == "A new sampler cuts reasoning cost threefold on GSM8K."
    )
    with pytest.raises(BadOutput, match="too short"):
        clean_output("oneliner", "Great paper.", "p")


def test_unsupported_numbers() -> None:
    source = "We report 4.2 points on GSM8K with 1,200 samples and a 37% drop; 8 seeds."
    summary = (
        "It gains 4.2 points using 1200 samples, 37 % less, 9 seeds, 81.5% accuracy, 2x faster."
    )
    assert unsupported_numbers(summary, source) == ["81.5%", "2x"]
    assert unsupported_numbers("No numbers at all.", source) == []


def test_title_echo_and_section_labels_are_rejected() -> None:
    title = "BaobabQA: A Culturally Grounded Knowledge Benchmark"
    with pytest.raises(BadOutput, match="title echoed"):
        rest = (
            "It asks questions about local culture in many African languages and reports how "
            "several open models answer them, with a short error analysis."
        )  # long enough with the title, too short without it
        clean_output("summary", f"{title}. {rest}", "prompt", title)
    # A title standing as a heading is dropped; as the subject of a sentence it stays.
    assert clean_output("summary", f"{title}. " + GOOD, "prompt", title) == GOOD
    assert clean_output("summary", f"{title}:\n\n" + GOOD, "prompt", title) == GOOD
    subject = f"{title} tests whether models know local culture. " + GOOD
    assert clean_output("summary", subject, "prompt", title) == subject
    assert clean_output("summary", GOOD, "prompt", title) == GOOD
    with pytest.raises(BadOutput, match="section labels"):
        clean_output("summary", "Method: " + GOOD + " Key Results: more of it here.", "p")


@pytest.mark.parametrize(
    ("raw", "rating"),
    [
        ('{"rating": 7}', "7"),
        ('```json\n{"rating": 10}\n```', "10"),
        ('{"score": 3, "rating": 0}', "0"),  # the rating, not the first number
        ('{"rating": "4"}', "4"),
        ("8", "8"),  # free text, from an endpoint without structured outputs
        ("I would say 6 out of 10.", "6"),
        ('{"verdict": 5}', "5"),  # JSON of another shape: read as free text
    ],
)
def test_relevance_reads_the_json_or_the_free_text(raw: str, rating: str) -> None:
    assert clean_output("relevance", raw, "prompt") == rating


@pytest.mark.parametrize(
    "raw", ['{"rating": 11}', '{"rating": -1}', '{"rating": 7.5}', '{"rating": true}', "high"]
)
def test_relevance_out_of_range_is_bad_output(raw: str) -> None:
    with pytest.raises(BadOutput):
        clean_output("relevance", raw, "prompt")
