"""Faithfulness of the configured model (`make eval`).

    python -m pipeline.bench.faithfulness                       # the model the settings choose
    python -m pipeline.bench.faithfulness --limit 5             # fewer papers
    python -m pipeline.bench.faithfulness --base-url http://localhost:11434/v1 --model qwen3
    python -m pipeline.bench.faithfulness --set llm_temperature=0 --config newsletter.toml

The model is the one a weekly run would use (`load_settings`, then `wiring.chat_model`:
the embedded local model unless `llm_base_url` is set, by the config file, env
`NEWSLETTER_LLM_BASE_URL`, `--set` or `--base-url`). It writes the summaries of the shared
real week's top papers through the real path (`summarize.texts.make_job` renders the
summary prompt, `run_jobs` cleans, retries and flags each text as the pipeline does) into a
temporary SQLite database; the table counts what `pipeline.summarize.faithfulness` flagged.

"Top", deterministically and without a model: the week's distinct papers in the configured
categories, by the TF-IDF cosine similarity of their title and abstract to
`interest_description` (the ranker's word and character views, `ranking.features.TextViews`,
fitted on the week), ties by id. The real ranking also embeds every abstract and learns from
the reader's history; this takes about a second and picks what a reader with the default
interests would see. Full texts are not fetched: every summary is of the abstract.

Target for the embedded default model: 0 loops, at most 1 in 20 summaries with an
unsupported number or name. Skipped, with a note, when `../shared` is absent.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.bench.rank import shared_dir
from pipeline.config import Settings, load_settings, parse_sets
from pipeline.devservers.arxiv_api import ListingRecord, load_listing
from pipeline.errors import NewsletterError, UserInputError
from pipeline.llm.cost import PriceTable
from pipeline.llm.retry import RetryPolicy
from pipeline.store.db import add_all, open_database
from pipeline.store.models import Paper
from pipeline.store.summaries import papers_with_error, summaries_of_kind
from pipeline.summarize.faithfulness import Flags
from pipeline.summarize.texts import SUMMARY, Options, make_job, run_jobs
from pipeline.wiring import chat_model

PAPERS = 20


def week_dir() -> Path:
    return shared_dir() / "data" / "arxiv-week"


# ----------------------------------------------------------------------------- the papers
def _fold(text: str) -> str:
    return " ".join(text.split())  # as the arXiv source stores titles and abstracts


def listing(path: Path) -> list[ListingRecord]:
    try:
        return load_listing(path)
    except ValueError as exc:
        raise UserInputError(f"cannot read the week's listings: {exc}") from None


def week_papers(records: Sequence[ListingRecord], categories: Sequence[str]) -> list[Paper]:
    """One paper per id (the highest version, the last listed) in any of `categories`."""
    latest: dict[str, ListingRecord] = {}
    for r in records:
        if set(r.categories) & set(categories):
            seen = latest.get(r.id)
            if seen is None or r.version >= seen.version:
                latest[r.id] = r
    return [_paper(r) for r in sorted(latest.values(), key=lambda r: r.id)]


def _paper(r: ListingRecord) -> Paper:
    return Paper(
        id=r.id,
        version=r.version,
        title=_fold(r.title),
        abstract=_fold(r.summary),
        authors=list(r.authors),
        categories=list(r.categories),
        primary_category=r.primary_category or r.categories[0],
        published=r.published,
        updated=r.updated or r.published,
        first_seen=r.published,
        last_changed=r.published,
        title_key=r.id,
        content_hash=r.id,
    )


def top_papers(papers: Sequence[Paper], description: str, n: int) -> list[Paper]:
    """The `n` papers most similar to `description` (TF-IDF cosine; ties by id)."""
    from pipeline.ranking.data import Item
    from pipeline.ranking.features import TextViews

    if not papers:
        return []
    items = [Item(id=p.id, title=p.title, abstract=p.abstract) for p in papers]
    views = TextViews()
    rows = views.fit_transform(items)
    query = views.transform([Item(id="interests", title=description)])
    scores = (rows @ query.T).toarray().ravel()
    order = sorted(range(len(papers)), key=lambda i: (-scores[i], papers[i].id))
    return [papers[i] for i in order[:n]]


# ----------------------------------------------------------------------------- the figures
@dataclass(frozen=True)
class Written:
    """One paper's outcome: its summary and flags, or None when it failed."""

    paper: Paper
    text: str | None
    flags: Flags


