"""An issue made readable, from stored data only (no LLM call, no clock): the issue view
every rendering reads (`issue`), LaTeX shown as Unicode (`latex`), the Jinja renderings and
`issue.json` (`files`), the email's HTML with its CSS inlined (`email_html`), one issue's
files including the podcast script and audio from `pipeline.podcast` (`publish`), and the
archive site with its Atom and podcast feeds (`site`)."""
