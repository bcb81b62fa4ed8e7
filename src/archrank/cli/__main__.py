"""``python -m archrank.cli``: the same as the ``archrank`` command."""

from archrank.cli.main import main

main()
