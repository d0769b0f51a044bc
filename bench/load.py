"""The hub against its floor (bench/floor.py), same bodies, same run: figures, not a test.

    .venv/bin/python bench/load.py [--rounds 3] [--window 5] [--connections 32] [--only submit,cycle,10mb] [--workers 2]
                                   [--py-spy OUT] [--json OUT]

What it does (the method of issue 10; see README "Performance"):
1. A fresh data directory (CA, TLS certificate), the hub (`careplan hub serve`) and the floor as
   two subprocesses on loopback, two offices registered through the admin API, each with its
   certificate from the data directory's CA, logged in.
2. Before each hub round (outside the timed window) it signs enough distinct transmissions: fresh
   transmission ids, manifests and signatures (the hub refuses a replay). The floor gets the same
   bodies.
3. Scenarios, each in alternating rounds (floor then hub, then hub then floor, …):
   - submit: a 30 KB 第6表+第7表+補足 unit, `--connections` keep-alive connections, a fixed window;
   - cycle: submit, then as the recipient inbox, info, each of the 3 files, receipt;
   - 10mb: 10 MB units (chunked upload); the peak RSS of both servers over those rounds: each
     process's own peak (VmHWM) summed, and the peak of the sum of RSS and of PSS sampled every
     50 ms (PSS splits pages the processes share, such as the libraries' code, among them).
4. Each round reads the server's CPU time from /proc/PID/stat before and after: CPU per request
   is robust to the noise of a shared machine where wall-clock throughput is not. The summary
   gives medians over the rounds and the median of the per-round hub/floor ratios.
`--py-spy OUT` records the hub with py-spy (raw folded stacks) during an extra submit round that is
left out of the figures (sampling slows the hub down).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp

from careplan.certificates import KeyPair
from careplan.manifest import Manifest
from careplan.office import with_check_digit
from careplan.signature import sign
from careplan_cli.load import Target, logged_in, register, terminals
from careplan_cli.up import prepare
from client.hubclient import client_ssl_context
from client.load import percentile
from fixtures.people import Office
from fixtures.samples import sample_plan_set
from hub.config import HubConfig

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
MANAGER = Office(
    number=with_check_digit("131230001"), kind="43", name="負荷居宅", prefecture="13", postcode="", address="", phone=""
)
HELPER = Office(
    number=with_check_digit("131170002"), kind="11", name="負荷訪問介護", prefecture="13", postcode="", address="",
    phone="",
)  # fmt: skip
BOUNDARY = "careplanbenchboundary7d3f"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
Files = list[tuple[str, bytes]]


def unit(size: int, sender: str = MANAGER.number, recipient: str = HELPER.number) -> Files:
    """A valid UPPLAN + UPSIKYU + UPHOSOKU unit of about `size` bytes: the sample 第6表 repeated
    with one new 被保険者番号 per copy (the first copy keeps the one 第7表 and 補足 name)."""
    files = sample_plan_set(sender=sender, recipient=recipient)
    name = next(n for n in files if n.startswith("UPPLAN_"))
    chunk, rest = files[name], sum(len(d) for n, d in files.items() if n != name)
    copies = max(1, (size - rest) // len(chunk))
    files[name] = b"".join([chunk] + [chunk.replace(b"0001234567", b"%010d" % i) for i in range(1, copies)])
    return list(files.items())


def _part(headers: str) -> bytes:
    return f"--{BOUNDARY}\r\n{headers}\r\n\r\n".encode()


def body_parts(manifest: bytes, signature: bytes, files: Files) -> list[bytes]:
    """The multipart body as the client sends it, in pieces (file bytes are shared, not copied)."""
    parts = [
        _part('Content-Disposition: form-data; name="manifest"\r\nContent-Type: application/json'),
        manifest,
        b"\r\n"
        + _part('Content-Disposition: form-data; name="signature"\r\nContent-Type: application/pkcs7-signature'),
        signature,
    ]
    for name, data in files:
        disposition = f'Content-Disposition: form-data; name="file"; filename="{name}"'
        parts += [b"\r\n" + _part(disposition + "\r\nContent-Type: application/octet-stream"), data]
    return [*parts, f"\r\n--{BOUNDARY}--\r\n".encode()]


def presign(count: int, pair: KeyPair, files: Files, now: dt.datetime) -> list[list[bytes]]:
    """`count` distinct signed transmissions of `files` (new id, manifest and signature each)."""
    bodies = []
    for _ in range(count):
        manifest = Manifest.build(
            transmission_id=uuid.uuid4().hex, sender=MANAGER.number, recipient=HELPER.number, signed_at=now, files=files
        ).to_bytes()
        bodies.append(body_parts(manifest, sign(manifest, pair.certificate, pair.key), files))
    return bodies


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command's name (state, ppid, …: field n of proc(5) at
    n - 3), or None for a process that has ended."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


class Counters(NamedTuple):
    """What a round reads of a server before and after: CPU seconds and minor page faults (each a
    page the kernel mapped and zeroed, such as the pages of a freshly mapped large buffer)."""

    user: float
    kernel: float
    faults: int


# --- the two servers ----------------------------------------------------------------------------
@dataclass(slots=True)
class Server:
    name: str
    url: str
    pid: int
    process: subprocess.Popen[bytes]

    def urls(self) -> list[str]:
        """Where connections go: one URL here; the nodes of one hub (bench/nodes.py) give several."""
        return [self.url]

    def pids(self) -> list[int]:
        """The server's process and its children (the workers of `serve --workers N`)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return [self.pid, *map(int, children)]

    def cpu_seconds(self) -> float:
        return sum(self.cpu_split())

    def page_faults(self) -> int:
        return self.counters().faults

    def cpu_split(self) -> tuple[float, float]:
        counters = self.counters()
        return counters.user, counters.kernel

    def counters(self) -> Counters:
        """User and kernel CPU seconds and minor page faults of the server's processes so far
        (utime, stime, minflt of /proc/PID/stat), the workers that ended included: a worker that
        exits (and is restarted) during a round takes its own counts with it, but its parent,
        which reaps it, adds them to its children's (cutime, cstime, cminflt), which are counted
        here. Should a worker be reaped while the workers are read, they are read again: it is
        counted neither twice nor never."""
        for _ in range(3):
            root = _stat(self.pid)
            if root is None:
                raise ProcessLookupError(f"the {self.name} server (pid {self.pid}) has ended")
            reaped = (int(root[13]), int(root[14]), int(root[8]))  # cutime, cstime, cminflt
            user, kernel, faults = int(root[11]) + reaped[0], int(root[12]) + reaped[1], int(root[7]) + reaped[2]
            for fields in filter(None, map(_stat, self.pids()[1:])):  # None: ended, its counts in `reaped`
                user, kernel, faults = user + int(fields[11]), kernel + int(fields[12]), faults + int(fields[7])
            again = _stat(self.pid)
            if again is not None and (int(again[13]), int(again[14]), int(again[8])) == reaped:
                break
        tick = os.sysconf("SC_CLK_TCK")
        return Counters(user / tick, kernel / tick, faults)

    def reset_peak_rss(self) -> None:
        for pid in self.pids():
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS

    def peak_rss_mb(self) -> float:
        """The sum of every process's peak RSS (an upper bound of the peak of their sum)."""
        total = 0.0
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        return total

    def peak_rss_per_process_mb(self) -> list[float]:
        peaks = []
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(round(int(line.split()[1]) / 1024, 1))
        return peaks

    def memory_mb(self) -> tuple[float, float]:
        """The sum of the server's processes' RSS and PSS now (/proc/PID/smaps_rollup), in MiB."""
        rss = pss = 0
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        return rss / 1024, pss / 1024

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class MemorySampler:
    """The peak of the sum of a server's RSS and of its PSS, sampled every `every` seconds in a
    thread while the `with` block runs. VmHWM summed over the processes is an upper bound of
    the first (each process peaks at its own moment); PSS counts a page shared by n processes
    1/n in each, so its sum is the memory the server takes from the machine."""

    def __init__(self, server: Server, every: float = 0.05) -> None:
        self.server, self.every = server, every
        self.rss = self.pss = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, ValueError):  # a worker may come and go between reads
                rss, pss = self.server.memory_mb()
                self.rss, self.pss = max(self.rss, rss), max(self.pss, pss)
            self._stop.wait(self.every)


