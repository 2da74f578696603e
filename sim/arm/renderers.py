"""Version-dependent shapes: one canonical document in the store, rendered per api-version.

A provider answers some types differently by api-version. The simulated tenant stores each
document once, in the shape of the version phiguard pins (the newest), and converts on the way
out (GET, lists, the body a PUT answers) and, for writes, on the way in:

* ``Microsoft.Sql/servers/databases/transparentDataEncryption``: the 2014-04-01 API (and the
  previews before 2020-08-01-preview, which re-modelled TDE as "logical database TDE") names the
  switch ``properties.status`` ("Enabled" / "Disabled"); later versions ``properties.state``.
  The old API also answered ``location``; it is kept when the stored document has one.
* ``Microsoft.Insights/diagnosticSettings``: category groups (``categoryGroup``: ``allLogs``,
  ``audit``) arrived with 2021-05-01-preview. Older versions (2015-07-01, 2016-09-01,
  2017-05-01-preview, 2020-01-01-preview) know only ``category``: a ``logs`` entry that names
  only a group is not in their answer, and an entry's ``categoryGroup`` member is left out
  (so a client on such a version sees a setting that streams no logs). ``marketplacePartnerId``
  (also 2021-05-01-preview) is left out too.

Types without a renderer are answered as stored.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

Doc = dict[str, Any]

TDE = "microsoft.sql/servers/databases/transparentdataencryption"
DIAGNOSTIC_SETTINGS = "microsoft.insights/diagnosticsettings"
_TDE_STATE_SINCE = "2020-08-01-preview"
_CATEGORY_GROUPS_SINCE = "2021-05-01-preview"


def _older(version: str, than: str) -> bool:
    """True when ``version`` predates ``than`` (date first; a preview precedes its GA)."""
    return _order(version) < _order(than)


def _order(version: str) -> tuple[str, int]:
    return (version[:10], 0 if len(version) > 10 else 1)


def _tde_renamed(doc: Doc, version: str, stored: str, shown: str) -> Doc:
    """``doc`` with ``properties.<stored>`` named ``<shown>`` for a version before the rename."""
    props = doc.get("properties")
    if not _older(version, _TDE_STATE_SINCE) or not isinstance(props, dict) or stored not in props:
        return doc
    out = copy.deepcopy(doc)
    out["properties"][shown] = out["properties"].pop(stored)
    return out


def _tde_out(doc: Doc, version: str) -> Doc:
    return _tde_renamed(doc, version, "state", "status")


def _tde_in(body: Doc, version: str) -> Doc:
    return _tde_renamed(body, version, "status", "state")


def _diagnostics_out(doc: Doc, version: str) -> Doc:
    props = doc.get("properties")
    if not _older(version, _CATEGORY_GROUPS_SINCE) or not isinstance(props, dict):
        return doc
    out = copy.deepcopy(doc)
    out_props = out["properties"]
    out_props.pop("marketplacePartnerId", None)
    logs = out_props.get("logs")
    if isinstance(logs, list):
        kept = []
        for entry in logs:
            if not isinstance(entry, dict):
                continue
            if not entry.get("category"):
                continue
            entry.pop("categoryGroup", None)
            kept.append(entry)
        out_props["logs"] = kept
    return out


OUT: dict[str, Callable[[Doc, str], Doc]] = {TDE: _tde_out, DIAGNOSTIC_SETTINGS: _diagnostics_out}
IN: dict[str, Callable[[Doc, str], Doc]] = {TDE: _tde_in}
# Lowercase path fragments that mark a request as one a renderer may concern (a cheap test
# before any parsing, so the other requests pay nothing).
_MARKERS = ("/transparentdataencryption", "/diagnosticsettings")


def concerns(path: str) -> bool:
    lowered = path.lower()
    return any(m in lowered for m in _MARKERS)


def render(type_key: str, version: str, doc: Doc) -> Doc:
    """The stored document as ``version`` answers it."""
    fn = OUT.get(type_key)
    return fn(doc, version) if fn is not None else doc


def canonical(type_key: str, version: str, body: Doc) -> Doc:
    """A request body written at ``version``, in the stored (newest) shape."""
    fn = IN.get(type_key)
    return fn(body, version) if fn is not None else body


def render_body(type_key: str, version: str, body: bytes) -> bytes:
    """A response body (one document or ``{"value": [...]}``) rendered for ``version``."""
    if type_key not in OUT or not body:
        return body
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if not isinstance(data, dict) or "error" in data:
        return body
    if isinstance(data.get("value"), list) and "properties" not in data:
        data["value"] = [
            render(type_key, version, item) if isinstance(item, dict) else item
            for item in data["value"]
        ]
    else:
        data = render(type_key, version, data)
    return json.dumps(data, ensure_ascii=False).encode("utf-8")
