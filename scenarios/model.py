"""Scenario files as frozen data: what a QA suite declares, before anything runs.

A scenario names its offices (each gets a generated 事業所番号, a KJ user, a password and a
certificate), sets the hub's clock and lists steps. A step is one actor doing one action with one
expectation; `scenarios.loader` builds these from YAML and `scenarios.runner` runs them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JST = dt.timezone(dt.timedelta(hours=9))

CERTIFICATES = (
    "kaigo",
    "seikyu-inin",
    "dairinin",
    "shogai",
    "revoked",
    "expired",
    "foreign",
    "no-client-auth",
    "not-yet-valid",  # issued now (real time): valid for TLS, not yet valid on a scenario clock in the past
)
FORGE_KEYS = frozenset({"signed_by", "claim_sender", "other_certificate"})
TAMPER = ("file", "manifest")
LICENCES = ("none", "applied", "valid")
SCENARIO_KEYS = ("name", "tags", "clock", "offices", "steps", "description")
OFFICE_KEYS = ("kind", "licence", "certificate", "number", "name")
STEP_KEYS = frozenset({"as", "expect", "save", "title", "say"})  # and the action's own key
TERMINAL = "#"  # `as: 居宅A#2` is the office 居宅A on its second terminal (own certificate, own session)


def split_actor(actor: str) -> tuple[str, int]:
    """`居宅A#2` → ("居宅A", 2); `居宅A` → ("居宅A", 1). ValueError for a bad terminal number."""
    label, _, terminal = actor.partition(TERMINAL)
    if not terminal:
        return label, 1
    if not (terminal.isascii() and terminal.isdigit()) or int(terminal) < 1:  # `居宅A#x`: not int()'s English
        raise ValueError(
            f"{actor!r} の端末番号は 1 以上の整数で書きます / terminal number in {actor!r} must be 1 or more"
        )
    return label, int(terminal)


@dataclass(frozen=True, slots=True, kw_only=True)
class OfficeSpec:
    label: str
    number: str
    kind: str
    licence: str = "valid"
    certificate: str = "kaigo"
    name: str = ""

    @property
    def user(self) -> str:
        return f"KJ{self.number}"

    @property
    def password(self) -> str:
        return f"pw-{self.number}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Expect:
    """`ok`, or a refusal: its code and, optionally, its exact message (or a prefix ending in …)."""

    error: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        if self.ok:
            return "ok"
        return self.error + (f" 「{self.message}」" if self.message else "")

    def message_matches(self, message: str) -> bool:
        if self.message is None:
            return True
        if self.message.endswith("…"):
            return message.startswith(self.message[:-1])
        return message == self.message


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    index: int  # 1-based
    line: int
    action: str
    argument: Any
    actor: str | None = None
    expect: Expect = field(default_factory=Expect)
    save: str | None = None
    title: str = ""
    say: str = ""  # a one-line Japanese narration for `careplan demo`

    def describe(self) -> str:
        return f"{self.action} {_brief(self.argument)}".strip()


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    name: str
    path: Path
    line: int
    clock: dt.datetime
    offices: tuple[OfficeSpec, ...]
    steps: tuple[Step, ...]
    tags: tuple[str, ...] = ()
    description: str = ""

    def office(self, label: str) -> OfficeSpec:
        for office in self.offices:
            if office.label == label:
                return office
        raise KeyError(label)


def _brief(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_brief(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_brief(v) for v in value) + "]"
    return str(value)
