"""One CSV file against its layout: `validate_csv(name, data) -> list[Finding]`.

Rules this module keeps:
1. The layout is chosen by the file name (レイアウト定義書 ファイル名称規約); a name that is not
   the standard's cannot be validated and says so.
2. Per record: field count, CSVバージョン 202407 (decision D6), required, 項目長 (free text
   too, D20), 書式, codes (fields.py), multi-field rules (records.py). Per file: one CSV version,
   one 対象年月 equal to the name's YYYYMM (decision D7), 第7表 totals, at least one record. A
   file saved as UTF-8/UTF-16 is one finding (D21), and so is a document (a PDF, an old Excel
   file) under a standard name, told by its signature before any guess of Unicode; a character
   outside MS932 is reported with the item and record that hold it (`_place_chars`, D21).
3. Findings are capped per file (decision D13); a file is read once, streaming.
   Checks give the same findings as a full look, only faster: a record whose values are all
   known to pass (`quick_checks`; for the standard's vocabulary items, values found valid in any
   file the process read before, `_Shared`, never items about a person) skips the field loop; a
   record rule
   skips a combination of the values it reads (`RecordRule.reads`) once it found it fine; and a
   record the reader found to repeat the previous clean one but for its dates (reader.py
   `_whole`) is looked at only where a date reaches (`_FileState.batch`; a run of them, which
   differ in one date only, is one item: `_FileState._run`).
4. `inspect_csv` also returns the relation keys and image names for check_transmission, and the
   records it could not read, so that keys they take with them are consequences (D14).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import chain
from operator import itemgetter
from typing import Any

from careplan.errors import Finding
from careplan.standard.content import NOT_TEXT_RULE, document_kind, not_text
from careplan.standard.decoding import BAD_CHARS, SECTION, Decoder, cut_blocks, first_bytes, unicode_encoding
from careplan.standard.fields import (
    OFFICE_JA,
    FieldCheck,
    compile_layout,
    insurer_check_digit_ok,
    office_problem,
    quick_checks,
)
from careplan.standard.filename import FileName, file_name_findings
from careplan.standard.layout import IMAGE_ID, Field, Layout, standard
from careplan.standard.reader import Row, Template, bom, quoted, read_blocks
from careplan.standard.records import RECORD_RULES, RecordRule, SikyuTotals
from careplan.standard.sink import FindingSink
from careplan.standard.source import Content, head_of

KeySet = dict[tuple[str, ...], int]  # key values -> first line
KeyGetter = tuple[Callable[[list[str]], Any], KeySet, bool]  # (getter, key set, several fields)
JPEG_MAGIC = b"\xff\xd8\xff"
# A field's own rules depend on its value only, so values already found valid are skipped;
# the cache is bounded so that a file of unique values cannot grow it without limit.
VALID_CACHE = 65536
# Values of the items that are the standard's vocabulary (codes, dates, office numbers, amounts)
# repeat from one office's file to the next, so those found valid are kept for later files too
# (`_Shared`), up to SHARED_CACHE values in all. Items about a person (PERSONAL) are known for one
# file only: a process keeps no 被保険者番号, telephone number or birth date of a file it has done.
SHARED_CACHE = 16384
PERSONAL = ("被保険者番号", "電話番号", "Fax番号", "郵便番号", "生年月日")
RULE_CACHE = 4096  # combinations of the values a record rule reads, found fine (records.py)
# `_misses` keeps no signature of a record's other values: on real files the records that repeat
# them are the reader's repeats (`batch`), the rest are new (46 of 8,993 in bench/validate.py),
# and building and hashing it cost more than it saved.


# Full-width ASCII (！ to ～) and the ideographic space to their half-width forms: MS932 carries
# both, and a value a spreadsheet or an IME wrote in full-width fails its format for that alone.
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


_SEPARATORS = (("\t", "タブ", "tabs"), (";", "セミコロン（;）", "semicolons (;)"))


def _count_cause(fields: list[str], count: int) -> tuple[str, str, str, str] | None:
    """What a record of the wrong number of fields shows of its cause, when it shows one: a comma
    after the last item (one empty field too many), or another separator (one field that splits
    into exactly the layout's items at tabs or semicolons, as a spreadsheet saves them). Japanese
    and English to add to the message, and the fix in both."""
    if len(fields) == count + 1 and not fields[-1]:
        return (
            "行末に余分なカンマがあります（最後の項目のあとの「,」）。",
            ": a comma after the last item",
            "各行の最後の項目のあとのカンマを削除してください。",
            "Remove the comma after the last item of each line.",
        )
    for separator, name, name_en in _SEPARATORS:
        if len(fields) == 1 and fields[0].count(separator) + 1 == count:
            return (
                f"項目が{name}で区切られています。",
                f": the items are separated by {name_en}",
                "項目をカンマ（,）で区切った CSV で保存してください（標準仕様 4）。",
                "Save the file as CSV, items separated by commas (標準仕様 4).",
            )
    return None


def _tolerable(problem: Finding | None) -> bool:
    """Whether an office number with `problem` may stand in a file: none, or a warning only."""
    return problem is None or problem.severity == "warning"


def _full_width(value: str, test: Callable[[str], bool]) -> tuple[str, str, tuple[str, str] | None]:
    """What a format finding adds for a value holding full-width characters: the Japanese and
    English to add to its message, and the (Japanese, English) fix when the value's half-width
    form passes `test` (the value the office meant); ("", "", None) for a value without them."""
    half = value.translate(_HALF_WIDTH)
    if half == value:
        return "", "", None
    if not test(half):  # full-width and wrong besides: both are said, the rule's fix stays
        return "全角の文字も入っています（半角で書きます）。", " (and it holds full-width characters)", None
    return (
        f"全角の文字が入っています（半角なら「{half}」）。",
        f": it holds full-width characters (half-width: {half!r})",
        (
            f"全角の数字・英字・記号を半角にしてください（「{value}」→「{half}」）。",
            f"Write it in half-width characters: {half!r}, not {value!r}.",
        ),
    )


@dataclass(slots=True, kw_only=True)
class CsvReport:
    """What validating one file found, plus what the unit checks need from it."""

    name: str
    file_name: FileName | None
    findings: list[Finding]
    keys: Mapping[tuple[str, ...], KeySet] = field(default_factory=dict)
    images: set[str] = field(default_factory=set)
    records: int = 0
    # Records that could not be read (their lines, and their keys where the fields held them),
    # and whether every record was read: a child key missing from an incomplete parent is a
    # consequence of the parent's defect, not a defect of its own (decision D14).
    lost: list[int] = field(default_factory=list)
    lost_keys: Mapping[tuple[str, ...], KeySet] = field(default_factory=dict)
    complete: bool = True


def _key_fields(layout: Layout) -> dict[tuple[str, ...], tuple[int, ...]]:
    """Relation keys (標準仕様 2.3/3.3) this file takes part in, as field indexes."""
    wanted: dict[tuple[str, ...], tuple[int, ...]] = {}
    for rel in standard().relations:
        if layout.file_id == rel.parent or layout.file_id in rel.children:
            wanted[rel.keys] = tuple(layout.field_no(k) - 1 for k in rel.keys)
    return wanted


@dataclass(frozen=True, slots=True, kw_only=True)
class _Skeleton:
    """What a file's validation state takes from its layout alone, built once per layout
    (`_skeleton`): building it for every file was ~7% of a small unit's standard check."""

    insured: int | None
    checks: tuple[FieldCheck, ...]
    section: str
    base_valid: tuple[frozenset[str], ...]  # per field: its special values, "" when optional
    rules: tuple[tuple[RecordRule, Callable[[list[str]], object], bool], ...]  # (rule, key, reads a date)
    key_fields: Mapping[tuple[str, ...], tuple[int, ...]]  # read only
    key_getters: tuple[tuple[tuple[str, ...], Callable[[list[str]], Any], bool, bool], ...]
    free_limits: Mapping[int, int]  # read only
    lean: tuple[bool, ...]  # per field: whether `lean` keeps it
    volatile: frozenset[int]
    template: Template
    shared: tuple[bool, ...]  # per field: whether values found valid are kept for later files
    shared_rules: tuple[bool, ...]  # per record rule: whether what it found fine is (it reads none but shared)


@cache
def _skeleton(file_id: str) -> _Skeleton:
    layout = standard().layout(file_id)
    checks = compile_layout(file_id)
    names = [f.name for f in layout.fields]
    # Free text with a 項目長 (UPYOBO_SUB's NO items) is length-checked like any other item.
    free_limits = {c.index: c.field.length for c in checks if c.free_text and c.field.length}
    # Dates change on nearly every row; the other values repeat across a user's rows.
    volatile = frozenset(c.index for c in checks if c.field.format == "YYYYMMDD")
    key_fields = _key_fields(layout)
    shared = tuple(not c.free_text and not any(word in c.field.name for word in PERSONAL) for c in checks)
    return _Skeleton(
        insured=names.index("被保険者番号") if "被保険者番号" in names else None,
        checks=checks,
        section=f"レイアウト定義書 {file_id}",
        base_valid=tuple(frozenset({*c.field.special, *([] if c.required else [""])}) for c in checks),
        rules=tuple(
            (r, itemgetter(*r.reads), bool(volatile.intersection(r.reads))) for r in RECORD_RULES.get(file_id, ())
        ),
        key_fields=key_fields,
        key_getters=tuple(
            (name, itemgetter(*ix), len(ix) > 1, bool(volatile.intersection(ix))) for name, ix in key_fields.items()
        ),
        free_limits=free_limits,
        lean=tuple(c.required or not c.free_text or c.index in free_limits for c in checks),
        volatile=volatile,
        template=Template(dates=tuple(sorted(volatile)), free_text=frozenset(c.index for c in checks if c.free_text)),
        shared=shared,
        shared_rules=tuple(all(shared[i] for i in r.reads) for r in RECORD_RULES.get(file_id, ())),
    )


class _Shared:
    """The values found valid for the vocabulary items of each layout (rule 3), kept across files:
    per (file ID, strict), per field, a set, or None for an item a file keeps to itself.

    The sets are only ever added to, or emptied back to their base values when SHARED_CACHE
    values are held, in place: a file being read in another thread may look at them at any time,
    and a value it misses is only looked at again (`_value`), never wrongly passed.
    """

    def __init__(self, limit: int) -> None:
        self.limit, self.count = limit, 0
        self.layouts: dict[tuple[str, bool], list[set[str] | None]] = {}
        self.rules: dict[str, list[set[object]]] = {}

    def sets(self, file_id: str, skeleton: _Skeleton, strict: bool) -> list[set[str] | None]:
        found = self.layouts.get((file_id, strict))
        if found is None:
            found = [
                set(base) if shared else None for base, shared in zip(skeleton.base_valid, skeleton.shared, strict=True)
            ]
            found = self.layouts.setdefault((file_id, strict), found)
        return found

    def fine(self, file_id: str) -> list[set[object]]:
        """Per record rule of the layout, the combinations of the values it reads found fine
        (RULE_CACHE at most a rule, emptied in place when full: `_FileState._rule`)."""
        found = self.rules.get(file_id)
        if found is None:
            found = self.rules.setdefault(file_id, [set() for _ in _skeleton(file_id).rules])
        return found

    def add(self, known: set[str], value: str) -> None:
        if self.count >= self.limit:
            self.forget(rules=False)
        known.add(value)
        self.count += 1

    def forget(self, *, rules: bool = True) -> None:
        """Back to what the layouts alone say, in place (a file being read keeps its sets)."""
        self.count = 0
        for (file_id, _), sets in list(self.layouts.items()):
            for known_set, base in zip(sets, _skeleton(file_id).base_valid, strict=True):
                if known_set is not None:
                    known_set.clear()
                    known_set.update(base)
        for fine_sets in list(self.rules.values()) if rules else ():
            for fine in fine_sets:
                fine.clear()


def forget_known_values() -> None:
    """Forget what earlier files taught the validator (`_Shared`): the next file is judged as by
    a process that has read none (benchmarks measure a first file this way; findings never differ)."""
    _SHARED.forget()


_SHARED = _Shared(SHARED_CACHE)


class _FileState:
    """Validation state of one file while its records stream past."""

    def __init__(self, layout: Layout, parsed: FileName, sink: FindingSink, strict: bool) -> None:
        self.layout, self.parsed, self.sink, self.strict = layout, parsed, sink, strict
        self.decoder = Decoder(sink, hold=True)
        skeleton = _skeleton(layout.file_id)
        self.insured = skeleton.insured
        self.checks: tuple[FieldCheck, ...] = skeleton.checks
        self.section = skeleton.section
        self.versions: set[str] = set()
        self.months: set[str] = set()
        self.unquoted: set[int] = set()
        # Values known to be fine per field: its special values, "" when optional, and the
        # values `_value` passed (their rules depend on the value only): the process's set for a
        # vocabulary item (`_Shared`), this file's own for an item about a person.
        shared = _SHARED.sets(layout.file_id, skeleton, strict)
        self.valid: list[set[str]] = [
            known if known is not None else set(base) for known, base in zip(shared, skeleton.base_valid, strict=True)
        ]
        self.shared = skeleton.shared
        self.valid_count = 0
        # (index, value) of office numbers and 保険者番号 this file was warned of (check digit):
        # not valid for later files, not warned of again in this one.
        self.warned: set[tuple[int, str]] = set()
        # (rule, key of the values it reads, combinations found fine) per record rule; what a
        # rule that reads no item about a person found fine is kept for later files too.
        self.rules = [
            (r, key, fine if keep else set())
            for (r, key, _), fine, keep in zip(
                skeleton.rules, _SHARED.fine(layout.file_id), skeleton.shared_rules, strict=True
            )
        ]
        self.pending = self.decoder.pending
        self.month_index = None if layout.month_field is None else layout.month_field - 1
        self.field_count = layout.field_count
        self.kihon = layout.file_id == "UPKIHON"
        self.key_fields = skeleton.key_fields
        self.keys: dict[tuple[str, ...], KeySet] = {k: {} for k in self.key_fields}
        self.lost_keys: dict[tuple[str, ...], KeySet] = {k: {} for k in self.key_fields}
        # (getter, key set, several fields) per relation key; itemgetter builds the key tuple in C.
        self.key_getters = [(getter, self.keys[n], several) for n, getter, several, _ in skeleton.key_getters]
        # Per field: (index, required, free text, special values, valid values); `lean` leaves
        # out optional free text, which needs no look when the record's quoting is fine.
        self.plan = [
            (c.index, c.required, c.free_text, c.field.special, v) for c, v in zip(self.checks, self.valid, strict=True)
        ]
        self.free_limits = skeleton.free_limits
        self.free_text = skeleton.template.free_text
        self.lean = [p for p, keep in zip(self.plan, skeleton.lean, strict=True) if keep]
        self.volatile = skeleton.volatile
        self._quick()
        # A record equal to the previous clean one in every value but its dates needs only the
        # rules that read a date (`batch`): rows of one user's service differ by the day only.
        self.dated_rules = [r for r, (_, _, dated) in zip(self.rules, skeleton.rules, strict=True) if dated]
        self.dated_keys = [
            k for k, (_, _, _, dated) in zip(self.key_getters, skeleton.key_getters, strict=True) if dated
        ]
        self.template = skeleton.template
        self.clean = False  # whether the previous record was read exactly and found nothing
        self.images: set[str] = set()
        self.sikyu = SikyuTotals() if layout.file_id == "UPSIKYU" else None
        self.collect_on_repeat = bool(self.sikyu is not None or self.dated_keys or self.kihon)
        self.records = 0
        self.line = 0

    def emit(
        self,
        rule: str,
        no: int,
        message: str,
        *,
        value: str | None = None,
        expected: str | None = None,
        fix: str | None = None,
        severity: str = "error",
        line: int | None = None,
        message_en: str | None = None,
        fix_en: str | None = None,
        expected_ja: str | None = None,
        value_length: int | None = None,
    ) -> None:
        fld = self.layout.field(no)
        self.sink.add(
            rule,
            message,
            severity=severity,
            line=line or self.line,
            field_no=no,
            field_name=fld.name,
            value=value,
            expected=expected,
            section=f"{self.section} No.{no}",
            fix=fix,
            message_en=message_en,
            fix_en=fix_en,
            expected_ja=expected_ja,
            value_length=value_length,
        )

    def emit_at(self, line: int, rule: str, no: int, message: str, **kw: Any) -> None:
        self.emit(rule, no, message, line=line, **kw)

    def batch(self, rows: list[Row]) -> bool:
        """Every record of `rows`; False when the cap of errors stopped the reading (decision D13).

        A repeat (the reader found the record equal to the previous one but for the dates at
        `repeat`) of a clean record is judged here, in the loop: if those dates are known good,
        only the rules and keys that read a date can find something new (what no date is read by
        would find what it found before; the other dates are the previous record's, which found
        nothing). Any other record gets every rule (`record`).
        """
        sink, cap, valid, pending, record = self.sink, self.sink.cap, self.valid, self.pending, self.record
        dated_rules, dated_keys, collect = self.dated_rules, self.dated_keys, self.collect_on_repeat
        for line, fields, raw, quotes, repeat, run in rows:
            if sink.errors >= cap:
                sink.stopped_at = line
                return False
            if run is not None:
                if not self._run(line, fields, quotes, repeat, run):
                    return False
                continue
            if repeat and self.clean and not pending:
                for index in repeat:
                    if fields[index] not in valid[index]:
                        break
                else:
                    self.line = line
                    self.records += 1
                    for rule, key, fine in dated_rules:
                        if key(fields) not in fine:
                            added = sink.added
                            self._rule(rule, key, fine, fields)
                            self.clean = sink.added == added
                    if collect:  # 第7表's counts see every row
                        self._collect(line, fields, dated_keys)
                    continue
            record(line, fields, raw, quotes)
        return True

    def _run(self, line: int, fields: list[str], quotes: bool, repeat: tuple[int, ...], run: list[str]) -> bool:
        """A run of repeats (reader.py `Row`): what `batch` does with its rows one by one.

        A line whose date is known good and whose dated rules' combinations were found fine is
        what `batch` would only count (nothing to collect, nothing found); any other line is
        handed to `batch` as its own row. False when the cap of errors stopped the reading.
        """
        (index,) = repeat
        sink, ok, rules, scratch = self.sink, self.valid[index], self.dated_rules, fields[:]
        counted = self.clean and not self.pending and not self.collect_on_repeat
        for value in run:
            scratch[index] = value
            if counted and value in ok:
                for _, key, fine in rules:
                    if key(scratch) not in fine:
                        break
                else:
                    self.line = line
                    self.records += 1
                    line += 1
                    continue
            if not self.batch([(line, scratch[:], None, quotes, repeat, None)]):
                return False
            counted = self.clean and not self.pending and not self.collect_on_repeat and sink.errors < sink.cap
            line += 1
        return True

    def record(self, line: int, fields: list[str], raw: list[str] | None, quotes: bool) -> None:
        """Every rule of one record."""
        self.line = line
        if self.pending:
            self._place_chars(line, fields)
        if len(fields) != self.field_count or fields[0] == "CSVバージョン":
            self._field_count(line, fields)
            self.clean = False
            return
        self.records += 1
        added = self.sink.added
        self._record(line, fields, raw, quotes)
        self.clean = raw is None and self.sink.added == added

    def _collect(self, line: int, fields: list[str], key_getters: Sequence[KeyGetter]) -> None:
        """What the file-wide rules and the unit checks gather from a record: 第7表 totals,
        relation keys, image names."""
        if self.sikyu is not None:
            self.sikyu.record(fields, line, self.emit)
        for getter, keys, several in key_getters:
            key = getter(fields)
            keys.setdefault(key if several else (key,), line)
        if self.kihon and fields[61]:
            self.images.add(fields[61])

    def _record(self, line: int, fields: list[str], raw: list[str] | None, quotes: bool) -> None:
        """Every rule of one record of the right length."""
        if fields[0] not in self.versions:
            self._version(fields[0])
        if raw is not None:
            self._fields(fields, raw, quotes)
        else:
            misses = self._misses(fields, quotes)
            if misses is None:
                self._fields(fields, raw, quotes)
            else:
                for index in misses:  # codes, dates and numbers not known yet (a new 被保険者番号)
                    self._field(index, fields[index])
        if self.month_index is not None and fields[self.month_index] not in self.months:
            self._month(fields)
        for rule, key, fine in self.rules:
            if key(fields) not in fine:
                self._rule(rule, key, fine, fields)
        self._collect(line, fields, self.key_getters)

    def _quick(self) -> None:
        """(Re)build the quick checks of `_misses` (after a field was found unquoted)."""
        self.quick_quoted, self.quick_bare = quick_checks(self.checks, self.valid, self.unquoted)

    def _misses(self, fields: list[str], quotes: bool) -> list[int] | None:
        """The fields whose values are not known to be fine, when they are items with a format
        (`_field` judges each alone); None when free text needs a look (`_fields`)."""
        known, filled = self.quick_quoted if quotes else self.quick_bare
        for index in filled:
            if not fields[index]:
                return None
        for index, limit in self.free_limits.items():
            if len(fields[index]) > limit:
                return None
        misses = [index for index, ok in known if fields[index] not in ok]
        if misses and not self.free_text.isdisjoint(misses):
            return None
        return misses

    def _field(self, index: int, value: str) -> None:
        """What `_fields` does for one item with a format whose value is not known to be fine."""
        if not value:
            self._required(self.checks[index])  # "" is known to be fine when the item is optional
        elif value not in self.checks[index].field.special and (index, value) not in self.warned:
            self._value(self.checks[index], value)

    def _rule(self, rule: RecordRule, key: Callable[[list[str]], object], fine: set[object], fields: list[str]) -> None:
        """A record rule; a combination of values it found fine is skipped from now on."""
        added = self.sink.added
        rule.check(fields, self.emit)
        if self.sink.added == added and RULE_CACHE:
            if len(fine) >= RULE_CACHE:
                fine.clear()
            fine.add(key(fields))

    def _place_chars(self, line: int, fields: list[str]) -> None:
        """Name the item and the record of each held character problem (標準仕様 4, decision D21).

        Problems on earlier lines belong to records that could not be read and are reported as
        they are. The problems of this record come in reading order, as do its fields, so the
        n-th bad character of the record's fields is the n-th problem held from this line on.
        """
        self.decoder.flush(before=line)
        insured = fields[self.insured] if self.insured is not None and self.insured < len(fields) else ""
        who, who_en = (f"（被保険者番号 {insured}）", f" (被保険者番号 {insured})") if insured else ("", "")
        for index, value in enumerate(fields):
            for _ in BAD_CHARS.finditer(value):
                if not self.decoder.pending:
                    return
                problem = self.decoder.pending.popleft()
                if index >= self.field_count:
                    self.decoder.problem(problem, line=line)
                    continue
                fld = self.layout.field(index + 1)
                self.decoder.problem(
                    problem,
                    item=f"{line}行目{who}の No.{fld.no} {fld.name}",
                    item_en=f"line {line}{who_en}, No.{fld.no} {fld.name}",
                    line=line,
                    field_no=fld.no,
                    field_name=fld.name,
                    section=f"{SECTION}; {self.section} No.{fld.no}",
                )

    def _field_count(self, line: int, fields: list[str]) -> None:
        self.sink.lost.append(line)
        for name, ix in self.key_fields.items():
            if max(ix) < len(fields):
                self.lost_keys[name].setdefault(tuple(fields[i] for i in ix), line)
        if fields[0] == "CSVバージョン":
            self.sink.add(
                "csv.header",
                "見出し行があります。標準仕様のCSVは見出し行を持ちません。",
                message_en="a header row is not part of the standard",
                line=line,
                value=",".join(fields[:3]) + ",…",
                expected="data records only",
                expected_ja="データレコードだけ（見出し行なし）",
                section=f"{self.section} (decision D2)",
                fix="見出し行を削除してください。",
                fix_en="Remove the header row.",
            )
            return
        said, said_en, fix, fix_en = _count_cause(fields, self.layout.field_count) or (
            "",
            "",
            "レイアウトのすべての項目を書いてください（空の項目はカンマの間を空に）。カンマを含む"
            'フリーテキストは""で囲んでください。',
            "Write every item of the layout, empty ones as nothing between commas; quote free text containing commas.",
        )
        self.sink.add(
            "csv.field_count",
            f"項目数が{len(fields)}です。レイアウトの項目数は{self.layout.field_count}です。{said}",
            message_en=f"{len(fields)} fields, the layout has {self.layout.field_count}{said_en}",
            line=line,
            value=str(len(fields)),
            expected=str(self.layout.field_count),
            section=self.section,
            fix=fix,
            fix_en=fix_en,
        )

    def _version(self, version: str) -> None:
        if version in self.versions:
            return
        self.versions.add(version)
        std = standard()
        if len(self.versions) == 2:
            self.emit(
                "csv.version_mixed",
                1,
                "records of several CSV versions in one file",
                value=", ".join(sorted(self.versions)),
                expected=std.csv_version,
                fix="Export every record of the file in the same CSVバージョン.",
            )
        if version == std.csv_version:
            return
        old = std.older_versions.get(version)
        message, message_en = (
            (
                f"CSVバージョン {version} は {old} のものです。{std.csv_version}（第4.1版）で出力してください。",
                f"CSVバージョン {version} is {old}; this system takes {std.csv_version} (第4.1版)",
            )
            if old
            else (
                f"CSVバージョン「{version}」は標準仕様のバージョンではありません。",
                f"CSVバージョン {version!r} is not a version of the standard",
            )
        )
        self.emit(
            "csv.version_old" if old else "csv.version",
            1,
            message,
            message_en=message_en,
            value=version,
            expected=std.csv_version,
            fix=f"第4.1版のレイアウト（CSVバージョン {std.csv_version}、サービス提供年月 2025年4月から）で"
            "出力してください。",
            fix_en="Export the file with the V4.1 layout "
            f"(CSVバージョン {std.csv_version}), applicable from サービス提供年月 2025年4月.",
        )

    def _fields(self, fields: list[str], raw: list[str] | None, quotes: bool) -> None:
        quoting = raw is not None or not quotes  # else every free text was quoted
        for index, required, free, special, valid in self.plan if quoting else self.lean:
            value = fields[index]
            if not value:
                if required:
                    self._required(self.checks[index])
            elif free:
                if quoting and index not in self.unquoted and not quoted(raw, quotes, index):
                    self._unquoted(index, value)
                if index in self.free_limits and len(value) > self.free_limits[index]:
                    self._length(self.checks[index].field, value)
            elif value not in valid and value not in special and (index, value) not in self.warned:
                self._value(self.checks[index], value)

    def _required(self, check: FieldCheck) -> None:
        name = check.field.name
        self.emit(
            "field.required",
            check.field.no,
            f"{name}は必須項目です。",
            message_en=f"{name} is required (必須)",
            value="",
            expected="a value",
            expected_ja="値（必須）",
            fix="必須項目に値を入れてください。",
            fix_en="Fill in this 必須 item.",
        )

    def _value(self, check: FieldCheck, value: str) -> None:
        fld = check.field
        if fld.length is not None and len(value) > fld.length:
            self._length(fld, value)
            return
        for rule in check.rules:
            if not rule.test(value):
                said, said_en, fixes = _full_width(value, rule.test)
                fix, fix_en = fixes or (rule.fix_ja or rule.fix, rule.fix)
                self.emit(
                    rule.rule,
                    fld.no,
                    f"{fld.name}「{value}」が書式に合いません（{rule.expected_ja or rule.expected}）。{said}",
                    message_en=f"{fld.name} {value!r} is not {rule.expected}{said_en}",
                    value=value,
                    expected=rule.expected,
                    expected_ja=rule.expected_ja or None,
                    fix=fix,
                    fix_en=fix_en,
                    severity=rule.severity,
                )
                return
        if check.office or check.insurer:
            added = self.sink.added
            if not self._codes(check, value):
                return
            if self.sink.added != added:  # a warning, given once per value in a file
                self.warned.add((check.index, value))
                return
        if self.shared[check.index]:
            _SHARED.add(self.valid[check.index], value)
        elif self.valid_count < VALID_CACHE:
            self.valid[check.index].add(value)
            self.valid_count += 1

    def _length(self, fld: Field, value: str) -> None:
        """項目長 is a maximum in characters, free text included (decisions D1, D20)."""
        self.emit(
            "field.length",
            fld.no,
            f"{fld.name}が{len(value)}文字です。項目長は{fld.length}文字です。",
            message_en=f"{fld.name} is {len(value)} characters, 項目長 is {fld.length}",
            value=value,
            expected=f"≤ {fld.length} characters",
            expected_ja=f"{fld.length}文字以内",
            fix=f"{fld.length}文字以内にしてください。",
            fix_en="Shorten the value to the 項目長.",
        )

    def _office_passes(self, value: str) -> bool:
        """Whether `value` is a 事業所番号 this file may hold (at most a check-digit warning)."""
        return _tolerable(office_problem(value, self.strict))

    def _codes(self, check: FieldCheck, value: str) -> bool:
        """Office number / 保険者番号 check digits; True when nothing was reported."""
        if check.office:
            problem = office_problem(value, self.strict)
            if problem is not None:
                message_ja, fix_ja = OFFICE_JA[problem.rule]
                said, said_en, fixes = _full_width(value, self._office_passes)
                fix_en = "Write the 10-character 事業所番号 (R1.1) (a check-digit warning is given once per value)."
                fix_ja, fix_en = fixes or (fix_ja, fix_en)
                self.emit(
                    f"field.{problem.rule}",
                    check.field.no,
                    message_ja.format(name=check.field.name, value=value, expected=problem.expected) + said,
                    message_en=problem.message + said_en,
                    value=value,
                    expected=problem.expected,
                    expected_ja=problem.expected_ja,
                    severity=problem.severity,
                    fix=fix_ja,
                    fix_en=fix_en,
                )
            return _tolerable(problem)
        if insurer_check_digit_ok(value):
            return True
        self.emit(
            "field.insurer_check_digit",
            check.field.no,
            f"保険者番号 {value} のチェックデジットが合いません（モジュラス10 ウェイト2-1）。",
            message_en=f"保険者番号 {value}: check digit differs (モジュラス10 ウェイト2-1)",
            value=value,
            expected="a valid check digit",
            expected_ja="チェックデジットが合う保険者番号",
            severity="error" if self.strict else "warning",
            fix="被保険者証の保険者番号を確かめてください（同じ値は一度だけ報告します）。",
            fix_en="Verify the 保険者番号 on the insurance card (reported once per value).",
        )
        return not self.strict

    def _unquoted(self, index: int, value: str) -> None:
        self.unquoted.add(index)
        self._quick()
        no = index + 1
        self.emit(
            "csv.free_text_unquoted",
            no,
            'フリーテキストが""で囲まれていません（項目ごとに一度だけ報告します）。',
            message_en='free text is not enclosed in "" (reported once per field)',
            value=value[:40],
            value_length=len(value) if len(value) > 40 else None,
            expected='"…"',
            severity="warning",
            fix=(
                'フリーテキストの項目は ""（半角の二重引用符）で囲んで出力してください'
                '（標準仕様 4「※フリーテキストは""（半角）で囲う」）。'
            ),
            fix_en='Enclose free text in "" (half-width), 標準仕様 4.',
        )

    def _month(self, fields: list[str]) -> None:
        no = self.layout.month_field
        if no is None:
            return
        month = fields[no - 1]
        if month in self.months or not month:
            return
        self.months.add(month)
        if len(self.months) == 2:
            self.emit(
                "csv.month_mixed",
                no,
                "1ファイルに複数の対象年月があります。",
                message_en="several 対象年月 in one file",
                value=", ".join(sorted(self.months)),
                expected="one サービス提供年月",
                expected_ja="1ファイルに1つのサービス提供年月",
                fix=(
                    "1ファイルには1か月分のサービス提供年月だけを入れ、月ごとにファイルを分けてください"
                    "（レイアウト定義書「１ファイル内は単月のサービス提供年月の情報のみとする」）。"
                ),
                fix_en="Put one サービス提供年月 in a file: one file per month.",
            )
        if self.parsed.month is not None and month != self.parsed.month:
            self.emit(
                "csv.month_name",
                no,
                f"対象年月 {month} がファイル名の {self.parsed.month} と違います。",
                message_en=f"対象年月 {month} differs from the file name's {self.parsed.month}",
                value=month,
                expected=self.parsed.month,
                fix="ファイル名の年月をレコードの対象年月に合わせてください。",
                fix_en="Name the file after the 対象年月 of its records.",
            )

    def finish(self) -> None:
        if self.sikyu is not None:
            self.sikyu.finish(self.emit_at)
        if self.records == 0 and not self.sink.errors:
            self.sink.add(
                "csv.empty",
                "レコードがありません。",
                message_en="the file has no records",
                line=None,
                section=self.section,
                fix="レコードが1件以上あるファイルを送ってください。",
                fix_en="Send files with at least one record.",
            )


def _image(name: str, parsed: FileName, data: bytes, sink: FindingSink) -> CsvReport:
    if not data.startswith(JPEG_MAGIC):
        sink.add(
            "image.not_jpeg",
            "家族構成画像ファイルが JPEG ではありません。",
            message_en="家族構成画像ファイル is not a JPEG image",
            value=data[:4].hex(" "),
            expected="JPEG (FF D8 FF)",
            section="レイアウト定義書 利用者基本情報 No.62",
            fix="家族構成図は JPEG ファイルで送ってください。",
            fix_en="Send the family diagram as a JPEG file.",
        )
    return CsvReport(name=name, file_name=parsed, findings=sink.result())


def _unicode(encoding: str, sink: FindingSink) -> None:
    """One finding for a file saved as Unicode, instead of one per byte (decision D21)."""
    sink.add(
        "encoding.unicode",
        f"ファイルが {encoding} で保存されています。Shift_JIS (MS932) で保存し直してください。",
        message_en=f"the file is saved as {encoding}; save it as Shift_JIS (MS932)",
        value=encoding,
        expected="MS932 (Shift_JIS)",
        section=SECTION,
        fix="介護ソフトの出力設定、または表計算ソフトの保存形式で、文字コードを Shift_JIS (MS932) にしてください。",
        fix_en="Export or save the file as Shift_JIS (MS932), e.g. 'CSV (comma delimited)' rather than 'CSV UTF-8'.",
    )


def _not_text(document: str, sink: FindingSink) -> None:
    """One finding for a document saved under a standard file's name (its first bytes say what it is)."""
    sink.extend([not_text(document, rule=NOT_TEXT_RULE, file=sink.file, section=SECTION)])


def inspect_csv(name: str, data: Content, *, strict: bool = False) -> CsvReport:
    """Validate one file and keep what the unit checks need (keys, image names). A `Streamed`
    file is read chunk by chunk, one block of lines at a time, with the same findings."""
    std = standard()
    sink = FindingSink(name, std.limits.max_findings_per_file)
    parsed, name_findings = file_name_findings(name, strict=strict)
    sink.extend(name_findings)
    if parsed is None:
        return CsvReport(name=name, file_name=None, findings=sink.result())
    if parsed.file_id == IMAGE_ID:
        return _image(name, parsed, head_of(data), sink)
    chunks: Iterator[bytes] | None = None
    if isinstance(data, bytes):
        first = data
    else:  # Streamed: its first bytes (what unicode_encoding reads), then the rest as it comes
        chunks = iter(data.chunks())
        first = first_bytes(chunks)
    # A document's signature first: the bytes after it are no text, though they may look like
    # UTF-16 (NULs on one side) or UTF-8. Unicode text never begins with one: a standard record
    # opens with CSVバージョン (digits), so UTF-16 has a NUL in its first two bytes or a BOM.
    document = document_kind(first)
    if document is not None:  # a PDF or Excel file under a standard name: one finding, not 200 (D21)
        _not_text(document, sink)
        return CsvReport(name=name, file_name=parsed, findings=sink.result(), complete=False)
    encoding = unicode_encoding(first)
    if encoding is not None:
        _unicode(encoding, sink)
        return CsvReport(name=name, file_name=parsed, findings=sink.result(), complete=False)
    layout = std.layout(parsed.file_id)
    sink.fields = layout.fields  # a record that cannot be read names its item
    state = _FileState(layout, parsed, sink, strict)
    start = bom(first, sink)
    source = cut_blocks([first] if chunks is None else chain([first], chunks), start)
    for batch in read_blocks(source, sink, state.decoder, state.template):
        if not state.batch(batch):
            break
    state.decoder.flush()
    state.finish()
    return CsvReport(
        name=name,
        file_name=parsed,
        findings=sink.result(),
        keys=state.keys,
        images=state.images,
        records=state.records,
        lost=sink.lost,
        lost_keys=state.lost_keys,
        complete=sink.stopped_at is None,
    )


def validate_csv(name: str, data: Content, *, strict: bool = False) -> list[Finding]:
    """Every finding about one standard file (its name and its content); never raises."""
    return inspect_csv(name, data, strict=strict).findings
