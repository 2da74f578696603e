"""The loader: every accepted document shape, grouping of related documents, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.loader import InputError, load_documents, load_paths, snapshot_from_json

NSG = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n1"
SITE = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Web/sites/app1"


def test_arm_body_list_body_and_example_file(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(
        json.dumps({"id": NSG, "type": "Microsoft.Network/networkSecurityGroups"})
    )
    (tmp_path / "b.json").write_text(
        json.dumps({"value": [{"id": SITE, "type": "Microsoft.Web/sites"}]})
    )
    (tmp_path / "c.json").write_text(
        json.dumps(
            {
                "parameters": {},
                "responses": {
                    "200": {
                        "body": {"id": SITE + "/config/web", "type": "Microsoft.Web/sites/config"}
                    }
                },
            }
        )
    )
    snapshots = load_paths([tmp_path])
    assert sorted(s.type for s in snapshots) == [
        "microsoft.network/networksecuritygroups",
        "microsoft.web/sites",
    ]
    site = next(s for s in snapshots if s.type == "microsoft.web/sites")
    assert site.doc("web_config")["type"] == "Microsoft.Web/sites/config"


def test_diagnostic_settings_attach_case_insensitively_and_complete_mode() -> None:
    setting = {
        "id": NSG.lower() + "/providers/microsoft.insights/diagnosticSettings/d1",
        "type": "Microsoft.Insights/diagnosticSettings",
        "properties": {},
    }
    other = {"id": SITE, "type": "Microsoft.Web/sites"}
    snaps = load_documents([({"id": NSG}, "x"), (setting, "x"), (other, "x")], complete=True)
    by_type = {s.type: s for s in snaps}
    assert by_type["microsoft.network/networksecuritygroups"].docs("diagnostic_settings") == [
        setting
    ]
    assert by_type["microsoft.web/sites"].docs("diagnostic_settings") == []
    assert not load_documents([(other, "x")])[0].has("diagnostic_settings")


def test_resource_group_tags_reach_resources() -> None:
    rg = {
        "id": "/subscriptions/s1/resourceGroups/rg",
        "type": "Microsoft.Resources/resourceGroups",
        "tags": {"data-classification": "PHI"},
    }
    snaps = load_documents([(rg, "x"), ({"id": NSG}, "x")])
    nsg = next(s for s in snaps if s.type.endswith("networksecuritygroups"))
    assert nsg.resource_group is not None
    assert nsg.resource_group["tags"] == {"data-classification": "PHI"}


def test_snapshot_file_validation_names_the_path() -> None:
    with pytest.raises(InputError, match=r"\$\.phi"):
        snapshot_from_json({"resource": {"id": NSG}, "phi": "yes"}, "f.json")
    with pytest.raises(InputError, match=r"\$\.resource_group"):
        snapshot_from_json({"resource": {"id": NSG}, "resource_group": []}, "f.json")


def test_example_without_2xx_body_is_an_error() -> None:
    with pytest.raises(InputError, match=r"\$\.responses: no 2xx response"):
        load_documents([({"responses": {"404": {}}}, "e.json")])


def test_nesting_deeper_than_the_limit_is_an_input_error(tmp_path: Path) -> None:
    from shared.loader import MAX_DEPTH, deeper_than

    assert deeper_than({"a": [[{"b": 1}]]}, 10) is None
    assert deeper_than({"a": [[{"b": {}}]]}, 3) == "$.a[0][0]"
    within = tmp_path / "within.json"
    within.write_text(json.dumps({"id": NSG, "properties": _nested(MAX_DEPTH - 2)}))
    assert load_paths([within])
    over = tmp_path / "over.json"
    over.write_text(json.dumps({"id": NSG, "properties": _nested(MAX_DEPTH + 5)}))
    with pytest.raises(InputError, match=r"over\.json: \$\.properties\.x\.x.*nested too deeply"):
        load_paths([over])
    parser_limit = tmp_path / "parser.json"
    parser_limit.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match=r"parser\.json: \$: nested too deeply"):
        load_paths([parser_limit])


def _nested(depth: int) -> object:
    value: object = {}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


@pytest.mark.parametrize(
    "rid",
    [
        "/subscriptions/s1//resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n",
        NSG + "/",
        NSG + " ",
        NSG[1:],
        "/subscriptions/s1/resourceGroups//providers/Microsoft.Network/networkSecurityGroups/n",
    ],
)
def test_ids_arm_never_returns_are_input_errors(rid: str) -> None:
    doc = {"id": rid, "type": "Microsoft.Network/networkSecurityGroups"}
    with pytest.raises(InputError, match=r"f\.json: \$\.id: resource id"):
        load_documents([(doc, "f.json")])


def test_a_declared_type_does_not_excuse_a_malformed_id() -> None:
    doc = {"id": "/subscriptions/s1/whatever", "type": "Microsoft.Network/networkSecurityGroups"}
    with pytest.raises(InputError, match=r"\$\.id"):
        load_documents([(doc, "f.json")])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"id": "/subscriptions/s", "x": NaN}', "NaN is not a JSON value"),
        ('{"id": "/subscriptions/s", "x": -Infinity}', "-Infinity is not a JSON value"),
        ('{"id": "/subscriptions/s", "x": ' + "9" * 5000 + "}", "Exceeds the limit"),
    ],
)
def test_values_json_does_not_have_are_input_errors(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "odd.json"
    path.write_text(text)
    with pytest.raises(InputError, match=rf"odd\.json: \$: invalid JSON: {expected}"):
        load_paths([path])
