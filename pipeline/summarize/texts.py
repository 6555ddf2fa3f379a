"""LLM texts about papers: dense summaries of the highlights, one-liners for the rest.

Each text is cached by (paper version, kind, prompt hash, model, parameters): a rerun makes
no call for what exists. Calls run concurrently (bounded), each retried on 429 / 5xx /
timeouts with backoff honouring Retry-After; every attempt is logged in `llm_call`. Each
text is stored the moment it arrives, so a crash loses only the calls in flight. A paper
whose text fails (after one retry for bad output) keeps its abstract and the stage goes
on; a bad key, an unknown model or an endpoint that cannot be reached stops the stage.
A budget stops new calls before it would be exceeded; the rest fall back likewise.

A failure is stored under the same key (`SummaryFailure`) when the model did answer and the
answer was unusable: bad output twice, or a content filter's refusal. Asking again would
only repeat it, so the next run makes no call for it (`force` does). Failures that say
nothing about the answer -- timeouts, 429, 5xx, a dropped connection, other HTTP errors (a
parameter or a context length the endpoint will not take: fixing the settings fixes those
without changing the key), the budget -- are not stored: the next run asks again.

Replies that must have a shape ask for it with a JSON schema (`RESPONSE_FORMATS`). The
schema is not part of the cache key: it constrains how the answer is written, not what is
asked (the prompt, whose hash is in the key, says both), so ratings stored before it was
sent stay valid.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from pipeline.clock import utcnow
from pipeline.errors import (
    LLMConfigError,
    LLMContentFiltered,
    LLMError,
    LLMModelGone,
    LLMTransient,
    LLMUnreachable,
)
from pipeline.llm.base import ChatModel, Completion
from pipeline.llm.cost import Budget, PriceTable, prompt_tokens
from pipeline.llm.retry import RetryPolicy
from pipeline.store.models import LLMCall, Paper, Summary, SummaryFailure, TextKey
from pipeline.store.summaries import (
    find_failure,
    find_summary,
    log_call,
    save_failure,
    save_summary,
)
from pipeline.summarize.faithfulness import check
from pipeline.summarize.prompts import Prompt, render_prompt
from pipeline.summarize.validate import RATING_FORMAT, BadOutput, clean_output

log = logging.getLogger(__name__)

SUMMARY = "summary"
ONELINER = "oneliner"
PODCAST = "podcast"
RELEVANCE = "relevance"
MAX_TOKENS = {SUMMARY: 1.0, ONELINER: 0.25, PODCAST: 1.0, RELEVANCE: 0.0}  # of llm_max_tokens
RESPONSE_FORMATS: dict[str, Mapping[str, Any]] = {RELEVANCE: RATING_FORMAT}  # the rest: prose


@dataclass(frozen=True)
class SourceText:
    """What the model reads about a paper: the abstract, or (part of) the full text."""

    text: str
    source: str = "abstract"  # abstract | html | pdf
    note: str | None = None

    @property
    def label(self) -> str:
        return "Abstract" if self.source == "abstract" else "Full text"


@dataclass(frozen=True)
class Job:
    paper: Paper
    kind: str
    prompt: Prompt
    source: SourceText
    max_tokens: int
    params_hash: str
    response_format: Mapping[str, Any] | None = None  # asked for; the reply is checked anyway


@dataclass
class Options:
    temperature: float
    concurrency: int
    retry: RetryPolicy
    prices: PriceTable
    budget: Budget = field(default_factory=lambda: Budget(None))
    run_id: int | None = None
    force: bool = False  # write every text again, cached or not (`regenerate --resummarize`)
    on_done: Callable[[int], None] | None = None  # told how many jobs finished (progress bars)


@dataclass
class SummarizeResult:
    cached: int = 0
    made: int = 0
    failed: int = 0
    known_failed: int = 0  # failed in an earlier run: not asked again (see the module doc)
    over_budget: int = 0
    flagged: int = 0
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    failures: list[str] = field(default_factory=list)
    # Why the model stopped answering for good (the embedded model's server died): the texts
    # not written then are among `failed`.
    model_gone: str | None = None

    def counts(self) -> dict[str, int | float]:
        return {
            "cached": self.cached,
            "made": self.made,
            "failed": self.failed,
            "known_failed": self.known_failed,
            "over_budget": self.over_budget,
            "flagged": self.flagged,
            "calls": self.calls,
            "cost_usd": round(self.cost_usd, 6),
        }

    def add(self, other: SummarizeResult) -> None:
        for name in (
            "cached",
            "made",
            "failed",
            "known_failed",
            "over_budget",
            "flagged",
            "calls",
            "input_tokens",
            "output_tokens",
            "cost_usd",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failures += other.failures
        self.model_gone = self.model_gone or other.model_gone


@dataclass(frozen=True)
class Estimate:
    calls: int
    cached: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    priced: bool


# ----------------------------------------------------------------------------- jobs
def _untrusted(text: str) -> str:
    """Keep paper text from closing the prompt's delimiter."""
    return re.sub(r"</?\s*paper\s*>", "(paper)", text, flags=re.IGNORECASE)


