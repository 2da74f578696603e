"""``Engine.input_digest``: what a resource's verdicts are decided on. Equal digests must mean
equal verdicts (a sweep confirms such a read without judging it), so every input moves it:
the body, each related document, the PHI scope decided, the checks run, the code, and the
mute rules with whether each holds."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from checks import CATALOG
from shared import engine as engine_module
from shared.engine import Engine
from shared.kernel.findings import Result, Status
from shared.kernel.snapshot import Snapshot
from shared.mutes import MuteRule
from shared.selection import Selection
from tests.shared.test_selection_and_mutes import NOW, SA, _rule

TLS = "storage_account_min_tls_1_2"


def _body(**properties: Any) -> dict[str, Any]:
    return {
        "id": SA,
        "name": SA.rsplit("/", 1)[1],
        "type": "Microsoft.Storage/storageAccounts",
        "location": "eastus",
        "tags": {"phi": "true"},
        "properties": {"minimumTlsVersion": "TLS1_2", **properties},
    }


def _snapshot(body: dict[str, Any] | None = None, **related: Any) -> Snapshot:
    return Snapshot(body or _body(), related, None, True)


@pytest.fixture(autouse=True)
def _now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shared.kernel.clock.utcnow", lambda: NOW)


def test_the_same_inputs_give_the_same_digest_in_any_engine() -> None:
    first = Engine().input_digest(_snapshot(blob_services={"properties": {"x": 1}}))
    again = Engine().input_digest(_snapshot(blob_services={"properties": {"x": 1}}))
    assert first == again and len(first) == 32


@pytest.mark.parametrize(
    "changed",
    [
        _snapshot(_body(minimumTlsVersion="TLS1_0")),
        _snapshot(_body(unread="a field no check reads is an input all the same")),
        _snapshot(blob_services={"properties": {"x": 2}}),
        _snapshot(blob_services={"properties": {"x": 1.0}}),  # 1.0 is not 1 in JSON's text
        _snapshot(blob_services={"properties": {"x": 1}}, file_services=[]),
        _snapshot(blob_services=[]),
        Snapshot(_body(), {"blob_services": {"properties": {"x": 1}}}, None, False),
    ],
)
def test_any_input_moves_it(changed: Snapshot) -> None:
    engine = Engine()
    base = engine.input_digest(_snapshot(blob_services={"properties": {"x": 1}}))
    assert engine.input_digest(changed) != base


def test_a_document_cannot_slide_into_the_next_one() -> None:
    engine = Engine()
    one = engine.input_digest(_snapshot(a_doc="x", b_doc=""))
    other = engine.input_digest(_snapshot(a_doc="", b_doc="x"))
    assert one != other


def test_a_shared_list_is_digested_by_content_whatever_object_holds_it() -> None:
    engine = Engine()
    vnets = [{"id": "/subscriptions/s/vnet1", "properties": {"subnets": []}}]
    base = engine.input_digest(_snapshot(virtual_networks=vnets))
    assert engine.input_digest(_snapshot(virtual_networks=list(vnets))) == base
    assert engine.input_digest(_snapshot(virtual_networks=vnets)) == base
    assert engine.input_digest(_snapshot(virtual_networks=[*vnets, {"id": "v2"}])) != base


def test_the_checks_run_and_the_scope_are_inputs() -> None:
    everything = Engine().input_digest(_snapshot())
    narrowed = Engine.selected(Selection(checks=(TLS,)))
    assert narrowed.input_digest(_snapshot()) not in ("", everything)
    fewer = Engine(catalog={k: v for k, v in CATALOG.items() if k != TLS})
    assert fewer.input_digest(_snapshot()) not in ("", everything)


def test_a_partial_engine_vouches_for_nothing() -> None:
    engine = Engine.selected(Selection(checks=(TLS,)))
    engine.partial = True
    assert engine.input_digest(_snapshot()) == ""


def test_a_check_from_outside_the_catalogs_code_vouches_for_nothing() -> None:
    def outside(snapshot: Snapshot) -> Result:
        return Result(Status.PASS, "fine", {})

    catalog = {**CATALOG, TLS: replace(CATALOG[TLS], func=outside)}
    assert Engine(catalog=catalog).input_digest(_snapshot()) == ""


def test_a_check_changed_in_place_is_seen() -> None:
    catalog = dict(CATALOG)
    engine = Engine(catalog=catalog)
    base = engine.input_digest(_snapshot())
    catalog[TLS] = replace(CATALOG[TLS], title="Another title, recorded on every row")
    assert engine.input_digest(_snapshot()) not in ("", base)


def test_other_code_is_another_input(monkeypatch: pytest.MonkeyPatch) -> None:
    base = Engine().input_digest(_snapshot())
    monkeypatch.setattr(engine_module, "code_fingerprint", lambda: "another deployment")
    assert Engine().input_digest(_snapshot()) not in ("", base)
    monkeypatch.setattr(engine_module, "code_fingerprint", lambda: "")
    assert Engine().input_digest(_snapshot()) == ""


def test_the_code_fingerprint_covers_the_checks_and_shared_sources() -> None:
    engine_module.code_fingerprint.cache_clear()
    try:
        assert len(engine_module.code_fingerprint()) == 32
    finally:
        engine_module.code_fingerprint.cache_clear()


def test_mute_rules_and_whether_they_hold_are_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine()
    none = engine.input_digest(_snapshot(), ())
    rules = (_rule(),)
    holding = engine.input_digest(_snapshot(), rules)
    assert holding != none
    assert engine.input_digest(_snapshot(), (_rule(reason="another"),)) != holding
    assert engine.input_digest(_snapshot(), (_rule(), _rule(id="mute-0000000b"))) != holding
    later = NOW + timedelta(days=11)
    monkeypatch.setattr("shared.kernel.clock.utcnow", lambda: later)
    assert engine.input_digest(_snapshot(), rules) not in (holding, none)


def test_a_rule_for_other_resources_is_no_input_of_this_one() -> None:
    engine = Engine()
    none = engine.input_digest(_snapshot(), ())
    elsewhere = _rule(resource=SA.replace("stlegacy", "stother"))
    pattern_elsewhere = _rule(
        id="mute-0000000c", resource="/subscriptions/*/resourcegroups/rg-dev/*"
    )
    assert engine.input_digest(_snapshot(), (elsewhere, pattern_elsewhere)) == none
    by_pattern = _rule(
        id="mute-0000000d", check="*", resource="/subscriptions/*/resourcegroups/rg-legacy/*"
    )
    assert engine.input_digest(_snapshot(), (elsewhere, by_pattern)) != none


def test_the_digest_taken_before_judging_is_not_taken_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules: tuple[MuteRule, ...] = (_rule(),)
    engine = Engine(mutes=lambda: rules, remember_inputs=True)
    snapshot = _snapshot()
    digest = engine.input_digest(snapshot)
    calls: list[object] = []
    serialised = engine_module._serialised

    def counted(document: Any) -> bytes:
        calls.append(document)
        return serialised(document)

    monkeypatch.setattr(engine_module, "_serialised", counted)
    assert engine.evaluate(snapshot).input_digest == digest
    assert calls == []
    engine.evaluate(_snapshot())  # another snapshot: digested afresh
    assert calls


def test_which_of_two_rules_holds_is_told_apart_in_any_listed_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = Engine()
    ending = _rule(id="mute-0000000a", expires_at=NOW + timedelta(days=2))
    lasting = _rule(id="mute-0000000b", expires_at=NOW + timedelta(days=20))
    monkeypatch.setattr("shared.kernel.clock.utcnow", lambda: NOW + timedelta(days=3))
    one_order = engine.input_digest(_snapshot(), (ending, lasting))
    assert engine.input_digest(_snapshot(), (lasting, ending)) == one_order
    swapped = (
        replace(ending, expires_at=lasting.expires_at),
        replace(lasting, expires_at=ending.expires_at),
    )
    assert engine.input_digest(_snapshot(), swapped) != one_order


def test_the_evaluation_carries_the_digest_of_the_rules_it_applied() -> None:
    rules: tuple[MuteRule, ...] = (_rule(),)
    engine = Engine(mutes=lambda: rules, remember_inputs=True)
    snapshot = _snapshot(_body(minimumTlsVersion="TLS1_0"))
    evaluation = engine.evaluate(snapshot)
    assert evaluation.input_digest == engine.input_digest(snapshot, rules) != ""
    (tls,) = [f for f in evaluation.findings if f.check_id == TLS]
    assert tls.status == Status.MUTED

    # The digest taken before judging, then the rules changed: the evaluation's digest is that
    # of the rules it applied, never of those the earlier digest was taken with.
    before = engine.input_digest(snapshot)
    rules = ()
    evaluation = engine.evaluate(snapshot)
    (tls,) = [f for f in evaluation.findings if f.check_id == TLS]
    assert tls.status == Status.FAIL
    assert evaluation.input_digest == engine.input_digest(snapshot, ()) != before


def test_an_engine_not_asked_to_remember_inputs_records_none() -> None:
    assert Engine().evaluate(_snapshot()).input_digest == ""


def test_a_document_too_deep_to_write_out_is_judged_and_vouches_for_nothing() -> None:
    """JSON decodes a little deeper than repr writes: such a body (ARM or a hostile tag
    value's owner could serve one) must be judged as before, not turned into an ERROR."""
    import sys

    nested: list[Any] = []
    for _ in range(sys.getrecursionlimit()):
        nested = [nested]
    body = _body()
    body["properties"]["nested"] = nested
    evaluation = Engine(remember_inputs=True).evaluate(_snapshot(body))
    assert evaluation.input_digest == ""
    (tls,) = [f for f in evaluation.findings if f.check_id == TLS]
    assert tls.status == Status.PASS


def test_an_integer_too_long_to_write_out_is_judged_and_vouches_for_nothing() -> None:
    body = _body()
    body["properties"]["serial"] = 10**5000  # beyond the interpreter's int-to-text limit
    evaluation = Engine(remember_inputs=True).evaluate(_snapshot(body))
    assert evaluation.input_digest == ""
    assert {f.check_id for f in evaluation.findings} >= {TLS}
