"""The ケアプランデータ連携標準仕様 V4.1 (CSVバージョン 202407) as pure code: no I/O, no clock.

Public API (what the hub, the client and the CLI use):

- `check_transmission(files, *, sender=None, recipient=None, strict=False) -> list[Finding]`
- `refusal(findings) -> CareplanError | None`
- `validate_csv(name, data, *, strict=False) -> list[Finding]`, `forget_known_values()`
- `sort_bulk(files, *, sender=None) -> BulkPlan`
- `parse_file_name(name) -> FileName`, `FileName.format()`
- `write_csv(file_id, records) -> bytes`
- `standard()` (layouts, units, relations as data) and `decisions()` (our readings, with reasons)

Modules: layout (data), filename, decoding (MS932, blocks of lines), reader (quoting, records),
sink (capped findings), fields/records (rules as tables), validate (one file), content
(zip/type sniffing), units (sending units, relations), transmission (one transmission,
refusal), bulk (一括送信), judged (files judged before a send: `careplan validate`), writer.
"""

from careplan.standard.bulk import BulkPlan, sort_bulk
from careplan.standard.filename import FileName, FileNameError, file_name_findings, parse_file_name
from careplan.standard.layout import Field, Layout, SendingUnit, Standard, decisions, standard
from careplan.standard.transmission import PRECEDENCE, check_transmission, code_for, refusal
from careplan.standard.validate import forget_known_values, validate_csv
from careplan.standard.writer import write_csv

__all__ = [
    "PRECEDENCE",
    "BulkPlan",
    "Field",
    "FileName",
    "FileNameError",
    "Layout",
    "SendingUnit",
    "Standard",
    "check_transmission",
    "code_for",
    "decisions",
    "file_name_findings",
    "forget_known_values",
    "parse_file_name",
    "refusal",
    "sort_bulk",
    "standard",
    "validate_csv",
    "write_csv",
]
