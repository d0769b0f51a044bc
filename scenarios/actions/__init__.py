"""Every scenario action, by name: its argument schema, its check and its execution (one module per
group). The loader validates steps against this table and `scenarios.context.Run` dispatches on it."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from scenarios.actions.base import Action, Checker, Outcome
from scenarios.actions.control import CONTROL
from scenarios.actions.exchange import EXCHANGE
from scenarios.actions.licensing import LICENSING
from scenarios.actions.mailbox import MAILBOX
from scenarios.actions.session import SESSION

ACTIONS: Mapping[str, Action] = MappingProxyType(
    {a.name: a for a in (*EXCHANGE, *MAILBOX, *LICENSING, *SESSION, *CONTROL)}
)
ACTORLESS = frozenset(name for name, action in ACTIONS.items() if action.actorless)

__all__ = ["ACTIONS", "ACTORLESS", "Action", "Checker", "Outcome"]
