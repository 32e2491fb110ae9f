"""`python -m shared.cli`, the same as the `parley` console script."""

from shared.cli import app

app()
