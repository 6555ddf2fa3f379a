"""The learned interest ranker on small fixtures written here: each signal alone, the combiner,
cold start, feedback moving a topic up, explanations, calibration, the embedding cache
and the `rank-csv` benchmark contract end to end.  A bag-of-words hashing embedder stands in
for MiniLM (texts sharing words get similar vectors); one test runs the real model."""

from __future__ import annotations

import csv
import hashlib
import math
import random
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from pipeline.ranking import rank_csv
from pipeline.ranking.data import Item, LabelledItem, Profile, RankerConfig
from pipeline.ranking.embed_cache import CachedEmbedder
from pipeline.ranking.features import Phrase, TextViews, author_key, interest_phrases
from pipeline.ranking.scorer import InterestScorer, _holdout, _recency, _standardise
from pipeline.ranking.signals import AuthorSignal, LinearSignal, NeighbourSignal, ProfileSignal


class HashEmbedder:
    """Deterministic stand-in for a sentence model: hashed bag of words, unit length."""

    name = "hash-bow-64"
    dimensions = 64

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace(".", " ").split():
                if len(word) < 3:
                    continue
                h = hashlib.sha1(word.encode()).digest()
                out[row, h[0] % self.dimensions] += 1.0 if h[1] % 2 else -1.0
            norm = float(np.linalg.norm(out[row]))
            if norm == 0:
                out[row, 0], norm = 1.0, 1.0
            out[row] /= norm
        return out


TOPICS = {
    "graphs": ["graph", "neural", "message", "passing", "molecule", "node"],
    "language": ["language", "models", "reasoning", "chain", "thought", "prompting"],
    "vision": ["image", "segmentation", "convolutional", "pixels", "detection", "camera"],
    "control": ["reinforcement", "policy", "robot", "reward", "control", "locomotion"],
}
FILLER = ["a study", "revisited", "at scale", "with guarantees", "made simple", "in practice"]
START = date(2024, 6, 3)


def title(topic: str, rng: random.Random) -> str:
    words = rng.sample(TOPICS[topic], 3)
    return f"{' '.join(words).capitalize()} {rng.choice(FILLER)}"


def items(topic: str, n: int, seed: int, prefix: str = "c") -> list[Item]:
    rng = random.Random(f"{topic}{seed}")
    return [Item(id=f"{prefix}-{topic}-{i}", title=title(topic, rng)) for i in range(n)]


def history(picked: dict[str, float], n_per_topic: int = 40, seed: int = 1) -> list[LabelledItem]:
    """n_per_topic papers per topic over 4 weeks; a topic's share picked given by `picked`."""
    out = []
    for topic in TOPICS:
        rng = random.Random(f"h{topic}{seed}")
        for i in range(n_per_topic):
            week = START + timedelta(weeks=i % 4)
            out.append(
                LabelledItem(
                    id=f"h-{topic}-{seed}-{i}",
                    title=title(topic, rng),
                    label=int(rng.random() < picked.get(topic, 0.0)),
                    at=week,
                    date=week,
                )
            )
    return out


def mean_rank(scores: dict[str, float], topic: str) -> float:
    order = sorted(scores, key=lambda i: -scores[i])
    ranks = [order.index(i) for i in scores if f"-{topic}-" in i]
    return sum(ranks) / len(ranks)


def candidates() -> list[Item]:
    return [c for t in TOPICS for c in items(t, 8, seed=99)]


# -- each signal alone ----------------------------------------------------------------------


def test_linear_signal_learns_the_picked_topic() -> None:
    hist = history({"language": 0.8})
    emb = HashEmbedder()
    labels = np.asarray([h.label for h in hist])
    views = TextViews()
    text = views.fit_transform(hist)
    sig = LinearSignal(views, RankerConfig()).fit(
        text, hist, labels, np.ones(len(hist)), emb.embed([h.text for h in hist])
    )
    cands = candidates()
    out = sig.score(cands, emb.embed([c.text for c in cands]))
    scores = dict(zip([c.id for c in cands], out.values, strict=True))
    assert mean_rank(scores, "language") < 8  # all 8 language papers at the top
    lang = next(i for i, c in enumerate(cands) if "language" in c.id)
    assert out.explain(lang).startswith("matches '")