def start_hub(data: Path, log: Path, workers: int = 1) -> Server:
    ready = HubConfig(data_dir=data).ready_file
    ready.unlink(missing_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "careplan_cli.main", "hub", "--data", str(data), "serve", "--port", "0",
             "--workers", str(workers)],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    try:
        while not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the hub did not start; see {log}")
            time.sleep(0.05)
    except BaseException:  # also a SIGTERM (stop_on_sigterm) while it starts
        process.kill()
        process.wait()
        raise
    info = json.loads(ready.read_text())
    return Server(name="hub", url=info["url"], pid=info["pid"], process=process)


def start_floor(data: Path) -> Server:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "floor.py"), "--data", str(data)], stdout=subprocess.PIPE, cwd=ROOT
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise RuntimeError("the floor did not start")
    info = json.loads(line)
    return Server(name="floor", url=info["url"], pid=info["pid"], process=process)


# --- rounds -------------------------------------------------------------------------------------
@dataclass(slots=True)
class Round:
    scenario: str
    server: str
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    cpu: float = 0.0
    kernel_cpu: float = 0.0  # the part of `cpu` spent in the kernel (TLS sockets, fsync, futex hand-offs)
    page_faults: int = 0  # the server's minor page faults during the round
    driver_cpu: float = 0.0  # this process (the load driver): near 1 core means the driver limits the round
    bytes_sent: int = 0
    exhausted: bool = False

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / len(self.latencies) if self.latencies else 0.0

    @property
    def mb_per_second(self) -> float:
        return self.bytes_sent / MIB / self.elapsed if self.elapsed else 0.0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Driver:
    """Where to send and as whom: the sender's and the recipient's TLS identities and tokens."""

    ca_file: Path
    sender: KeyPair
    recipient: KeyPair
    tokens: dict[str, str]
    connections: int

    @contextlib.asynccontextmanager
    async def sessions(self) -> AsyncIterator[tuple[aiohttp.ClientSession, aiohttp.ClientSession]]:
        timeout = aiohttp.ClientTimeout(total=300)
        async with contextlib.AsyncExitStack() as stack:
            pair = []
            for keypair, office in ((self.sender, MANAGER), (self.recipient, HELPER)):
                connector = aiohttp.TCPConnector(limit=self.connections, ssl=client_ssl_context(self.ca_file, keypair))
                headers = {"Authorization": f"Bearer {self.tokens[office.number]}"}
                pair.append(
                    await stack.enter_async_context(
                        aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout)
                    )
                )
            yield pair[0], pair[1]


