"""Service replicas sharing one PostgreSQL database, measured over HTTP on loopback ports:

- identify throughput with 1, 2, ... N replicas, the clients spread evenly over the replicas that serve (a
  round-robin load balancer's share; on one machine the replicas split its cores, so this shows the ceiling
  of the machine, not of the design);
- enroll-to-visible latency: an identity enrolled on one replica, then identified on another as fast as the
  second answers, timed from the first's 201 to the second's first right answer (p50/p99);
- SIGKILL of a replica in the middle of bulk enrolls: every acknowledged reference must be in PostgreSQL
  and searched on the survivor, which keeps answering; the killed replica, started again, catches up.

PostgreSQL is `--database-url`, or else a server started here from the `pgserver` wheel (the dev extra).

    python -m bench.replicas --model defects --images ../shared/data/defects/neu --replicas 3 \\
        --out bench/results/replicas/defects.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.load import PreparedRequest, prepare_multipart, run_load
from bench.machine import machine_info
from bench.payloads import Encoded, ImageSet, folder_images, synthetic_images
from bench.server import ServiceConfig, ServiceProcess
from bench.stats import percentiles_ms, summarize

GALLERY = "replicas"


@contextmanager
def postgres(url: str | None) -> Iterator[str]:
    """`url`, or a PostgreSQL 16 started from the pgserver wheel under a temporary directory."""
    if url:
        yield url
        return
    import pgserver

    directory = tempfile.mkdtemp(prefix="sg-bench-postgres-")
    server = pgserver.get_server(directory, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(directory, ignore_errors=True)


def images(args: argparse.Namespace) -> tuple[ImageSet, ImageSet]:
    """The classes enrolled before the measurements (probed for throughput), and the classes kept out of
    the gallery for the enroll-to-visible rounds and the bulk enrolls."""
    counts = {"identities": 2 * args.identities, "per_identity": args.per_identity, "enroll_per_identity": 1}
    if args.images is None:
        data = synthetic_images(**counts, seed=0)
    else:
        data = folder_images(Path(args.images), **counts)
    names = list(data.enroll)
    halves = set(names[: args.identities]), set(names[args.identities :])
    return tuple(  # type: ignore[return-value]
        ImageSet(
            enroll={n: g for n, g in data.enroll.items() if n in half},
            probes=tuple(p for p in data.probes if p.identity in half),
        )
        for half in halves
    )


def enroll(client: httpx.Client, identity: str, group: Sequence[Encoded]) -> httpx.Response:
    files = [("images", (img.filename, img.data)) for img in group]
    return client.post("/enroll", data={"gallery": GALLERY, "identity": identity}, files=files)


def identified(client: httpx.Client, probe: Encoded) -> str | None:
    response = client.post(
        "/identify", data={"gallery": GALLERY}, files={"image": (probe.filename, probe.data)}
    )
    response.raise_for_status()
    return response.json()["identity"]


def throughput(
    replicas: Sequence[ServiceProcess], probes: Sequence[Encoded], *, clients: int, duration_s: float
) -> dict[str, Any]:
    """Identify under `clients` closed loops spread evenly over `replicas`, all at once."""
    requests: list[PreparedRequest] = [
        prepare_multipart("/identify", fields={"gallery": GALLERY}, files=[("image", p.filename, p.data)])
        for p in probes
    ]
    shares = [clients // len(replicas) + (i < clients % len(replicas)) for i in range(len(replicas))]

    async def all_at_once() -> list[Any]:
        return await asyncio.gather(
            *(
                run_load(r.base_url, requests, clients=n, duration_s=duration_s, headers=r.headers)
                for r, n in zip(replicas, shares, strict=True)
                if n
            )
        )

    results = asyncio.run(all_at_once())
    samples = [s for result in results for s in result.samples]
    elapsed = max(result.elapsed_s for result in results)
    return {"replicas": len(replicas), "clients": clients} | summarize(
        samples, elapsed_s=elapsed, images_per_request=1
    )


def visibility(
    writer: ServiceProcess, reader: ServiceProcess, data: ImageSet, *, rounds: int
) -> dict[str, Any]:
    """Enroll on `writer`, identify on `reader` until it answers the new identity: seconds per round."""
    groups = list(data.enroll.items())
    probes = {p.identity: p for p in data.probes}
    waits, polls, first_try = [], [], 0
    with (
        httpx.Client(base_url=writer.base_url, headers=writer.headers, timeout=60.0) as w,
        httpx.Client(base_url=reader.base_url, headers=reader.headers, timeout=60.0) as r,
    ):
        for i in range(rounds):
            identity, group = groups[i % len(groups)]  # a class the gallery does not hold
            name = f"visible-{i}"
            enroll(w, name, group).raise_for_status()
            acknowledged = time.perf_counter()
            tries = 0
            while True:
                tries += 1
                started = time.perf_counter()
                answer = identified(r, probes[identity])
                polls.append(time.perf_counter() - started)
                if answer == name:
                    break
                if time.perf_counter() - acknowledged > 30:
                    raise RuntimeError(f"{name} was not visible on the other replica after 30 s")
            waits.append(time.perf_counter() - acknowledged)
            first_try += tries == 1
            w.delete(f"/galleries/{GALLERY}/identities/{name}").raise_for_status()
    # visible_ms is bounded below by one identify's latency: when the first identify after the 201 already
    # answers the new identity (first_try of the rounds), replication took less than that
    return {
        "rounds": rounds,
        "first_try": first_try,
        "visible_ms": percentiles_ms(waits),
        "identify_poll_ms": percentiles_ms(polls),
    }


def kill_during_bulk(
    victim: ServiceProcess, data: ImageSet, *, enrolls: int, kill_after: int
) -> tuple[dict[str, set[int]], dict[str, Any]]:
    """`enrolls` bulk enrolls of 8 images on `victim`, SIGKILLed once `kill_after` were acknowledged: the
    reference ids of those acknowledged, by identity."""
    acknowledged: dict[str, set[int]] = {}
    bulk_images = list(data.probes[:8])

    def writer() -> None:
        with httpx.Client(base_url=victim.base_url, headers=victim.headers, timeout=60.0) as client:
            for i in range(enrolls):
                try:
                    response = enroll(client, f"bulk-{i}", bulk_images)
                except httpx.TransportError:
                    return
                if response.status_code == 201:
                    acknowledged[f"bulk-{i}"] = set(response.json()["reference_ids"])

    thread = threading.Thread(target=writer)
    thread.start()
    while len(acknowledged) < kill_after and thread.is_alive():
        time.sleep(0.005)
    assert victim._process is not None
    victim._process.send_signal(signal.SIGKILL)
    victim._process.wait(30)
    victim._process = None
    thread.join(120)
    return acknowledged, {
        "enrolls": enrolls,
        "acknowledged": len(acknowledged),
        "images_each": len(bulk_images),
    }


def stored_ids(client: httpx.Client, identity: str) -> set[int]:
    response = client.get(f"/galleries/{GALLERY}/identities/{identity}/references")
    return set(response.json()["reference_ids"]) if response.status_code == 200 else set()


def indexed(client: httpx.Client) -> int:
    """How many references the replica's index searches (its /ready)."""
    return int(client.get("/ready").json()["galleries"][GALLERY]["index"]["references"])


