"""Our own client behind the adapter protocol: `careplan conformance adapter careplan-client
--home H --profile P`. It must pass the whole client suite; vendors can read it as a reference.

The terminal is the client profile (`careplan client --profile P login …` writes it: hub, CA,
.p12). The login password is not kept in a profile, so the login step reads it from
CAREPLAN_PASSWORD (or --password); later steps reuse the session saved by the login step.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from careplan.errors import CareplanError
from client.hubclient import HubClient
from client.profile import Profile, client_home


def _files(paths: list[str]) -> list[tuple[str, bytes]]:
    return [(Path(p).name, Path(p).read_bytes()) for p in paths]


class Terminal:
    def __init__(self, home: Path, profile: Profile, password: str | None) -> None:
        self.home, self.profile, self.password = home, profile, password

    def client(self) -> HubClient:
        return HubClient.from_p12(
            url=self.profile.hub_url,
            ca_file=Path(self.profile.ca_file),
            p12=Path(self.profile.p12_file),
            password=self.profile.p12_password,
            token=self.profile.token or None,
        )

    async def login(self, hub: HubClient) -> dict[str, Any]:
        if not self.password:
            raise CareplanError("LOGIN_FAILED", detail="no password: set CAREPLAN_PASSWORD for the adapter")
        result = await hub.login(self.profile.user_id, self.password)
        self.profile = self.profile.with_token(result["token"])
        self.profile.save(self.home)
        return {"ok": True, "user_id": result.get("user_id")}

    async def run(self, step: dict[str, Any]) -> dict[str, Any]:
        actions: dict[str, Callable[[HubClient, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "login": lambda hub, _: self.login(hub),
            "send": self.send,
            "bulk_send": self.bulk_send,
            "download": self.download,
            "send_list": self.send_list,
        }
        if step.get("action") not in actions:
            return {"unsupported": True}
        async with self.client() as hub:
            try:
                return await actions[step["action"]](hub, step)
            except CareplanError as error:
                if error.code != "SESSION_REQUIRED" or step["action"] == "login" or not self.password:
                    return {"ok": False, "error": error.to_wire()}
            await self.login(hub)  # the session lapsed: log in again, then once more
            try:
                return await actions[step["action"]](hub, step)
            except CareplanError as error:
                return {"ok": False, "error": error.to_wire()}

    @staticmethod
    async def send(hub: HubClient, step: dict[str, Any]) -> dict[str, Any]:
        result = await hub.send(_files(step["files"]), to=str(step["to"]))
        return {"ok": True, "transmission_id": result["transmission_id"]}

    @staticmethod
    async def bulk_send(hub: HubClient, step: dict[str, Any]) -> dict[str, Any]:
        result = await hub.bulk_send(_files(step["files"]))
        failed = [{"files": names, "error": error.to_wire()} for _, names, error in result.failed]
        return {"ok": result.ok, "sent": [r["transmission_id"] for r in result.sent], "failed": failed}

    @staticmethod
    async def download(hub: HubClient, step: dict[str, Any]) -> dict[str, Any]:
        downloaded, refused = [], []
        for row in await hub.inbox():
            tid = row["transmission_id"]
            try:  # download() verifies the sender's signature and every file before it acknowledges
                await hub.download(tid, Path(step["out"]))
                downloaded.append(tid)
            except CareplanError as error:
                refused.append({"transmission_id": tid, "error": error.to_wire()})
        return {"ok": not refused, "downloaded": downloaded, "refused": refused}

    @staticmethod
    async def send_list(hub: HubClient, step: dict[str, Any]) -> dict[str, Any]:
        rows = await hub.sent()
        return {
            "ok": True,
            "transmissions": [{"transmission_id": r["transmission_id"], "status": r["status"]} for r in rows],
        }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="careplan conformance adapter careplan-client", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--home", type=Path, default=None, help="client home (default: $CAREPLAN_CLIENT_HOME)")
    parser.add_argument("--profile", default=os.environ.get("CAREPLAN_PROFILE", "default"))
    parser.add_argument(
        "--password", default=os.environ.get("CAREPLAN_PASSWORD"), help="login password (default: $CAREPLAN_PASSWORD)"
    )
    args = parser.parse_args(argv)
    home = client_home(args.home)
    try:
        step = json.loads(sys.stdin.read())
        profile = Profile.load(home, args.profile)
    except (ValueError, FileNotFoundError) as exc:
        print(json.dumps({"ok": False, "error": {"code": "BAD_REQUEST", "message": str(exc)}}, ensure_ascii=False))
        return 2
    result = asyncio.run(Terminal(home, profile, args.password).run(step))
    print(json.dumps(result, ensure_ascii=False))
    return 0
