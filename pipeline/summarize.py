"""Summaries of the highlights: cached by (paper version, prompt hash, model, params).

A rerun makes no call for what is cached; each summary is stored as soon as it
arrives, so a crash loses only the calls in flight.  A paper whose summary
fails keeps its abstract (the newsletter says so) and the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from sqlalchemy import Engine

from pipeline.db import utcnow
from pipeline.errors import LLMConfigError, LLMError
from pipeline.llm.base import ChatModel, Completion
from pipeline.models import LLMCall, Paper, Summary
from pipeline.prompts import Prompt, render_prompt
from pipeline.store.summaries import find_summary, log_call, save_summary

log = logging.getLogger(__name__)

KIND = "summary"
MIN_WORDS = 25
MAX_WORDS = 200


@dataclass
class SummarizeResult:
    cached: int = 0
    made: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    failures: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"cached": self.cached, "made": self.made, "failed": self.failed}


class BadOutput(ValueError):
    pass


_MARKDOWN = re.compile(r"(\*\*|__|`|^#+\s*|^\s*[-*•]\s+)", re.MULTILINE)
_PREAMBLE = re.compile(r"^(summary|here is (a|the) summary[^:]*)\s*:\s*", re.IGNORECASE)


def clean_summary(text: str, prompt_text: str) -> str:
    """Strip formatting; keep the first paragraph and whole sentences; reject empty, too
    short, looping or echoed output."""
    text = _PREAMBLE.sub("", _MARKDOWN.sub("", text).strip())
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    if paragraphs and len(paragraphs[0].split()) >= MIN_WORDS:
        text = paragraphs[0]
    text = re.sub(r"\s+", " ", text).strip()
    if text and text[-1] not in ".!?":
        end = max(text.rfind(". "), text.rfind("! "), text.rfind("? "))
        if end > 0 and len(text[: end + 1].split()) >= MIN_WORDS:
            text = text[: end + 1]
    words = text.split()
    if len(words) < MIN_WORDS:
        raise BadOutput(f"too short ({len(words)} words)")
    if len(set(words)) < len(words) * 0.3 or _repeated_ngrams(words) > 0.2:
        raise BadOutput("degenerate repetition")
    flat_prompt = re.sub(r"\s+", " ", prompt_text)
    if "<paper>" in text or _ECHO.search(text) or text[:80] in flat_prompt:
        raise BadOutput("prompt echoed back")
    return _at_most(text, MAX_WORDS)


_ECHO = re.compile(r"\b(Title|Authors|Abstract)\s*:", re.IGNORECASE)


def _repeated_ngrams(words: list[str], n: int = 6) -> float:
    """The share of word n-grams that occur more than once (loops score high)."""
    grams = [tuple(w.lower() for w in words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    counts: dict[tuple[str, ...], int] = {}
    for g in grams:
        counts[g] = counts.get(g, 0) + 1
    return sum(c for c in counts.values() if c > 1) / len(grams)


def _at_most(text: str, limit: int) -> str:
    """Whole sentences up to `limit` words."""
    words = text.split()
    if len(words) <= limit:
        return text
    head = " ".join(words[:limit])
    end = max(head.rfind(". "), head.rfind("! "), head.rfind("? "), head.rfind("."))
    return head[: end + 1] if end > 0 else head + "…"


def params_hash(max_tokens: int, temperature: float) -> str:
    raw = json.dumps({"max_tokens": max_tokens, "temperature": temperature}, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def _untrusted(text: str) -> str:
    """Keep paper text from closing the prompt's delimiter."""
    return re.sub(r"</?\s*paper\s*>", "(paper)", text, flags=re.IGNORECASE)


def summary_prompt(paper: Paper) -> Prompt:
    authors = ", ".join(paper.authors[:8]) + (" et al." if len(paper.authors) > 8 else "")
    return render_prompt(
        KIND,
        title=_untrusted(paper.title),
        authors=_untrusted(authors),
        abstract=_untrusted(paper.abstract),
    )


