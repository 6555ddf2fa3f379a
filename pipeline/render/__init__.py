"""An issue made readable, from stored data only (no LLM call, no clock): the issue view
every rendering reads (`issue`), LaTeX shown as Unicode (`latex`), the Jinja renderings and
`issue.json`, given the podcast script (`files`), the email's HTML with its CSS inlined
(`email_html`), an issue's view loaded from the store and its audio's sidecar (`publish`),
and the archive site with its Atom and podcast feeds (`site`). Nothing here imports
`pipeline.podcast`, which reads the issue view; `pipeline.issue_files` puts both together."""
