"""Secrets kept out of what the kit writes (the JSON, JUnit and HTML reports, the terminal): the
password-like values on the adapter's command line, and every value the kit knows to be secret.

Rules this module keeps:
1. A command line is read word by word, as the kit splits it to run it (shlex). The value of a
   password-like option (`--password X`, `--password=X`, `-p X`), of a password-like assignment
   (`CAREPLAN_PASSWORD=X`, `password=X`) and the password of a URL (`https://user:X@host`) are
   shown as `***`; a word that is itself a script (`sh -c '…'`) is read the same way inside.
   A command with none of them is shown exactly as typed.
2. A name is password-like when its last part is one of SECRET_WORDS or ends in `password`,
   `passwd` or `passphrase` (`--p12-password`, `P12_PASSWORD`, `GITHUB_TOKEN`); `--password-file`
   and `PWD` are not.
3. The values of rule 1, the kit's own secrets and the password-like environment variables the
   adapter inherits from the kit (4 characters or more) are hidden wherever they appear in any
   text. A value shorter than SHORT is hidden only where it stands alone, so that `***` does not
   eat into ordinary words.
4. What was hidden is said (NOTE, Japanese first): a reader must know a value was withheld, not
   missing. A password given as a bare word (`adapter HOME s3cret`) cannot be recognised; the
   README asks for the environment instead.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from conformance.wording import Said

MASK = "***"
NOTE = Said("パスワードは伏せました（*** と表示）", "passwords are hidden (shown as ***)")
SECRET_WORDS = frozenset({"password", "passwd", "passphrase", "pass", "pw", "secret", "token"})
SHORT = 6
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*:)(?P<password>[^\s/@]+)@")
_ASSIGNED = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def secret_name(name: str) -> bool:
    """Whether an option or variable name is password-like (rule 2)."""
    last = re.split(r"[^a-z0-9]+", name.lower().strip("-_"))[-1]
    return last in SECRET_WORDS or last.endswith(("password", "passwd", "passphrase"))


def _secret_option(word: str) -> bool:
    return word == "-p" or (word.startswith("-") and "=" not in word and secret_name(word))


def _shown(word: str) -> str:
    """A word as a shell would need it typed, the mask left bare (`--password=***`, not quoted)."""
    plain = word.replace(MASK, "_")
    return word if shlex.quote(plain) == plain else shlex.quote(word)


def _word(word: str) -> tuple[str, list[str]]:
    """One word with its password-like values masked (rule 1), unquoted, and those values."""
    found = [m["password"] for m in _URL_PASSWORD.finditer(word)]
    found += [unquote(value) for value in found]
    word = _URL_PASSWORD.sub(rf"\g<head>{MASK}@", word)
    script = any(c.isspace() for c in word)
    name, eq, value = word.partition("=")
    assigned = eq and value and secret_name(name) and _ASSIGNED.fullmatch(name.lstrip("-"))
    if assigned and (word.startswith("-") or not script):  # `--password=two words` is one value
        return f"{name}={MASK}", [*found, value]
    if script:  # a script given to sh -c (or the like): its own words, the rest of it as typed
        more = redact_command(word)[1]
        hide = _compiled(more)
        return (hide.sub(MASK, word) if hide else word), [*found, *more]
    return word, found


def redact_command(command: str) -> tuple[str, tuple[str, ...]]:
    """The command line as it may be shown (rule 1) and the password-like values taken out of it."""
    try:
        words, quoted = shlex.split(command), True
    except ValueError:  # unbalanced quotes: the kit cannot run it either; mask what can be read
        words, quoted = command.split(), False
    shown: list[str] = []
    found: list[str] = []
    for before, word in zip(["", *words], words, strict=False):
        if _secret_option(before) and word and not word.startswith("-"):
            shown.append(MASK)
            found.append(word)
            continue
        text, values = _word(word)
        shown.append(_shown(text) if quoted else text)
        found += values
    secrets = tuple(v for v in dict.fromkeys(found) if v)
    return (" ".join(shown) if secrets else command), secrets


def environment_secrets(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The values of the password-like variables in an environment (the adapter inherits the kit's);
    not a value of fewer than 4 characters (`1`, `yes`: a switch such as NO_AUTH_TOKEN=1, no password)."""
    return tuple(value for name, value in environ.items() if len(value.strip()) >= 4 and secret_name(name))


def _compiled(secrets: Iterable[str]) -> re.Pattern[str] | None:
    longest_first = sorted({s for s in secrets if s.strip()}, key=len, reverse=True)
    parts = [
        re.escape(s) if len(s) >= SHORT else rf"(?<![A-Za-z0-9]){re.escape(s)}(?![A-Za-z0-9])" for s in longest_first
    ]
    return re.compile("|".join(parts)) if parts else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Redaction:
    """The secrets of one run; call it on any text the kit writes (rule 3). Its repr shows none."""

    secrets: tuple[str, ...] = field(default=(), repr=False)
    command: str | None = None  # the adapter's command line as shown (rule 1)
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pattern", _compiled(self.secrets))

    @classmethod
    def of(
        cls,
        command: str | None,
        *,
        hub: str = "",
        environ: Mapping[str, str] = os.environ,
    ) -> Redaction:
        """The secrets of a run of `command` against `hub` with the kit's environment `environ`."""
        shown, secrets = redact_command(command) if command is not None else (None, ())
        hidden = cls(secrets=(*secrets, *redact_command(hub)[1], *environment_secrets(environ)))
        return cls(secrets=hidden.secrets, command=None if shown is None else hidden(shown))

    def also(self, *secrets: str) -> Redaction:
        """These secrets as well (values the kit comes to hold during the run)."""
        return Redaction(secrets=(*self.secrets, *secrets), command=self.command)

    def __call__(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)

    def walk(self, value: Any) -> Any:
        """`value` (JSON-like: strings, lists, dicts) with every string redacted, keys included."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self.walk(k): self.walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.walk(v) for v in value)
        return value
