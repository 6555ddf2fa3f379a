"""The stages in order, `send` included. Each reads its input from the database and writes
its result there, records a `Run` row (`_recorded`), and can be re-run without harm. The
issue's run lock is taken in one place, `locked`: by `run`, `regenerate` and `send` here,
by the single-stage commands around their stage."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine

from pipeline.clock import utcnow
from pipeline.config import Settings
from pipeline.desk.layout import desk_layout
from pipeline.desk.review import check_approved
from pipeline.errors import NewsletterError, NotFoundError
from pipeline.fetch.filters import TermFilter
from pipeline.fetch.fulltext import FullTextFetcher
from pipeline.fetch.source import PaperSource
from pipeline.issue_files import render_week
from pipeline.llm.base import ChatModel, Embedder
from pipeline.llm.cost import Budget, PriceTable
from pipeline.llm.retry import RetryPolicy
from pipeline.mail.batch import SendResult
from pipeline.mail.send import issue_mail, send_issue
from pipeline.mail.tokens import Signer
from pipeline.ops.lock import hold, hold_shared, shared_holders, week_lock
from pipeline.ops.progress import Quiet, Reporter
from pipeline.podcast.speech import Speech
from pipeline.records import PaperRecord, Window, last_complete_week, week_window
from pipeline.render.site import build_site
from pipeline.store.editor import mark_rendered, save_candidates
from pipeline.store.feedback import training_history
from pipeline.store.issues import (
    ALSO,
    HIGHLIGHT,
    UPDATED,
    LoadedItem,
    candidates_for_week,
    load_issue,
    revised_highlights,
    save_issue,
    set_status,
)
from pipeline.store.models import Candidate, Paper
from pipeline.store.papers import IngestCounts, apply_terms, papers_by_ids, store_page
from pipeline.store.runs import advance_watermark, finish_run, get_watermark, start_run
from pipeline.store.summaries import find_summary
from pipeline.summarize.issue_jobs import issue_jobs
from pipeline.summarize.texts import (
    RELEVANCE,
    Estimate,
    Job,
    Options,
    SummarizeResult,
    estimate,
    make_job,
    run_jobs,
    text_key,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Pipeline:
    """What the stages share: settings, the database, and the clients (built once)."""

    settings: Settings
    engine: Engine
    source: Callable[[], PaperSource]
    chat: Callable[[], ChatModel]
    now: Callable[[], datetime] = utcnow
    fulltext: Callable[[], FullTextFetcher] | None = None
    embedder: Callable[[], Embedder] = field(default=lambda: _no_embedder())
    speech: Callable[[], Speech] = field(default=lambda: _no_speech())
    progress: Reporter = field(default_factory=Quiet)


def _recorded(
    p: Pipeline,
    stage: str,
    week: str | None,
    body: Callable[[int], T],
    counts: Callable[[T], dict[str, Any]],
) -> T:
    run_id = start_run(p.engine, stage, week)
    try:
        result = body(run_id)
    except NewsletterError as exc:
        finish_run(p.engine, run_id, status="failed", error=str(exc))
        raise
    except BaseException as exc:
        finish_run(p.engine, run_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    extra: dict[str, Any] = {}
    usage = result.rated if isinstance(result, RankResult) else result
    if isinstance(usage, SummarizeResult):
        extra = {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cost_usd": usage.cost_usd,
        }
    status, error = outcome(result)
    finish_run(p.engine, run_id, status=status, counts=counts(result), error=error, **extra)
    return result


def outcome(result: object) -> tuple[str, str | None]:
    """The run row's status and error: "partial" when some texts or deliveries failed,
    "failed" when a send stopped early (the server went away; a rerun sends the rest)."""
    if isinstance(result, SummarizeResult) and (result.failed or result.over_budget):
        return "partial", None
    if isinstance(result, SendResult) and result.stopped:
        return "failed", result.stopped
    if isinstance(result, SendResult) and result.failed:
        return "partial", None
    return "ok", None


def locked(p: Pipeline, week: str, command: str) -> AbstractContextManager[str]:
    """The issue's run lock (see pipeline.ops.lock): raises LockHeld if another process has it."""
    return hold(p.engine, week_lock(week), command=command)


def _no_embedder() -> Embedder:
    raise RuntimeError("this Pipeline was built without an embedder")


def _no_speech() -> Speech:
    raise RuntimeError("this Pipeline was built without a speech engine")


# ----------------------------------------------------------------------------- fetch
def query_key(settings: Settings) -> str:
    return " OR ".join(sorted(settings.categories))


