"""hub/openapi.yaml stays in step with the code: the route table, the error catalogue, the wire
shapes of refusals, and what the running hub serves at GET /openapi.yaml."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from careplan.errors import CATALOGUE, CareplanError, Finding, Lang, Operation
from client.hubclient import client_ssl_context
from hub.admin_views import ADMIN_VIEWS
from hub.control.routes import CONTROL_ROUTES
from hub.routes import ROUTES
from hub.scrape import METRICS_ROUTES
from tests.conftest import KYOTAKU, HubUnderTest

SPEC_FILE = Path(str(resources.files("hub").joinpath("openapi.yaml")))  # what GET /openapi.yaml reads
METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loaded = yaml.safe_load(SPEC_FILE.read_text("utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _spec_path(aiohttp_path: str) -> str:
    """aiohttp's `{name:regex}` placeholders as OpenAPI's `{name}`."""
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", aiohttp_path)


def _code_routes() -> set[tuple[str, str]]:
    routes = [*ROUTES, *ADMIN_VIEWS, *METRICS_ROUTES, *CONTROL_ROUTES]  # office API, judges, metrics, control
    return {(r.method.lower(), _spec_path(r.path)) for r in routes}  # type: ignore[attr-defined]


def _operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): op for path, item in spec["paths"].items() for method, op in item.items() if method in METHODS
    }


def _schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = spec["components"]["schemas"][name]
    return schema


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for key in node["$ref"].removeprefix("#/").split("/"):
            target = target[key]
        node = target
    return node


def _check(spec: dict[str, Any], schema: dict[str, Any], instance: object) -> None:
    """Validate `instance` against `schema` with the spec's components reachable by $ref."""
    OAS31Validator({**schema, "components": spec["components"]}).validate(instance)


def test_the_spec_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1")
    validate(spec)


def test_every_route_is_documented_and_every_documented_route_exists(spec: dict[str, Any]) -> None:
    code, documented = _code_routes(), set(_operations(spec))
    assert code, "hub.routes.ROUTES is empty"
    assert code - documented == set(), "routes missing from hub/openapi.yaml"
    assert documented - code == set(), "hub/openapi.yaml documents routes the hub does not have"


def test_path_parameters_match_the_placeholders(spec: dict[str, Any]) -> None:
    for (method, path), op in _operations(spec).items():
        params = [_resolve(spec, p) for p in spec["paths"][path].get("parameters", []) + op.get("parameters", [])]
        in_path = {p["name"] for p in params if p["in"] == "path"}
        assert in_path == set(re.findall(r"\{(\w+)\}", path)), f"{method.upper()} {path}"


def test_error_code_enum_is_the_catalogue(spec: dict[str, Any]) -> None:
    code = _resolve(spec, _schema(spec, "Error")["properties"]["code"])
    assert set(code["enum"]) == set(CATALOGUE)
    assert len(code["enum"]) == len(CATALOGUE), "duplicate codes in the enum"
    for name, entry in CATALOGUE.items():  # the table in the description names each code's status
        assert f"| `{name}` | {entry.status} |" in code["description"], name


def test_error_schema_is_the_wire_format(spec: dict[str, Any]) -> None:
    error = _schema(spec, "Error")
    wire = CareplanError("BAD_REQUEST").to_wire()
    assert set(error["properties"]) == set(wire)
    assert set(error["required"]) == set(wire)
    operation = _resolve(spec, error["properties"]["operation"])
    assert set(operation["enum"]) == {str(op) for op in Operation}
    finding = _schema(spec, "Finding")
    assert set(finding["properties"]) == set(Finding.__slots__)


def test_operations_list_codes_with_their_statuses(spec: dict[str, Any]) -> None:
    """x-error-codes name catalogue codes, each answered under its catalogue status, and every
    documented error status has a code."""
    for (method, path), op in _operations(spec).items():
        where = f"{method.upper()} {path}"
        codes = op.get("x-error-codes")
        assert codes, f"{where} lists no x-error-codes"
        assert set(codes) <= set(CATALOGUE), f"{where}: {set(codes) - set(CATALOGUE)}"
        statuses = {str(CATALOGUE[c].status) for c in codes}
        errors = {s for s in op["responses"] if s[0] in "45"}
        assert statuses == errors, f"{where}: codes give {sorted(statuses)}, responses {sorted(errors)}"
        for status in errors:
            response = _resolve(spec, op["responses"][status])
            described = response["description"]
            content = response["content"]["application/json"]
            assert _resolve(spec, content["schema"]) is _schema(spec, "Error"), f"{where} {status}"
            for c in codes:
                if str(CATALOGUE[c].status) == status:
                    assert c in described or (c.startswith("CERT_") and "`CERT_" in described), (
                        f"{where} {status}: {c} not described"
                    )


