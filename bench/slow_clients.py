"""Slow clients against a real hub: do they get closed in time, and do normal requests keep their
latency meanwhile? Prints figures; not a test.

    .venv/bin/python bench/slow_clients.py [SLOW_CONNECTIONS]   (default 200)

Starts `careplan hub serve` in a subprocess on a loopback port with its own test CA and small
timeouts (header_timeout 2 s, body_grace 2 s, body_min_rate 1 KiB/s), registers one office and
logs it in. Then, from this process:
  1. baseline: NORMAL sequential `GET /api/v1/sent` (mutual TLS + session, one keep-alive
     connection), latency p50/p99;
  2. the same NORMAL requests while SLOW_CONNECTIONS connections misbehave — half send their
     request headers one byte every DRIP seconds, half send a JSON body one byte every DRIP seconds
     after complete headers — and how long the hub took to close each of them, with what answer.
Every wait is bounded (DEADLINE seconds in all); the hub subprocess is stopped at the end.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

import aiohttp

from ca.authority import CertificateAuthority
from ca.cli import write_server_cert
from careplan.certificates import KeyPair
from careplan.office import with_check_digit
from client.hubclient import HubClient, client_ssl_context

NORMAL = 300
DRIP = 0.5
RAMP = 0.01  # seconds between two slow connections' starts
DEADLINE = 120.0
TIMEOUTS = {"HEADER_TIMEOUT": "2", "BODY_GRACE": "2", "BODY_MIN_RATE": "1024", "MAX_CONNECTIONS": "1000"}
OFFICE = with_check_digit("137010001")
TOKEN = "bench-admin-token"
Closed = list[tuple[float, str]]  # per slow connection: seconds until closed, the answer's status line


def _start_hub(root: Path) -> tuple[subprocess.Popen[str], str, CertificateAuthority]:
    now = dt.datetime.now(dt.UTC)
    ca = CertificateAuthority.create(now=now - dt.timedelta(days=1), directory=root / "ca")
    data = root / "data"
    data.mkdir()
    (data / "ca").symlink_to(ca.directory)
    server = ca.issue_server(now=now)
    write_server_cert(server.cert_pem(), server.key_pem(), data / "tls")
    env = os.environ | {f"CAREPLAN_HUB_{k}": v for k, v in TIMEOUTS.items()} | {"CAREPLAN_ADMIN_TOKEN": TOKEN}
    command = [sys.executable, "-m", "careplan_cli.main", "hub", "--data", str(data), "serve", "--port", "0"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    while not (data / "hub.json").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit("the hub did not start")
        time.sleep(0.05)
    return process, json.loads((data / "hub.json").read_text())["url"], ca


async def _office(url: str, ca: CertificateAuthority) -> tuple[KeyPair, str]:
    body = {
        "office_number": OFFICE,
        "name": "ベンチ居宅介護支援事業所",
        "service_kind": "43",
        "office_user_id": f"KJ{OFFICE}",
        "password": "bench-pass-1",
    }
    context = client_ssl_context(ca.directory / "ca.pem", None)
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session,
        session.post(url + "/admin/v1/offices", json=body, headers={"Authorization": f"Bearer {TOKEN}"}) as answer,
    ):
        assert answer.status == 201, await answer.text()
    issued = ca.issue_office(
        office_number=OFFICE, office_user_id=f"KJ{OFFICE}", office_name=body["name"], now=dt.datetime.now(dt.UTC)
    )
    pair = KeyPair(certificate=issued.certificate, key=issued.key)
    async with HubClient(url=url, ca_file=ca.directory / "ca.pem", keypair=pair) as client:
        await client.login(f"KJ{OFFICE}", "bench-pass-1")
        assert client.token is not None
        return pair, client.token


async def _normal(url: str, ca_file: Path, pair: KeyPair, token: str) -> list[float]:
    """NORMAL sequential requests on one keep-alive connection; each one's latency in ms."""
    connector = aiohttp.TCPConnector(ssl=client_ssl_context(ca_file, pair), limit=1)
    latencies = []
    async with aiohttp.ClientSession(connector=connector, headers={"Authorization": f"Bearer {token}"}) as session:
        for _ in range(NORMAL):
            started = time.perf_counter()
            async with session.get(url + "/api/v1/sent") as answer:
                await answer.read()
                assert answer.status == 200, answer.status
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def _slow(url: str, ca_file: Path, pair: KeyPair, index: int) -> tuple[float, str]:
    """One misbehaving connection: seconds from its TLS connection until the hub closed it, and the
    status line it answered ("(closed)" when it closed without one)."""
    host, port = url.removeprefix("https://").rsplit(":", 1)
    await asyncio.sleep(index * RAMP)  # open them gradually: a burst would measure TLS handshakes
    reader, writer = await asyncio.open_connection(host, int(port), ssl=client_ssl_context(ca_file, pair))
    connected = time.monotonic()
    if index % 2:
        head, drip = b"", b"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Slow: " + b"a" * 1000
    else:
        head = b"POST /api/v1/session HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
        head += b"Content-Length: 100000\r\n\r\n"
        drip = b'{"user_id": "' + b"a" * 1000

    async def send() -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            writer.write(head)
            for byte in drip:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(DRIP)

    sender = asyncio.create_task(send())
    answer = b""
    status = "(closed)"
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), timeout=30):
            answer += chunk
    except ConnectionError:
        status = "(reset)"
    except TimeoutError:
        status = "(still open after 30 s)"
    took = time.monotonic() - connected
    sender.cancel()
    writer.close()
    return took, answer.split(b"\r\n", 1)[0].decode("latin-1") or status


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):6.1f} ms   p99 {p99:6.1f} ms   max {ordered[-1]:6.1f} ms"


