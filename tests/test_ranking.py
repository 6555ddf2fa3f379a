"""The first ranker: similarity to the interest description, with explanations."""

from __future__ import annotations

from pipeline.ranking.interest import Candidate, InterestRanker, _distinct


def cands() -> list[Candidate]:
    return [
        Candidate("1", "Protein folding with graph networks", "We fold proteins on graphs."),
        Candidate(
            "2",
            "Speculative decoding for fast LLM inference",
            "Efficient inference of large language models with a draft model.",
        ),
        Candidate(
            "3",
            "Reasoning in language models via test-time search",
            "Language models reason better with search at inference.",
        ),
    ]


def test_scores_follow_the_description() -> None:
    ranker = InterestRanker("efficient inference of language models, speculative decoding")
    scored = {s.id: s for s in ranker.score(cands())}
    assert scored["2"].score > scored["3"].score > scored["1"].score
    assert scored["1"].score == 0.0
    assert "speculative decoding" in scored["2"].explanation
    assert scored["1"].explanation == "in your categories; no direct match with your interests"


def test_other_description_other_order() -> None:
    ranker = InterestRanker("protein structure and graph neural networks")
    scores = [s.score for s in ranker.score(cands())]
    assert scores[0] == max(scores) > 0


def test_deterministic_and_empty() -> None:
    ranker = InterestRanker("language models")
    assert ranker.score(cands()) == ranker.score(cands())
    assert ranker.score([]) == []


def test_explanation_terms_do_not_repeat_words() -> None:
    assert _distinct(["machine learning", "machine", "learning", "agents", "rl"], 3) == [
        "machine learning",
        "agents",
        "rl",
    ]