def test_error_examples_are_catalogue_refusals(spec: dict[str, Any]) -> None:
    for name, example in spec["components"]["examples"].items():
        value = example["value"]
        if not (isinstance(value, dict) and "code" in value and "explanation" in value):
            continue
        entry = CATALOGUE[value["code"]]
        assert value["message"] == entry.message(Operation(value["operation"])), name
        assert value["explanation"] == entry.explanation_in(Lang(value.get("lang", "en"))), name


def test_json_examples_fit_their_schemas(spec: dict[str, Any]) -> None:
    checked = 0
    for op in _operations(spec).values():
        bodies = [op["requestBody"]] if "requestBody" in op else []
        bodies += [_resolve(spec, r) for r in op["responses"].values()]
        for body in bodies:
            media = body.get("content", {}).get("application/json")
            if media is None:
                continue
            examples = [media["example"]] if "example" in media else []
            examples += [_resolve(spec, e)["value"] for e in media.get("examples", {}).values()]
            for example in examples:
                _check(spec, media["schema"], example)
                checked += 1
    assert checked > 30, checked


def test_limits_match_the_config(spec: dict[str, Any]) -> None:
    from hub.config import HubConfig

    config = HubConfig(data_dir=Path("unused"))
    upload = _schema(spec, "TransmissionUpload")["properties"]
    assert upload["file"]["maxItems"] == config.max_files
    assert str(config.max_upload_bytes) in upload["file"]["description"]
    assert upload["manifest"]["maxLength"] == config.max_meta_bytes


async def test_the_hub_serves_this_file(hub: HubUnderTest) -> None:
    connector = aiohttp.TCPConnector(ssl=client_ssl_context(hub.config.trusted_ca_file, None))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(hub.url + "/openapi.yaml") as response,
    ):
        assert response.status == 200
        assert response.content_type == "application/yaml"
        assert await response.read() == SPEC_FILE.read_bytes()


async def test_live_answers_fit_the_schemas(spec: dict[str, Any], hub: HubUnderTest) -> None:
    async with hub.client(KYOTAKU) as client:
        login = await client.login(KYOTAKU.user, KYOTAKU.password)
        _check(spec, _schema(spec, "LoginResult"), login)
        _check(spec, _schema(spec, "WhoAmI"), await client.whoami())
        _check(spec, _schema(spec, "TransmissionList"), {"transmissions": await client.sent()})
    status, refusal = await hub.raw("GET", "/api/v1/session")
    assert status == CATALOGUE["CERT_MISSING"].status
    _check(spec, _schema(spec, "Error"), refusal)
    assert refusal["code"] == "CERT_MISSING"


