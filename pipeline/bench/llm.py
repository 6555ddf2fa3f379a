"""LLM benchmarks (`python -m pipeline.bench.llm`).

(a) Throughput against the local OpenAI-compatible server: 200 summaries, 0.5 s latency per
    call, concurrency 16. The ideal is 200 / 16 x 0.5 = 6.25 s; target <= 1.3 x ideal. A
    second run must make 0 calls (cache).
(b) The embedded local model (the managed llama.cpp server, this machine's CPU): a summary
    and a narration for each of 5 highlights, as a default weekly run writes them.
    Target: <= 5 minutes of LLM time, server peak RSS <= 3 GB.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import openai

from pipeline.bench.sample import sample_paper
from pipeline.config import LOCAL_MODEL_NAME, PRICES
from pipeline.devservers.openai_api import OpenAIServer
from pipeline.llm.cost import PriceTable
from pipeline.llm.local import embedded_chat
from pipeline.llm.openai_compat import OpenAIChat
from pipeline.llm.retry import RetryPolicy
from pipeline.store.db import add_all, open_database
from pipeline.store.models import Paper
from pipeline.summarize.texts import PODCAST, SUMMARY, Options, make_job, run_jobs

LATENCY = 0.5
CONCURRENCY = 16
N_CALLS = 200
PRICE_TABLE = PriceTable({**PRICES, "bench-model": (0.0, 0.0)})


def _papers(n: int) -> list[Paper]:
    now = datetime(2026, 6, 16, tzinfo=UTC)
    return [sample_paper(i, f"2606.{80000 + i:05d}", now) for i in range(n)]


def _store(db_url: str, papers: list[Paper]) -> None:
    engine = open_database(db_url)
    add_all(engine, papers)
    engine.dispose()


def throughput() -> str:
    papers = _papers(N_CALLS)
    with tempfile.TemporaryDirectory() as tmp, OpenAIServer(latency_seconds=LATENCY) as server:
        db_url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        _store(db_url, papers)
        engine = open_database(db_url)
        jobs = [make_job(p, SUMMARY, max_tokens=320, temperature=0.2) for p in papers]
        runs = []
        for _ in range(2):
            client = openai.AsyncOpenAI(base_url=server.base_url, api_key="bench", max_retries=0)
            opts = Options(
                temperature=0.2, concurrency=CONCURRENCY, retry=RetryPolicy(), prices=PRICE_TABLE
            )
            before = server.chat_calls
            started = time.perf_counter()
            result = run_jobs(engine, OpenAIChat(client, "bench-model"), jobs, opts)
            runs.append((time.perf_counter() - started, server.chat_calls - before, result))
        engine.dispose()
    ideal = N_CALLS / CONCURRENCY * LATENCY
    (t1, calls1, r1), (t2, calls2, r2) = runs
    ok = "ok" if t1 <= 1.3 * ideal else "MISSED"
    return "\n".join(
        [
            "### Throughput: local OpenAI-compatible server",
            "",
            "| run | summaries made | cached | HTTP calls | wall s | ideal s | ratio |",
            "|---|--:|--:|--:|--:|--:|--:|",
            f"| first | {r1.made} | {r1.cached} | {calls1} | {t1:.2f} | {ideal:.2f} | "
            f"{t1 / ideal:.2f} ({ok}, target <= 1.30) |",
            f"| second | {r2.made} | {r2.cached} | {calls2} | {t2:.2f} | - | - |",
            "",
            f"{N_CALLS} summaries, {LATENCY} s latency per call, concurrency {CONCURRENCY}; "
            "the server sleeps in its own thread per request.",
        ]
    )


def local_model(n: int = 5) -> str:
    """The default weekly run's LLM work with the embedded model: a summary and a podcast
    narration for each of `n` highlights, through the managed local server."""
    papers = _papers(n)
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        _store(db_url, papers)
        engine = open_database(db_url)
        model = embedded_chat(None, threads=0, timeout=600)
        started = time.perf_counter()
        asyncio.run(model.start())  # timed apart from the texts: checks the hash, loads
        load_s = time.perf_counter() - started
        jobs = [
            make_job(p, kind, max_tokens=320, temperature=0.2)
            for p in papers
            for kind in (SUMMARY, PODCAST)
        ]
        opts = Options(temperature=0.2, concurrency=1, retry=RetryPolicy(), prices=PRICE_TABLE)
        gen_started = time.perf_counter()
        result = run_jobs(engine, model, jobs, opts)  # stops the server at the end
        gen_s = time.perf_counter() - gen_started
        total = time.perf_counter() - started
        engine.dispose()
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    ok = "ok" if total <= 300 and rss <= 3072 else "MISSED"
    return "\n".join(
        [
            f"### Embedded local model ({LOCAL_MODEL_NAME}, llama-cpp-python x86-64-v3, CPU)",
            "",
            "| highlights | texts made | failed | calls | output tokens | load s | total s | "
            "s per text | output tokens/s | server peak RSS MB |",
            "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
            f"| {n} | {result.made} | {result.failed} | {result.calls} | {result.output_tokens} | "
            f"{load_s:.1f} | {total:.1f} ({ok}, target <= 300 s, <= 3 GB) | "
            f"{gen_s / len(jobs):.1f} | {result.output_tokens / gen_s:.1f} | {rss:.0f} |",
            "",
            "A summary and a podcast narration per highlight (the default run's LLM work). Load "
            "includes the SHA-256 check of the weights; tokens/s counts every generated token "
            "over the generation wall time (prompt processing included).",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--skip-local", action="store_true", help="skip the local model run")
    args = parser.parse_args(argv)
    print("## LLM\n")
    print(throughput())
    if not args.skip_local:
        print()
        print(local_model())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