def default_window(p: Pipeline) -> Window:
    """Everything since the watermark (less an overlap), or since last week's start."""
    now = p.now().replace(second=0, microsecond=0)
    mark = get_watermark(p.engine, query_key(p.settings))
    if mark is None:
        since = week_window(last_complete_week(now)).since
    else:
        since = min(mark, now) - timedelta(hours=p.settings.arxiv.overlap_hours)
    return Window(since, now)


@dataclass
class FetchResult:
    window: Window
    counts: IngestCounts


def fetch(p: Pipeline, window: Window | None = None) -> FetchResult:
    window = window or default_window(p)
    terms = TermFilter.of(p.settings.include_terms, p.settings.exclude_terms)
    batch_size = p.settings.arxiv.page_size

    def body(_run_id: int) -> FetchResult:
        counts = IngestCounts()
        batch: list[PaperRecord] = []
        with p.progress.task("fetching papers") as bar:
            for record in p.source().fetch(list(p.settings.categories), window):
                batch.append(record)
                bar.advance()
                if len(batch) >= batch_size:
                    counts.add(store_page(p.engine, batch, terms.reason, p.now()))
                    batch = []
            if batch:
                counts.add(store_page(p.engine, batch, terms.reason, p.now()))
        advance_watermark(p.engine, query_key(p.settings), window.since, window.until)
        return FetchResult(window, counts)

    return _recorded(p, "fetch", None, body, lambda r: r.counts.as_dict())


# ----------------------------------------------------------------------------- rank
@dataclass
class RankResult:
    candidates: int
    highlights: int
    also: int
    rated: SummarizeResult = field(default_factory=SummarizeResult)  # the LLM rating pass

    def counts(self) -> dict[str, Any]:
        counts: dict[str, Any] = {
            "candidates": self.candidates,
            "highlights": self.highlights,
            "also": self.also,
        }
        if self.rated.calls or self.rated.cached:
            counts.update(rated=self.rated.made + self.rated.cached, llm_calls=self.rated.calls)
        return counts


def llm_ratings(
    p: Pipeline, papers: list[Paper], run_id: int, usage: SummarizeResult | None = None
) -> dict[str, int]:
    """0-10 relevance of each paper to the interest description, by the LLM (cached like
    any other text: a rerun asks nothing again; a failed rating just leaves the score)."""
    s = p.settings
    extra = {"interests": s.interest_description}
    jobs = [
        make_job(x, RELEVANCE, max_tokens=s.llm.max_tokens, temperature=0.0, extra=extra)
        for x in papers
    ]
    model = p.chat()
    options = Options(
        temperature=0.0,
        concurrency=1 if s.uses_local_model else s.llm.concurrency,
        retry=RetryPolicy(retries=s.llm.retries),
        prices=PriceTable(s.llm.prices),
        run_id=run_id,
    )
    spent = run_jobs(p.engine, model, jobs, options)
    if usage is not None:
        usage.add(spent)
    ratings = {}
    for job in jobs:
        found = find_summary(p.engine, text_key(job, model.name))
        if found is not None:
            ratings[job.paper.id] = int(found.text)
    return ratings


