"""One scenario's run: its variables (`${tid}`, `${居宅A.number}`), its actors (an office on one
terminal, with its own certificate, client and session) and the dispatch of each step to its
action (`scenarios.actions`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from careplan.certificates import KeyPair
from client.hubclient import HubClient
from scenarios.actions import ACTIONS
from scenarios.drivers import HubDriver
from scenarios.files import files_for
from scenarios.messages import unknown_office
from scenarios.model import OfficeSpec, Scenario, Step, split_actor
from scenarios.results import StepFailed


@dataclass(slots=True)
class Actor:
    office: OfficeSpec
    keypair: KeyPair
    client: HubClient | None = None
    user: str = ""
    password: str = ""
    logged_in: bool = False


_VAR = re.compile(r"\$\{([^}]+)\}")


class Run:
    def __init__(self, scenario: Scenario, data: Path, driver: HubDriver) -> None:
        self.scenario = scenario
        self.data = data  # a scratch directory (downloads)
        self.driver = driver
        self.variables: dict[str, Any] = {}
        for office in scenario.offices:  # ${居宅A.number}, ${居宅A.user}, ${居宅A.password}
            self.variables |= {
                f"{office.label}.number": office.number,
                f"{office.label}.user": office.user,
                f"{office.label}.password": office.password,
            }
        self.actors: dict[str, Actor] = {}
        # transmission id -> (manifest, signature, files) of each upload, for `send: {replay: ${tid}}`
        self.uploads: dict[str, tuple[bytes, bytes, list[tuple[str, bytes]]]] = {}

    def ca_file(self) -> Path:
        return self.driver.ca_file

    # --- variables ---------------------------------------------------------------------------
    def expand(self, value: Any) -> Any:
        if isinstance(value, str):
            whole = _VAR.fullmatch(value)
            if whole:
                return self.variable(whole.group(1))
            return _VAR.sub(lambda m: str(self.variable(m.group(1))), value)
        if isinstance(value, Mapping):
            return {self.expand(k): self.expand(v) for k, v in value.items()}
        if isinstance(value, tuple | list):
            return tuple(self.expand(v) for v in value)
        return value

    def variable(self, name: str) -> Any:
        if name not in self.variables:
            raise StepFailed(
                f"変数 ${{{name}}} がありません（前のステップに save: {name} を書きます）"
                f" / no variable ${{{name}}} (save: {name} on an earlier step)"
            )
        return self.variables[name]

    def number(self, label: str) -> str:
        return self.office(label).number

    # --- actors -------------------------------------------------------------------------------
    def actor(self, label: str) -> Actor:
        """An office on one of its terminals (`居宅A`, `居宅A#2`): its own certificate and session."""
        if label not in self.actors:
            office_label, terminal = split_actor(label)
            office = self.scenario.office(office_label)
            self.actors[label] = Actor(
                office=office,
                keypair=self.driver.pki.terminal(office, office.certificate, terminal),
                user=office.user,
                password=office.password,
            )
        return self.actors[label]

    async def client(self, actor: Actor) -> HubClient:
        if actor.client is None:
            actor.client = HubClient(url=self.driver.url, ca_file=self.ca_file(), keypair=actor.keypair)
            await actor.client.__aenter__()
        return actor.client

    async def drop_client(self, actor: Actor) -> None:
        if actor.client is not None:
            await actor.client.__aexit__(None, None, None)
            actor.client = None
        actor.logged_in = False

    async def session(self, actor: Actor) -> HubClient:
        client = await self.client(actor)
        if not actor.logged_in:
            await client.login(actor.user, actor.password)
            actor.logged_in = True
        return client

    async def close(self) -> None:
        for actor in self.actors.values():
            await self.drop_client(actor)

    def office(self, label: str) -> OfficeSpec:
        try:
            return self.scenario.office(label)
        except KeyError:
            raise StepFailed(unknown_office(label)) from None

    def files_for(self, actor: Actor, argument: Mapping[str, Any]) -> tuple[list[tuple[str, bytes]], str]:
        return files_for(actor.office, argument, office=self.office, base=self.scenario.path.parent)

    async def do(self, step: Step) -> tuple[Any, str]:
        """Perform the step; returns (value to save, a note for the report)."""
        return await ACTIONS[step.action].run(self, step, self.expand(step.argument))
