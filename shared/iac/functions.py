"""The template functions phiguard evaluates offline, for ARM JSON and Bicep alike.

Names are compared lowercase without underscores (ARM ``toLower``, Bicep ``toLower``,
pycep-parser's ``to_lower``). A function that needs the deployment (``reference``,
``listKeys``, ``environment``, ``deployment``, ...) or that is not listed here yields an
:class:`~shared.iac.values.Unresolved`; so does any function given an unresolved argument.
``uniqueString`` and ``guid`` are deterministic stand-ins, not Azure's algorithms: they keep
names and ids stable and distinct, which is all the checks need of them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.iac.values import Unresolved, contains_unresolved

PLACEHOLDER_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Scope:
    """Where a template is deployed: a subscription, and a resource group within it or none."""

    subscription: str
    resource_group: str | None = None
    location: Any = None

    @property
    def subscription_id(self) -> str:
        return f"/subscriptions/{self.subscription}"

    @property
    def resource_group_id(self) -> str | None:
        if self.resource_group is None:
            return None
        return f"{self.subscription_id}/resourceGroups/{self.resource_group}"


def normalize_name(name: str) -> str:
    return name.rsplit(".", 1)[-1].replace("_", "").lower() if name else name


def _unique_string(*parts: Any) -> str:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return "".join(alphabet[int(digest[i : i + 2], 16) % 32] for i in range(0, 26, 2))


def _guid(*parts: Any) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "|".join(str(p) for p in parts)))


def _is_type(value: Any) -> bool:
    return isinstance(value, str) and "/" in value and "." in value.split("/", 1)[0]


def _resource_id(scope: Scope, args: list[Any], level: str) -> Any:
    """resourceId / subscriptionResourceId / tenantResourceId: optional scope arguments before
    the type, then one name per type segment."""
    at = next((i for i, a in enumerate(args) if _is_type(a)), None)
    if at is None:
        return Unresolved(f"{level}ResourceId() without a resource type")
    before, rtype, names = args[:at], str(args[at]), [str(n) for n in args[at + 1 :]]
    segments = rtype.split("/")
    provider, types = segments[0], segments[1:]
    if len(names) != len(types):
        return Unresolved(f"{level}ResourceId({rtype}) with {len(names)} name(s)")
    tail = "/".join(f"{t}/{n}" for t, n in zip(types, names, strict=True))
    tail = f"providers/{provider}/{tail}"
    if level == "tenant":
        return f"/{tail}"
    subscription = str(before[0]) if before else scope.subscription
    if level == "subscription":
        return f"/subscriptions/{subscription}/{tail}"
    if len(before) == 2:
        subscription, group = str(before[0]), str(before[1])
    elif len(before) == 1:
        subscription, group = scope.subscription, str(before[0])
    else:
        group = scope.resource_group or ""
        if not group:
            return f"/subscriptions/{subscription}/{tail}"
    return f"/subscriptions/{subscription}/resourceGroups/{group}/{tail}"


def _format(template: str, *args: Any) -> str:
    out = template
    for index, arg in enumerate(args):
        out = out.replace("{" + str(index) + "}", _text(arg))
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return ""
    return str(value)


def _union(*values: Any) -> Any:
    if all(isinstance(v, Mapping) for v in values):
        merged: dict[str, Any] = {}
        for v in values:
            merged.update(v)
        return merged
    if all(isinstance(v, list) for v in values):
        out: list[Any] = []
        for v in values:
            out.extend(x for x in v if x not in out)
        return out
    return Unresolved("union() of mixed types")


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | Mapping) and len(value) == 0)


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return str(item).lower() in container.lower()
    if isinstance(container, Mapping):
        return any(str(k).lower() == str(item).lower() for k in container)
    return item in container


def _length(value: Any) -> int:
    return len(value)


def _coalesce(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _table(scope: Scope) -> dict[str, Callable[..., Any]]:
    def subscription(sub: Any = None) -> dict[str, Any]:
        sid = str(sub) if sub is not None else scope.subscription
        return {
            "id": f"/subscriptions/{sid}",
            "subscriptionId": sid,
            "tenantId": Unresolved("subscription().tenantId"),
            "displayName": Unresolved("subscription().displayName"),
        }

    def resource_group(*args: Any) -> Any:
        if not args:
            if scope.resource_group is None:
                return Unresolved("resourceGroup() outside a resource group deployment")
            return {
                "id": scope.resource_group_id,
                "name": scope.resource_group,
                "location": scope.location
                if scope.location is not None
                else Unresolved("resourceGroup().location"),
            }
        sub, name = (scope.subscription, args[0]) if len(args) == 1 else (args[0], args[1])
        return {"id": f"/subscriptions/{sub}/resourceGroups/{name}", "name": str(name)}

    def environment() -> dict[str, Any]:
        # The public cloud's values (what `azd up` deploys to unless told otherwise).
        return {
            "name": "AzureCloud",
            "suffixes": {
                "storage": "core.windows.net",
                "keyvaultDns": ".vault.azure.net",
                "sqlServerHostname": ".database.windows.net",
            },
            "authentication": {"loginEndpoint": "https://login.microsoftonline.com/"},
            "resourceManager": "https://management.azure.com/",
        }

    return {
        "environment": environment,
        "items": lambda o: [{"key": k, "value": v} for k, v in sorted(o.items())],
        "json": lambda text: json.loads(text),
        "concat": lambda *a: (
            [x for v in a for x in v]
            if a and all(isinstance(v, list) for v in a)
            else "".join(_text(v) for v in a)
        ),
        "format": _format,
        "tolower": lambda s: str(s).lower(),
        "toupper": lambda s: str(s).upper(),
        "trim": lambda s: str(s).strip(),
        "take": lambda v, n: v[: int(n)],
        "skip": lambda v, n: v[int(n) :],
        "substring": lambda s, start, length=None: (
            str(s)[int(start) :]
            if length is None
            else str(s)[int(start) : int(start) + int(length)]
        ),
        "replace": lambda s, old, new: str(s).replace(str(old), str(new)),
        "split": lambda s, sep: (
            str(s).split(str(sep))
            if isinstance(sep, str)
            else Unresolved("split() with several delimiters")
        ),
        "join": lambda items, sep: str(sep).join(_text(i) for i in items),
        "startswith": lambda s, p: str(s).lower().startswith(str(p).lower()),
        "endswith": lambda s, p: str(s).lower().endswith(str(p).lower()),
        "length": _length,
        "empty": _empty,
        "contains": _contains,
        "first": lambda v: v[0] if len(v) else None,
        "last": lambda v: v[-1] if len(v) else None,
        "union": _union,
        "coalesce": _coalesce,
        "string": lambda v: (
            v if isinstance(v, str) else _text(v).lower() if isinstance(v, bool) else str(v)
        ),
        "int": lambda v: int(v),
        "bool": _bool,
        "array": lambda v: v if isinstance(v, list) else [v],
        "createarray": lambda *a: list(a),
        "createobject": lambda *a: {str(a[i]): a[i + 1] for i in range(0, len(a) - 1, 2)},
        "if": lambda c, t, f: t if c else f,
        "equals": lambda a, b: a == b,
        "not": lambda a: not a,
        "and": lambda *a: all(a),
        "or": lambda *a: any(a),
        "true": lambda: True,
        "false": lambda: False,
        "null": lambda: None,
        "min": lambda *a: min(a[0]) if len(a) == 1 else min(a),
        "max": lambda *a: max(a[0]) if len(a) == 1 else max(a),
        "uniquestring": _unique_string,
        "guid": _guid,
        "subscription": subscription,
        "resourcegroup": resource_group,
        "resourceid": lambda *a: _resource_id(scope, list(a), "resourceGroup"),
        "subscriptionresourceid": lambda *a: _resource_id(scope, list(a), "subscription"),
        "tenantresourceid": lambda *a: _resource_id(scope, list(a), "tenant"),
        "extensionresourceid": lambda base, rtype, *names: (
            f"{base}/providers/{str(rtype).split('/', 1)[0]}/"
            + "/".join(f"{t}/{n}" for t, n in zip(str(rtype).split("/")[1:], names, strict=False))
        ),
    }


_STRUCTURAL = frozenset(
    {
        "union",
        "coalesce",
        "createobject",
        "createarray",
        "items",
        "first",
        "last",
        "array",
        "length",
        "empty",
        "take",
        "skip",
    }
)


def call(scope: Scope, name: str, args: list[Any]) -> Any:
    """The value of a template function call; Unresolved when it needs the deployment."""
    key = normalize_name(name)
    function = _table(scope).get(key)
    if function is None:
        return Unresolved(f"{name}() is known only at deployment")
    if key == "if":
        if args and contains_unresolved(args[0]):
            return Unresolved(f"{name}() of a condition left to deployment")
    elif key in _STRUCTURAL:
        # These only arrange values: an unknown value inside stays unknown where it lands.
        if any(isinstance(a, Unresolved) for a in args):
            return Unresolved(f"{name}() of an unresolved value")
    elif any(contains_unresolved(a) for a in args):
        return Unresolved(f"{name}() of an unresolved value")
    try:
        return function(*args)
    except (TypeError, ValueError, IndexError, KeyError, AttributeError) as exc:
        return Unresolved(f"{name}() could not be evaluated offline: {type(exc).__name__}")
