"""k-anonymity benchmark: how many intents k-anonymous casting generalises, and what that
costs vendors in match precision, on the matcher benchmark's synthetic world.

    python bench/kanon.py                       # 100k subscriptions, markets of 10k and 100k
    python bench/kanon.py --quick --no-write    # a smoke run

The world is `bench/matcher.py`'s `Synth`: subscriptions and intents spread over the Google
taxonomy and 300 cities with Zipf-like popularity. A *market* is ``M`` open intents, each of
its own buyer (Synth's intents have distinct buyers: a lower bound on generalisation, since
one buyer's several intents count once). For a sample of those intents, the rule
(``domain/kanon.py``) decides what vendors see at k = 1, 3, 5, 10, counting the whole market;
both the exact and the disclosed intent are then matched by the real `SubscriptionIndex`
(the disclosed one with ``generalised`` set, as the matcher does). Reported per k:

* generalised: the share of intents shown coarser than asked; of them, the share where the
  location alone was coarsened, and the share left at the coarsest pair without reaching k;
* deliveries: vendor matches of the disclosed intents relative to the exact ones;
* precision: the share of those deliveries the exact intent would also have matched (the
  rest are vendors receiving an intent they would not have wanted: a wider category or area);
* recall: the share of the exact matches still delivered (the rest are lost: an area
  subscription misses an intent shown at country level).

Counting is by one dictionary of (category, area) → buyers built over the market, checked
against `decide` itself for a sample (the script stops if they ever differ). Results go to
``## k-anonymity`` in bench/RESULTS.md (only that section is replaced).
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

import h3
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

from matcher import RESULTS, Synth

from intentcast.domain.kanon import (
    COARSEST_CELL_RESOLUTION,
    Area,
    Described,
    area_ladder,
    category_ladder,
    decide,
)
from intentcast.domain.matching import MatchableIntent
from intentcast.matching.index import SubscriptionIndex

KS = (1, 3, 5, 10)


def described(intent: MatchableIntent) -> Described:
    return Described(intent.buyer_id, intent.category, intent.cell, intent.country)


def area_keys(cell: str | None, country: str | None) -> list[Area]:
    """Every area (of any intent's ladder) that contains this location."""
    keys = [Area(None, country), Area(None, None)]
    if cell is not None:
        for r in range(h3.get_resolution(cell), COARSEST_CELL_RESOLUTION - 1, -1):
            parent = cell if r == h3.get_resolution(cell) else h3.cell_to_parent(cell, r)
            keys.append(Area(parent, country))
            keys.append(Area(parent, None))
    return keys


def count_market(market: list[MatchableIntent]) -> Counter:
    """(category, area) → intents it describes (one buyer each in Synth's world)."""
    counts: Counter = Counter()
    for intent in market:
        areas = set(area_keys(intent.cell, intent.country))
        for category in category_ladder(intent.category):
            for area in areas:
                counts[category, area] += 1
    return counts


def decide_counted(intent: MatchableIntent, counts: Counter, k: int) -> tuple[str, Area, bool]:
    """`decide` over the precomputed counts: (category, area, k reached)."""
    pairs = [
        (c, a)
        for c in category_ladder(intent.category)
        for a in area_ladder(intent.cell, intent.country)
    ]
    for c, a in pairs:
        if counts[c, a] >= k:
            return c, a, True
    return (*pairs[-1], False)


def run(subs: int, market_size: int, sample: int, check: int, seed: int) -> dict:
    synth = Synth(seed=seed)
    t0 = time.perf_counter()
    index = SubscriptionIndex(synth.subscription(n) for n in range(subs))
    market = [synth.intent(n) for n in range(market_size)]
    counts = count_market(market)
    setup_s = time.perf_counter() - t0
    rng = random.Random(seed)
    chosen = rng.sample(market, min(sample, market_size))
    # the counted rule is the rule: compare with `decide` over the same top-level category
    by_top: dict[str, list[Described]] = {}
    for intent in market:
        by_top.setdefault(intent.category.split("/")[0], []).append(described(intent))
    for intent in chosen[:check]:
        for k in KS:
            c, a, reached = decide_counted(intent, counts, k)
            d = decide(described(intent), by_top[intent.category.split("/")[0]], k)
            if (d.category, d.area, d.k_reached) != (c, a, reached):
                raise SystemExit(f"counted rule differs from decide() for {intent.id} at k={k}")
    exact = {i.id: {s.id for s in index.match(i)} for i in chosen}
    out = {"subs": subs, "market": market_size, "sample": len(chosen), "setup_s": setup_s}
    for k in KS:
        generalised = location_only = unreached = 0
        delivered = kept = strict_delivered = strict_kept = 0
        for intent in chosen:
            category, area, reached = decide_counted(intent, counts, k)
            changed = (category, area) != (intent.category, Area(intent.cell, intent.country))
            shown = intent
            if changed:
                generalised += 1
                location_only += category == intent.category
                unreached += not reached
                shown = msgspec.structs.replace(
                    intent,
                    category=category,
                    cell=area.cell,
                    country=area.country,
                    generalised=True,
                )
            got = {s.id for s in index.match(shown)}
            delivered += len(got)
            kept += len(got & exact[intent.id])
            # the alternative design: a generalised category reaches only subscriptions on it
            # or above it, not those inside it
            strict = {s.id for s in index.match(msgspec.structs.replace(shown, generalised=False))}
            strict_delivered += len(strict)
            strict_kept += len(strict & exact[intent.id])
        total_exact = sum(len(v) for v in exact.values())
        out[k] = {
            "generalised": generalised / len(chosen),
            "location_only": location_only / generalised if generalised else 0.0,
            "unreached": unreached / generalised if generalised else 0.0,
            "deliveries": delivered / total_exact if total_exact else 1.0,
            "precision": kept / delivered if delivered else 1.0,
            "recall": kept / total_exact if total_exact else 1.0,
            "strict_precision": strict_kept / strict_delivered if strict_delivered else 1.0,
            "strict_recall": strict_kept / total_exact if total_exact else 1.0,
        }
    return out


def report(results: list[dict]) -> str:
    lines = [
        "## k-anonymity",
        "",
        f"`bench/kanon.py`, {time.strftime('%Y-%m-%d')}: the matcher benchmark's synthetic world "
        "(`Synth`, Google taxonomy, 300 cities); a market of M open intents, each of its own "
        "buyer; for a sample of them the rule decides what vendors see, and the real index "
        "matches the exact and the disclosed intent. Precision: share of the disclosed "
        "intents' deliveries the exact intent would also have matched; recall: share of the "
        "exact matches still delivered; deliveries: disclosed matches per exact match. The "
        "last two columns: the alternative rule where a generalised category reaches only "
        "subscriptions on or above it (not those inside it).",
        "",
        "| subscriptions | open intents (M) | k | generalised | of them: location only "
        "| of them: k not reached | deliveries | precision | recall "
        "| precision, strict category | recall, strict category |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for k in KS:
            m = r[k]
            lines.append(
                f"| {r['subs']:,} | {r['market']:,} | {k} | {m['generalised']:.1%} "
                f"| {m['location_only']:.1%} | {m['unreached']:.1%} | {m['deliveries']:.2f}× "
                f"| {m['precision']:.1%} | {m['recall']:.1%} "
                f"| {m['strict_precision']:.1%} | {m['strict_recall']:.1%} |"
            )
    lines += ["", f"Sample: {results[0]['sample']:,} intents per market.", ""]
    return "\n".join(lines)


def write_results(section: str) -> None:
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    match = re.search(r"^## k-anonymity\s*$", old, flags=re.MULTILINE)
    if match is None:
        new = old.rstrip("\n") + "\n\n" + section
    else:
        following = re.search(r"^## ", old[match.end() :], flags=re.MULTILINE)
        end = match.end() + following.start() if following else len(old)
        new = old[: match.start()] + section + ("\n" + old[end:] if end < len(old) else "")
    RESULTS.write_text(new, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subs", type=int, default=100_000)
    parser.add_argument("--markets", default="10000,100000")
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--check", type=int, default=100, help="intents checked against decide()")
    parser.add_argument("--quick", action="store_true", help="10k subscriptions, market 5k")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.subs, args.markets, args.sample = 10_000, "5000", 500
    results = []
    for market in (int(m) for m in args.markets.split(",")):
        results.append(run(args.subs, market, args.sample, args.check, seed=market))
        print(f"market {market:,}: set up in {results[-1]['setup_s']:.1f} s", flush=True)
    section = report(results)
    print(section)
    if not args.no_write:
        write_results(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
