"""Event-loop lag while hundreds of offices log in at once. Prints figures; not a test.

    .venv/bin/python bench/login_lag.py [--clients 300] [--inline]

Starts a hub in a subprocess on loopback (its own data directory, CA and one office with 10 users
and 30 terminal certificates, so the throttle's per-certificate and per-(user, certificate) limits
are never reached), then fires CLIENTS logins at once, each on its own TLS connection, as offices
opening their clients at 9 o'clock do. Two figures:

- the hub's event-loop lag, measured inside the hub process by a task that sleeps 10 ms and
  records how late it wakes (only during the burst), p50 / p99 / max;
- GET /healthz latency seen by a probe on its own connection every 50 ms during the burst (this
  includes the bench's own client-side TLS work, so it is an upper bound).

`--inline` hashes on the event loop instead of the worker pool (the behaviour before issue 9), for
comparison. Bounded: at most CLIENTS logins, and the burst is cut off after TIMEOUT seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from ca.authority import CertificateAuthority
from ca.cli import write_server_cert
from careplan.certificates import KeyPair
from careplan.office import with_check_digit
from client.hubclient import client_ssl_context

OFFICE = with_check_digit("131010001")
USERS = [f"KJ{OFFICE}", *(f"C{OFFICE}{n:02d}" for n in range(1, 10))]
PASSWORD = "Bench-login-2026"
CERTIFICATES = 30
TIMEOUT = 120.0
TICK = 0.010


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def figures(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{name}: n={len(ms)} p50={percentile(ms, 0.5):.1f} ms p99={percentile(ms, 0.99):.1f} ms "
        f"max={max(ms, default=float('nan')):.1f} ms"
    )


# --- the hub side (a subprocess) ------------------------------------------------------------------------
async def serve(data: Path, inline: bool) -> None:
    from hub.clock import Clock
    from hub.config import HubConfig
    from hub.passwords import PasswordHasher
    from hub.server import start_hub

    if inline:  # the old behaviour: scrypt on the event loop

        async def on_the_loop(self: PasswordHasher, function, *args):  # type: ignore[no-untyped-def]
            return function(*args)

        PasswordHasher._run = on_the_loop  # type: ignore[method-assign]

    config = HubConfig(data_dir=data, port=0, admin_token="bench")
    hub = await start_hub(config, clock=Clock(), announce_ready=False)
    from hub.datadir import write_ready_file
    from hub.keys import SERVICE

    await hub.app[SERVICE].register_office(
        office_number=OFFICE,
        name="ベンチ居宅介護支援事業所",
        service_kind="43",
        office_user_id=USERS[0],
        password=PASSWORD,
        personal_users=[(user, PASSWORD) for user in USERS[1:]],
    )
    loop = asyncio.get_running_loop()
    measuring, stop = asyncio.Event(), asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, measuring.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    lags: list[tuple[float, float]] = []  # (seconds since the burst began, lag)

    async def monitor() -> None:
        await measuring.wait()
        begun = loop.time()
        while not stop.is_set():
            started = loop.time()
            await asyncio.sleep(TICK)
            lags.append((started - begun, max(0.0, loop.time() - started - TICK)))

    task = asyncio.create_task(monitor())
    write_ready_file(config, hub)
    await stop.wait()
    await task
    await hub.stop()
    print(json.dumps({"lags": lags}), flush=True)


# --- the bench side --------------------------------------------------------------------------------------
def prepare(data: Path, now: dt.datetime) -> list[KeyPair]:
    ca = CertificateAuthority.create(now=now - dt.timedelta(days=1), directory=data / "ca")
    server = ca.issue_server(now=now)
    write_server_cert(server.cert_pem(), server.key_pem(), data / "tls")
    pairs = []
    for _ in range(CERTIFICATES):
        issued = ca.issue_office(office_number=OFFICE, office_user_id=USERS[0], office_name="ベンチ", now=now)
        pairs.append(KeyPair(certificate=issued.certificate, key=issued.key))
    return pairs


async def login(session: aiohttp.ClientSession, url: str, user: str) -> tuple[int, float]:
    started = time.perf_counter()
    async with session.post(url + "/api/v1/session", json={"user_id": user, "password": PASSWORD}) as response:
        await response.read()
        return response.status, time.perf_counter() - started


async def probe(url: str, ca_file: Path, done: asyncio.Event, latencies: list[float]) -> None:
    connector = aiohttp.TCPConnector(ssl=client_ssl_context(ca_file, None), limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        while not done.is_set():
            started = time.perf_counter()
            async with session.get(url + "/healthz") as response:
                await response.read()
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.05)


async def burst(url: str, ca_file: Path, pairs: list[KeyPair], clients: int) -> dict[str, object]:
    sessions = [
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=client_ssl_context(ca_file, pair), force_close=True, limit=0),
            timeout=aiohttp.ClientTimeout(total=TIMEOUT),
        )
        for pair in pairs
    ]
    done, probed = asyncio.Event(), []
    probing = asyncio.create_task(probe(url, ca_file, done, probed))
    await asyncio.sleep(0.3)  # the probe's connection is up before the burst
    jobs = [login(sessions[n % len(sessions)], url, USERS[(n // len(sessions)) % len(USERS)]) for n in range(clients)]
    started = time.perf_counter()
    results = await asyncio.wait_for(asyncio.gather(*jobs, return_exceptions=True), timeout=TIMEOUT + 10)
    elapsed = time.perf_counter() - started
    done.set()
    await probing
    for session in sessions:
        await session.close()
    ok = [r[1] for r in results if isinstance(r, tuple) and r[0] == 201]
    failed = [
        r if isinstance(r, BaseException) else r[0] for r in results if not (isinstance(r, tuple) and r[0] == 201)
    ]
    return {"ok": ok, "failed": failed, "elapsed": elapsed, "probe": probed}


async def run(clients: int, inline: bool) -> int:
    now = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory(prefix="careplan-bench-") as tmp:
        data = Path(tmp) / "hub"
        data.mkdir()
        pairs = prepare(data, now)
        command = [sys.executable, __file__, "--serve", str(data)] + (["--inline"] if inline else [])
        hub = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while not (data / "hub.json").exists():
                if hub.returncode is not None or time.monotonic() > deadline:
                    print("the hub did not start", file=sys.stderr)
                    return 1
                await asyncio.sleep(0.05)
            url = json.loads((data / "hub.json").read_text())["url"]
            hub.send_signal(signal.SIGUSR1)
            result = await burst(url, data / "ca" / "ca.pem", pairs, clients)
        finally:
            hub.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(hub.communicate(), timeout=60)
        timeline = json.loads(output.decode().strip().splitlines()[-1])["lags"]
    lags = [lag for _, lag in timeline]
    worst = sorted(timeline, key=lambda sample: -sample[1])[:3]
    mode = "scrypt on the event loop (--inline, as before)" if inline else "scrypt in the hub's worker pool"
    print(f"{clients} concurrent logins, {mode}; {os.cpu_count()} CPU(s)")
    print(f"logins: {len(result['ok'])} ok, {len(result['failed'])} failed, burst {result['elapsed']:.1f} s")  # type: ignore[arg-type]
    if result["failed"]:
        print(f"  failures: {sorted({str(f)[:60] for f in result['failed']})[:5]}")  # type: ignore[attr-defined]
    print(figures("login latency", result["ok"]))  # type: ignore[arg-type]
    print(figures("hub event-loop lag (10 ms ticks, in the hub process)", lags))
    print("  worst ticks: " + ", ".join(f"{lag * 1000:.0f} ms at +{at:.2f} s" for at, lag in worst))
    print(figures("GET /healthz during the burst (probe, upper bound)", result["probe"]))  # type: ignore[arg-type]
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--inline", action="store_true", help="hash on the event loop (the old behaviour)")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.serve, args.inline))
        return 0
    return asyncio.run(run(max(1, min(args.clients, 1000)), args.inline))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
