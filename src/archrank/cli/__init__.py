"""The ``archrank`` command line, one module per group of commands:

- :mod:`~archrank.cli.main` — the command group and the table of commands (imported lazily);
- :mod:`~archrank.cli.options` — the options every command shares (space, data, device, threads, workers, store);
- :mod:`~archrank.cli.catalog` — ``spaces``, ``proxies``, ``describe``;
- :mod:`~archrank.cli.score` — ``score``, ``rank``;
- :mod:`~archrank.cli.store` — ``export``, ``merge``, ``runs``;
- :mod:`~archrank.cli.bench` — ``evaluate``; :mod:`~archrank.cli.search` — ``search``;
- :mod:`~archrank.cli.econas` — ``consistency``, ``train``, ``econas-search``, ``econas-data``;
- :mod:`~archrank.cli.eznas` — ``evolve``; :mod:`~archrank.cli.eproxy` — ``eproxy``, ``dps``.
"""

from archrank.cli.main import main

__all__ = ["main"]
