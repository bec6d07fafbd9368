"""The ``intentcast`` command line. The group lives here; each command family in its own
module: ``server`` (serve, api, worker, migrate, openapi), ``operator`` (operator accounts
and day-to-day moderation), ``taxonomy``, ``keys`` (server key rotation), ``demo`` (a live
demo marketplace), ``mcp`` (the buyer's AI assistant). Every command reads the same
``INTENTCAST_*`` configuration (``common``)."""

from __future__ import annotations

import warnings

import click

warnings.filterwarnings("ignore", module="platformdirs")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="intentcast")
def main() -> None:
    """intentcast: an intent-casting marketplace server.

    Configuration comes from INTENTCAST_* environment variables (see README.md). With no
    INTENTCAST_DATABASE_URL / INTENTCAST_REDIS_URL, an embedded PostgreSQL and Redis run with
    their data in INTENTCAST_DATA_DIR (default ./.intentcast).
    """


def _register() -> None:
    from intentcast.cli import (
        demo,
        keys,
        mcp,
        operator,
        operator_settings,
        scale,
        server,
        taxonomy,
    )

    for module in (server, scale, operator, operator_settings, taxonomy, keys, demo, mcp):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
