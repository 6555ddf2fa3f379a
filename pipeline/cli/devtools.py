"""`newsletter arxiv-server` and `newsletter rank-csv`: tools for demos and benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.common import user_errors


def register(app: typer.Typer) -> None:
    app.command("arxiv-server")(arxiv_server)
    app.command("rank-csv")(rank_csv)


@user_errors
def arxiv_server(
    data: Annotated[Path, typer.Argument(help="A .jsonl listing file or a folder of them.")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8088,
) -> None:
    """Serve listing files as a local arXiv-compatible API (for demos and benchmarks)."""
    from pipeline.devservers.arxiv_api import main as serve

    raise typer.Exit(serve([str(data), "--port", str(port)]))


def rank_csv(
    train: Annotated[Path, typer.Argument(help="Labelled history: id,title,...,label.")],
    candidates: Annotated[Path, typer.Argument(help="Candidates: id,title,date,added,week.")],
    out: Annotated[Path, typer.Argument(help="Where to write id,score.")],
    cache_dir: Annotated[
        Path | None, typer.Option(help="Embedding cache (default: db/cache).")
    ] = None,
    description: Annotated[str, typer.Option(help="Interest description (cold start).")] = "",
) -> None:
    """The ranking benchmark's CSV contract: train on TRAIN, score CANDIDATES into OUT."""
    from pipeline.ranking.rank_csv import main as rank_csv_main

    argv = [str(train), str(candidates), str(out), "--description", description]
    if cache_dir is not None:
        argv += ["--cache-dir", str(cache_dir)]
    raise typer.Exit(rank_csv_main(argv))
