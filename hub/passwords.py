"""Passwords: scrypt hashing off the event loop, the password policy, generated passwords.

Rules this module keeps:
1. Passwords are stored only as scrypt, in a self-describing string (`scrypt$N$r$p$salt$digest`).
2. Hashing and verifying run in a bounded worker pool that the app owns (`cpu_pool`), never on the
   event loop: one scrypt costs tens of milliseconds of CPU, and three hundred logins at once on
   the loop stalled every other request for seconds. `hashlib.scrypt` releases the GIL.
3. Verifying for a user that does not exist checks a dummy hash, so "unknown user" and "wrong
   password" take the same time and answer alike (no user oracle).
4. A new password must pass `policy_problems` (README "Logins, throttling and passwords"); the
   generated temporary and initial passwords pass it too.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import string
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TypeVar

from hub.tokens import as_bytes

_N, _R, _P = 2**14, 8, 1
T = TypeVar("T")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(as_bytes(password), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    salt_bytes = base64.b64decode(salt)
    actual = hashlib.scrypt(as_bytes(password), salt=salt_bytes, n=int(n), r=int(r), p=int(p), dklen=32)
    return hmac.compare_digest(actual, base64.b64decode(digest))


def cpu_pool() -> ThreadPoolExecutor:
    """The app's pool for CPU-heavy calls: one worker per core but one (at least one, at most 4),
    so a burst of logins queues here and the event loop keeps a core to answer everything else."""
    workers = max(1, min(4, (os.cpu_count() or 1) - 1))
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="careplan-cpu")


class PasswordHasher:
    """scrypt in `executor` (None: the loop's default executor, for tests that build a service
    without an app)."""

    def __init__(self, executor: Executor | None = None) -> None:
        self._executor = executor
        self._dummy: str | None = None

    async def _run(self, function: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def hash(self, password: str) -> str:
        return await self._run(hash_password, password)

    async def verify(self, password: str, stored: str | None) -> bool:
        """Whether `password` matches `stored`; with `stored` None (no such user) a dummy hash is
        checked and the answer is False, after the same work as for a real user."""
        if stored is None:
            if self._dummy is None:
                self._dummy = await self.hash(secrets.token_urlsafe(16))
            await self._run(verify_password, password, self._dummy)
            return False
        return await self._run(verify_password, password, stored)


# --- the policy ------------------------------------------------------------------------------------
MIN_LENGTH = 10
MAX_LENGTH = 128
MIN_CLASSES = 3  # of: lower case, upper case, digits, symbols
MIN_DISTINCT = 5
_SYMBOLS = frozenset(string.punctuation)
_LEET = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
_EDGES = string.digits + string.punctuation


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """Why a new password is refused, in Japanese for the office and in English."""

    ja: str
    en: str


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common and easily guessed passwords and words (hub/data), lower case."""
    text = resources.files("hub").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(w.strip().lower() for w in text.splitlines() if w.strip() and not w.startswith("#"))


def _classes(password: str) -> int:
    return sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(c in _SYMBOLS for c in password),
        )
    )


def is_common(password: str) -> bool:
    """A listed password, also spelled with look-alike digits (P@ssw0rd) or with digits and
    symbols around it (Password2026!)."""
    lower = password.lower()
    plain = lower.translate(_LEET)
    candidates = {lower, plain, plain.strip(_EDGES), lower.strip(_EDGES), lower.strip(_EDGES).translate(_LEET)}
    return any(c in common_passwords() for c in candidates if c)


def policy_problems(password: str, *, user_id: str = "") -> list[Problem]:
    """Every rule `password` breaks (empty: acceptable)."""
    problems = []
    if not (MIN_LENGTH <= len(password) <= MAX_LENGTH):
        problems.append(
            Problem(
                ja=f"{MIN_LENGTH}文字以上{MAX_LENGTH}文字以下にしてください",
                en=f"use {MIN_LENGTH} to {MAX_LENGTH} characters",
            )
        )
    if not all(c.isascii() and c.isprintable() and c != " " for c in password):
        problems.append(
            Problem(ja="半角の英数字と記号だけを使ってください", en="use only ASCII letters, digits and symbols")
        )
    if _classes(password) < MIN_CLASSES:
        problems.append(
            Problem(
                ja="英大文字・英小文字・数字・記号のうち3種類以上を含めてください",
                en="mix at least three of: upper case, lower case, digits, symbols",
            )
        )
    if len(set(password)) < MIN_DISTINCT:
        problems.append(
            Problem(ja="同じ文字の繰り返しを避けてください", en=f"use at least {MIN_DISTINCT} different characters")
        )
    ids = {user_id.lower(), user_id[2:].lower() if user_id[:2].upper() == "KJ" else ""} - {""}
    if any(i in password.lower() for i in ids):
        problems.append(Problem(ja="ユーザIDを含めないでください", en="do not include the user ID"))
    if is_common(password):
        problems.append(
            Problem(
                ja="よく使われるパスワードや推測されやすい語は使えません",
                en="this is a common or easily guessed password",
            )
        )
    return problems


_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/l/I look-alikes


def new_password(length: int = 12) -> str:
    """A random password for seeded accounts, safe to paste after a command-line flag (it never
    starts with '-') and to read aloud in a training room (no look-alike characters). Drawn again
    until it passes the policy (lower, upper and digits), so every choice stays equally likely."""
    while True:
        candidate = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if not policy_problems(candidate):
            return candidate