def _slow_clients(url: str, ca_file: Path, pair: KeyPair, slow: int, go: Event, results: Queue[Closed]) -> None:
    """In a process of its own, so that its event loop's lag does not count as the hub's."""

    async def run() -> list[tuple[float, str]]:
        return await asyncio.gather(*(_slow(url, ca_file, pair, i) for i in range(slow)))

    if go.wait(DEADLINE):
        results.put(asyncio.run(run()))


async def _measure(url: str, ca_file: Path, pair: KeyPair, token: str, go: Event, slow: int) -> list[list[float]]:
    await _normal(url, ca_file, pair, token)  # warm-up
    baseline = await _normal(url, ca_file, pair, token)
    go.set()
    await asyncio.sleep(slow * RAMP)  # let them all connect and start dripping
    return [baseline, await _normal(url, ca_file, pair, token)]


def _report(url: str, slow: int, baseline: list[float], during: list[float], closed: Closed, wall: float) -> None:
    print(f"hub: {url}  settings: " + ", ".join(f"{k.lower()}={v}" for k, v in TIMEOUTS.items()))
    print(f"normal requests (GET /api/v1/sent, mTLS + session, sequential, {NORMAL} each):")
    print(f"  alone:                   {_ms(baseline)}")
    print(f"  with {slow} slow clients: {_ms(during)}")
    for kind, picked in (("slow headers", closed[1::2]), ("slow body", closed[0::2])):
        times = sorted(t for t, _ in picked)
        answers = collections.Counter(a for _, a in picked)
        print(
            f"{kind}: {len(picked)} connections closed {times[0]:.1f}–{times[-1]:.1f} s after connecting "
            f"(median {statistics.median(times):.1f} s); answers: "
            + ", ".join(f"{n}× {a}" for a, n in answers.most_common())
        )
    print(f"whole run with slow clients: {wall:.1f} s (slow clients in their own process, {RAMP * 1000:.0f} ms apart)")


def main(argv: list[str]) -> int:
    slow = int(argv[0]) if argv else 200
    with tempfile.TemporaryDirectory(prefix="slow-bench-") as tmp:
        process, url, ca = _start_hub(Path(tmp))
        ca_file = ca.directory / "ca.pem"
        try:
            pair, token = asyncio.run(_office(url, ca))
            context = multiprocessing.get_context("fork")  # forked before this process runs a loop again
            go, results = context.Event(), context.Queue()
            clients = context.Process(target=_slow_clients, args=(url, ca_file, pair, slow, go, results), daemon=True)
            clients.start()
            started = time.monotonic()
            baseline, during = asyncio.run(asyncio.wait_for(_measure(url, ca_file, pair, token, go, slow), DEADLINE))
            closed = results.get(True, DEADLINE)
            clients.join(10)
            _report(url, slow, baseline, during, closed, time.monotonic() - started)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
