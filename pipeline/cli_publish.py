"""`newsletter regenerate` and `newsletter serve`: re-render stored issues and serve them."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer

from pipeline import runner
from pipeline.cli_common import (
    AudioOpt,
    DbOpt,
    OutOpt,
    TemplatesOpt,
    app,
    err,
    out,
    pipeline_for,
    user_errors,
)
from pipeline.errors import UserInputError
from pipeline.records import parse_week


def _digests(directory: Path) -> dict[Path, str]:
    if not directory.exists():
        return {}
    return {
        p: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


@app.command()
@user_errors
def regenerate(
    ctx: typer.Context,
    week: Annotated[str, typer.Argument(metavar="WEEK", help="ISO week, e.g. 2026-W25.")],
    resummarize: Annotated[
        bool, typer.Option("--resummarize", help="Write the summaries again (LLM calls).")
    ] = False,
    templates: TemplatesOpt = None,
    audio: AudioOpt = False,
    output_dir: OutOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Re-render an issue from stored data: no LLM call, same bytes when nothing changed."""
    target = parse_week(week)
    if templates is not None and not templates.is_dir():
        raise UserInputError(f"--templates {templates}: not a directory of Jinja templates")
    settings = ctx.obj.settings(output_dir=output_dir, database_url=database_url)
    issue_dir = settings.output_dir / "issues" / target
    before = _digests(issue_dir)
    with pipeline_for(settings) as p:
        summarized, paths = runner.regenerate(
            p, target, resummarize=resummarize, templates=templates, audio=audio
        )
    after = _digests(issue_dir)
    changed = [path for path in paths if before.get(path) != after.get(path)]
    calls = summarized.calls if summarized else 0
    for path in paths:
        out.print(f"{'changed  ' if path in changed else 'unchanged'} {path}", markup=False)
    out.print(
        f"regenerated {target}: {len(paths)} files, {len(changed)} changed, {calls} LLM calls; "
        f"archive site in {settings.output_dir / 'site'}",
        markup=False,
    )


@app.command()
@user_errors
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    output_dir: OutOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Serve the archive site (out/site: issues, Atom feed, podcast feed) over HTTP, and with
    NEWSLETTER_SECRET_KEY set the subscribe, confirm, unsubscribe and feedback links."""
    import os

    import uvicorn

    from pipeline.mail.tokens import SECRET_ENV, Signer, secret_from_env
    from pipeline.render.site import build_site
    from pipeline.web.app import create_app

    settings = ctx.obj.settings(output_dir=output_dir, database_url=database_url)
    with pipeline_for(settings) as p:
        site = build_site(p.engine, settings, templates=settings.templates_dir)
        if os.environ.get(SECRET_ENV):
            web = create_app(
                site, engine=p.engine, settings=settings, signer=Signer(secret_from_env())
            )
            what = "the archive and /subscribe, /confirm, /unsubscribe, /feedback"
        else:
            err.print(
                f"warning: {SECRET_ENV} is not set: serving the archive only; subscribe, "
                "unsubscribe and feedback links need the key",
                markup=False,
            )
            web, what = create_app(site), "the archive"
        out.print(f"serving {what} at http://{host}:{port}/ (Ctrl-C stops)", markup=False)
        uvicorn.run(web, host=host, port=port, log_level="warning")
