"""The web app behind `newsletter serve` (`app`): the archive site, and the endpoints behind
the links in emails (subscribe with double opt-in, confirm, unsubscribe, feedback clicks
recorded by `clicks`), with their pages and the confirmation email (`pages`) and a per-process
rate limit on sign-up emails (`ratelimit`).

With an editor password, the editor's desk at /desk (`desk`: screen, compose, preview and
approve a week's issue through `pipeline.desk`), behind a sign-in (`auth`: the password,
signed session cookies, CSRF tokens); `preview` renders the email and podcast script before
approval, and `deskgate` decides whether the desk is on (else /desk says how to turn it on).
The desk's templates, script and stylesheet are in `templates/desk/`."""
