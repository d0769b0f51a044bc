"""A deliberately broken adapter: our client for every step, except that `download` fetches the
files and acknowledges without checking them against the sender's signed manifest. Its arguments
are the client home and the profile; the login password comes from CAREPLAN_PASSWORD, as the README
asks of adapters, never from the command line the report shows."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from client.hubclient import HubClient
from client.profile import Profile, client_home
from conformance.adapters.careplan_client import Terminal


class Careless(Terminal):
    @staticmethod
    async def download(hub: HubClient, step: dict[str, Any]) -> dict[str, Any]:
        downloaded = []
        for row in await hub.inbox():
            tid = row["transmission_id"]
            folder = Path(step["out"]) / tid
            folder.mkdir(parents=True, exist_ok=True)
            for entry in row["files"]:
                (folder / entry["name"]).write_bytes(await hub._fetch(tid, entry["position"], lambda _: None))
            await hub.acknowledge(tid)  # no verification: this is the bug the kit must catch
            downloaded.append(tid)
        return {"ok": True, "downloaded": downloaded}


if __name__ == "__main__":
    home, profile, password = Path(sys.argv[1]), sys.argv[2], os.environ.get("CAREPLAN_PASSWORD")
    step = json.loads(sys.stdin.read())
    print(json.dumps(asyncio.run(Careless(client_home(home), Profile.load(home, profile), password).run(step))))
