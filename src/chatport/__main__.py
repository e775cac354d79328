"""``python -m chatport``: the same as the ``chatport`` command."""

from .cli import main

main()
