"""Read scenario YAML (PyYAML `safe_load` rules) into `scenarios.model`, with line numbers.

Each YAML document in a file is one scenario. Every mistake is a ScenarioError whose text names
the file and line, then says what is wrong in Japanese with the English beside it (QA teams read
these): "licensing.yaml:12: ステップ 3: 'sned' というアクションはありません / unknown action 'sned'".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Hashable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from careplan.helptext import os_error_text, readable
from careplan.office import is_office_number, with_check_digit
from hub.clock import EARLIEST, LATEST
from scenarios.actions import ACTIONS, ACTORLESS
from scenarios.messages import not_one_of, unknown_office
from scenarios.model import (
    CERTIFICATES,
    JST,
    LICENCES,
    OFFICE_KEYS,
    SCENARIO_KEYS,
    STEP_KEYS,
    Expect,
    OfficeSpec,
    Scenario,
    Step,
    split_actor,
)

LIBRARY = Path(__file__).parent / "library"


class ScenarioError(ValueError):
    """A scenario file that cannot be read; the text starts with file:line."""


UNREADABLE = "シナリオファイルを読み込めません / cannot read the scenario file"  # the line above any ScenarioError


class _Map(dict[Any, Any]):
    line: int = 0
    lines: dict[Any, int]


class _List(list[Any]):
    line: int = 0
    lines: list[int]


class _Loader(yaml.SafeLoader):
    """SafeLoader that remembers where each mapping, key and list item starts."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    result = _Map()
    result.line = node.start_mark.line + 1
    result.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):  # `? [x, y]`: a key is a word, a label, a number
            raise ScenarioError(
                f"{key_node.start_mark.line + 1}: 項目名にリストやマッピングは使えません"
                " / a key cannot be a list or mapping"
            )
        if key in result:
            raise ScenarioError(
                f"{key_node.start_mark.line + 1}: 項目 {key!r} が二度書かれています / duplicate key {key!r}"
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> _List:
    result = _List(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def office_number_for(label: str) -> str:
    """A stable, valid 事業所番号 (東京都, check digit) derived from an office label."""
    digest = int.from_bytes(hashlib.sha256(label.encode("utf-8")).digest()[:8], "big")
    return with_check_digit(f"137{digest % 1_000_000:06d}")  # 東京都, 事業所区分 7


def discover(paths: Iterable[Path]) -> list[Path]:
    """YAML files under `paths` (files as given, folders searched recursively), sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        elif path.exists():
            found.append(path)
        else:
            raise ScenarioError(f"{path}: ファイルもフォルダもありません / no such file or folder")
    return found


MAX_BYTES = 4 * 1024 * 1024  # a scenario file is a few KB; a bigger one is a mistake, not a suite


def _read(path: Path) -> str:
    """The file's text; a ScenarioError (Japanese / English) for anything that is not a readable
    UTF-8 file of reasonable size. A FIFO or device is refused before it is opened (it would block)."""
    try:
        if readable(path).stat().st_size > MAX_BYTES:
            limit = MAX_BYTES // 1024 // 1024
            raise ScenarioError(f"{path.name}: {limit} MB を超えています / larger than {limit} MB")
        data = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(os_error_text(exc)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ScenarioError(
            f"{path.name}:{line}: UTF-8 ではありません（UTF-8 で保存し直してください） / not UTF-8 text"
        ) from None


def load_file(path: Path) -> list[Scenario]:
    """The scenarios of one file; raises ScenarioError (file:line: what) for anything else."""
    text = _read(path)
    try:
        documents = list(yaml.load_all(text, Loader=_Loader))  # a SafeLoader subclass: no Python tags
    except ScenarioError as exc:
        raise ScenarioError(f"{path.name}:{exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        problem = " ".join(str(exc.problem or exc).split())  # one line, as PyYAML words it
        raise ScenarioError(f"{path.name}:{line}: YAML の書き方が正しくありません / invalid YAML: {problem}") from None
    except yaml.reader.ReaderError as exc:  # a control character (NUL …) YAML does not allow
        line = text[: exc.position].count("\n") + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise ScenarioError(
            f"{path.name}:{line}: YAML で使えない文字 U+{code:04X} があります / a character YAML does not allow"
        ) from None
    except RecursionError:  # PyYAML composes nested nodes recursively: [[[[… thousands deep
        raise ScenarioError(f"{path.name}: 入れ子が深すぎます / nested too deeply") from None
    scenarios = [_scenario(path, doc) for doc in documents if doc is not None]
    first: dict[str, int] = {}
    for scenario in scenarios:  # a JUnit test case is file + name: two alike would read as one
        line = first.setdefault(scenario.name, scenario.line)
        if line != scenario.line:
            raise ScenarioError(
                f"{path.name}:{scenario.line}: シナリオ名 {scenario.name!r} は {line} 行目のシナリオと同じです"
                f"（名前を変えてください） / duplicate scenario name {scenario.name!r} (line {line})"
            )
    return scenarios


def load_paths(paths: Iterable[Path]) -> list[Scenario]:
    return [scenario for path in discover(paths) for scenario in load_file(path)]


# --- validation -----------------------------------------------------------------------------------
class _Where:
    def __init__(self, path: Path, prefix: str = "") -> None:
        self.path = path
        self.prefix = prefix

    def error(self, line: int, text: str) -> ScenarioError:
        return ScenarioError(f"{self.path.name}:{line}: {self.prefix}{text}")


def _line(value: Any, key: Any = None, default: int = 0) -> int:
    if isinstance(value, _Map) and key is not None:
        return value.lines.get(key, value.line)
    return getattr(value, "line", default)


def _scenario(path: Path, doc: Any) -> Scenario:
    where = _Where(path)
    if not isinstance(doc, _Map):
        raise where.error(
            1,
            "シナリオは name, clock, offices, steps を持つマッピングで書きます"
            " / a scenario is a mapping with name, clock, offices and steps",
        )
    unknown = set(doc) - set(SCENARIO_KEYS)
    if unknown:
        key = sorted(map(str, unknown))[0]
        raise where.error(
            _line(doc, key),
            f"シナリオに項目 {key!r} は書けません（{', '.join(SCENARIO_KEYS)} のいずれか） / unknown key {key!r}",
        )
    for key in ("name", "clock", "offices", "steps"):
        if key not in doc:
            raise where.error(doc.line, f"項目 {key!r} がありません / missing {key!r}")
    if not isinstance(doc["name"], str | int | float) or not str(doc["name"]).strip():
        raise where.error(
            _line(doc, "name"), "name にはシナリオの名前を文字で書きます / name is the scenario's name, as text"
        )
    name = str(doc["name"])
    clock = _instant(doc["clock"], where, _line(doc, "clock"))
    tags = doc.get("tags") or []
    if not isinstance(tags, list):
        raise where.error(_line(doc, "tags"), "tags はリストで書きます（例: [licensing, R3]） / tags is a list")
    offices = _offices(doc["offices"], where, _line(doc, "offices"))
    labels = {o.label for o in offices}
    steps_node = doc["steps"]
    if not isinstance(steps_node, _List) or not steps_node:
        raise where.error(
            _line(doc, "steps"), "steps はステップ 1 つ以上のリストで書きます / steps is a non-empty list"
        )
    steps = tuple(
        _step(node, index, steps_node.lines[index - 1], _Where(path, f"ステップ {index}: "), labels)
        for index, node in enumerate(steps_node, start=1)
    )
    return Scenario(
        name=name,
        path=path,
        line=doc.line,
        clock=clock,
        offices=offices,
        steps=steps,
        tags=tuple(str(t) for t in tags),
        description=str(doc.get("description") or ""),
    )


def _instant(value: Any, where: _Where, line: int) -> dt.datetime:
    if isinstance(value, dt.datetime):
        instant = value
    elif isinstance(value, dt.date):
        instant = dt.datetime(value.year, value.month, value.day, 9, 0)
    else:
        try:
            instant = dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise where.error(
                line,
                f"{value!r} は日時として読めません（例: 2026-04-10T10:00:00+09:00）"
                f" / {value!r} is not a date-time (e.g. 2026-04-10T10:00:00+09:00)",
            ) from None
    instant = instant if instant.tzinfo is not None else instant.replace(tzinfo=JST)
    if not EARLIEST <= instant < LATEST:  # the hub's clock refuses it (hub.clock)
        written = value.isoformat() if isinstance(value, dt.date) else str(value)  # as YAML read it, not its repr
        raise where.error(
            line,
            f"'{written}' はハブの時計で扱えない日時です（2000年～2099年）"
            f" / '{written}' is outside the hub clock's years 2000-2099",
        )
    return instant


def _offices(node: Any, where: _Where, line: int) -> tuple[OfficeSpec, ...]:
    if not isinstance(node, _Map) or not node:
        raise where.error(
            line,
            "offices には事業所のラベルごとに {kind, licence, certificate} を書きます"
            " / offices maps labels to {kind, licence, certificate}",
        )
    offices = []
    numbers: dict[str, str] = {}
    for label, spec in node.items():
        at = node.lines[label]
        spec = spec if spec is not None else _Map()
        if not isinstance(spec, Mapping):
            raise where.error(at, f"事業所 {label!r} はマッピングで書きます / office {label!r}: expected a mapping")
        unknown = set(spec) - set(OFFICE_KEYS)
        if unknown:
            key = sorted(map(str, unknown))[0]
            raise where.error(
                at,
                f"事業所 {label!r} に項目 {key!r} は書けません（{', '.join(OFFICE_KEYS)} のいずれか）"
                f" / office {label!r}: unknown key {key!r}",
            )
        kind = str(spec.get("kind", "43"))
        if not re.fullmatch(r"[0-9A-Z]{2}", kind):
            raise where.error(
                at,
                f'事業所 {label!r} の kind {kind!r} はサービス種類コード（"43" のような英数字 2 桁）ではありません'
                f' / office {label!r}: kind {kind!r} is not a サービス種類コード like "43"',
            )
        licence = str(spec.get("licence", "valid"))
        if licence not in LICENCES:
            raise where.error(
                at, not_one_of(f"事業所 {label!r} の licence", licence, LICENCES, what_en=f"office {label!r}: licence")
            )
        certificate = str(spec.get("certificate", "kaigo"))
        if certificate not in CERTIFICATES:
            raise where.error(
                at,
                not_one_of(
                    f"事業所 {label!r} の certificate",
                    certificate,
                    CERTIFICATES,
                    what_en=f"office {label!r}: certificate",
                ),
            )
        number = str(spec.get("number") or office_number_for(str(label)))
        if not is_office_number(number):
            raise where.error(
                at,
                f"事業所 {label!r} の {number!r} は事業所番号として正しくありません"
                f" / office {label!r}: {number!r} is not a 事業所番号",
            )
        if number in numbers:
            raise where.error(
                at,
                f"事業所 {label!r} の事業所番号が {numbers[number]!r} と同じです"
                f" / office {label!r} has the same 事業所番号 as {numbers[number]!r}",
            )
        numbers[number] = str(label)
        offices.append(
            OfficeSpec(
                label=str(label),
                number=number,
                kind=kind,
                licence=licence,
                certificate=certificate,
                name=str(spec.get("name") or label),
            )
        )
    return tuple(offices)


def _step(node: Any, index: int, line: int, where: _Where, labels: set[str]) -> Step:
    if not isinstance(node, _Map):
        raise where.error(
            line,
            "ステップはマッピングで書きます（例: {as: 居宅A, send: {plan_to: 訪問B}}）"
            " / a step is a mapping like {as: 居宅A, send: {plan_to: 訪問B}}",
        )
    for key in node:
        if key not in STEP_KEYS and key not in ACTIONS:
            raise where.error(_line(node, key), f"{key!r} というアクションはありません / unknown action {key!r}")
    actions = [key for key in node if key in ACTIONS]
    if len(actions) != 1:
        found = f"{', '.join(actions)} の {len(actions)} つがあります" if actions else "1 つもありません"
        raise where.error(
            line,
            f"ステップにはアクションを 1 つだけ書きます（{found}）"
            f" / one action per step, got {len(actions)} ({', '.join(actions) or 'none'})",
        )
    action = actions[0]
    argument = node[action]
    at = _line(node, action)
    actor = node.get("as")
    if action in ACTORLESS:
        if actor is not None:
            raise where.error(
                _line(node, "as"), f"{action} には事業所（as）を書きません / {action} takes no actor ('as')"
            )
    elif actor is None:
        raise where.error(
            line, f"{action} を行う事業所を as: <事業所> で書きます / {action} needs an actor ('as: <office>')"
        )
    else:
        try:
            office_label, _ = split_actor(str(actor))
        except ValueError as exc:
            raise where.error(_line(node, "as"), str(exc)) from None
        if office_label not in labels:
            raise where.error(_line(node, "as"), unknown_office(actor))
    allowed = ACTIONS[action].keys
    if isinstance(argument, Mapping):
        if allowed is None:
            raise where.error(at, f"{action} にはマッピングでなく値を書きます / {action} takes a value, not a mapping")
        for key in argument:
            if key not in allowed:
                raise where.error(
                    _line(argument, key),
                    f"{action} に項目 {key!r} は書けません（{', '.join(sorted(allowed))} のいずれか）"
                    f" / {action}: unknown key {key!r}",
                )
    ACTIONS[action].check(argument, _Check(action, at, where, labels))
    save = node.get("save")
    return Step(
        index=index,
        line=line,
        action=action,
        argument=_plain(argument),
        actor=str(actor) if actor is not None else None,
        expect=_expect(node.get("expect", "ok"), _line(node, "expect"), where),
        save=str(save) if save is not None else None,
        title=str(node.get("title") or ""),
        say=str(node.get("say") or ""),
    )


class _Check:
    """What an action's argument check may use (scenarios.actions.base.Checker): errors that name
    the file and line, and the scenario's office labels."""

    def __init__(self, action: str, at: int, where: _Where, labels: set[str]) -> None:
        self.action, self.at, self.where, self.labels = action, at, where, labels

    def fail(self, text: str) -> Exception:
        """`text` is "日本語 / English"; one that does not begin with the action's name gets it as
        a lead ("send: …"), shared by both languages."""
        return self.where.error(self.at, text if text.startswith(self.action) else f"{self.action}: {text}")

    def office(self, value: Any) -> None:
        if not (isinstance(value, str) and ("${" in value or value in self.labels)):
            raise self.fail(unknown_office(value))

    def instant(self, value: Any) -> dt.datetime:
        return _instant(value, self.where, self.at)


def _expect(value: Any, line: int, where: _Where) -> Expect:
    if value in ("ok", None, True) or (isinstance(value, Mapping) and value.get("ok") is True and len(value) == 1):
        return Expect()
    if isinstance(value, str) and re.fullmatch(r"[A-Z][A-Z0-9_]+", value):
        return Expect(error=_known_code(value, line, where))
    if isinstance(value, Mapping) and "error" in value:
        unknown = set(value) - {"error", "message"}
        if unknown:
            key = sorted(map(str, unknown))[0]
            raise where.error(
                line, f"expect に項目 {key!r} は書けません（error, message のいずれか） / expect: unknown key {key!r}"
            )
        message = value.get("message")
        return Expect(
            error=_known_code(str(value["error"]), line, where), message=str(message) if message is not None else None
        )
    raise where.error(
        line,
        f"expect の {value!r} は使えません（ok、エラーコード、{{error: コード, message: …}} のいずれか）"
        f" / expect: {value!r}; ok, an error code, or {{error: CODE, message: …}}",
    )


def _known_code(code: str, line: int, where: _Where) -> str:
    """`code` if the catalogue has it: `expect: RECIPIENT_NOT_LICENSE` (a typo) would never match"""
    from careplan.errors import CATALOGUE

    if code not in CATALOGUE:
        raise where.error(
            line,
            f"expect のエラーコード {code!r} はありません（careplan errors で一覧できます）"
            f" / expect: unknown error code {code!r} (careplan errors lists them)",
        )
    return code


def _plain(value: Any) -> Any:
    """Plain dicts and tuples (the loader's line-carrying types stay in here)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return value
