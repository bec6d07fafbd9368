"""``intentcast mcp``: the buyer's own AI assistant over the Model Context Protocol
(``intentcast.mcp``), speaking to an intentcast server with the buyer's token."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click


async def _check_token(client: Any, url: str) -> None:
    """Refuse a token the server does not know; warn (stderr) about a full buyer token, which
        could accept offers and reveal the buyer's details. Listing the buyer's tokens tells them
        apart: only a full buyer token may (a scoped one gets 403 ``token-scope``, a vendor's or an
    operator's 403 ``forbidden``)."""
    from intentcast.client import Forbidden, IntentcastError, Unauthorized

    try:
        async for _ in client.buyer.tokens.list(limit=1):
            break
    except Forbidden as error:
        if error.code == "token-scope":
            return  # a scoped buyer token: what an assistant should hold
        raise click.ClickException(f"not a buyer's token (icb_...): {error}") from None
    except Unauthorized as error:
        raise click.ClickException(f"{url} does not accept the token: {error}") from None
    except IntentcastError as error:
        raise click.ClickException(f"cannot use {url}: {error}") from None
    click.echo(
        "warning: this is a full buyer token, which can accept offers and reveal your "
        "details. Give the assistant a scoped token instead (web page /account/tokens, or "
        "POST /v1/me/tokens with scopes).",
        err=True,
    )


async def _run(url: str, token: str, web_url: str, transport: str, host: str, port: int) -> None:
    from intentcast.client import AsyncClient
    from intentcast.mcp.server import serve_http, serve_stdio

    async with AsyncClient(url, token) as client:
        await _check_token(client, url)
        if transport == "stdio":
            await serve_stdio(client, web_url)
        else:
            click.echo(f"MCP over streamable HTTP at http://{host}:{port}/mcp", err=True)
            await serve_http(client, web_url, host, port)


@click.command("mcp")
@click.option(
    "--token",
    envvar="INTENTCAST_TOKEN",
    required=True,
    help="The buyer's API token (better: INTENTCAST_TOKEN, so that it is not in the process "
    "list). Use a scoped token: an assistant needs no reveal or accept rights.",
)
@click.option(
    "--url",
    envvar="INTENTCAST_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="The intentcast server's API (INTENTCAST_URL).",
)
@click.option(
    "--web-url",
    help="The base URL of the buyer's web pages in confirmation links (default: --url).",
)
@click.option(
    "--transport",
    type=click.Choice(["stdio", "http"]),
    default="stdio",
    show_default=True,
    help="stdio: the assistant starts this command; http: streamable HTTP at /mcp.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="With --transport http.")
@click.option("--port", type=int, default=8765, show_default=True, help="With --transport http.")
def mcp_command(
    token: str, url: str, web_url: str | None, transport: str, host: str, port: int
) -> None:
    """Serve the buyer's intentcast to an AI assistant (Model Context Protocol).

    Tools: preview and publish intents (the redactions shown first), list intents and
    offers, compare offers, read and answer relay threads, pause, reopen or withdraw. The
    assistant can only propose accepting an offer or revealing your details: it answers a
    link to your intent's web page, where you confirm.
    """
    try:
        asyncio.run(
            _run(url.rstrip("/"), token, (web_url or url).rstrip("/"), transport, host, port)
        )
    except KeyboardInterrupt:
        sys.exit(130)


COMMANDS = [mcp_command]
