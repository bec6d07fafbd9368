"""``intentcast demo``: a small marketplace, live.

It starts ``intentcast serve`` on its own data dir with vendors verified automatically (or
uses a running server at ``--url``, verifying the vendors with an operator token when the
server does not), signs up the buyers and vendors of ``seed`` (or reuses those of an earlier
run, whose tokens it keeps in ``<data dir>/demo-state.json``), runs one ``bot.VendorBot``
per vendor in this process, publishes the sample intents (withdrawing an earlier run's) and
shows matches and offers arriving. The demo buyer then accepts the cheapest offer on one
intent, revealing name and e-mail, and the winning bot reads them; on the intent without a
budget the bots ask through the relay and the buyer answers. At the end it prints the web
address, the sign-in page and the demo buyer's token, and keeps everything running until
Ctrl-C (``--once`` and ``--duration`` stop on their own, for scripts and tests).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from intentcast.client import AsyncClient, Conflict, IntentcastError, ProblemError, Unauthorized
from intentcast.demo.bot import Activity, BotProfile, VendorBot
from intentcast.demo.seed import (
    BUYERS,
    CITIES,
    DEAL_INTENT,
    DEMO_BUYER,
    RELAY_ANSWER,
    RELAY_INTENT,
    SAMPLE_INTENTS,
    DemoBuyer,
    SampleIntent,
    vendor_profiles,
)

READY_WITHIN_S = 90.0
SHOW_AT_LEAST_S = 6.0
SHOW_AT_MOST_S = 30.0
"""The interactive display shows at least this long (the relay's offers come later) and
gives way to the sign-in details after the most, complete or not."""
SIGN_UPS_AT_ONCE = 8


class DemoError(Exception):
    """The demo cannot go on; the message says what to do."""


@dataclass(frozen=True)
class DemoConfig:
    url: str | None = None
    """A running server; None: start ``intentcast serve`` on ``data_dir``."""
    operator_token: str | None = None
    data_dir: Path = Path(".intentcast-demo")
    host: str = "127.0.0.1"
    port: int = 8000
    vendors: int = 50
    once: bool = False
    """Stop as soon as every intent has an offer and the deal is done (exit 1 at timeout)."""
    duration: float | None = None
    """Stop this many seconds after publishing."""
    timeout: float = 60.0
    live: bool = True
    """A live table (a terminal); otherwise one line per event."""

    @property
    def stays_up(self) -> bool:
        return not self.once and self.duration is None


# ---- the server ------------------------------------------------------------------------------


class ServerProcess:
    """``intentcast serve`` on ``data_dir`` (embedded PostgreSQL and Redis), vendors verified
    automatically; its output goes to ``data_dir/serve.log``."""

    def __init__(self, data_dir: Path, host: str, port: int) -> None:
        self.data_dir = data_dir.resolve()
        self.host, self.port = host, port
        self.url = f"http://{host}:{port}"
        self.log_path = self.data_dir / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex((self.host, self.port)) == 0:
                raise DemoError(
                    f"something already listens on {self.host}:{self.port}: is `make serve` "
                    "running? Use --port for another port, or --url to use that server."
                )
        from intentcast.embedded import die_with_parent

        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("INTENTCAST_DATABASE_URL", "INTENTCAST_REDIS_URL")
        }
        env.update(
            INTENTCAST_DATA_DIR=str(self.data_dir),
            INTENTCAST_HOST=self.host,
            INTENTCAST_PORT=str(self.port),
            INTENTCAST_AUTO_VERIFY_VENDORS="true",
            INTENTCAST_LOG_FORMAT="text",
        )
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "intentcast", "serve"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=lambda: die_with_parent(signal.SIGTERM),
            )

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace").splitlines()[-15:]
            raise DemoError(
                f"intentcast serve exited with {self.process.returncode}:\n" + "\n".join(tail)
            )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def wait_until_ready(client: AsyncClient, server: ServerProcess | None, url: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (READY_WITHIN_S if server else 5.0)
    while True:
        if server is not None:
            server.check_alive()
        try:
            await client.meta.ready()
            return
        except (IntentcastError, httpx.TransportError):  # not up yet, after the client's retries
            pass
        if loop.time() > deadline:
            raise DemoError(f"no intentcast server is ready at {url}")
        await asyncio.sleep(0.3)


# ---- what the demo remembers between runs ------------------------------------------------------


class DemoState:
    """The tokens and stream positions of the demo's accounts on one server, and the intents
    it published there: ``<data dir>/demo-state.json`` (owner-only: it holds tokens)."""

    def __init__(self, path: Path, url: str) -> None:
        self.path, self.url = path, url
        everything: dict[str, Any] = {}
        if path.exists():
            with contextlib.suppress(ValueError):
                everything = json.loads(path.read_text())
        mine = everything.get(url, {})
        self.buyers: dict[str, dict[str, Any]] = mine.get("buyers", {})
        self.vendors: dict[str, dict[str, Any]] = mine.get("vendors", {})
        self.intents: dict[str, str] = mine.get("intents", {})

    def save(self) -> None:
        everything: dict[str, Any] = {}
        if self.path.exists():
            with contextlib.suppress(ValueError):
                everything = json.loads(self.path.read_text())
        everything[self.url] = {
            "buyers": self.buyers,
            "vendors": self.vendors,
            "intents": self.intents,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(everything, out, indent=1)


# ---- what the display shows ---------------------------------------------------------------------


@dataclass
class IntentRow:
    sample: SampleIntent
    intent_id: str
    buyer: str
    city: str
    published_at: float
    matched: set[str] = field(default_factory=set)
    offers: dict[str, str] = field(default_factory=dict)
    """Vendor name → price ("1710.00 EUR"), as the buyer's stream brought them."""
    live_offers: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Offer id → the offer as the buyer's stream last showed it, while live."""
    cheapest: tuple[float, str] | None = None
    first_offer_after: float | None = None
    notes: list[str] = field(default_factory=list)
    revealed: str | None = None


class Board:
    """Everything the demo saw, from the bots (``record``) and the buyers' streams."""

    def __init__(self) -> None:
        self.rows: dict[str, IntentRow] = {}
        self.log: collections.deque[str] = collections.deque(maxlen=10)
        self.started = time.monotonic()
        self.bots_listening = 0
        self.on_line: Any = None
        """Called with each log line (the plain display prints them)."""
        self.changed = asyncio.Event()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds, looking again after each change."""
        while not condition():
            self.changed.clear()
            await self.changed.wait()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def say(self, line: str) -> None:
        self.changed.set()
        stamped = f"{self.elapsed():6.1f}s  {line}"
        self.log.append(stamped)
        if self.on_line is not None:
            self.on_line(stamped)

    def record(self, activity: Activity) -> None:
        """What a bot did (``bot.Report``)."""
        row = self.rows.get(activity.intent_id or "")
        if row is None:  # an intent of an earlier run, replayed to a bot
            return
        self.changed.set()
        who, title = activity.vendor, row.sample.title
        if activity.kind == "matched":
            row.matched.add(who)
        elif activity.kind == "asked":
            self.say(f"relay     {who} asks the buyer of “{title}” for a budget")
        elif activity.kind == "answered":
            self.say(f"relay     {who} read “{activity.detail}” and answered")
        elif activity.kind == "accepted":
            self.say(f"deal      {who} heard its offer was accepted ({activity.detail})")
        elif activity.kind == "revealed":
            row.revealed = f"{who} read {activity.detail}"
            self.say(f"reveal    {who} accepted the buyer's terms and read: {activity.detail}")
        elif activity.kind in ("refused", "failed"):
            self.say(f"{activity.kind:<9} {who} on “{title}”: {activity.detail}")

    def offer_arrived(self, offer: dict[str, Any]) -> None:
        row = self.rows.get(offer["intent_id"])
        if row is None:
            return
        vendor = offer["vendor"]["name"]
        price = offer["price"]
        if offer["status"] == "live":
            row.live_offers[offer["id"]] = offer
        else:
            row.live_offers.pop(offer["id"], None)
        shown = f"{price['amount']} {price['currency']}"
        row.offers[vendor] = shown
        amount = float(price["amount"])
        if row.cheapest is None or amount < row.cheapest[0]:
            row.cheapest = (amount, f"{shown} · {vendor}")
        if row.first_offer_after is None:
            row.first_offer_after = time.monotonic() - row.published_at
        self.say(f"offer     {vendor} → “{row.sample.title}”: {shown}")

    # -- progress

    def missing(self) -> list[str]:
        """What the demo still waits for (empty: complete)."""
        missing = [f"an offer on “{r.sample.title}”" for r in self.rows.values() if not r.offers]
        deal = self.row(DEAL_INTENT)
        if deal is not None and deal.revealed is None:
            missing.append("the winning vendor reading the buyer's reveal")
        return missing

    def row(self, key: str) -> IntentRow | None:
        return next((r for r in self.rows.values() if r.sample.key == key), None)

    def offers(self) -> int:
        return sum(len(r.offers) for r in self.rows.values())

    def render(self) -> Group:
        table = Table(title="intentcast demo: intents, matches and offers", expand=True)
        table.add_column("intent")
        table.add_column("buyer")
        table.add_column("matched", justify="right")
        table.add_column("offers", justify="right")
        table.add_column("cheapest")
        table.add_column("1st offer", justify="right")
        table.add_column("notes")
        for r in self.rows.values():
            first = "…" if r.first_offer_after is None else f"{r.first_offer_after:.1f}s"
            table.add_row(
                r.sample.title,
                f"{r.buyer}, {r.city}",
                str(len(r.matched)),
                str(len(r.offers)),
                r.cheapest[1] if r.cheapest else "",
                first,
                "; ".join([*r.notes, *([r.revealed] if r.revealed else [])]),
            )
        status = Text(
            f"{self.elapsed():.1f}s · {self.bots_listening} vendor bots listening · "
            f"{self.offers()} offers on {len(self.rows)} intents",
            style="bold",
        )
        return Group(table, status, Text("\n".join(self.log), style="dim"))


# ---- the demo --------------------------------------------------------------------------------


class Demo:
    def __init__(self, url: str, config: DemoConfig, console: Console) -> None:
        self.url = url
        self.config = config
        self.console = console
        self.board = Board()
        self.state = DemoState(config.data_dir / "demo-state.json", url)
        self.buyers: dict[str, AsyncClient] = {}
        self.bots: list[tuple[VendorBot, AsyncClient]] = []
        self.tasks: list[asyncio.Task[Any]] = []
        self.buyer_seq: dict[str, int] = {}
        self.answered_threads: set[str] = set()

    async def run(self, anonymous: AsyncClient) -> int:
        paths = await category_paths(anonymous)
        profiles = [p for p in vendor_profiles() if set(p.categories) <= paths]
        profiles = profiles[: self.config.vendors]
        samples = [s for s in SAMPLE_INTENTS if s.category in paths]
        if not samples:
            raise DemoError("the server's taxonomy has none of the demo's categories")
        try:
            await self.sign_up(anonymous, profiles)
            await self.start_bots()
            await self.publish(samples)
            for key in self.buyers:
                self.tasks.append(asyncio.create_task(self.follow_buyer(key)))
            self.tasks.append(asyncio.create_task(self.close_a_deal()))
            complete = await self.show()
            self.summarise(complete)
            if self.config.stays_up:
                self.console.print(
                    "The vendor bots keep answering (offers, relay questions, reveals). "
                    "Ctrl-C stops the demo."
                )
                self.board.on_line = self.console.print
                await asyncio.Event().wait()
            return 0 if complete else 1
        finally:
            await self.stop()

    # -- accounts

    async def sign_up(self, anonymous: AsyncClient, profiles: list[BotProfile]) -> None:
        gate = asyncio.Semaphore(SIGN_UPS_AT_ONCE)

        async def buyer(person: DemoBuyer) -> None:
            async with gate:
                self.buyers[person.key] = await self.buyer_account(anonymous, person)

        async def vendor(profile: BotProfile) -> tuple[BotProfile, AsyncClient, str]:
            async with gate:
                client, status = await self.vendor_account(anonymous, profile)
                return profile, client, status

        await asyncio.gather(*(buyer(b) for b in BUYERS))
        signed = await asyncio.gather(*(vendor(p) for p in profiles))
        self.state.save()
        pending = [p.name for p, _, status in signed if status != "verified"]
        if pending:
            for _, client, _ in signed:
                await client.aclose()
            raise DemoError(
                f"{len(pending)} demo vendors are not verified ({', '.join(pending[:3])}, ...) "
                "and no operator token was given: pass --operator-token (from `intentcast "
                "operator create-token`), or turn on auto_verify_vendors on that server."
            )
        for profile, client, _ in signed:
            self.bots.append((VendorBot(client, profile, report=self.board.record), client))
        self.console.print(
            f"{len(BUYERS)} buyers and {len(signed)} vendors ready "
            f"({sum(1 for p in profiles if p.countries)} online shops, the rest local in "
            f"{', '.join(CITIES)})"
        )

    async def buyer_account(self, anonymous: AsyncClient, person: DemoBuyer) -> AsyncClient:
        known = self.state.buyers.get(person.key)
        if known:
            client = AsyncClient(self.url, known["token"])
            try:
                await client.accounts.me()
                self.buyer_seq[person.key] = known.get("seq", 0)
                return client
            except Unauthorized:  # another server, or the buyer was erased
                await client.aclose()
        created = await anonymous.accounts.create_buyer(
            {
                "display_name": person.display_name,
                "name": person.name,
                "email": person.email,
                "phone": person.phone,
                "country": "DE",
            }
        )
        self.state.buyers[person.key] = {"token": created.token, "seq": 0}
        self.buyer_seq[person.key] = 0
        return AsyncClient(self.url, created.token)

    async def vendor_account(
        self, anonymous: AsyncClient, profile: BotProfile
    ) -> tuple[AsyncClient, str]:
        known = self.state.vendors.get(profile.name)
        account = None
        if known:
            client = AsyncClient(self.url, known["token"])
            try:
                account = await client.accounts.me()
            except Unauthorized:
                await client.aclose()
                known = None
        if not known:
            where = profile.city or "all of Germany"
            created = await anonymous.accounts.create_vendor(
                {"name": profile.name, "description": f"{', '.join(profile.categories)} · {where}"}
            )
            known = {"id": created.vendor.id, "token": created.token, "seq": 0}
            self.state.vendors[profile.name] = known
            client = AsyncClient(self.url, created.token)
            account = created.vendor
        status = getattr(account, "status", "pending")
        if status == "pending" and self.config.operator_token:
            operator = client.with_token(self.config.operator_token)
            try:
                status = (await operator.admin.verify_vendor(known["id"], "intentcast demo")).status
            except Conflict as exc:  # a real vendor of that name (say the README's) is verified
                if exc.code != "vendor-name-taken":
                    raise
                await client.accounts.update_me({"name": f"{profile.name} (demo)"})
                status = (await operator.admin.verify_vendor(known["id"], "intentcast demo")).status
        return client, status

    # -- bots

    async def start_bots(self) -> None:
        gate = asyncio.Semaphore(SIGN_UPS_AT_ONCE)

        async def subscribe(bot: VendorBot) -> None:
            async with gate:
                await bot.subscribe()

        await asyncio.gather(*(subscribe(bot) for bot, _ in self.bots))
        for bot, _ in self.bots:
            after = self.state.vendors[bot.profile.name].get("seq", 0)
            self.tasks.append(asyncio.create_task(self.keep_bot_running(bot, after)))
        self.board.bots_listening = len(self.bots)
        self.console.print(f"{len(self.bots)} vendor bots subscribed and listening")

    async def keep_bot_running(self, bot: VendorBot, after: int) -> None:
        try:
            await bot.run(after=after)
        except ProblemError as exc:  # e.g. an operator suspended the vendor: its stream ends
            self.board.bots_listening -= 1
            self.board.say(f"stopped   {bot.profile.name}: {exc}")

    # -- intents

    async def publish(self, samples: list[SampleIntent]) -> None:
        people = {b.key: b for b in BUYERS}
        owners = {s.key: s.buyer for s in SAMPLE_INTENTS}
        for key, intent_id in self.state.intents.items():  # an earlier run's, if still open
            buyer = self.buyers.get(owners.get(key, ""))
            if buyer is not None:
                with contextlib.suppress(ProblemError):
                    await buyer.intents.update(intent_id, {"status": "withdrawn"})
        self.state.intents = {}
        for sample in samples:
            person = people[sample.buyer]
            draft = sample.draft(person.city)
            buyer = self.buyers[sample.buyer]
            preview = await buyer.intents.preview(draft)
            notes = []
            if preview.redactions:
                kinds = sorted({r.kind for r in preview.redactions})
                notes.append(f"{', '.join(kinds)} removed for vendors")
                self.console.print(
                    f"“{sample.title}”: vendors will see the description as "
                    f"“{preview.vendor_view.description}”"
                )
            if sample.key == RELAY_INTENT:
                notes.append("no budget: bots ask")
            published_at = time.monotonic()
            intent = await buyer.intents.publish(draft)
            self.state.intents[sample.key] = intent.id
            self.board.rows[intent.id] = IntentRow(
                sample, intent.id, person.display_name, person.city, published_at, notes=notes
            )
        self.state.save()
        self.board.started = time.monotonic()
        self.board.say(f"published {len(samples)} intents")

    # -- the buyers' side

    async def follow_buyer(self, key: str) -> None:
        """The buyer's live stream: offers arriving, and the vendors' relay questions."""
        client = self.buyers[key]
        events = client.buyer.events(after=self.buyer_seq.get(key, 0))
        async with contextlib.aclosing(events):
            async for event in events:
                if event.type in ("offer.created", "offer.updated"):
                    self.board.offer_arrived(event.data["offer"])
                elif event.type == "message.created":
                    await self.answer_vendor(client, event.data)
                self.buyer_seq[key] = event.seq

    async def answer_vendor(self, client: AsyncClient, data: dict[str, Any]) -> None:
        """On the intent without a budget, the buyer answers each vendor's question once,
        with a figure and a phone number the vendor will not see."""
        row = self.board.rows.get(data["intent_id"])
        thread_id = data["thread_id"]
        if row is None or row.sample.key != RELAY_INTENT or thread_id in self.answered_threads:
            return
        self.answered_threads.add(thread_id)
        sent = await client.threads.post(thread_id, RELAY_ANSWER)
        if len(self.answered_threads) == 1:
            self.board.say(f"relay     the buyer answers “{sent.body}”")
            self.board.say(f"relay     ... and the vendor sees “{sent.shown_to_vendor}”")
            row.notes.append("phone removed in the relay")

    async def close_a_deal(self) -> None:
        """The demo buyer accepts the cheapest offer on the deal intent once the vendors
        that matched it have answered (or 8 s after the first offer), revealing name and
        e-mail to that vendor only."""
        row = self.board.row(DEAL_INTENT)
        if row is None:
            return
        await self.board.until(lambda: bool(row.offers))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(8.0):
                await self.board.until(lambda: len(row.offers) >= max(2, len(row.matched)))
        buyer = self.buyers[DEMO_BUYER]
        for _ in range(3):
            if not row.live_offers:
                return
            best = min(row.live_offers.values(), key=lambda o: Decimal(o["price"]["amount"]))
            try:
                await buyer.offers.accept(
                    best["id"], reveal_fields=["name", "email"], version=best["version"]
                )
            except Conflict as exc:  # revised or withdrawn meanwhile: look again
                if exc.code not in ("offer-changed", "offer-not-live"):
                    raise
                await asyncio.sleep(0.5)
                continue
            vendor, price = best["vendor"]["name"], best["price"]
            row.notes.append(f"accepted {vendor}")
            self.board.say(
                f"deal      the buyer accepts {vendor}'s {price['amount']} {price['currency']}"
                f" on “{row.sample.title}”, revealing name and e-mail"
            )
            return

    # -- display

    async def show(self) -> bool:
        """Until complete (``--once``, interactive), or for ``--duration``; True if complete."""
        config = self.config
        limit = config.duration or (config.timeout if config.once else SHOW_AT_MOST_S)
        stop_when_complete = config.duration is None
        with self.display():
            while self.board.elapsed() < limit:
                self.check_tasks()
                shown_enough = config.once or self.board.elapsed() >= SHOW_AT_LEAST_S
                if stop_when_complete and shown_enough and not self.board.missing():
                    await asyncio.sleep(0.5)  # let the last lines show
                    break
                await asyncio.sleep(0.2)
        return not self.board.missing()

    @contextlib.contextmanager
    def display(self) -> Iterator[None]:
        if not self.config.live:
            self.board.on_line = self.console.print
            for line in self.board.log:
                self.console.print(line)
            yield
            return
        with Live(get_renderable=self.board.render, console=self.console, refresh_per_second=4):
            yield

    def check_tasks(self) -> None:
        """A buyer's stream or the deal that failed ends the demo with its error."""
        for task in self.tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    def summarise(self, complete: bool) -> None:
        board = self.board
        firsts = [r.first_offer_after for r in board.rows.values() if r.first_offer_after]
        line = f"{board.offers()} offers on {len(board.rows)} intents"
        if firsts:
            line += (
                f"; first offer {min(firsts):.1f}s after publishing, "
                f"every intent with an offer within {max(firsts):.1f}s"
                if len(firsts) == len(board.rows)
                else f"; {len(firsts)} intents with offers"
            )
        self.console.print(line)
        deal = board.row(DEAL_INTENT)
        if deal is not None and deal.revealed:
            self.console.print(f"deal: {deal.revealed}")
        if not complete:
            self.console.print("still waiting for: " + "; ".join(board.missing()))
        token = self.state.buyers[DEMO_BUYER]["token"]
        buyer = next(b for b in BUYERS if b.key == DEMO_BUYER)
        web = self.url.replace("://127.0.0.1:", "://localhost:")  # passkeys need a host name
        self.console.print(f"Web:      {web}/")
        self.console.print(f"Sign in:  {web}/signin  (paste the token, or sign up with a passkey)")
        self.console.print(f"Buyer token ({buyer.display_name}): {token}")

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for bot, client in self.bots:
            self.state.vendors[bot.profile.name]["seq"] = bot.last_seq
            await client.aclose()
        for key, client in self.buyers.items():
            self.state.buyers[key]["seq"] = self.buyer_seq.get(key, 0)
            await client.aclose()
        self.state.save()


async def category_paths(client: AsyncClient) -> set[str]:
    tree = await client.meta.categories()
    paths: set[str] = set()
    stack = list(tree.items)
    while stack:
        node = stack.pop()
        paths.add(node.path)
        stack.extend(node.children)
    return paths


async def run_demo(config: DemoConfig, console: Console) -> int:
    """The whole demo; the exit status (0: every intent got offers and the deal closed)."""
    server = None
    if config.url is None:
        server = ServerProcess(config.data_dir, config.host, config.port)
        console.print(
            f"starting intentcast serve on {server.url} (data in {server.data_dir}, "
            "vendors verified automatically) ..."
        )
        server.start()
    url = (config.url or (server.url if server else "")).rstrip("/")
    started = time.monotonic()
    try:
        async with AsyncClient(url) as anonymous:
            await wait_until_ready(anonymous, server, url)
            if server is not None:
                console.print(f"server ready in {time.monotonic() - started:.1f}s")
            return await Demo(url, config, console).run(anonymous)
    finally:
        if server is not None:
            console.print("stopping intentcast serve ...")
            await asyncio.to_thread(server.stop)
