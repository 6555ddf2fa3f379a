"""arxiv-newsletter: each week's new arXiv papers as a newsletter, a podcast and emails."""

__version__ = "0.1.0"
