"""Pure layer, what an administrator reads: ``phiguard evaluate`` over hostile documents (names,
tags and values holding Rich markup, ANSI / OSC escapes, C1 controls, bidi overrides) prints
them as data. No control character reaches the terminal, CSV cells cannot start a formula, JSON
stays JSON, and the exit code is one of the documented ones."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from shared.cli import main
from tests.adversarial import strategies as s
from tests.adversarial.profile import SOME

# Sent to a terminal, these act instead of printing: C0 but newline, DEL, C1 (U+009B is a
# CSI), bidi embeddings / overrides / isolates / marks, line and paragraph separators.
UNSAFE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
FORMULA = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def _named(doc: Any, name: str) -> Any:
    """The document with a hostile name and a hostile tag (where the table shows data)."""
    if not isinstance(doc, dict):
        return doc
    return {**doc, "name": name, "tags": {"owner": name, name[:50] or "k": "v"}}


@SOME
@given(
    doc=s.resource_documents(values=s.sendable_values),
    name=st.one_of(s.modest_text, st.sampled_from(s.MARKUP + s.ESCAPES + s.UNICODE)),
    fmt=st.sampled_from(("table", "csv", "json")),
)
def test_evaluate_prints_hostile_documents_as_inert_data(
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    doc: Any,
    name: str,
    fmt: str,
) -> None:
    path = Path(tmp_path_factory.getbasetemp()) / "hostile.json"
    try:
        text = json.dumps(_named(doc, name), ensure_ascii=True)
    except (ValueError, RecursionError):
        return
    path.write_text(text, encoding="utf-8")
    capsys.readouterr()
    code = main(["evaluate", str(path), "--format", fmt, "--all"])
    out, err = capsys.readouterr()
    assert code in (0, 1, 2, 3), code
    event(f"exit {code}")
    # 3 is also how an unexpected failure ends: "phiguard: error: <what> (<ExceptionType>)".
    crashed = re.search(r"\((\w*(Error|Exception)|KeyError|StopIteration)\)\s*$", err)
    assert crashed is None, err[-500:]
    for stream, printed in (("stdout", out), ("stderr", err)):
        found = UNSAFE.search(printed)
        assert found is None, (
            f"{stream} holds {found.group()!r}: ...{printed[max(0, found.start() - 80) : found.end() + 20]!r}"
        )
    if code == 2:
        return  # refused as bad input, said on stderr
    if fmt == "json":
        json.loads(out)
    elif fmt == "csv":
        for row in csv.reader(io.StringIO(out)):
            for cell in row:
                assert not cell.startswith(FORMULA), cell
