"""`make eval` (pipeline.bench.faithfulness) on a tiny synthetic week, against the local
OpenAI-compatible server: which papers it picks, what it counts, how it fails. Timings are
printed but never asserted."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.bench import faithfulness
from pipeline.devservers.openai_api import ChatRequest, OpenAIServer

WEEK = [
    {
        "id": "2606.10001",
        "categories": ["cs.CL"],
        "title": "Self-Consistency Budgets for Large Language Model Reasoning",
        "authors": ["Ada Lovelace"],
        "summary": "We study test-time reasoning of large language models (LLMs) and stop "
        "sampling once the vote margin is decisive. On GSM8K, accuracy stays at 81.5% while "
        "samples drop by 40%.",
    },
    {
        "id": "2606.10002",
        "categories": ["cs.LG", "cs.AI"],
        "title": "Agents That Retrieve: Tool Use and Retrieval for Language Model Agents",
        "authors": ["Alan Turing"],
        "summary": "We train language model agents to call a retrieval tool. Agents answer "
        "more questions on HotpotQA with fewer tool calls.",
    },
    {
        "id": "2606.10003",
        "categories": ["cs.AI"],
        "title": "Alignment and Safety Evaluation of Reasoning Language Models",
        "authors": ["Grace Hopper"],
        "summary": "We evaluate refusal behaviour of reasoning language models under "
        "jailbreak prompts and find that longer reasoning refuses more often.",
    },
    {
        "id": "2606.10004",
        "categories": ["cs.LG"],
        "title": "Efficient Training and Inference of Language Models with Sparse Attention",
        "authors": ["Edsger Dijkstra"],
        "summary": "Sparse attention speeds up training and inference of language models.",
    },
    {  # far from the default interests: ranked last, though first by id
        "id": "2606.09998",
        "categories": ["stat.ML"],
        "title": "Crop Yield Forecasting from Soil Moisture Sensors",
        "authors": ["Gregor Mendel"],
        "summary": "Soil moisture sensors predict crop yield a season ahead.",
    },
    {  # not in the default categories: never picked, though close to the interests
        "id": "2606.09999",
        "categories": ["q-bio.GN"],
        "title": "Large Language Models for Reasoning, Alignment and Safety of Agents",
        "authors": ["Rosalind Franklin"],
        "summary": "Large language models reason about genomes.",
    },
]

REPLIES = {  # by title; each is long enough for clean_output and not degenerate
    "Self-Consistency": "In short, the authors stop sampling once the vote margin of the "
    "language models is decisive. On GSM8K accuracy stays at 81.5% while samples drop by 40%, "
    "which makes test-time reasoning of LLMs cheaper without any loss.",
    "Agents That Retrieve": "In short, language model agents learn to call a retrieval tool "
    "and answer more questions on HotpotQA and MMLU with 12% fewer tool calls, using fewer "
    "calls per question than agents without training.",
    "Alignment and Safety": "In short, reasoning language models refuse jailbreak prompts "
    "more often when they reason for longer, a state-of-the-art finding for the safety "
    "evaluation of reasoning models. The evaluation covers jailbreak prompts only, and "
    "reasoning language models refuse jailbreak prompts more often in it.",
    "Efficient Training": "Too short.",
    "Crop Yield": "In short, soil moisture sensors predict crop yield a season ahead, which "
    "gives farmers time to plan; the summary adds nothing the abstract does not say.",
}
MADE = ("Self-Consistency", "Agents That Retrieve", "Crop Yield")  # the loop is refused


def responder(request: ChatRequest) -> str:
    prompt = request.last_user_message
    return next(reply for key, reply in REPLIES.items() if f"Title: {key}" in prompt)


@pytest.fixture
def week(tmp_path: Path) -> Path:
    directory = tmp_path / "week"
    directory.mkdir()
    lines = [json.dumps(row) for row in WEEK] + [json.dumps(WEEK[0])]  # a repeated listing
    (directory / "2026-06-15.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def test_table_counts_each_kind_of_flag(week: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with OpenAIServer(responder=responder) as server:
        assert faithfulness.main(["--week-dir", str(week), "--base-url", server.base_url]) == 0
        assert server.chat_calls == 3 + 2 + 2  # each failed paper got its one retry
    out = capsys.readouterr().out
    assert "5 of 5 papers in cs.AI, cs.LG, cs.CL, stat.ML" in out
    row = re.search(r"^\| 5 \|.*\|$", out, re.MULTILINE)
    assert row is not None
    cells = [c.strip() for c in row.group(0).strip("|").split("|")]
    mean_words = sum(len(REPLIES[k].split()) for k in MADE) / len(MADE)
    # papers, made, failed, numbers, names, number or name, loops, over-claims, mean words
    assert cells[:9] == ["5", "3", "2", "1", "1", "1", "0", "0", f"{mean_words:.0f}"]
    assert cells[10] == "1"  # the looping reply was asked again, then refused
    assert "flags: number:12%, name:MMLU\n" in out
    assert out.count("flags: none") == 4  # two faithful summaries and the two failed
    assert "**2606.10004** Efficient Training" in out
    assert "(failed: the newsletter shows the abstract)" in out


def test_limit_takes_the_papers_closest_to_the_interests(
    week: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with OpenAIServer(responder=responder) as server:
        args = ["--week-dir", str(week), "--base-url", server.base_url, "--limit", "2", "--quiet"]
        assert faithfulness.main(args) == 0
        prompts = [r.body["messages"][1]["content"] for r in server.requests if r.body]
    out = capsys.readouterr().out
    assert "2 of 5 papers" in out and "flags:" not in out
    titles = {re.search(r"Title: (.*)", p).group(1) for p in prompts}  # type: ignore[union-attr]
    assert len(titles) == 2
    assert WEEK[4]["title"] not in titles and WEEK[5]["title"] not in titles


def test_absent_week_is_skipped_and_bad_arguments_are_one_line(
    tmp_path: Path, week: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert faithfulness.main(["--week-dir", str(tmp_path / "nowhere")]) == 0
    assert "(skipped:" in capsys.readouterr().out
    assert faithfulness.main(["--week-dir", str(week), "--limit", "0"]) == 1
    assert capsys.readouterr().err == "error: --limit must be at least 1, got 0\n"
    assert faithfulness.main(["--week-dir", str(week), "--set", "llm_temperature"]) == 2
    assert capsys.readouterr().err == "error: --set needs KEY=VALUE, got 'llm_temperature'\n"
    assert faithfulness.main(["--week-dir", str(tmp_path)]) == 1  # no *.jsonl in it
    assert "cannot read the week's listings" in capsys.readouterr().err