def rank(p: Pipeline, week: str, *, llm: bool = True) -> RankResult:
    """`llm=False` (a dry run) skips the optional LLM rating pass."""
    # scikit-learn and the embedding model load here, not at start-up: a fetch needs neither.
    from pipeline.ranking.data import Profile
    from pipeline.ranking.embed_cache import CachedEmbedder
    from pipeline.ranking.stored import StoredEmbedder
    from pipeline.ranking.weekly import history_item, paper_item, rank_week

    def body(run_id: int) -> RankResult:
        s = p.settings
        win = week_window(week)
        terms = TermFilter.of(s.include_terms, s.exclude_terms)
        papers = apply_terms(
            p.engine, candidates_for_week(p.engine, win.since, win.until, week), terms.reason
        )
        history = training_history(p.engine, before_week=week)
        seeds = list(papers_by_ids(p.engine, s.seed_papers).values())
        seed_items = tuple(paper_item(x) for x in seeds)
        # Texts of papers in the database: their embeddings are cached per paper.
        known = [*map(paper_item, papers), *seed_items]
        known += [history_item(h) for h in history if h.abstract]
        inner = p.embedder()
        # Other texts (titles imported without a paper row, the description's phrases) are
        # cached on disk by text, so a week ranked again embeds nothing.
        other = CachedEmbedder(inner, s.cache_dir / "embeddings")
        embedder = StoredEmbedder(p.engine, inner, {it.text: it.id for it in known}, other)
        profile = Profile(
            description=s.interest_description,
            seed_papers=seed_items,
            followed_authors=tuple(s.followed_authors),
        )
        rated = SummarizeResult()
        with p.progress.task(f"ranking {len(papers)} papers"):
            ranked = rank_week(
                papers,
                history,
                profile,
                embedder,
                highlights=s.highlights,
                also=s.also_this_week,
                diversity=s.diversity,
                rate=lambda top: llm_ratings(p, top, run_id, rated),
                rate_top=s.llm_rerank_k if llm else 0,
            )
        version = {x.id: x.version for x in papers}
        proposed = {
            x.id: (section, pos)
            for section, picked in ((HIGHLIGHT, ranked.highlights), (ALSO, ranked.also))
            for pos, x in enumerate(picked)
        }
        listed = [
            Candidate(
                week=week,
                paper_id=x.id,
                version=version[x.id],
                rank=n,
                score=round(x.score, 6),
                explanation=x.explanation,
                section=proposed.get(x.id, ("", 0))[0],
                position=proposed.get(x.id, ("", 0))[1],
            )
            for n, x in enumerate(ranked.order)
        ]
        revised = revised_highlights(p.engine, win.since, win.until, week)
        listed += [
            Candidate(
                week=week,
                paper_id=r.paper.id,
                version=r.paper.version,
                rank=len(listed) + pos,
                score=0.0,
                explanation=(
                    f"highlighted in {r.featured_week} (v{r.featured_version}); "
                    f"now v{r.paper.version}"
                ),
                section=UPDATED,
                position=pos,
            )
            for pos, r in enumerate(revised)
        ]
        save_candidates(p.engine, week, listed)
        save_issue(
            p.engine,
            week,
            desk_layout(p.engine, week, listed),
            created=p.now(),
            candidates=len(papers),
            categories=list(s.categories),
        )
        return RankResult(len(papers), len(ranked.highlights), len(ranked.also), rated)

    return _recorded(p, "rank", week, body, lambda r: r.counts())


# ----------------------------------------------------------------------------- summarize
def _require_issue(p: Pipeline, week: str) -> list[LoadedItem]:
    issue, items = load_issue(p.engine, week)
    if issue is None:
        raise NotFoundError(f"no issue {week} yet: run `newsletter rank --week {week}` first")
    return items


def summary_jobs(p: Pipeline, week: str, only: frozenset[str] | None = None) -> list[Job]:
    """The LLM texts the issue needs (see pipeline.summarize.issue_jobs); `only`: of these
    papers alone."""
    items = [i for i in _require_issue(p, week) if only is None or i.paper.id in only]
    return issue_jobs(items, p.settings, p.fulltext)


def estimate_summaries(p: Pipeline, week: str) -> Estimate:
    """`--dry-run`: the calls, tokens and cost the summarize stage would spend; sends nothing."""
    return estimate(
        p.engine, p.settings.model_name, summary_jobs(p, week), PriceTable(p.settings.llm.prices)
    )


def summarize(
    p: Pipeline,
    week: str,
    *,
    budget_usd: float | None = None,
    force: bool = False,
    only: frozenset[str] | None = None,
) -> SummarizeResult:
    """`force`: write every text again even when cached (`regenerate --resummarize`);
    `only`: just the texts of these papers (the desk's "re-summarize this paper")."""

    def body(run_id: int) -> SummarizeResult:
        s = p.settings
        jobs = summary_jobs(p, week, only)
        model = p.chat()
        options = Options(
            temperature=s.llm.temperature,
            concurrency=1 if s.uses_local_model else s.llm.concurrency,
            retry=RetryPolicy(retries=s.llm.retries),
            prices=PriceTable(s.llm.prices),
            budget=Budget(budget_usd),
            run_id=run_id,
            force=force,
        )
        with p.progress.task("writing summaries", total=len(jobs)) as bar:
            options.on_done = bar.advance
            result = run_jobs(p.engine, model, jobs, options)
        set_status(p.engine, week, "summarized", model=model.name)
        return result

    return _recorded(p, "summarize", week, body, lambda r: r.counts())


# ----------------------------------------------------------------------------- render
def render(
    p: Pipeline, week: str, templates: Path | None = None, *, audio: bool = False
) -> list[Path]:
    """The issue's files and the archive site, from stored data (no LLM call); `audio` also
    makes podcast.mp3 (text-to-speech, cached per chunk)."""

    templates = templates or p.settings.site.templates_dir

    def body(_run_id: int) -> list[Path]:
        rendered = render_week(
            p.engine,
            p.settings,
            week,
            templates=templates,
            speech=p.speech() if audio else None,
            progress=p.progress,
        )
        set_status(p.engine, week, "rendered")
        mark_rendered(p.engine, week)
        build_site(p.engine, p.settings, templates=templates)
        return rendered.paths

    return _recorded(p, "render", week, body, lambda r: {"files": len(r)})