async def _chunks(parts: Sequence[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        for start in range(0, len(part), 256 * 1024):
            yield part[start : start + 256 * 1024]


def _payload(parts: Sequence[bytes], *, stream: bool) -> Any:
    return _chunks(parts) if stream else b"".join(parts)


async def _submit(session: aiohttp.ClientSession, url: str, parts: Sequence[bytes], stream: bool) -> str:
    data = _payload(parts, stream=stream)
    async with session.post(url + "/api/v1/transmissions", data=data, headers={"Content-Type": CONTENT_TYPE}) as r:
        answer = await r.json(content_type=None)
        if r.status not in (200, 201):
            raise RuntimeError(answer.get("code", r.status) if isinstance(answer, dict) else r.status)
        return str(answer["transmission_id"])


async def _receive(session: aiohttp.ClientSession, url: str, transmission_id: str) -> None:
    base = url + "/api/v1/inbox"
    for path in ("", f"/{transmission_id}"):
        async with session.get(base + path) as r:
            answer = await r.json(content_type=None)
            if r.status != 200:
                raise RuntimeError(answer.get("code", r.status) if isinstance(answer, dict) else r.status)
    for position in range(len(answer["files"])):
        async with session.get(f"{base}/{transmission_id}/files/{position}") as r:
            await r.read()
            if r.status != 200:
                raise RuntimeError(f"file HTTP {r.status}")
    async with session.post(f"{base}/{transmission_id}/ack") as r:
        await r.read()
        if r.status != 200:
            raise RuntimeError(f"ack HTTP {r.status}")


async def run_round(
    scenario: str, server: Server, driver: Driver, bodies: Sequence[Sequence[bytes]], window: float, *, cycle: bool
) -> Round:
    """Drive `server` for `window` seconds (or until the bodies run out) with every connection busy."""
    result = Round(scenario=scenario, server=server.name)
    stream = scenario == "10mb"
    # The hub refuses a replay, so it gets each signed body once; the floor may reuse them.
    supply: Iterator[Sequence[bytes]] = iter(bodies) if server.name == "hub" else itertools.cycle(bodies)
    async with driver.sessions() as (sender, recipient):
        started = time.monotonic()
        before, driver_before = server.counters(), time.process_time()
        deadline = started + window

        async def worker(url: str) -> None:
            while time.monotonic() < deadline:
                parts = next(supply, None)
                if parts is None:
                    result.exhausted = True
                    return
                began = time.monotonic()
                try:
                    transmission_id = await _submit(sender, url, parts, stream)
                    if cycle:
                        await _receive(recipient, url, transmission_id)
                except (aiohttp.ClientError, RuntimeError, TimeoutError) as exc:
                    result.error(str(exc)[:60])
                    continue
                result.latencies.append(time.monotonic() - began)
                result.bytes_sent += sum(len(p) for p in parts)

        urls = server.urls()  # connection i goes to node i mod the nodes, as a TCP balancer spreads them
        await asyncio.gather(*(worker(urls[i % len(urls)]) for i in range(driver.connections)))
        result.elapsed = time.monotonic() - started
        after = server.counters()
        result.cpu = after.user + after.kernel - before.user - before.kernel
        result.kernel_cpu, result.page_faults = after.kernel - before.kernel, after.faults - before.faults
        result.driver_cpu = time.process_time() - driver_before
    return result


# --- the run ------------------------------------------------------------------------------------
SCENARIOS = {  # name: (unit size, hub bodies to sign per round, window factor, full cycle)
    "submit": (30 * 1024, 3000, 1.0, False),
    "cycle": (30 * 1024, 1200, 1.0, True),
    "10mb": (int(9.5 * MIB), 96, 1.6, False),
}


def summarize(rounds: list[Round]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for scenario in dict.fromkeys(r.scenario for r in rounds):
        mine = [r for r in rounds if r.scenario == scenario]
        entry: dict[str, Any] = {}
        for server in ("hub", "floor"):
            rs = [r for r in mine if r.server == server]
            entry[server] = {
                "per_second": round(statistics.median(r.per_second for r in rs), 1),
                "mb_per_second": round(statistics.median(r.mb_per_second for r in rs), 1),
                "p50_ms": round(statistics.median(percentile(r.latencies, 0.5) for r in rs) * 1000, 1),
                "p99_ms": round(statistics.median(percentile(r.latencies, 0.99) for r in rs) * 1000, 1),
                "cpu_ms_per_op": round(statistics.median(r.cpu_ms for r in rs), 2),
                "errors": sum(sum(r.errors.values()) for r in rs),
                "error_kinds": sorted({k for r in rs for k in r.errors}),
                "bodies_ran_out": any(r.exhausted for r in rs),
            }
        hubs, floors = [r for r in mine if r.server == "hub"], [r for r in mine if r.server == "floor"]
        ratios = [h.per_second / f.per_second for h, f in zip(hubs, floors, strict=False) if f.per_second]
        cpu = [h.cpu_ms / f.cpu_ms for h, f in zip(hubs, floors, strict=False) if f.cpu_ms]
        entry["ratio"] = round(statistics.median(ratios), 3) if ratios else None
        entry["cpu_ratio"] = round(statistics.median(cpu), 1) if cpu else None
        summary[scenario] = entry
    return summary


def print_summary(summary: dict[str, Any], conditions: dict[str, Any]) -> None:
    print(f"\nconditions: {json.dumps(conditions, ensure_ascii=False)}")
    columns = ("ops/s", 8), ("MB/s", 7), ("p50 ms", 8), ("p99 ms", 8), ("CPU ms/op", 10), ("errors", 6)
    print(f"{'scenario':<8} {'server':<6} " + " ".join(f"{name:>{width}}" for name, width in columns))
    for scenario, entry in summary.items():
        for server in ("hub", "floor"):
            s = entry[server]
            print(
                f"{scenario:<8} {server:<6} {s['per_second']:>8.1f} {s['mb_per_second']:>7.1f} {s['p50_ms']:>8.1f} "
                f"{s['p99_ms']:>8.1f} {s['cpu_ms_per_op']:>10.2f} {s['errors']:>6}"
                + (" (bodies ran out)" if s["bodies_ran_out"] else "")
            )
        print(f"{scenario:<8} ratio hub/floor {entry['ratio']}, CPU per op hub/floor {entry['cpu_ratio']}x")
        peak = entry.get("peak_rss_mb")
        if peak:  # PSS first: what the processes take together, a page they share counted once
            hub, floor = peak["sampled"]["hub"], peak["sampled"]["floor"]
            print(
                f"{scenario:<8} memory MB, peak of the sum over a server's processes: PSS hub {hub['pss']} floor "
                f"{floor['pss']}; RSS hub {hub['rss']} floor {floor['rss']}; each process's own RSS peak, "
                f"summed: hub {peak['hub']} {peak['hub_per_process']} floor {peak['floor']}"
            )


async def bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    data = workdir / "data"
    prepare(HubConfig(data_dir=data))
    hub = start_hub(data, workdir / "hub.log", args.workers)
    floor = start_floor(data)
    try:
        target = Target.of(data, hub.url)
        now = dt.datetime.now(dt.UTC)
        await register(target, [MANAGER, HELPER], args.seed)
        pairs = terminals(target, [MANAGER, HELPER], now)
        async with logged_in(target, pairs, args.seed) as clients:
            tokens = {number: client.token or "" for number, client in clients.items()}
        driver = Driver(
            ca_file=target.ca_file,
            sender=pairs[MANAGER.number],
            recipient=pairs[HELPER.number],
            tokens=tokens,
            connections=args.connections,
        )
        return await _rounds(args, driver, hub, floor, pairs[MANAGER.number])
    finally:
        hub.stop()
        floor.stop()


async def _rounds(
    args: argparse.Namespace, driver: Driver, hub: Server, floor: Server, pair: KeyPair
) -> dict[str, Any]:
    rounds: list[Round] = []
    peaks: dict[str, dict[str, Any]] = {}
    for scenario in args.only:
        size, count, factor, cycle = SCENARIOS[scenario]
        files = unit(size)
        window = args.window * factor
        sampling = contextlib.ExitStack()
        if scenario == "10mb":
            for server in (hub, floor):
                server.reset_peak_rss()
            samplers = {server.name: sampling.enter_context(MemorySampler(server)) for server in (hub, floor)}
        warm = presign(min(count, 64), pair, files, dt.datetime.now(dt.UTC))
        for server in (floor, hub):  # warm-up, not recorded: imports, caches, first connections
            await run_round(
                scenario, server, driver, warm[: len(warm) // 2] if server is hub else warm, 1.0, cycle=cycle
            )
        for number in range(args.rounds):
            bodies = presign(count, pair, files, dt.datetime.now(dt.UTC))  # outside the timed window
            order = (floor, hub) if number % 2 == 0 else (hub, floor)
            for server in order:
                done = await run_round(scenario, server, driver, bodies, window, cycle=cycle)
                rounds.append(done)
                print(
                    f"{scenario:<7} round {number + 1} {server.name:<5} {done.per_second:8.1f}/s "
                    f"p99 {percentile(done.latencies, 0.99) * 1000:7.1f} ms  CPU {done.cpu_ms:6.2f} ms/op"
                    f" ({done.kernel_cpu / done.cpu if done.cpu else 0:3.0%} kernel,"
                    f" {done.page_faults / max(len(done.latencies), 1):5.0f} faults/op)"
                    f"  errors {sum(done.errors.values())}  driver {done.driver_cpu / done.elapsed:4.0%} of a core",
                    flush=True,
                )
                for what, times in done.errors.items():
                    print(f"        {times} x {what}", flush=True)
        if scenario == args.py_spy_scenario and args.py_spy:  # an extra hub round, not in the figures
            spy = _py_spy(args.py_spy, hub.pid, window)
            await run_round(
                scenario, hub, driver, presign(count, pair, files, dt.datetime.now(dt.UTC)), window, cycle=cycle
            )
            spy.wait(timeout=window + 60)
        sampling.close()
        if scenario == "10mb":
            peaks[scenario] = {
                "hub": round(hub.peak_rss_mb(), 1),
                "hub_per_process": hub.peak_rss_per_process_mb(),
                "floor": round(floor.peak_rss_mb(), 1),
                "sampled": {
                    name: {"rss": round(sampler.rss, 1), "pss": round(sampler.pss, 1)}
                    for name, sampler in samplers.items()
                },
            }
    summary = summarize(rounds)
    for scenario, peak in peaks.items():
        summary[scenario]["peak_rss_mb"] = peak
    return summary


def _py_spy(out: Path, pid: int, window: float) -> subprocess.Popen[bytes]:
    spy = Path(sys.executable).with_name("py-spy")
    command = [str(spy), "record", "--pid", str(pid), "--rate", "200", "--duration", str(int(window))]
    command += ["--subprocesses", "--gil"]  # the workers of `serve --workers N`; Python CPU only
    return subprocess.Popen([*command, "--format", "raw", "--threads", "-o", str(out)], stdout=subprocess.DEVNULL)


def _conditions(args: argparse.Namespace) -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "loadavg_1m_at_end": round(load[0], 2),
        "rounds": args.rounds,
        "window_s": args.window,
        "connections": args.connections,
        "hub_workers": args.workers,
        "python": sys.version.split()[0],
    }


def stop_on_sigterm() -> None:
    """`kill` (SIGTERM) ends a bench like Ctrl-C does: through its `with` blocks, so the servers,
    the throwaway cluster and the temporary directories it started go with it."""

    def stop(number: int, _: object) -> None:
        raise SystemExit(128 + number)

    signal.signal(signal.SIGTERM, stop)


def main(argv: list[str]) -> int:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description="The hub against its floor (bench/floor.py), same bodies.")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per scenario (default 3)")
    parser.add_argument("--window", type=float, default=5.0, help="seconds a round (10mb: 1.6x; default 5)")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections (default 32)")
    parser.add_argument("--only", type=lambda s: s.split(","), default=list(SCENARIOS), help="submit,cycle,10mb")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="hub worker processes (serve --workers; default 2)")
    parser.add_argument("--py-spy", type=Path, default=None, help="record the hub's first submit round here")
    parser.add_argument("--py-spy-scenario", default="submit", help="the scenario py-spy records (default submit)")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary here")
    args = parser.parse_args(argv)
    unknown = set(args.only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s) {sorted(unknown)}")
    with tempfile.TemporaryDirectory(prefix="careplan-bench-") as tmp:
        summary = asyncio.run(bench(args, Path(tmp)))
    report(summary, _conditions(args), args.json, print_summary)
    return 0


def report(
    summary: Any, conditions: dict[str, Any], to: Path | None, show: Callable[[Any, dict[str, Any]], None]
) -> None:
    """Print the summary with its conditions (`show`), and also write both as JSON to `to`."""
    show(summary, conditions)
    if to is not None:
        to.write_text(json.dumps({"conditions": conditions, "summary": summary}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