# --- what schemathesis found: the spec said less (or other) than the hub does ---------------------
def _value_schema(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    return {**_resolve(spec, node), "components": spec["components"]}


def test_the_served_document_fits_its_own_response_schema(spec: dict[str, Any]) -> None:
    """A YAML reader (a generated client, schemathesis) gives a mapping; the spec said string."""
    media = spec["paths"]["/openapi.yaml"]["get"]["responses"]["200"]["content"]["application/yaml"]
    errors = OAS31Validator(_value_schema(spec, media["schema"])).iter_errors(spec)
    assert [f"{list(e.path)}: {e.message[:120]}" for e in errors] == []  # not the whole document again


def test_the_send_body_has_only_the_parts_the_hub_reads(spec: dict[str, Any]) -> None:
    """Any other part is MULTIPART_MALFORMED (hub/routes.py `_read_upload`), so the schema closes."""
    upload = _schema(spec, "TransmissionUpload")
    assert upload["additionalProperties"] is False
    assert set(upload["properties"]) == {"manifest", "signature", "file"}


def test_inbox_all_values_are_the_ones_the_hub_reads(spec: dict[str, Any]) -> None:
    from hub.listing import INCLUDE_DOWNLOADED

    (all_parameter,) = [p for p in spec["paths"]["/api/v1/inbox"]["get"]["parameters"] if p.get("name") == "all"]
    assert set(all_parameter["schema"]["enum"]) == set(INCLUDE_DOWNLOADED)


@pytest.mark.parametrize(
    "name", ["月初", "before-month-end", "_x", "a.b-c", "a" * 64, "", "a" * 65, "`", ".x", "-x", "a/b", "a b", "x\x85"]
)
def test_snapshot_names_the_schema_admits_are_the_ones_the_hub_takes(spec: dict[str, Any], name: str) -> None:
    from hub.control.snapshots import NAME

    valid = OAS31Validator(_value_schema(spec, _schema(spec, "SnapshotName"))).is_valid(name)
    assert valid == bool(NAME.fullmatch(name))


@pytest.mark.parametrize("user_id", ["KJ1370100016", "KJ12", "KJ" + "a" * 30, "KJ", "KJ-137", "KJ" + "a" * 31])
def test_registration_user_ids_the_schema_admits_are_the_ones_the_hub_takes(spec: dict[str, Any], user_id: str) -> None:
    from careplan.office import is_office_user_id, is_personal_user_id

    properties = _schema(spec, "OfficeRegistration")["properties"]
    office = OAS31Validator(_value_schema(spec, properties["office_user_id"]))
    assert office.is_valid(user_id) == is_office_user_id(user_id)
    personal_id = "C" + user_id.removeprefix("KJ")
    personal = OAS31Validator(_value_schema(spec, properties["personal_users"]["items"]["properties"]["user_id"]))
    assert personal.is_valid(personal_id) == is_personal_user_id(personal_id)


async def test_registration_password_states_are_the_spec_enum(spec: dict[str, Any], hub: HubUnderTest) -> None:
    """The spec said "anything else" makes login answer PASSWORD_EXPIRED; the hub refuses it."""
    states = _schema(spec, "OfficeRegistration")["properties"]["password_state"]["enum"]
    assert set(states) == {"ok", "temporary", "expired", None}  # null: the default
    with pytest.raises(CareplanError) as refused:
        await hub.service.register_office(
            office_number="1370100099",
            name="x",
            service_kind="11",
            office_user_id="KJ1370100099",
            password="Unused-pass-2026",
            password_state="locked",
        )
    assert refused.value.code == "BAD_REQUEST" and "password_state" in refused.value.detail


@pytest.mark.parametrize(
    ("change", "valid"),
    [
        ({"advance_seconds": 60}, True),
        ({"set": "2027-04-01T09:00:00+09:00", "frozen": True}, True),
        ({"reset": True}, True),
        ({"advance_seconds": 60, "frozen": [1]}, False),  # hub/routes.py _check_clock_change
        ({"advance_seconds": 60, "reset": "no"}, False),
        ({"set": "2027-04-01T09:00:00+09:00", "frozen": "yes"}, False),
    ],
)
def test_clock_changes_the_schema_admits_are_the_ones_the_hub_takes(
    spec: dict[str, Any], change: dict[str, object], valid: bool
) -> None:
    """`frozen` and `reset` are refused unless true or false whichever form carries them."""
    assert OAS31Validator(_value_schema(spec, _schema(spec, "ClockChange"))).is_valid(change) == valid


@pytest.mark.parametrize("number", ["1370100016", "13A0100016", "0110000000", "07D17N66CC", "1320100016", "4870100016"])
def test_office_numbers_the_schema_admits_are_the_ones_the_hub_takes(spec: dict[str, Any], number: str) -> None:
    """The 3rd character is a 事業所区分 (careplan/office.py OFFICE_CLASSES): the pattern let any
    through, and registration refused them (schemathesis)."""
    from careplan.office import OFFICE_CLASSES, is_office_number

    assert set(OFFICE_CLASSES) == set("013456789A")
    assert OAS31Validator(_value_schema(spec, _schema(spec, "OfficeNumber"))).is_valid(number) == is_office_number(
        number
    )