def check_survivor(
    survivor: ServiceProcess, acknowledged: dict[str, set[int]], probe: Encoded
) -> dict[str, Any]:
    """Every acknowledged reference stored and searched on the survivor (its index holds what PostgreSQL
    holds), and the survivor answering."""
    with httpx.Client(base_url=survivor.base_url, headers=survivor.headers, timeout=60.0) as client:
        missing = sum(len(ids - stored_ids(client, name)) for name, ids in acknowledged.items())
        stored = int(client.get(f"/galleries/{GALLERY}").json()["references"])
        deadline = time.perf_counter() + 10
        while indexed(client) != stored and time.perf_counter() < deadline:
            time.sleep(0.05)
        return {
            "acknowledged_missing": missing,
            "survivor_stored": stored,
            "survivor_indexed": indexed(client),
            "survivor_identify_right": identified(client, probe) == probe.identity,
        }


def restart_and_catch_up(victim: ServiceProcess, expected: int) -> dict[str, Any]:
    """Start the killed replica again; seconds until it is ready and until its index holds `expected`."""
    started = time.perf_counter()
    ready_s = victim.start()
    with httpx.Client(base_url=victim.base_url, headers=victim.headers, timeout=60.0) as client:
        while indexed(client) != expected:
            if time.perf_counter() - started > 120:
                raise RuntimeError("the restarted replica did not catch up within 120 s")
            time.sleep(0.05)
        replication = client.get("/ready").json()["replication"]
    return {
        "restart_ready_s": round(ready_s, 2),
        "restart_caught_up_s": round(time.perf_counter() - started, 2),
        "restart_replication": replication,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    data, fresh = images(args)
    work = Path(tempfile.mkdtemp(prefix="sg-bench-replicas-"))
    result: dict[str, Any] = {"machine": machine_info(), "model": args.model, "images": args.images}
    try:
        with postgres(args.database_url) as url, ExitStack() as stack:
            replicas = []
            for i in range(args.replicas):
                config = ServiceConfig(
                    data_dir=work / f"replica-{i}",
                    models_dir=Path(args.models_dir),
                    extra_env={"SG_DATABASE_URL": url, "SG_DEFAULT_GALLERIES": ""},
                )
                replica = stack.enter_context(ServiceProcess(config, log_path=work / f"replica-{i}.log"))
                replica.start()
                replicas.append(replica)
            first = replicas[0]
            with httpx.Client(base_url=first.base_url, headers=first.headers, timeout=120.0) as client:
                client.post("/galleries", json={"name": GALLERY, "model": args.model}).raise_for_status()
                for identity, group in data.enroll.items():
                    enroll(client, identity, group).raise_for_status()
            time.sleep(1.0)
            result["throughput"] = [
                throughput(replicas[:n], data.probes, clients=args.clients, duration_s=args.duration)
                for n in range(1, args.replicas + 1)
            ]
            if args.replicas >= 2:
                result["visibility"] = visibility(replicas[0], replicas[1], fresh, rounds=args.rounds)
                acknowledged, bulk = kill_during_bulk(
                    replicas[0],
                    fresh,
                    enrolls=args.bulk_enrolls,
                    kill_after=args.bulk_enrolls // 4,
                )
                survivor = check_survivor(replicas[1], acknowledged, data.probes[0])
                result["kill"] = (
                    bulk | survivor | restart_and_catch_up(replicas[0], survivor["survivor_stored"])
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="defects")
    parser.add_argument("--models-dir", default="models")
    parser.add_argument("--images", default=None, help="a class-per-folder tree (default: synthetic images)")
    parser.add_argument("--identities", type=int, default=6)
    parser.add_argument("--per-identity", type=int, default=20)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=50, help="enroll-to-visible measurements")
    parser.add_argument("--bulk-enrolls", type=int, default=20)
    parser.add_argument(
        "--database-url", default=None, help="postgresql://... (default: a pgserver started here)"
    )
    parser.add_argument("--out", type=Path, default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result = run(args)
    text = json.dumps(result, indent=2, default=str)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