def summarize_papers(
    engine: Engine,
    model: ChatModel,
    papers: Sequence[Paper],
    *,
    max_tokens: int,
    temperature: float,
    concurrency: int,
    run_id: int | None = None,
) -> SummarizeResult:
    result = SummarizeResult()
    p_hash = params_hash(max_tokens, temperature)
    todo: list[tuple[Paper, Prompt]] = []
    for paper in papers:
        prompt = summary_prompt(paper)
        if find_summary(engine, paper.id, paper.version, KIND, prompt.hash, model.name, p_hash):
            result.cached += 1
        else:
            todo.append((paper, prompt))
    if not todo:
        return result

    stop = threading.Event()  # set on a bad key / unknown model: no new call starts

    def work(item: tuple[Paper, Prompt]) -> tuple[Paper, Prompt, str | None, list[LLMCall]]:
        paper, prompt = item
        calls: list[LLMCall] = []
        if stop.is_set():
            raise StopStage
        prompt_text = "\n".join(m["content"] for m in prompt.messages)
        for _attempt in range(2):  # one retry for bad output
            started = time.perf_counter()
            try:
                completion: Completion = model.complete(
                    prompt.messages, max_tokens=max_tokens, temperature=temperature
                )
            except LLMConfigError as exc:
                stop.set()
                log_call(engine, _call(model, prompt, paper, started, run_id, error=str(exc)))
                raise
            except LLMError as exc:
                calls.append(_call(model, prompt, paper, started, run_id, error=str(exc)))
                return paper, prompt, None, calls
            try:
                text = clean_summary(completion.text, prompt_text)
            except BadOutput as exc:
                calls.append(
                    _call(model, prompt, paper, started, run_id, completion, f"bad output: {exc}")
                )
                continue
            calls.append(_call(model, prompt, paper, started, run_id, completion))
            return paper, prompt, text, calls
        return paper, prompt, None, calls

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = [pool.submit(work, item) for item in todo]
        failure: LLMConfigError | None = None
        for future in as_completed(futures):
            try:
                paper, prompt, text, calls = future.result()
            except StopStage:
                continue
            except LLMConfigError as exc:
                failure = failure or exc
                continue
            _record(engine, result, model, paper, prompt, p_hash, text, calls)
    if failure is not None:
        raise failure
    return result


class StopStage(Exception):
    """A queued call skipped because the stage is stopping."""


def _record(
    engine: Engine,
    result: SummarizeResult,
    model: ChatModel,
    paper: Paper,
    prompt: Prompt,
    p_hash: str,
    text: str | None,
    calls: list[LLMCall],
) -> None:
    for call in calls:
        result.input_tokens += call.input_tokens
        result.output_tokens += call.output_tokens
    *earlier, last = calls
    for call in earlier:
        log_call(engine, call)
    if text is None:
        result.failed += 1
        result.failures.append(f"{paper.id}: {last.error}")
        log.warning("summary of %s failed (%s); its abstract is used instead", paper.id, last.error)
        log_call(engine, last)
        return
    result.made += 1
    summary = Summary(
        paper_id=paper.id,
        version=paper.version,
        kind=KIND,
        prompt_hash=prompt.hash,
        model=model.name,
        params_hash=p_hash,
        text=text,
        input_tokens=last.input_tokens,
        output_tokens=last.output_tokens,
        created=utcnow(),
    )
    save_summary(engine, summary, last)


def _call(
    model: ChatModel,
    prompt: Prompt,
    paper: Paper,
    started: float,
    run_id: int | None,
    completion: Completion | None = None,
    error: str | None = None,
) -> LLMCall:
    return LLMCall(
        run_id=run_id,
        model=model.name,
        prompt_name=prompt.name,
        prompt_hash=prompt.hash,
        paper_id=paper.id,
        input_tokens=completion.input_tokens if completion else 0,
        output_tokens=completion.output_tokens if completion else 0,
        duration_ms=int((time.perf_counter() - started) * 1000),
        status="error" if error else "ok",
        error=error,
        created=utcnow(),
    )
