"""The MCP server: ``tools.TOOLS`` served with the official ``mcp`` SDK (its low-level
``Server``, so that each tool's input schema is the one generated from its Struct), over
stdio (an assistant starts ``intentcast mcp`` itself) or streamable HTTP."""

from __future__ import annotations

import json
from typing import Any

import mcp.types as types
from mcp.server import Server, ServerRequestContext

from intentcast.client import AsyncClient, IntentcastError
from intentcast.mcp.tools import TOOLS, Toolbox, ToolRefused, new_elicitation_id

INSTRUCTIONS = """\
You act for one buyer on intentcast, an intent-casting marketplace: the buyer publishes
what they want to buy (an intent), matching vendors answer with offers, and talk to the
buyer through an anonymous relay. Preview an intent and show the buyer what was removed
before publishing it. You can compare offers and answer vendors, pause or withdraw intents.
You cannot accept an offer or reveal the buyer's details: propose_acceptance and
propose_reveal answer a link where the buyer decides. Never claim something was accepted or
revealed until list_offers shows it."""


def tool_list() -> list[types.Tool]:
    return [
        types.Tool(
            name=tool.name,
            description=tool.description,
            input_schema=tool.input_schema(),
            annotations=types.ToolAnnotations(
                read_only_hint=tool.read_only,
                destructive_hint=tool.name == "withdraw_intent",
                open_world_hint=False,
            ),
        )
        for tool in TOOLS
    ]


def build_server(toolbox: Toolbox) -> Server[Any]:
    """A low-level MCP ``Server`` whose tools run on ``toolbox``."""
    tools = tool_list()

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        async def ask_human(message: str, url: str) -> str | None:
            return await _elicit_url(ctx, message, url)

        try:
            answer = await toolbox.call(params.name, params.arguments, ask_human)
        except ToolRefused as refused:
            return _error(str(refused))
        except IntentcastError as error:  # the server unreachable, a broken stream...
            return _error(f"the intentcast server could not be used: {error}")
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=json.dumps(answer, indent=1))],
            structured_content=answer,
        )

    return Server(
        "intentcast",
        version="1",
        title="intentcast (buyer)",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


async def _elicit_url(ctx: ServerRequestContext[Any], message: str, url: str) -> str | None:
    """Ask the human to open ``url`` (URL-mode elicitation) when the client can; the human's
    action, or ``None``. Opening it confirms nothing: the page is where the human decides."""
    session = ctx.session
    capabilities = session.client_capabilities
    if (
        capabilities is None
        or capabilities.elicitation is None
        or capabilities.elicitation.url is None
        or not session.can_send_request
    ):
        return None
    try:
        result = await session.elicit_url(
            message=message,
            url=url,
            elicitation_id=new_elicitation_id(),
            related_request_id=ctx.request_id,
        )
    except Exception:  # an elicitation the client could not complete changes nothing
        return None
    return result.action


async def serve_stdio(client: AsyncClient, web_url: str) -> None:
    from mcp.server.stdio import stdio_server

    server = build_server(Toolbox(client, web_url))
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


async def serve_http(client: AsyncClient, web_url: str, host: str, port: int) -> None:
    """Streamable HTTP at ``http://host:port/mcp`` (DNS-rebinding protection on loopback)."""
    import uvicorn

    server = build_server(Toolbox(client, web_url))
    app = server.streamable_http_app(host=host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    await uvicorn.Server(config).serve()
