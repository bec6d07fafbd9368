#!/usr/bin/env python3
"""A vendor bot for intentcast, written with nothing but the client library.

Run it against a server (``make serve``, or ``make demo``, which prints its URL):

    .venv/bin/python examples/vendor_bot.py --url http://127.0.0.1:8000 --token icv_... \\
        --categories electronics/cameras --near 48.137,11.575 --radius-km 30

or sign up a new vendor first (the token is printed once; the vendor makes offers once an
operator verifies it, unless the server verifies vendors automatically):

    .venv/bin/python examples/vendor_bot.py --url http://127.0.0.1:8000 \\
        --sign-up "Foto Huber" --categories electronics/cameras --country DE

The bot subscribes to what it sells, then follows its live event stream
(``client.vendor.events()``, which reconnects with ``Last-Event-ID`` after a disconnect and
never repeats an event): it prices each matched intent from the buyer's budget and sends an
offer, answers the buyer's messages in the relay, and when the buyer reveals (or accepts its
offer with a reveal) it accepts the buyer's terms and reads what was revealed. Its rules are
``intentcast/demo/bot.py``, the same bot ``intentcast demo`` runs fifty of: read it next,
top to bottom. ``--state FILE`` keeps the last event's seq, so a restarted bot goes on where
it stopped instead of replaying its whole feed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from decimal import Decimal
from pathlib import Path

from intentcast.client import AsyncClient
from intentcast.demo.bot import Activity, BotProfile, run_bot


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("INTENTCAST_URL", "http://127.0.0.1:8000"))
    who = parser.add_mutually_exclusive_group(required="INTENTCAST_VENDOR_TOKEN" not in os.environ)
    who.add_argument(
        "--token", default=os.environ.get("INTENTCAST_VENDOR_TOKEN"), help="icv_... (or env)"
    )
    who.add_argument("--sign-up", metavar="NAME", help="create this vendor and print its token")
    parser.add_argument("--categories", required=True, help="comma-separated taxonomy paths")
    parser.add_argument("--near", metavar="LAT,LNG", help="serve an area around this point")
    parser.add_argument("--radius-km", type=float, default=30.0)
    parser.add_argument("--country", action="append", default=[], help="serve a whole country")
    parser.add_argument("--discount", type=Decimal, default=Decimal("0.05"))
    parser.add_argument("--state", type=Path, help="remember the last event's seq here")
    return parser.parse_args()


def profile_from(args: argparse.Namespace, name: str) -> BotProfile:
    lat = lng = None
    if args.near:
        lat, lng = (float(part) for part in args.near.split(","))
    return BotProfile(
        name=name,
        categories=tuple(c.strip() for c in args.categories.split(",") if c.strip()),
        lat=lat,
        lng=lng,
        radius_km=args.radius_km,
        countries=tuple(args.country),
        discount=args.discount,
    )


def show(activity: Activity) -> None:
    print(f"{activity.kind:<9} {activity.intent_id or '':<30} {activity.detail}", flush=True)


async def main() -> None:
    args = parse_args()
    token = args.token
    if args.sign_up:
        async with AsyncClient(args.url) as anonymous:
            created = await anonymous.accounts.create_vendor({"name": args.sign_up})
        token = created.token
        print(f"vendor {created.vendor.id} ({created.vendor.status}); token: {token}", flush=True)

    after = 0
    if args.state and args.state.exists():
        after = json.loads(args.state.read_text())["last_seq"]

    stop = asyncio.Event()  # Ctrl-C or SIGTERM: stop listening, save where we were
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)

    async with AsyncClient(args.url, token) as client:
        me = await client.accounts.me()
        profile = profile_from(args, me.name)
        print(f"{me.name} ({me.status}) listening for {', '.join(profile.categories)}", flush=True)
        if me.status == "pending":
            print("no matches until an operator verifies this vendor", flush=True)
        last_seq = await run_bot(client, profile, stop=stop, after=after, report=show)

    if args.state:
        args.state.write_text(json.dumps({"last_seq": last_seq}))
    print(f"stopped after event {last_seq}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
