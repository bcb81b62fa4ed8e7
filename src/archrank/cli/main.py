"""The ``archrank`` command group: every command lives in its own module of :mod:`archrank.cli` and is imported only
when it runs (so ``archrank --help`` stays fast and a command's heavy imports never slow another)."""

from __future__ import annotations

import importlib

import click

COMMANDS: dict[str, str] = {
    # the catalogue
    "spaces": "archrank.cli.catalog:spaces_cmd",
    "proxies": "archrank.cli.catalog:proxies_cmd",
    "describe": "archrank.cli.catalog:describe_cmd",
    # zero-cost scoring and the store
    "score": "archrank.cli.score:score_cmd",
    "rank": "archrank.cli.score:rank_cmd",
    "export": "archrank.cli.store:export_cmd",
    "merge": "archrank.cli.store:merge_cmd",
    "runs": "archrank.cli.store:runs_cmd",
    # benchmarks and search
    "evaluate": "archrank.cli.bench:evaluate_cmd",
    "search": "archrank.cli.search:search_cmd",
    # the seed methods
    "evolve": "archrank.cli.eznas:evolve_cmd",
    "consistency": "archrank.cli.econas:consistency_cmd",
    "train": "archrank.cli.econas:train_cmd",
    "econas-search": "archrank.cli.econas:econas_search_cmd",
    "econas-data": "archrank.cli.econas:econas_data_cmd",
    "eproxy": "archrank.cli.eproxy:eproxy_cmd",
    "dps": "archrank.cli.eproxy:dps_cmd",
}
"""Command name -> ``"module:attribute"`` of its click command."""


class LazyGroup(click.Group):
    """A click group whose commands (``COMMANDS``) are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module_name, _, attribute = COMMANDS[cmd_name].partition(":")
            command: click.Command = getattr(importlib.import_module(module_name), attribute)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="archrank")
def main() -> None:
    """archrank: rank neural architectures without training them."""
