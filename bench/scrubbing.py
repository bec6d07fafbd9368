"""Scrubbing cost under hostile input: the worst text a client may send, at the field limits.

Target (issue 10): the largest intent body the field limits allow, built from hostile
patterns, costs < 100 ms of scrubbing. The body is title (200) + description (5000) +
attributes at their 10,000-character total; each hostile generator of the unit tests
(``tests/unit/test_scrubbing.py``: phone-, card-, e-mail-, address- and URL-like runs,
full-width digits, zero-width splits, …) fills every field, in three attribute shapes.
Also one 5000-character text (a description or a relay message) per generator.
Reported: best of 3 passes per case (the machine may be shared), then the worst case.

Run: ``make bench-scrubbing`` (``--no-write`` to leave bench/RESULTS.md alone).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the hostile generators live with the unit tests

from tests.unit.test_scrubbing import HOSTILE  # noqa: E402

from intentcast.domain.intents import check_attribute_text, public_text  # noqa: E402
from intentcast.domain.scrubbing import scrub  # noqa: E402

TARGET_MS = 100.0
SHAPES = [(30, 3, 110), (10, 5, 196), (30, 1, 329)]  # keys, values per key, value length


def best_ms(fn: Callable[[], object], tries: int = 3) -> float:
    best = float("inf")
    for _ in range(tries):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--quick", action="store_true", help="one pass per case")
    args = parser.parse_args()
    tries = 1 if args.quick else 3
    bodies: list[tuple[float, str]] = []
    texts: list[tuple[float, str]] = []
    for name in sorted(HOSTILE):
        make = HOSTILE[name]
        rng = random.Random(name)
        text = make(5000, rng)
        scrub(text, region="DE")
        texts.append((best_ms(lambda text=text: scrub(text, region="DE"), tries), name))
        for keys, values, length in SHAPES:
            attributes = {
                f"k{i:02d}": [make(length, rng) for _ in range(values)] for i in range(keys)
            }
            check_attribute_text(attributes)
            title, description = make(200, rng), make(5000, rng)

            def body(t=title, d=description, a=attributes) -> object:
                return public_text(t, d, a, region="DE")

            body()
            bodies.append((best_ms(body, tries), f"{name} {keys}x{values}x{length}"))
    bodies.sort(reverse=True)
    texts.sort(reverse=True)
    median = sorted(t for t, _ in bodies)[len(bodies) // 2]
    lines = [
        f"- whole intent body (title 200 + description 5000 + attributes 10,000 chars), "
        f"{len(bodies)} hostile cases: worst **{bodies[0][0]:.0f} ms** ({bodies[0][1]}), "
        f"median {median:.0f} ms; target < {TARGET_MS:.0f} ms: "
        f"{'met' if bodies[0][0] < TARGET_MS else 'MISSED'}",
        f"- one 5000-character text, {len(texts)} generators: worst {texts[0][0]:.1f} ms "
        f"({texts[0][1]})",
    ]
    report = "\n".join(lines)
    print(report)
    if not args.no_write:
        results = ROOT / "bench" / "RESULTS.md"
        heading = "## Scrubbing under hostile input (make bench-scrubbing)"
        text = results.read_text() if results.exists() else ""
        if heading in text:
            start = text.index(heading)
            end = text.find("\n## ", start + len(heading))
            text = text[:start] + text[end + 1 :] if end != -1 else text[:start]
        stamp = time.strftime("%Y-%m-%d")
        text = text.rstrip() + f"\n\n{heading}\n\nRun {stamp}, 2 cores, best of 3 per case.\n\n"
        text += "Baseline (before issue 10): one 5000-character `a(.)` text took 1.1-1.3 s; "
        text += "a hostile 128 KB preview body 2.4 s.\n\n" + report + "\n"
        results.write_text(text)


if __name__ == "__main__":
    main()
