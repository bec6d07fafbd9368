"""``intentcast demo`` and the example vendor bot against real processes.

``make demo`` runs the demo with a server of its own: offers reach every sample intent, the
printed web address, sign-in page and buyer token work while it runs, and Ctrl-C stops the
bots and the server without leaving a process behind. Against a running server (``--url``)
the demo seeds it non-interactively; then ``examples/vendor_bot.py`` — the client library
and nothing else — makes a deal with the demo buyer: it offers, answers a relay question,
and reads the name and e-mail the buyer reveals on accepting, after accepting the terms."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psutil
import pytest

from intentcast.client import AsyncClient
from tests.e2e.conftest import Server, assert_all_gone, free_port

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_BOT = REPO_ROOT / "examples" / "vendor_bot.py"
SUMMARY = re.compile(r"^(\d+) offers on (\d+) intents")
TOKEN = re.compile(r"^Buyer token \(Ada\): (icb_\S+)$", re.MULTILINE)


def clean_env() -> dict[str, str]:
    """This environment without any ``INTENTCAST_*`` setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith("INTENTCAST_")}


class Lines:
    """A child process's standard output, line by line, read until a line matches."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.seen: list[str] = []

    async def until(self, pattern: str, within: float) -> str:
        """The first line (already read or still to come) that matches ``pattern``."""
        earlier = next((line for line in self.seen if re.search(pattern, line)), None)
        if earlier is not None:
            return earlier
        async with asyncio.timeout(within):
            while True:
                assert self.process.stdout is not None
                raw = await self.process.stdout.readline()
                if not raw:
                    raise AssertionError("the process ended:\n" + "\n".join(self.seen))
                line = raw.decode().rstrip("\n")
                self.seen.append(line)
                if re.search(pattern, line):
                    return line

    def text(self) -> str:
        return "\n".join(self.seen)


@contextlib.asynccontextmanager
async def child(*argv: str) -> AsyncIterator[Lines]:
    """A child process (stdout and stderr together); stopped with SIGTERM if still running
    at the end, and none of its descendants may outlive it."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=REPO_ROOT,
        env=clean_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    lines = Lines(process)
    try:
        yield lines
    finally:
        if process.returncode is None:
            tree = [psutil.Process(process.pid)]
            with contextlib.suppress(psutil.NoSuchProcess):
                tree += tree[0].children(recursive=True)
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.communicate(), 90)
            assert_all_gone(tree)


def demo_argv(*options: str) -> list[str]:
    return [sys.executable, "-m", "intentcast", "demo", "--plain", *options]


async def test_make_demo_shows_offers_prints_a_working_sign_in_and_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    port = free_port()
    argv = demo_argv("--port", str(port), "--data-dir", str(tmp_path / "demo"))
    async with child(*argv) as demo:
        await demo.until(r"^Buyer token", within=120)
        output = demo.text()
        summary = next(SUMMARY.match(line) for line in demo.seen if SUMMARY.match(line))
        offers, intents = int(summary[1]), int(summary[2])
        assert intents == 8 and offers >= intents, output
        assert "every intent with an offer within" in output, output
        assert "[phone removed]" in output  # the intent's description, and the relay
        assert re.search(r"read name=Ada Lovelace, email=ada@example\.org", output), output
        web = f"http://localhost:{port}"
        assert f"Web:      {web}/" in output and f"Sign in:  {web}/signin" in output
        base = f"http://127.0.0.1:{port}"
        token = TOKEN.search(output)
        assert token is not None, output

        # while the demo runs, its server answers at the printed addresses...
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            assert (await http.get("/signin")).status_code == 200
            home = await http.get("/")
            assert home.status_code in (200, 303), home.text
        # ...and the printed token is Ada's, with offers on each of her three intents
        async with AsyncClient(base, token[1], timeout=30) as buyer:
            published = [i async for i in buyer.intents.list()]
            assert len(published) == 3
            for intent in published:
                assert [o async for o in buyer.intents.offers(intent.id)], intent.title

        # Ctrl-C: the bots, the clients and the server it started stop, and nothing stays
        tree = [psutil.Process(demo.process.pid)]
        tree += tree[0].children(recursive=True)
        assert any(p.name() == "postgres" for p in tree)
        demo.process.send_signal(signal.SIGINT)
        async with asyncio.timeout(90):
            rest, _ = await demo.process.communicate()
        assert demo.process.returncode == 0, rest.decode()
        assert "stopping intentcast serve" in rest.decode()
        assert_all_gone(tree)


