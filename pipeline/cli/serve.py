"""`newsletter serve`: the archive site, the endpoints behind the links in emails and, with
NEWSLETTER_EDITOR_PASSWORD set, the editor's desk at /desk."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli.common import DbOpt, OutOpt, err, out, pipeline_for, user_errors


def register(app: typer.Typer) -> None:
    app.command()(serve)


@user_errors
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    output_dir: OutOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Serve the archive site (out/site: issues, Atom feed, podcast feed) over HTTP, and with
    NEWSLETTER_SECRET_KEY set the subscribe, confirm, unsubscribe and feedback links; with
    NEWSLETTER_EDITOR_PASSWORD set too, the editor's desk at /desk."""
    import uvicorn

    from pipeline.env import EDITOR_PASSWORD, editor_password, secret_key
    from pipeline.mail.tokens import SECRET_ENV, Signer, secret_from_env
    from pipeline.render.site import build_site
    from pipeline.web.app import create_app
    from pipeline.web.deskgate import DeskAccess

    settings = ctx.obj.settings(output_dir=output_dir, database_url=database_url)
    with pipeline_for(settings) as p:
        site = build_site(p.engine, settings, templates=settings.site.templates_dir)
        if secret_key():
            key = secret_from_env()
            password = editor_password()
            desk = DeskAccess(p, password, key) if password else None
            web = create_app(
                site, engine=p.engine, settings=settings, signer=Signer(key), desk=desk
            )
            what = "the archive and /subscribe, /confirm, /unsubscribe, /feedback"
            if desk is None:
                err.print(
                    f"note: {EDITOR_PASSWORD} is not set: the editor's desk (/desk) is off",
                    markup=False,
                )
            else:
                what += ", the editor's desk at /desk"
        else:
            err.print(
                f"warning: {SECRET_ENV} is not set: serving the archive only; subscribe, "
                "unsubscribe and feedback links need the key",
                markup=False,
            )
            web, what = create_app(site), "the archive"
        out.print(f"serving {what} at http://{host}:{port}/ (Ctrl-C stops)", markup=False)
        uvicorn.run(web, host=host, port=port, log_level="warning")