def regenerate(
    p: Pipeline,
    week: str,
    *,
    resummarize: bool = False,
    templates: Path | None = None,
    audio: bool = False,
) -> tuple[SummarizeResult | None, list[Path]]:
    """Re-render an issue from stored data: no LLM call unless `resummarize`."""
    _require_issue(p, week)
    with locked(p, week, "regenerate"):
        summarized = summarize(p, week, force=True) if resummarize else None
        return summarized, render(p, week, templates, audio=audio)


# ----------------------------------------------------------------------------- send
def send(
    p: Pipeline,
    week: str,
    *,
    signer: Signer | None = None,
    retry_base: float = 1.0,
    workers: int | None = None,
) -> SendResult:
    """Email the issue to every active subscriber not sent it yet (see pipeline.mail.send)
    over `workers` connections (default: the smtp_workers setting), registered as one of
    the issue's senders: other senders, here or on other hosts, share the work; a run of the
    same week stops it at once (and cannot start while it sends)."""
    with hold_shared(p.engine, week_lock(week), command="send") as owner:
        return _send(p, week, owner, signer=signer, retry_base=retry_base, workers=workers)


def _send(
    p: Pipeline,
    week: str,
    owner: str,
    *,
    signer: Signer | None = None,
    retry_base: float = 1.0,
    workers: int | None = None,
) -> SendResult:
    # Checked before the run row: an issue awaiting the editor's approval, not rendered yet,
    # or a missing secret key is the user's to fix, not a send that failed.
    check_approved(p.engine, p.settings, week)
    mail = issue_mail(p.engine, p.settings, week, signer)

    def live() -> list[str]:
        return shared_holders(p.engine, week_lock(week))

    def body(_run_id: int) -> SendResult:
        result = send_issue(
            p.engine,
            p.settings,
            mail,
            owner=owner,
            live=live,
            workers=workers or p.settings.smtp.workers,
            retry_base=retry_base,
            progress=p.progress,
        )
        if not result.stopped and result.sent + result.skipped:
            set_status(p.engine, week, "sent")
        return result

    return _recorded(p, "send", week, body, SendResult.counts)


# ----------------------------------------------------------------------------- run
@dataclass
class RunResult:
    week: str
    fetched: FetchResult
    ranked: RankResult
    summarized: SummarizeResult
    files: list[Path]
    sent: SendResult | None = None  # with `send=True`


def fetch_and_rank(
    p: Pipeline, week: str | None, *, llm: bool = True
) -> tuple[str, FetchResult, RankResult]:
    """The first half of a run: what a `--dry-run` does before it estimates the LLM cost."""
    if week is None:
        target = last_complete_week(p.now())
        fetched = fetch(p)
    else:
        target = week
        fetched = fetch(p, week_window(week))
    return target, fetched, rank(p, target, llm=llm)


@dataclass
class DryRun:
    week: str
    fetched: FetchResult
    ranked: RankResult
    estimate: Estimate  # what the summarize stage would spend


def dry_run(p: Pipeline, week: str | None = None) -> DryRun:
    """`run --dry-run`: fetch and rank (without the LLM rating pass), then estimate the
    summaries; no LLM call, nothing sent."""
    target, fetched, ranked = fetch_and_rank(p, week, llm=False)
    return DryRun(target, fetched, ranked, estimate_summaries(p, target))


def run(
    p: Pipeline,
    week: str | None = None,
    *,
    budget_usd: float | None = None,
    audio: bool = False,
    send: bool = False,
    workers: int | None = None,
) -> RunResult:
    """fetch -> rank -> summarize -> render for one ISO week (default: the last complete one),
    then, with `send`, email it over `workers` connections (default: smtp_workers):
    `newsletter run [--send]` and the scheduled job.

    The issue's lock is held throughout (a second run or sender of the same week stops at
    once, and nothing re-renders the issue between the render and the send). If a stage
    fails, it raises and nothing is sent. A partial run (some texts not written: those papers
    show their abstract) is still sent, as it always was; `summarized` tells the caller, whose
    exit code is then `PARTIAL`. A send that stops early is in `sent.stopped`."""
    command = "run --send" if send else "run"
    with locked(p, week or last_complete_week(p.now()), command) as owner:
        target, fetched, ranked = fetch_and_rank(p, week)
        summarized = summarize(p, target, budget_usd=budget_usd)
        files = render(p, target, audio=audio)
        sent = _send(p, target, owner, workers=workers) if send else None
    return RunResult(target, fetched, ranked, summarized, files, sent)