def test_neighbour_signal_prefers_papers_close_to_picks() -> None:
    hist = history({"graphs": 0.8})
    emb = HashEmbedder()
    labels = np.asarray([h.label for h in hist])
    sig = NeighbourSignal(RankerConfig(k_pos=3, k_neg=9)).fit(
        hist, labels, emb.embed([h.text for h in hist])
    )
    cands = candidates()
    out = sig.score(cands, emb.embed([c.text for c in cands]))
    scores = dict(zip([c.id for c in cands], out.values, strict=True))
    assert mean_rank(scores, "graphs") < 8
    graph = next(i for i, c in enumerate(cands) if "graphs" in c.id)
    assert out.explain(graph).startswith("close to a paper you picked: ")


def test_profile_signal_matches_description_phrases_and_seeds() -> None:
    emb = HashEmbedder()
    seed = Item(id="s1", title="Robot locomotion policy with reward shaping")
    sig = ProfileSignal.build("image segmentation, pixels; and detection", [seed], emb.embed)
    assert sig is not None
    cands = candidates()
    out = sig.score(cands, emb.embed([c.text for c in cands]))
    scores = dict(zip([c.id for c in cands], out.values, strict=True))
    assert mean_rank(scores, "vision") < 12 and mean_rank(scores, "control") < 12
    vision = next(i for i, c in enumerate(cands) if "vision" in c.id)
    assert out.explain(vision).startswith("matches '")
    control = next(i for i, c in enumerate(cands) if "control" in c.id)
    assert out.explain(control) == f"close to your seed paper: {seed.title}"
    assert ProfileSignal.build("", [], emb.embed) is None


def test_seed_papers_count_as_one_interest() -> None:
    """A paper close to all seeds outranks one that repeats a single seed off to the side
    (when each seed was its own phrase, the repeat won with a perfect match)."""
    seeds = [Item(id=f"s{i}", title=f"seed {i}") for i in range(3)]
    seed_vectors = np.eye(4, dtype=np.float32)[:3]
    sig = ProfileSignal([], seeds, seed_vectors)
    rng = np.random.default_rng(5)
    filler = np.abs(rng.normal(0, 1, (40, 4)))
    broad = seed_vectors.sum(axis=0)
    rows = np.vstack([filler, broad, seed_vectors[1]])
    vectors = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    papers = [Item(id=f"p{i}", title="p") for i in range(len(vectors))]
    out = sig.score(papers, vectors)
    assert out.values.argmax() == 40 and out.values[40] > out.values[41]
    assert out.explain(41) == "close to your seed paper: seed 1"
    assert sig.topic(vectors)[41] == "seed 1"


