"""The taxonomy: the default tree, `gpc:<id>` after importing a Google Product Taxonomy file
(the committed sample; the full file is exercised by the unit tests when present)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

from tests.helpers import CAMERA, GOOGLE_TAXONOMY_SAMPLE


def count(nodes) -> int:
    return sum(1 + count(n["children"]) for n in nodes)


def depth(nodes) -> int:
    return max((1 + depth(n["children"]) for n in nodes), default=0)


async def test_default_taxonomy_is_served_as_a_tree(client) -> None:
    response = await client.get("/v1/categories")
    assert response.status_code == 200
    tree = response.json()
    assert count(tree["items"]) == tree["count"] >= 200
    assert depth(tree["items"]) >= 3
    paths = {n["path"] for n in tree["items"]}
    assert {"electronics", "home-services", "travel", "repairs"} <= paths


async def test_subtree_and_depth(client) -> None:
    sub = (await client.get("/v1/categories", params={"under": "electronics/cameras"})).json()
    assert [n["path"] for n in sub["items"]] == ["electronics/cameras"]
    assert "electronics/cameras/mirrorless" in {c["path"] for c in sub["items"][0]["children"]}
    shallow = (await client.get("/v1/categories", params={"depth": 1})).json()
    assert all(n["children"] == [] for n in shallow["items"])
    missing = await client.get("/v1/categories", params={"under": "nope/nothing"})
    assert missing.status_code == 404


def run_import(settings) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENTCAST_")}
    env.update(settings.env())
    return subprocess.run(
        [sys.executable, "-m", "intentcast", "taxonomy", "import", str(GOOGLE_TAXONOMY_SAMPLE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_google_taxonomy_import_enables_gpc_ids(client, buyer, settings, db) -> None:
    sample = [int(m) for m in re.findall(r"(?m)^(\d+) - ", GOOGLE_TAXONOMY_SAMPLE.read_text())]
    before = await db.fetchval("SELECT count(*) FROM categories")
    result = await asyncio.to_thread(run_import, settings)
    assert result.returncode == 0, result.stderr
    assert f"read {len(sample)} Google categories" in result.stdout
    linked = "SELECT count(*) FROM categories WHERE gpc_id = ANY($1::bigint[])"
    assert await db.fetchval(linked, sample) == len(sample)  # every Google id has its node
    assert await db.fetchval("SELECT count(*) FROM categories") > before
    again = await asyncio.to_thread(run_import, settings)
    assert "added or linked 0" in again.stdout  # importing twice changes nothing

    # 152 is "Cameras & Optics > Cameras > Digital Cameras"; the running API picks it up
    published = await client.post(
        "/v1/intents", json=CAMERA | {"category": "gpc:152"}, headers=buyer.headers
    )
    assert published.status_code == 201, published.text
    path = published.json()["category"]
    assert await db.fetchval("SELECT gpc_id FROM categories WHERE path = $1", path) == 152
    unknown = await client.post(
        "/v1/intents", json=CAMERA | {"category": "gpc:99999999"}, headers=buyer.headers
    )
    assert unknown.status_code == 422


async def test_malformed_taxonomy_file_is_refused(settings, tmp_path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("1 - Animals\nnot a line\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENTCAST_")}
    env.update(settings.env())
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "intentcast", "taxonomy", "import", str(bad)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "line 2" in result.stderr
