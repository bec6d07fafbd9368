"""``intentcast demo``: a small live marketplace (``intentcast.demo.run``) on a server of its
own or on a running one."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import click


@click.command()
@click.option(
    "--url",
    help="Use the intentcast server at this URL instead of starting one "
    "(e.g. http://127.0.0.1:8000 of `make serve`).",
)
@click.option(
    "--operator-token",
    envvar="INTENTCAST_OPERATOR_TOKEN",
    help="With --url: verifies the demo vendors when the server does not auto-verify "
    "(INTENTCAST_OPERATOR_TOKEN; `intentcast operator create-token` makes one).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".intentcast-demo"),
    show_default=True,
    help="The demo server's data (embedded PostgreSQL and Redis), and the demo's accounts "
    "(demo-state.json) so that a second run reuses them.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="The demo server's address.")
@click.option("--port", type=int, default=8000, show_default=True, help="The demo server's port.")
@click.option(
    "--vendors",
    type=click.IntRange(1, 50),
    default=50,
    show_default=True,
    help="How many of the demo's vendors to run.",
)
@click.option(
    "--once",
    is_flag=True,
    help="Stop as soon as every intent has an offer and the deal is done "
    "(exit status 1 if --timeout passes first).",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=1),
    help="Stop this many seconds after publishing (exit status 1 if an intent got no offer).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="With --once: the longest wait for offers.",
)
@click.option(
    "--plain",
    is_flag=True,
    help="One line per event instead of a live table (the default when not on a terminal).",
)
def demo(
    url: str | None,
    operator_token: str | None,
    data_dir: Path,
    host: str,
    port: int,
    vendors: int,
    once: bool,
    duration: float | None,
    timeout: float,
    plain: bool,
) -> None:
    """A small marketplace, live: buyers, 50 vendor bots across the taxonomy and five
    cities, sample intents, and offers arriving.

    Without --url it starts `intentcast serve` (vendors verified automatically) on --data-dir
    and --port, and keeps the server and the bots running until Ctrl-C. At the end it prints
    the web address, the sign-in page and the demo buyer's token.
    """
    from rich.console import Console

    from intentcast.demo.run import DemoConfig, DemoError, run_demo

    if once and duration is not None:
        raise click.UsageError("give --once or --duration, not both")
    console = Console(highlight=False, markup=False, soft_wrap=True)
    config = DemoConfig(
        url=url,
        operator_token=operator_token,
        data_dir=data_dir,
        host=host,
        port=port,
        vendors=vendors,
        once=once,
        duration=duration,
        timeout=timeout,
        live=console.is_terminal and not plain,
    )

    async def main() -> int:
        # SIGTERM stops the demo like Ctrl-C does: bots, clients and the server it started
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await run_demo(config, console)

    try:
        code = asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        console.print("demo stopped")
        code = 0
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


COMMANDS = [demo]