def _papers(generic: int, specific: int) -> tuple[list[Item], NDArray[np.float32]]:
    """Every paper leans on axis 0 (what the broad phrase says); `specific` ones also on 1."""
    rng = np.random.default_rng(3)
    rows = [[0.9, 0.0, 0.3] for _ in range(generic)] + [[0.7, 0.5, 0.3] for _ in range(specific)]
    v = np.asarray(rows) + rng.normal(0, 0.02, (generic + specific, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    papers = [Item(id=f"g{i}", title="g") for i in range(generic)]
    papers += [Item(id=f"s{i}", title="s") for i in range(specific)]
    return papers, v.astype(np.float32)


def test_a_broad_phrase_does_not_outvote_the_specific_ones() -> None:
    phrases = [Phrase("language models", "language models"), Phrase("agents", "LLMs: agents")]
    sig = ProfileSignal(phrases, [], np.eye(3, dtype=np.float32)[:2])
    papers, vectors = _papers(30, 10)
    # Raw cosine: every generic paper is closer to 'language models' than any specific one.
    raw = (vectors @ sig.vectors.T).max(axis=1)
    assert raw[:30].min() > raw[30:].max()
    # Standardised per phrase over the batch: the specific papers stand out, for 'agents'.
    out = sig.score(papers, vectors)
    assert out.values[30:].min() > out.values[:30].max()
    assert {out.explain(i) for i in range(30, 40)} == {"matches 'agents'"}
    assert set(sig.topic(vectors)[30:]) == {"agents"}
    # Fitted on a reference (the history): the same standing for a batch too small alone.
    sig.fit(vectors)
    few = sig.score(papers[28:32], vectors[28:32]).values
    assert few[2:].min() > few[:2].max()
    # Without a reference, a small batch is scored by raw cosine.
    sig.fit(vectors[:5])
    np.testing.assert_allclose(sig.standing(vectors[28:32]), vectors[28:32] @ sig.vectors.T)


def test_interest_phrases_keep_their_heading_and_do_not_split_on_and() -> None:
    got = interest_phrases("LLMs: reasoning, alignment and safety; state space models\nRL")
    assert got == [
        Phrase("reasoning", "LLMs: reasoning"),
        Phrase("alignment and safety", "LLMs: alignment and safety"),
        Phrase("state space models", "state space models"),
    ]
    assert interest_phrases("Vision (segmentation). And graphs, or trees.\n\n") == [
        Phrase("Vision", "Vision"),
        Phrase("segmentation", "segmentation"),
        Phrase("graphs", "graphs"),
        Phrase("trees", "trees"),
    ]
    assert interest_phrases("Robots:") == [Phrase("Robots", "Robots")]


def test_author_signal_matches_names_loosely() -> None:
    assert author_key("Zoë  Müller") == author_key("Z. Muller") == "z muller"
    sig = AuthorSignal(["Zoë Müller"])
    papers = [
        Item(id="1", title="x", authors=("A. Person", "Z. Muller")),
        Item(id="2", title="y", authors=("Zed Miller",)),
    ]
    out = sig.score(papers, np.zeros((2, 4), dtype=np.float32))
    assert list(out.values) == [1.0, 0.0]
    assert out.explain(0) == "by Z. Muller, whom you follow"


# -- combiner, cold start, feedback -----------------------------------------------------------


def test_standardise_by_batch_or_by_reference() -> None:
    v = np.array([1.0, 2.0, 3.0])
    assert np.allclose(_standardise(v, None), (v - 2) / np.std(v))
    assert np.allclose(_standardise(v, (0.0, 2.0)), v / 2)
    assert list(_standardise(np.array([5.0]), None)) == [0.0]


def test_profile_weight_fades_with_picks() -> None:
    emb = HashEmbedder()
    profile = Profile(description="image segmentation")
    cold = InterestScorer(emb, profile).train([])
    assert cold.info.profile_weight == 1.0
    warm = InterestScorer(emb, profile, RankerConfig(prior_strength=10)).train(
        history({"language": 0.5})
    )
    assert 0 < warm.info.profile_weight < 0.5
    assert warm.info.profile_weight == pytest.approx(10 / (10 + warm.info.positives))
    assert InterestScorer(emb).train(history({"language": 0.5})).info.profile_weight == 0.0


def test_combiner_adds_signals_and_followed_authors() -> None:
    emb = HashEmbedder()
    profile = Profile(description="graph message passing", followed_authors=("Ada Lovelace",))
    scorer = InterestScorer(emb, profile).train(history({"language": 0.7}))
    cands = candidates()
    by_ada = Item(id="c-ada", title=cands[-1].title, authors=("A. Lovelace",))  # a control paper
    out = {s.id: s for s in scorer.score([*cands, by_ada])}
    # the same title scores higher with a followed author, and says why
    assert out["c-ada"].score > out[cands[-1].id].score
    assert "by A. Lovelace, whom you follow" in out["c-ada"].explanation
    # learned interest (language) and the description (graphs) both beat the rest
    scores = {k: v.score for k, v in out.items()}
    rest = (mean_rank(scores, "vision") + mean_rank(scores, "control")) / 2
    assert mean_rank(scores, "language") < rest and mean_rank(scores, "graphs") < rest


def test_cold_start_ranks_by_the_description_alone() -> None:
    profile = Profile(description="reinforcement learning for robot control; reward, policy")
    scorer = InterestScorer(HashEmbedder(), profile)
    out = scorer.train([]).score(candidates())
    scores = {s.id: s.score for s in out}
    assert mean_rank(scores, "control") < 8
    assert all(0.0 < s.score < 1.0 and s.explanation for s in out)
    assert not scorer.info.calibrated


def test_no_profile_and_no_history_still_scores_everything() -> None:
    out = InterestScorer(HashEmbedder()).train([]).score(candidates())
    assert len(out) == 32 and len({s.score for s in out}) == 1
    assert out[0].explanation == "no interests or feedback yet: newest first"
    assert InterestScorer(HashEmbedder()).train([]).score([]) == []


def test_only_skips_in_the_history_rank_by_the_description() -> None:
    skips = [h for h in history({}) if not h.label]
    scorer = InterestScorer(HashEmbedder(), Profile(description="image segmentation, pixels"))
    out = {s.id: s.score for s in scorer.train(skips).score(candidates())}
    assert scorer.info.positives == 0 and scorer.info.profile_weight == 1.0
    assert mean_rank(out, "vision") < 8


def test_feedback_moves_a_topic_up() -> None:
    """Picking graph papers moves the graph candidates up, and the language ones down."""
    emb = HashEmbedder()
    before_hist = history({"language": 0.6, "graphs": 0.05})
    before = {s.id: s.score for s in InterestScorer(emb).train(before_hist).score(candidates())}
    rng = random.Random(7)
    likes = [
        LabelledItem(
            id=f"like-{i}", title=title("graphs", rng), label=1, at=START + timedelta(weeks=4)
        )
        for i in range(25)
    ]
    after_hist = before_hist + likes
    after = {s.id: s.score for s in InterestScorer(emb).train(after_hist).score(candidates())}
    assert mean_rank(after, "graphs") < mean_rank(before, "graphs") - 4
    assert mean_rank(after, "language") > mean_rank(before, "language")


def test_only_positive_feedback_is_enough() -> None:
    """Likes without any 'shown, not picked' rows: the neighbours signal still ranks."""
    rng = random.Random(3)
    likes = [LabelledItem(id=f"l{i}", title=title("vision", rng), label=1) for i in range(5)]
    out = {s.id: s.score for s in InterestScorer(HashEmbedder()).train(likes).score(candidates())}
    assert mean_rank(out, "vision") < 8


def test_explanations_present_for_every_candidate() -> None:
    profile = Profile(description="image segmentation", followed_authors=("Ada Lovelace",))
    out = (
        InterestScorer(HashEmbedder(), profile)
        .train(history({"language": 0.5}))
        .score(candidates())
    )
    assert all(s.explanation.strip() for s in out)
    assert all(len(s.explanation) < 250 for s in out)


def test_calibrated_on_the_latest_weeks() -> None:
    hist = history({"language": 0.6, "graphs": 0.1}, n_per_topic=60)
    scorer = InterestScorer(HashEmbedder()).train(hist)
    assert scorer.info.calibrated and scorer.info.slope > 0
    # probabilities track the pick rate: language papers likely, vision papers unlikely
    out = {s.id: s.score for s in scorer.score(candidates())}
    lang = [v for k, v in out.items() if "-language-" in k]
    vision = [v for k, v in out.items() if "-vision-" in k]
    assert min(lang) > 0.3 and max(vision) < 0.2


def test_holdout_takes_whole_latest_days() -> None:
    hist = history({"language": 0.6}, n_per_topic=40)
    labels = np.asarray([h.label for h in hist])
    split = _holdout(hist, labels, 0.15)
    assert split is not None
    fit, held = split
    latest = max(h.at for h in hist if h.at)
    assert {hist[i].at for i in held} == {latest}
    assert set(fit) | set(held) == set(range(len(hist))) and not set(fit) & set(held)
    assert _holdout(hist[:3], labels[:3], 0.15) is None


# -- embedding cache and the CSV contract ----------------------------------------------------


def test_cached_embedder_embeds_each_text_once(tmp_path: Path) -> None:
    inner = HashEmbedder()
    first = CachedEmbedder(inner, tmp_path)
    a = first.embed(["alpha beta", "gamma delta", "alpha beta"])
    assert inner.calls == [["alpha beta", "gamma delta"]]
    second = CachedEmbedder(inner, tmp_path)  # a new process: reads the SQLite file
    b = second.embed(["gamma delta", "alpha beta"])
    assert len(inner.calls) == 1 and second.hits == 2 and second.misses == 0
    assert np.array_equal(a[[1, 0]], b)
    assert (tmp_path / "hash-bow-64.sqlite").is_file()
    assert second.embed([]).shape == (0, 64)


TRAIN_HEADER = ["id", "title", "date", "added", "week", "downloaded", "kept", "manual", "label"]


def write_csvs(tmp: Path, label: str = "downloaded") -> tuple[Path, Path, list[str]]:
    hist = history({"language": 0.5}, n_per_topic=20)
    train = tmp / "train.csv"
    with train.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(TRAIN_HEADER)
        for i, h in enumerate(hist):
            kept = int(bool(h.label) and i % 3 == 0)
            row_label = kept if label == "kept" else h.label
            at = h.at.isoformat() if h.at else ""
            w.writerow([f"2406.{i:05d}", h.title, at, at, at, h.label, kept, 0, row_label])
    ids = ["2410.01230", "2410.10", "0704.0001", "2410.01230v2", "1e5"]
    cands = tmp / "candidates.csv"
    with cands.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "title", "date", "added", "week"])
        for id_, c in zip(ids, candidates(), strict=False):
            w.writerow([id_, c.title, "2024-07-01", "2024-07-02", "2024-07-01"])
    return train, cands, ids


