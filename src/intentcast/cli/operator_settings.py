"""``intentcast operator settings get|set``: the runtime settings from a shell, on the same
use cases as ``GET|PATCH /v1/admin/settings`` (``services/runtime_settings.py``), audited as
``cli:<os user>``. A change reaches every running process within seconds, without a restart;
with no server running it is stored and applies when one starts."""

from __future__ import annotations

import json
from typing import Any

import click
import msgspec

from intentcast.cli.common import command_settings
from intentcast.cli.operator import operator, run_service

COMMANDS: list[click.Command] = []
"""Nothing of its own at the top level: ``settings`` attaches to the ``operator`` group."""


@operator.group("settings")
def settings_group() -> None:
    """Runtime settings: show them, change or reset them (audited as cli:<user>).

    Operator values override each process's INTENTCAST_* environment on every process
    within seconds; a reset falls back to the environment (or the built-in default)."""


@settings_group.command("get")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def get_settings(as_json: bool) -> None:
    """Each runtime setting: its value, and where it comes from (operator, environment,
    default). Environment values are this shell's INTENTCAST_* ones."""
    from intentcast.services.runtime_settings import read_settings

    settings = command_settings()

    async def use(conn: Any, _client: Any) -> Any:
        return await read_settings(conn, settings)

    _echo(run_service(settings, use), as_json)


@settings_group.command("set")
@click.argument("assignments", nargs=-1, metavar="NAME=VALUE...")
@click.option(
    "--reset",
    "resets",
    multiple=True,
    metavar="NAME",
    help="Reset NAME to the environment value (or the default). Repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def set_settings(assignments: tuple[str, ...], resets: tuple[str, ...], as_json: bool) -> None:
    """Set runtime settings (NAME=VALUE) or reset them (--reset NAME).

    For example `set auto_verify_vendors=true location_floor=6 --reset rate_limit`. Every
    running process follows within seconds."""
    from intentcast.domain.errors import RuleViolation
    from intentcast.services.audit import cli_actor
    from intentcast.services.runtime_settings import change_settings, parse_setting

    changes: dict[str, Any] = {}
    try:
        for assignment in assignments:
            name, sep, text = assignment.partition("=")
            if not sep or not name.strip():
                raise click.BadParameter(f"{assignment!r}: expected NAME=VALUE")
            changes[name.strip()] = parse_setting(name.strip(), text)
        for name in resets:
            changes[name.strip()] = None  # an unknown name is refused by change_settings
    except RuleViolation as exc:
        raise click.BadParameter(f"{exc.field}: {exc.message}") from None
    if not changes:
        raise click.UsageError("nothing to change: give NAME=VALUE or --reset NAME")
    settings = command_settings()

    async def use(conn: Any, client: Any) -> Any:
        return await change_settings(conn, client, settings, actor=cli_actor(), changes=changes)

    try:
        view = run_service(settings, use)
    except RuleViolation as exc:
        raise click.ClickException(f"{exc.field}: {exc.message}") from None
    _echo(view, as_json)


def _echo(view: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(view), indent=2))
        return
    width = max(len(name) for name in view.settings)
    for name, state in view.settings.items():
        value = json.dumps(state.value)
        line = f"{name:<{width}}  {value:<6}  {state.source}"
        if state.source == "operator":
            line += f" ({state.changed_by}, {state.changed_at:%Y-%m-%d %H:%M:%S %Z}"
            line += f"; reset: {json.dumps(state.reset_value)})"
        click.echo(line)
