"""Submit throughput on PostgreSQL with 1 and 2 hub nodes next to SQLite and the floor: figures,
not a test (issue 15 item 5; README "Deployment" and "Performance").

    .venv/bin/python bench/nodes.py [--rounds 3] [--window 5] [--connections 32] [--json OUT]

What it does (bench/load.py's method: same bodies, pre-signed outside the timed window, a fixed
window, CPU per request read from /proc):
1. A throwaway PostgreSQL cluster (fixtures/pgcluster.py, durable: fsync ON, like SQLite at synchronous=FULL)
   with one fresh database per PostgreSQL configuration.
2. Four servers side by side, each with its own data directory: the floor (bench/floor.py), the
   hub on SQLite (one process), one node on PostgreSQL, and two nodes on one PostgreSQL database
   sharing one data directory (each `careplan hub serve --database URL`, one process each).
3. Rounds of the 30 KB submit scenario, the configurations in a rotating order; for two nodes the
   connections are split between the nodes (what a TCP balancer does). Reported: medians over the
   rounds of requests/s, p50/p99 latency, hub CPU ms per request (all its processes) and, for
   PostgreSQL, the database server's CPU ms per request (all its backends).
The machine is shared: read the ratios and the CPU per request, not only the requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from load import (
    HELPER,
    MANAGER,
    ROOT,
    Counters,
    Driver,
    Round,
    Server,
    _conditions,
    presign,
    report,
    run_round,
    start_floor,
    stop_on_sigterm,
    unit,
)

from careplan_cli.load import Target, logged_in, register, terminals
from careplan_cli.up import prepare
from client.load import percentile
from fixtures import pgcluster
from hub.config import HubConfig

SUBMIT_SIZE = 30 * 1024
BODIES = 2000  # signed per configuration and round (more than a round can use on this machine)


def _cpu_of(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # a backend that ended meanwhile: its time is lost, a small error
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


@dataclass(slots=True)
class Nodes:
    """The nodes of one hub, driven as one server by bench/load.py's rounds (connections spread)."""

    servers: list[Server]
    name: str = "hub"  # bench/load.py gives a hub each signed body once (the floor reuses them)

    @property
    def url(self) -> str:
        return self.servers[0].url

    def urls(self) -> list[str]:
        return [server.url for server in self.servers]

    def cpu_seconds(self) -> float:
        return sum(self.cpu_split())

    def cpu_split(self) -> tuple[float, float]:
        counters = self.counters()
        return counters.user, counters.kernel

    def page_faults(self) -> int:
        return self.counters().faults

    def counters(self) -> Counters:
        """What bench/load.py's run_round reads around each round: the sum over the nodes."""
        each = [server.counters() for server in self.servers]
        return Counters(sum(c.user for c in each), sum(c.kernel for c in each), sum(c.faults for c in each))


@dataclass(slots=True)
class Config:
    """One configuration under test: its server (the floor, or a hub's nodes) and the database's
    postmaster, whose backends' CPU is read around each round."""

    name: str
    server: Server | Nodes
    data: Path
    postmaster: int | None = None
    driver: Driver | None = None
    rounds: list[Round] = field(default_factory=list)
    db_cpu_ms: list[float] = field(default_factory=list)

    def db_cpu(self) -> float:
        if self.postmaster is None:
            return 0.0
        children = Path(f"/proc/{self.postmaster}/task/{self.postmaster}/children").read_text().split()
        return _cpu_of([self.postmaster, *map(int, children)])

    async def round(self, bodies: Sequence[Sequence[bytes]], window: float) -> Round:
        assert self.driver is not None
        db_before = self.db_cpu()
        done = await run_round("submit", self.server, self.driver, bodies, window, cycle=False)  # type: ignore[arg-type]
        if done.latencies and self.postmaster is not None:
            self.db_cpu_ms.append(1000 * (self.db_cpu() - db_before) / len(done.latencies))
        return done


def start_node(data: Path, database: str, log: Path) -> Server:
    """`careplan hub serve` (one process) on SQLite or on `database`; several may share `data`: a
    node is ready when the ready file names its own process."""
    command = [sys.executable, "-m", "careplan_cli.main", "hub", "--data", str(data), "serve", "--port", "0"]
    env = {**os.environ, "CAREPLAN_HUB_DATABASE": database}  # not on the command line (ps shows it)
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    ready = HubConfig(data_dir=data).ready_file
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                info = json.loads(ready.read_text())
            except (FileNotFoundError, ValueError):
                info = {}
            if info.get("pid") == process.pid:
                return Server(name="hub", url=info["url"], pid=process.pid, process=process)
            time.sleep(0.05)
        raise RuntimeError(f"a hub node did not start; see {log}")
    except BaseException:  # also a SIGTERM (stop_on_sigterm) while it starts
        process.kill()
        process.wait()
        raise


async def _drive(config: Config, connections: int) -> None:
    """Register the two load offices through the first node, log them in: the driver."""
    target = Target.of(config.data, config.server.url)
    now = dt.datetime.now(dt.UTC)
    await register(target, [MANAGER, HELPER], 1)
    pairs = terminals(target, [MANAGER, HELPER], now)
    async with logged_in(target, pairs, 1) as clients:
        tokens = {number: client.token or "" for number, client in clients.items()}
    config.driver = Driver(
        ca_file=target.ca_file,
        sender=pairs[MANAGER.number],
        recipient=pairs[HELPER.number],
        tokens=tokens,
        connections=connections,
    )