@pytest.mark.parametrize("label", ["downloaded", "kept"])
def test_rank_csv_end_to_end(tmp_path: Path, label: str) -> None:
    train, cands, ids = write_csvs(tmp_path, label)
    out = tmp_path / "out.csv"
    n = rank_csv.rank_files(train, cands, out, CachedEmbedder(HashEmbedder(), tmp_path / "c"))
    assert n == len(ids)
    with out.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["id", "score"]
    assert [r[0] for r in rows[1:]] == ids  # ids stay text, in candidate order
    assert all(math.isfinite(float(r[1])) for r in rows[1:])


def test_rank_csv_training_rows(tmp_path: Path) -> None:
    train, _, _ = write_csvs(tmp_path, "kept")
    rows = rank_csv.read_train(train)
    # a downloaded paper is a pick even when the benchmark asks for `kept`; kept counts twice
    assert {r.weight for r in rows if r.label} == {1.0, rank_csv.KEPT_WEIGHT}
    assert all(r.at is not None for r in rows)


def test_rank_csv_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("name,score\nx,1\n")
    code = rank_csv.main([str(bad), str(bad), str(tmp_path / "o.csv"), "--cache-dir", "c"])
    assert code == 2
    assert "missing column(s) id, title" in capsys.readouterr().err
    missing = rank_csv.main(["nope.csv", str(bad), str(tmp_path / "o.csv")])
    assert missing == 2


@pytest.mark.local_model
def test_rank_csv_with_the_real_minilm(tmp_path: Path) -> None:
    train, cands, ids = write_csvs(tmp_path)
    out = tmp_path / "out.csv"
    argv = [str(train), str(cands), str(out), "--cache-dir", str(tmp_path / "cache")]
    assert rank_csv.main(argv) == 0
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == ids
    assert all(0.0 < float(r["score"]) < 1.0 for r in rows)
    assert (tmp_path / "cache" / "embeddings" / "all-MiniLM-L6-v2-128tok.sqlite").is_file()
    assert rank_csv.main(argv) == 0  # second run: every title from the cache


def test_recency_halves_the_weight_of_a_label_one_half_life_older() -> None:
    rows = [
        LabelledItem(id=str(i), title="t", label=1, at=START + timedelta(weeks=w))
        for i, w in enumerate([8, 4, 0])
    ] + [LabelledItem(id="undated", title="t", label=0)]
    np.testing.assert_allclose(_recency(rows, 4.0), [1.0, 0.5, 0.25, 1.0])
    np.testing.assert_allclose(_recency(rows, 0.0), [1.0, 1.0, 1.0, 1.0])
