"""`python -m pipeline.cli`: the `newsletter` command."""

from pipeline.cli import main

main()