def params_hash(
    max_tokens: int, temperature: float, source: SourceText, extra: Mapping[str, str]
) -> str:
    mode = source.source if source.source == "abstract" else f"full:{len(source.text)}"
    raw = json.dumps(
        {"max_tokens": max_tokens, "temperature": temperature, "input": mode, **extra},
        sort_keys=True,
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def make_job(
    paper: Paper,
    kind: str,
    *,
    max_tokens: int,
    temperature: float,
    source: SourceText | None = None,
    extra: Mapping[str, str] | None = None,
) -> Job:
    """`extra`: more prompt variables (e.g. the reader's interests), part of the cache key."""
    source = source or SourceText(paper.abstract)
    variables = {k: _untrusted(v) for k, v in (extra or {}).items()}
    authors = ", ".join(paper.authors[:8]) + (" et al." if len(paper.authors) > 8 else "")
    prompt = render_prompt(
        kind,
        title=_untrusted(paper.title),
        authors=_untrusted(authors),
        abstract=_untrusted(paper.abstract),
        text=_untrusted(source.text),
        source_label=source.label,
        **variables,
    )
    tokens = max(16, int(max_tokens * MAX_TOKENS[kind]))
    return Job(
        paper,
        kind,
        prompt,
        source,
        tokens,
        params_hash(tokens, temperature, source, variables),
        RESPONSE_FORMATS.get(kind),
    )


def text_key(job: Job, model: str) -> TextKey:
    """The cache key of the text `job` asks `model` for."""
    p = job.paper
    return TextKey(
        paper_id=p.id,
        version=p.version,
        kind=job.kind,
        prompt_hash=job.prompt.hash,
        model=model,
        params_hash=job.params_hash,
    )


def _is_cached(engine: Engine, job: Job, model: str) -> bool:
    """A text exists for the job, or a stored failure: either way no call is needed."""
    return _cached_text(engine, job, model) or _failed_before(engine, job, model)


def _cached_text(engine: Engine, job: Job, model: str) -> bool:
    return find_summary(engine, text_key(job, model)) is not None


def _failed_before(engine: Engine, job: Job, model: str) -> bool:
    return find_failure(engine, text_key(job, model)) is not None


def estimate(engine: Engine, model: str, jobs: Sequence[Job], prices: PriceTable) -> Estimate:
    """What running `jobs` would cost, before anything is sent (worst case on output)."""
    todo = [j for j in jobs if not _is_cached(engine, j, model)]
    tokens_in = sum(prompt_tokens(j.prompt.messages) for j in todo)
    tokens_out = sum(j.max_tokens for j in todo)
    return Estimate(
        len(todo),
        len(jobs) - len(todo),
        tokens_in,
        tokens_out,
        prices.cost(model, tokens_in, tokens_out),
        prices.known(model),
    )


# ----------------------------------------------------------------------------- running
def run_jobs(
    engine: Engine, model: ChatModel, jobs: Sequence[Job], opts: Options
) -> SummarizeResult:
    """Run every job not cached yet; the model is closed at the end."""
    return asyncio.run(_run_jobs(engine, model, jobs, opts))


async def _run_jobs(
    engine: Engine, model: ChatModel, jobs: Sequence[Job], opts: Options
) -> SummarizeResult:
    result = SummarizeResult()
    todo = []
    for job in jobs:
        if opts.force:
            todo.append(job)
        elif _cached_text(engine, job, model.name):
            result.cached += 1
        elif _failed_before(engine, job, model.name):
            result.known_failed += 1
        else:
            todo.append(job)
    if opts.on_done is not None and len(todo) < len(jobs):
        opts.on_done(len(jobs) - len(todo))
    gate = asyncio.Semaphore(max(1, opts.concurrency))
    stopped: list[LLMConfigError] = []

    async def one(job: Job) -> None:
        async with gate:
            if stopped:
                return
            if result.model_gone is not None:
                result.failed += 1
                result.failures.append(f"{job.paper.id}: {job.kind} not written")
                if opts.on_done is not None:
                    opts.on_done(1)
                return
            worst = opts.prices.cost(model.name, prompt_tokens(job.prompt.messages), job.max_tokens)
            if not opts.budget.reserve(worst):
                result.over_budget += 1
                result.failures.append(f"{job.paper.id}: over budget")
                return
            spent = 0.0
            try:
                spent = await _attempt(engine, model, job, opts, result)
            except LLMConfigError as exc:
                stopped.append(exc)
            except LLMModelGone as exc:
                result.model_gone = result.model_gone or str(exc)
                result.failed += 1
                result.failures.append(f"{job.paper.id}: {job.kind} not written")
            finally:
                opts.budget.settle(worst, spent)
                if opts.on_done is not None:
                    opts.on_done(1)

    try:
        await asyncio.gather(*(one(job) for job in todo))
    finally:
        await model.aclose()
    if stopped:
        raise stopped[0]
    return result


async def _attempt(
    engine: Engine, model: ChatModel, job: Job, opts: Options, result: SummarizeResult
) -> float:
    """One job: calls with retries, one more try for bad output; returns what it cost."""
    prompt_text = "\n".join(m["content"] for m in job.prompt.messages)
    spent = 0.0
    last_error = ""
    unusable = False  # the model answered, and asking again would not help: stored
    for retry_bad_output in (False, True):
        # A retry after bad output samples hotter: the same settings would repeat the output.
        temperature = min(1.0, opts.temperature + 0.4) if retry_bad_output else opts.temperature
        started = time.perf_counter()

        def failed(exc: LLMTransient) -> None:
            nonlocal started
            _log(engine, result, model, job, opts, started, error=str(exc))
            started = time.perf_counter()

        try:
            completion: Completion = await opts.retry.run(
                lambda t=temperature: model.complete(  # type: ignore[misc]
                    job.prompt.messages,
                    max_tokens=job.max_tokens,
                    temperature=t,
                    response_format=job.response_format,
                ),
                on_failure=failed,
            )
        except LLMUnreachable as exc:
            raise LLMConfigError(str(exc)) from None
        except (LLMConfigError, LLMModelGone) as exc:
            _log(engine, result, model, job, opts, started, error=str(exc))
            raise
        except LLMTransient as exc:  # retries used up; already logged
            last_error = str(exc)
            unusable = False
            break
        except LLMError as exc:
            _log(engine, result, model, job, opts, started, error=str(exc))
            last_error = str(exc)
            unusable = isinstance(exc, LLMContentFiltered)
            break
        cost = opts.prices.cost(model.name, completion.input_tokens, completion.output_tokens)
        spent += cost
        try:
            text = clean_output(job.kind, completion.text, prompt_text, job.paper.title)
        except BadOutput as exc:
            last_error = f"bad output: {exc}"
            unusable = True
            _log(engine, result, model, job, opts, started, completion, cost, last_error)
            continue
        paper = job.paper  # what the model read: title, authors, the source text
        found = check(text, f"{paper.title}\n{', '.join(paper.authors)}\n{job.source.text}")
        if found.loops:  # a reader would see the model stutter: ask again, hotter
            last_error = f"bad output: repetition loop ({found.loops[0]})"
            unusable = True
            _log(engine, result, model, job, opts, started, completion, cost, last_error)
            continue
        call = _log(engine, result, model, job, opts, started, completion, cost, save=False)
        flags = found.stored()
        result.made += 1
        result.flagged += bool(flags)
        save_summary(
            engine,
            Summary(
                **text_key(job, model.name).model_dump(),
                text=text,
                input_tokens=completion.input_tokens,
                output_tokens=completion.output_tokens,
                cost_usd=cost,
                created=utcnow(),
                source=job.source.source,
                note=job.source.note,
                flags=flags,
            ),
            call,
            replace=opts.force,
        )
        return spent
    result.failed += 1
    result.failures.append(f"{job.paper.id}: {last_error}")
    log.warning(
        "%s of %s failed (%s); its abstract is used instead", job.kind, job.paper.id, last_error
    )
    if unusable:
        _store_failure(engine, model, job, last_error)
    return spent


def _store_failure(engine: Engine, model: ChatModel, job: Job, error: str) -> None:
    key = text_key(job, model.name)
    save_failure(engine, SummaryFailure(**key.model_dump(), error=error, created=utcnow()))


def _log(
    engine: Engine,
    result: SummarizeResult,
    model: ChatModel,
    job: Job,
    opts: Options,
    started: float,
    completion: Completion | None = None,
    cost: float = 0.0,
    error: str | None = None,
    *,
    save: bool = True,
) -> LLMCall:
    call = LLMCall(
        run_id=opts.run_id,
        model=model.name,
        prompt_name=job.prompt.name,
        prompt_hash=job.prompt.hash,
        paper_id=job.paper.id,
        input_tokens=completion.input_tokens if completion else 0,
        output_tokens=completion.output_tokens if completion else 0,
        duration_ms=int((time.perf_counter() - started) * 1000),
        cost_usd=cost,
        status="error" if error else "ok",
        error=error,
        created=utcnow(),
    )
    result.calls += 1
    result.input_tokens += call.input_tokens
    result.output_tokens += call.output_tokens
    result.cost_usd += cost
    if save:
        log_call(engine, call)
    return call
