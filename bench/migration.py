"""Model migration figures: references re-embedded per second, and identify latency with and without a
migration running, through the real service in-process (its lifespan, batcher and galleries).

    .venv/bin/python -m bench.migration [--references 400] [--probes 200] [--from defects] [--to bodyparts]

A gallery of `--references` random crops of the two test photos is enrolled with `--from`, then migrated to
`--to` (another shipped model of the same kind); identify is timed one request at a time, first on a quiet
service, then while the migration runs. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from app.main import create_app
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = [ROOT / "tests" / "data" / name for name in ("chelsea.jpg", "coffee.jpg")]


def crops(count: int, *, seed: int = 0) -> list[bytes]:
    """`count` distinct JPEGs: random 200-300 px crops of the test photos."""
    rng = np.random.default_rng(seed)
    photos = [Image.open(p).convert("RGB") for p in PHOTOS]
    out = []
    for i in range(count):
        photo = photos[i % len(photos)]
        side = int(rng.integers(200, min(photo.size) + 1))
        left, top = (int(rng.integers(0, s - side + 1)) for s in photo.size)
        buffer = io.BytesIO()
        photo.crop((left, top, left + side, top + side)).save(buffer, format="JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


async def identify_latencies(client: httpx.AsyncClient, probes: list[bytes], *, until=None) -> list[float]:
    took = []
    for data in probes:
        if until is not None and until():
            break
        start = time.perf_counter()
        response = await client.post("/identify", data={"gallery": "g"}, files={"image": ("p.jpg", data)})
        if until is not None and response.status_code == 409:  # the switch came between embed and search
            break
        response.raise_for_status()
        took.append(time.perf_counter() - start)
    return took


def summary(latencies: list[float]) -> dict[str, float]:
    ms = np.asarray(latencies) * 1000
    return {
        "n": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


async def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            data_dir=Path(data_dir), models_dir=ROOT / "models", device="cpu", default_galleries=()
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sg", timeout=60) as client:
                (await client.post("/galleries", json={"name": "g", "model": args.source})).raise_for_status()
                images = crops(args.references)
                for i in range(0, len(images), 16):
                    files = [("images", (f"{j}.jpg", d)) for j, d in enumerate(images[i : i + 16])]
                    r = await client.post(
                        "/enroll", data={"gallery": "g", "identity": f"id-{i // 16}"}, files=files
                    )
                    r.raise_for_status()
                probes = crops(args.probes, seed=1)
                quiet = await identify_latencies(client, probes)
                started = time.perf_counter()
                (await client.post("/galleries/g/migrate", json={"model": args.target})).raise_for_status()
                state = {"done": False}

                async def watch() -> None:
                    while (await client.get("/galleries/g/migration")).json()["state"] == "running":
                        await asyncio.sleep(0.05)
                    state["done"] = True

                watcher = asyncio.create_task(watch())
                during = await identify_latencies(client, probes * 20, until=lambda: state["done"])
                await watcher
                took = time.perf_counter() - started
                final = (await client.get("/galleries/g/migration")).json()
    return {
        "from": args.source,
        "to": args.target,
        "references": args.references,
        "state": final["state"],
        "migration_s": round(took, 2),
        "reembedded_per_s": round(final["done"] / took, 1),
        "identify_quiet": summary(quiet),
        "identify_during_migration": summary(during),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--references", type=int, default=400)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--from", dest="source", default="defects")
    parser.add_argument("--to", dest="target", default="bodyparts")
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