@pytest.fixture
def server(make_server) -> Server:
    srv = make_server(auto_verify_vendors="true")
    srv.start()
    return srv


async def test_the_example_bot_makes_a_deal_with_the_demo_buyer(
    server: Server, tmp_path: Path
) -> None:
    async with child(*demo_argv("--url", server.url, "--once", "--data-dir", str(tmp_path))) as d:
        async with asyncio.timeout(120):
            output = (await d.process.communicate())[0].decode()
        assert d.process.returncode == 0, output
    token = TOKEN.search(output)
    assert token is not None, output

    async with AsyncClient(server.url, timeout=30) as anonymous:
        created = await anonymous.accounts.create_vendor({"name": "Lampenladen Licht"})
    state = tmp_path / "bot-state.json"
    bot_argv = [
        sys.executable,
        str(EXAMPLE_BOT),
        "--url",
        server.url,
        "--token",
        created.token,
        "--categories",
        "home-garden/lighting",  # no demo vendor sells lamps: this bot alone matches
        "--country",
        "DE",
        "--state",
        str(state),
    ]
    async with (
        child(*bot_argv) as bot,
        AsyncClient(server.url, token[1], timeout=30) as buyer,
    ):
        await bot.until(r"listening for home-garden/lighting", within=30)
        intent = await buyer.intents.publish(
            {
                "category": "home-garden/lighting/lamps",
                "title": "Floor lamp with a dimmer",
                "budget": {"currency": "EUR", "max": "200"},
                "location": {"country": "DE"},
            }
        )
        events = buyer.buyer.events()
        offer = None
        thread_id = None
        async with contextlib.aclosing(events), asyncio.timeout(60):
            async for event in events:
                data = event.data
                if event.type == "offer.created" and data["offer"]["intent_id"] == intent.id:
                    offer = data["offer"]
                    assert offer["price"] == {"amount": "190.00", "currency": "EUR"}  # 5 % off
                elif event.type == "message.created" and data["intent_id"] == intent.id:
                    if thread_id is None:  # the bot's hello: ask it something
                        thread_id = data["thread_id"]
                        await buyer.threads.post(thread_id, "How long does delivery take?")
                    elif data["message"]["sender"] == "vendor":
                        assert data["message"]["body"] == "We deliver within 3 days."
                        break
        assert offer is not None and thread_id is not None

        accepted = await buyer.offers.accept(offer["id"], reveal_fields=["name", "email"])
        assert accepted.intent_status == "fulfilled" and accepted.reveal is not None
        line = await bot.until(r"^revealed ", within=30)
        assert intent.id in line and "name=Ada Lovelace, email=ada@example.org" in line
        ledger = [d async for d in buyer.buyer.disclosures()]
        kinds = {d.receipt["kind"] for d in ledger if d.receipt["vendor_id"] == created.vendor.id}
        assert kinds == {"reveal", "terms_accepted"}  # the bot accepted the buyer's terms

        await bot.until(rf"^closed .*{intent.id}", within=30)  # fulfilled
        bot.process.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            rest, _ = await bot.process.communicate()
        assert bot.process.returncode == 0, rest.decode()
        assert "stopped after event" in rest.decode()

    # restarted with its --state, the bot goes on after the last event it handled: on an
    # intent without a budget it asks for one, and offers below the figure the buyer names
    async with (
        child(*bot_argv) as bot,
        AsyncClient(server.url, token[1], timeout=30) as buyer,
    ):
        await bot.until(r"listening for home-garden/lighting", within=30)
        second = await buyer.intents.publish(
            {
                "category": "home-garden/lighting/light-fixtures",
                "title": "Pendant light for a dining table",
                "location": {"country": "DE"},
            }
        )
        await bot.until(rf"^asked .*{second.id}", within=30)
        threads = [t async for t in buyer.threads.list() if t.intent_id == second.id]
        assert len(threads) == 1
        await buyer.threads.post(threads[0].id, "About 150 EUR, call me on +49 170 1234567")
        line = await bot.until(rf"^offered .*{second.id}", within=30)
        assert "142.50 EUR" in line
        answered = await bot.until(rf"^answered .*{second.id}", within=30)
        assert "1234567" not in answered and "[phone removed]" in answered
        assert intent.id not in bot.text()  # nothing of the first intent handled again