@dataclass(frozen=True)
class Report:
    model: str
    written: list[Written]
    seconds: float
    looped: int = 0  # papers with a reply that looped: asked again, never published

    @property
    def made(self) -> int:
        return sum(w.text is not None for w in self.written)

    @property
    def failed(self) -> int:
        return len(self.written) - self.made

    def count(self, kind: str) -> int:
        """Summaries with at least one flag of `kind` ("numbers", "names", ...)."""
        return sum(bool(getattr(w.flags, kind)) for w in self.written)

    @property
    def number_or_name(self) -> int:
        return sum(bool(w.flags.numbers or w.flags.names) for w in self.written)

    @property
    def mean_words(self) -> float:
        words = [len(w.text.split()) for w in self.written if w.text is not None]
        return sum(words) / len(words) if words else 0.0

    @property
    def seconds_per_summary(self) -> float:
        return self.seconds / len(self.written) if self.written else 0.0


def table(report: Report) -> str:
    r = report
    return "\n".join(
        [
            f"### Faithfulness: {r.model}, {len(r.written)} papers",
            "",
            "| papers | made | failed | unsupported numbers | unsupported names | "
            "number or name | loops | over-claims | mean words | s per summary | "
            "replies that looped |",
            "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
            f"| {len(r.written)} | {r.made} | {r.failed} | {r.count('numbers')} | "
            f"{r.count('names')} | {r.number_or_name} | {r.count('loops')} | "
            f"{r.count('overclaims')} | {r.mean_words:.0f} | {r.seconds_per_summary:.1f} | "
            f"{r.looped} |",
            "",
            "Columns after `failed` count summaries with at least one such flag "
            "(`pipeline/summarize/faithfulness.py`); s per summary: the wall time of all calls "
            "(a local model's load included) over the papers. Target for the embedded default "
            "model: 0 loops, at most 1 in 20 with an unsupported number or name. A reply "
            "that loops is asked again and never published: the last column counts the "
            "papers that had one.",
        ]
    )


def details(report: Report) -> str:
    """Each paper: its flags and its summary (or that it failed)."""
    out = []
    for w in report.written:
        flags = ", ".join(w.flags.stored()) or "none"
        text = w.text if w.text is not None else "(failed: the newsletter shows the abstract)"
        out += [f"**{w.paper.id}** {w.paper.title}", f"flags: {flags}", "", text, ""]
    return "\n".join(out).rstrip()


# ----------------------------------------------------------------------------- the run
def evaluate(settings: Settings, papers: Sequence[Paper]) -> Report:
    """Summaries of `papers` by the configured model, in a temporary database."""
    jobs = [
        make_job(
            p, SUMMARY, max_tokens=settings.llm.max_tokens, temperature=settings.llm.temperature
        )
        for p in papers
    ]
    options = Options(
        temperature=settings.llm.temperature,
        concurrency=1 if settings.uses_local_model else settings.llm.concurrency,
        retry=RetryPolicy(retries=settings.llm.retries),
        prices=PriceTable(settings.llm.prices),
    )
    with tempfile.TemporaryDirectory(prefix="eval-faithfulness-") as tmp:
        engine = open_database(f"sqlite:///{Path(tmp) / 'eval.sqlite3'}")
        try:
            add_all(engine, papers)
            model = chat_model(settings)
            started = time.perf_counter()
            run_jobs(engine, model, jobs, options)
            seconds = time.perf_counter() - started
            rows = summaries_of_kind(engine, SUMMARY)
            found = {row.paper_id: (row.text, Flags.from_stored(row.flags)) for row in rows}
            looped = papers_with_error(engine, "repetition loop")
        finally:
            engine.dispose()
    written = [Written(p, *found.get(p.id, (None, Flags()))) for p in papers]
    return Report(model.name, written, seconds, len(looped))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--limit", type=int, default=PAPERS, help="papers (default 20)")
    parser.add_argument("--week-dir", type=Path, help="*.jsonl listings (default: the shared week)")
    parser.add_argument("--config", type=Path, help="settings file (default: newsletter.toml)")
    parser.add_argument(
        "--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="a setting"
    )
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint (llm_base_url)")
    parser.add_argument("--model", help="the model at that endpoint (llm_model)")
    parser.add_argument("--quiet", action="store_true", help="the table only, no summaries")
    return parser.parse_args(argv)


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    values = parse_sets(args.sets)
    if args.base_url is not None:
        values["llm_base_url"] = args.base_url
    if args.model is not None:
        values["llm_model"] = args.model
    return values


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    source = args.week_dir or week_dir()
    print("## Faithfulness\n")
    if not source.is_dir():
        print(f"(skipped: {source} not found — the real week lives in ../shared)")
        return 0
    try:
        if args.limit < 1:
            raise UserInputError(f"--limit must be at least 1, got {args.limit}")
        settings = load_settings(args.config, overrides(args))
        papers = week_papers(listing(source), settings.categories)
        chosen = top_papers(papers, settings.interest_description, args.limit)
        print(f"{len(chosen)} of {len(papers)} papers in {', '.join(settings.categories)}\n")
        report = evaluate(settings, chosen)
    except NewsletterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(table(report))
    if not args.quiet:
        print("\n" + details(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
