"""arxiv-newsletter: each week's new arXiv papers as a newsletter, a podcast and emails.

One package per stage (fetch, store, ranking, llm, summarize, render, podcast, mail, web,
ops, cli); `runner` drives the stages and `wiring` builds their clients from settings.
ARCHITECTURE.md in the repository describes each package and the rules.
"""

__version__ = "0.1.0"