def _start(workdir: Path, cluster: pgcluster.PgCluster | None, stack: contextlib.ExitStack) -> list[Config]:
    """The servers, each stopped when `stack` closes (also when a later one fails to start)."""

    def started(server: Server) -> Server:
        stack.callback(server.stop)
        return server

    def data(name: str) -> Path:
        path = workdir / f"data-{name}"
        prepare(HubConfig(data_dir=path))
        (path / "admin-token").write_text("bench-admin-token")
        return path

    sqlite = data("sqlite")  # the floor shares its CA and certificate (and its driver: same terminals)
    configs = [
        Config("floor", started(start_floor(sqlite)), sqlite),
        Config("sqlite", Nodes([started(start_node(sqlite, "", workdir / "sqlite.log"))]), sqlite),
    ]
    if cluster is not None:
        for name, count in (("pg-1node", 1), ("pg-2nodes", 2)):
            path, database = data(name), cluster.new_database()
            nodes = Nodes([started(start_node(path, database, workdir / f"{name}-{n}.log")) for n in range(count)])
            configs.append(Config(name, nodes, path, postmaster=cluster.postmaster_pid()))
    return configs


async def bench(args: argparse.Namespace, configs: list[Config]) -> None:
    for config in configs[1:]:
        await _drive(config, args.connections)
    configs[0].driver = configs[1].driver  # the floor checks nothing: the SQLite hub's terminals do
    files = unit(SUBMIT_SIZE)
    for config in configs:  # warm-up, not recorded
        assert config.driver is not None
        await config.round(presign(64, config.driver.sender, files, dt.datetime.now(dt.UTC)), 1.0)
    for number in range(args.rounds):
        order = configs[number % len(configs) :] + configs[: number % len(configs)]
        for config in order:
            assert config.driver is not None
            count = 200 if config.name == "floor" else BODIES
            bodies = presign(count, config.driver.sender, files, dt.datetime.now(dt.UTC))  # outside the window
            done = await config.round(bodies, args.window)
            config.rounds.append(done)
            print(
                f"round {number + 1} {config.name:<10} {done.per_second:8.1f}/s p99 "
                f"{percentile(done.latencies, 0.99) * 1000:7.1f} ms  hub CPU {done.cpu_ms:6.2f} ms/op  "
                f"errors {sum(done.errors.values())}" + ("  (bodies ran out)" if done.exhausted else ""),
                flush=True,
            )


def summarize(configs: list[Config]) -> dict[str, Any]:
    floor = statistics.median(r.per_second for r in configs[0].rounds)
    summary = {}
    for config in configs:
        rs = config.rounds
        per_second = statistics.median(r.per_second for r in rs)
        summary[config.name] = {
            "nodes": len(config.server.urls()),
            "per_second": round(per_second, 1),
            "p50_ms": round(statistics.median(percentile(r.latencies, 0.5) for r in rs) * 1000, 1),
            "p99_ms": round(statistics.median(percentile(r.latencies, 0.99) for r in rs) * 1000, 1),
            "hub_cpu_ms_per_op": round(statistics.median(r.cpu_ms for r in rs), 2),
            "db_cpu_ms_per_op": round(statistics.median(config.db_cpu_ms), 2) if config.db_cpu_ms else None,
            "vs_floor": round(per_second / floor, 3) if floor else None,
            "errors": sum(sum(r.errors.values()) for r in rs),
            "error_kinds": sorted({k for r in rs for k in r.errors}),
        }
    return summary


def print_summary(summary: dict[str, Any], conditions: dict[str, Any]) -> None:
    print(f"\nconditions: {json.dumps(conditions, ensure_ascii=False)}")
    print(f"{'config':<10} {'nodes':>5} {'ops/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'hub CPU':>8} {'db CPU':>7} "
          f"{'÷floor':>7} {'errors':>6}")  # fmt: skip
    for name, s in summary.items():
        db = f"{s['db_cpu_ms_per_op']:7.2f}" if s["db_cpu_ms_per_op"] is not None else f"{'-':>7}"
        print(
            f"{name:<10} {s['nodes']:>5} {s['per_second']:>8.1f} {s['p50_ms']:>8.1f} {s['p99_ms']:>8.1f} "
            f"{s['hub_cpu_ms_per_op']:>8.2f} {db} {s['vs_floor']:>7.3f} {s['errors']:>6}"
        )
    print("(CPU columns: ms of CPU per submit, the hub's processes and the PostgreSQL server's backends)")


def main(argv: list[str]) -> int:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description="Submit throughput: floor, SQLite, PostgreSQL with 1 and 2 nodes.")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per configuration (default 3)")
    parser.add_argument("--window", type=float, default=5.0, help="seconds a round (default 5)")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections (default 32)")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary here")
    args = parser.parse_args(argv)
    if not pgcluster.available():
        print(f"PostgreSQL is not installed ({pgcluster.PG_BIN / 'initdb'}): only the floor and SQLite run")
    cluster_or_none = pgcluster.throwaway_cluster(durable=True) if pgcluster.available() else contextlib.nullcontext()
    with (
        tempfile.TemporaryDirectory(prefix="careplan-bench-nodes-") as tmp,
        cluster_or_none as cluster,
        contextlib.ExitStack() as servers,  # stopped first, then the cluster, then the directory
    ):
        configs = _start(Path(tmp), cluster, servers)
        asyncio.run(bench(args, configs))
    summary = summarize(configs)
    conditions = _conditions(argparse.Namespace(**vars(args), workers=1)) | {"submit_bytes": SUBMIT_SIZE}
    report(summary, conditions, args.json, print_summary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
