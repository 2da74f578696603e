"""Bicep files read with pycep-parser and evaluated offline into declared resources.

Parameters take their value from the parameters file (``main.parameters.json`` beside the
entry file, azd's ``${VAR}`` / ``${VAR=default}`` filled from the environment), else their
default; variables, string interpolation, conditions, loops, modules (with their scope and
outputs), ``parent``/nested child resources and extension resources (``scope:``) are followed.
What needs the deployment is :class:`~shared.iac.values.Unresolved`.

pycep-parser 0.7.1 gives every binary operator the same precedence, grouping to the right
(``a == b && c`` comes out as ``a == (b && c)``), and drops parentheses from its output: a
binary operator whose right operand is another binary or conditional expression is therefore
Unresolved here (written with parentheses, ``(a == b) && c`` reads right).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from shared.iac.functions import Scope, call
from shared.iac.model import Declared, IacError, safe_segment
from shared.iac.values import Unresolved, contains_unresolved


class Ref(str):
    """An identifier in Bicep source (pycep-parser gives identifiers and strings alike)."""


@cache
def _parser() -> tuple[Any, Any, type[Exception], type[Exception]]:
    from lark import Token
    from lark.exceptions import LarkError, UnexpectedInput
    from pycep import BicepParser
    from pycep.transformer import BicepToJson

    class Transformer(BicepToJson):
        def string(self, arg: tuple[Token]) -> str:
            text = super().string(arg)
            return Ref(text) if arg[0].type == "STRING" else text

    return BicepParser(cache=False), Transformer, UnexpectedInput, LarkError


def parse_bicep(text: str, source: str) -> dict[str, Any]:
    """pycep-parser's JSON of a Bicep text, identifiers marked; an :class:`IacError` naming the
    file, line and column when it is not Bicep pycep-parser can read."""
    try:
        parser, transformer, unexpected, lark_error = _parser()
    except ModuleNotFoundError:
        raise IacError(
            source, "$", "reading Bicep needs pycep-parser: pip install -r requirements-iac.txt"
        ) from None
    try:
        tree = parser.lark_parser.parse(text)
        result = transformer(add_line_numbers=False).transform(tree)
    except unexpected as exc:
        line, column = getattr(exc, "line", "?"), getattr(exc, "column", "?")
        raise IacError(
            source, f"line {line} column {column}", "not Bicep that pycep-parser reads"
        ) from None
    except (lark_error, ValueError, KeyError, TypeError, IndexError) as exc:
        raise IacError(source, "$", f"pycep-parser failed: {type(exc).__name__}") from None
    if not isinstance(result, dict):
        raise IacError(source, "$", "pycep-parser returned no document")
    return result


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "equals": lambda a, b: a == b,
    "not_equals": lambda a, b: a != b,
    "equals_case_insensitive": lambda a, b: str(a).lower() == str(b).lower(),
    "not_equals_case_insensitive": lambda a, b: str(a).lower() != str(b).lower(),
    "and": lambda a, b: bool(a) and bool(b),
    "or": lambda a, b: bool(a) or bool(b),
    "greater_than": lambda a, b: a > b,
    "greater_than_or_equals": lambda a, b: a >= b,
    "less_than": lambda a, b: a < b,
    "less_than_or_equals": lambda a, b: a <= b,
    "add": lambda a, b: a + b,
    "substract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "divide": lambda a, b: a // b,
    "modulo": lambda a, b: a % b,
    "coalesce": lambda a, b: a if a is not None else b,
}
_GROUPING = {*_BINARY, "conditional"}
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:=([^}]*))?\}")


def read_parameters_file(path: Path) -> dict[str, Any]:
    """``parameters.<name>.value`` of an ARM/azd parameters file, ``${VAR}`` filled from the
    environment (Unresolved when unset and without a ``=default``)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IacError(str(path), "$", f"cannot read the parameters file: {exc}") from None
    params = document.get("parameters") if isinstance(document, Mapping) else None
    if not isinstance(params, Mapping):
        raise IacError(str(path), "$.parameters", "missing or not an object")
    values: dict[str, Any] = {}
    for name, entry in params.items():
        if not isinstance(entry, Mapping) or "value" not in entry:
            raise IacError(str(path), f"$.parameters.{name}", "expected an object with 'value'")
        values[name] = _fill_env(entry["value"])
    return values


def _fill_env(value: Any) -> Any:
    if isinstance(value, str):
        whole = _ENV.fullmatch(value)
        if whole:
            found = os.environ.get(whole.group(1), whole.group(2))
            return found if found is not None else Unresolved(f"${{{whole.group(1)}}} is not set")
        missing: list[str] = []

        def fill(match: re.Match[str]) -> str:
            found = os.environ.get(match.group(1), match.group(2))
            if found is None:
                missing.append(match.group(1))
                return ""
            return found

        filled = _ENV.sub(fill, value)
        return Unresolved(f"${{{missing[0]}}} is not set") if missing else filled
    if isinstance(value, list):
        return [_fill_env(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _fill_env(v) for k, v in value.items()}
    return value


class _Symbol(dict[str, Any]):
    """A resource or module as an expression sees it: ``id``, ``name``, ``outputs``; runtime
    properties are Unresolved."""


class BicepTemplate:
    """One Bicep file deployed at one scope with given parameter values."""

    MAX_MODULE_DEPTH = 20

    def __init__(
        self,
        path: Path,
        scope: Scope,
        given: Mapping[str, Any],
        *,
        depth: int = 0,
        root: Path | None = None,
    ) -> None:
        self.path = path
        self.source = str(path)
        self.scope = scope
        self.depth = depth
        self.root = root or path.parent
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise IacError(self.source, "$", f"cannot read: {exc}") from None
        self.tree = parse_bicep(text, self.source)
        self.target_scope = str(self.tree.get("globals", {}).get("scope", {}).get("value", ""))
        self.params = self._parameters(given)
        # Tells apart two deployments of one module file (their stand-in names differ).
        self.instance_key = json.dumps(
            [self.source, scope.subscription, scope.resource_group, given],
            default=str,
            sort_keys=True,
        )
        self._vars: dict[str, Any] = {}
        self._resolving: set[str] = set()
        self._symbols: dict[str, Any] = {}
        self._modules: dict[str, list[BicepTemplate]] = {}
        self.module_name: Any = None  # the deployment name its parent gave it

    # -- parameters and variables -------------------------------------------------------
    def _parameters(self, given: Mapping[str, Any]) -> dict[str, Any]:
        declared = self.tree.get("parameters") or {}
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            if name in given:
                values[name] = given[name]
            elif isinstance(spec, Mapping) and spec.get("default") is not None:
                values[name] = Unresolved(f"param {name}: default being resolved")
            else:
                values[name] = Unresolved(f"param {name} has no value or default")
        self.params = values
        for name, spec in declared.items():
            # pycep-parser gives a parameter without a default "default": None.
            if name not in given and isinstance(spec, Mapping) and spec.get("default") is not None:
                values[name] = self.value(spec["default"], {}, f"param {name}")
        return values

    def variable(self, name: str) -> Any:
        if name in self._vars:
            return self._vars[name]
        if name in self._resolving:
            return Unresolved(f"var {name} refers to itself")
        spec = (self.tree.get("variables") or {}).get(name)
        self._resolving.add(name)
        try:
            value = self.value((spec or {}).get("value"), {}, f"var {name}")
        finally:
            self._resolving.discard(name)
        self._vars[name] = value
        return value

    # -- expressions ---------------------------------------------------------------------
    def lookup(self, name: str, local: Mapping[str, Any]) -> Any:
        if name in local:
            return local[name]
        if name in self.params:
            return self.params[name]
        if name in (self.tree.get("variables") or {}):
            return self.variable(name)
        if name in (self.tree.get("resources") or {}):
            return self.resource_symbol(name)
        if name in (self.tree.get("modules") or {}):
            return self.module_symbol(name)
        return Unresolved(f"{name} is not a symbol of {self.path.name}")

    def value(self, node: Any, local: Mapping[str, Any], where: str) -> Any:
        if isinstance(node, Ref):
            return self.lookup(str(node), local)
        if isinstance(node, str):
            return self.interpolate(node, local, where)
        if node is None or isinstance(node, bool | int | float):
            return node
        if isinstance(node, list):
            return [self.value(item, local, where) for item in node]
        if isinstance(node, Mapping):
            if set(node) == {"operator"} and isinstance(node["operator"], Mapping):
                return self.operator(node["operator"], local, where)
            if set(node) == {"function"} and isinstance(node["function"], Mapping):
                return self.function(node["function"], local, where)
            if "loop_type" in node:
                return self.loop_values(node, local, where)
            return {
                self.key(k, local, where): self.value(v, local, f"{where}.{k}")
                for k, v in node.items()
            }
        return Unresolved(f"{where}: an expression phiguard does not read")

    def key(self, raw: str, local: Mapping[str, Any], where: str) -> str:
        if len(raw) >= 2 and raw[0] == raw[-1] == "'":
            text = self.interpolate(raw[1:-1], local, where)
            return str(text)
        return raw

    def interpolate(self, text: str, local: Mapping[str, Any], where: str) -> Any:
        if "${" not in text:
            return text
        parts: list[Any] = []
        index = 0
        while True:
            start = text.find("${", index)
            if start < 0:
                parts.append(text[index:])
                break
            parts.append(text[index:start])
            end = _closing_brace(text, start + 2)
            if end < 0:
                return Unresolved(f"{where}: an unterminated interpolation")
            inner = text[start + 2 : end]
            tree = parse_bicep(f"var phiguardInterpolated = {inner}\n", f"{self.source} ({where})")
            parts.append(
                self.value(
                    tree["variables"]["phiguardInterpolated"]["value"], local, f"{where} ${{...}}"
                )
            )
            index = end + 1
        if any(contains_unresolved(p) for p in parts):
            first = next(p for p in parts if contains_unresolved(p))
            why = first.why if isinstance(first, Unresolved) else "a value left to deployment"
            return Unresolved(why)
        return "".join(_as_text(p) for p in parts)

    def operator(self, op: Mapping[str, Any], local: Mapping[str, Any], where: str) -> Any:
        kind = op.get("type")
        operands = op.get("operands") or {}
        if kind == "property_accessor":
            return self.access(operands.get("operand_1"), operands.get("operand_2"), local, where)
        if kind == "nested_resource_accessor":
            steps = _steps(operands.get("operand_2"))
            parent = operands.get("operand_1")
            if not isinstance(parent, Ref) or not steps or steps[0][0] != "prop":
                return Unresolved(f"{where}: a '::' access phiguard does not read")
            child = f"{parent}__{steps[0][1]}"
            if child not in (self.tree.get("resources") or {}):
                return Unresolved(f"{where}: {parent}::{steps[0][1]} is not declared here")
            return self.walk(self.resource_symbol(child), steps[1:], local, where)
        if kind == "index_accessor":
            base = self.value(operands.get("operand_1"), local, where)
            return _index(base, self.value(operands.get("operand_2"), local, where))
        if kind == "conditional":
            condition = self.value(operands.get("condition"), local, where)
            if isinstance(condition, Unresolved) or contains_unresolved(condition):
                return Unresolved(f"{where}: a condition left to deployment")
            branch = "true_value" if condition else "false_value"
            return self.value(operands.get(branch), local, where)
        if kind == "not":
            inner = operands.get("bool_value")
            if _groups(inner):
                return Unresolved(f"{where}: '!' before an unparenthesized binary expression")
            value = self.value(inner, local, where)
            return value if contains_unresolved(value) else not value
        if kind == "minus":
            value = self.value(next(iter(operands.values()), None), local, where)
            return value if contains_unresolved(value) else -value
        if kind in _BINARY:
            right = operands.get("operand_2")
            if _groups(right):
                return Unresolved(
                    f"{where}: operator grouping pycep-parser cannot tell; add parentheses"
                )
            left = self.value(operands.get("operand_1"), local, where)
            if kind == "coalesce" and left is not None and not contains_unresolved(left):
                return left
            right_value = self.value(right, local, where)
            if contains_unresolved(left) or contains_unresolved(right_value):
                return Unresolved(f"{where}: an operand left to deployment")
            try:
                return _BINARY[str(kind)](left, right_value)
            except (TypeError, ValueError, ZeroDivisionError):
                return Unresolved(f"{where}: {kind} of incompatible values")
        return Unresolved(f"{where}: operator {kind} is not read offline")

    def access(self, base_node: Any, path_node: Any, local: Mapping[str, Any], where: str) -> Any:
        current = self.value(base_node, local, where)
        steps = _steps(path_node)
        if steps is None:
            return Unresolved(f"{where}: a property access phiguard does not read")
        return self.walk(current, steps, local, where)

    def walk(
        self, current: Any, steps: list[tuple[str, Any]], local: Mapping[str, Any], where: str
    ) -> Any:
        for kind, step in steps:
            if isinstance(current, Unresolved):
                return current
            if kind == "prop":
                if isinstance(current, Mapping):
                    match = next((k for k in current if str(k).lower() == step.lower()), None)
                    current = (
                        current[match]
                        if match is not None
                        else Unresolved(f"{where}: .{step} is not declared")
                    )
                else:
                    return Unresolved(f"{where}: .{step} of a non-object")
            else:
                current = _index(current, self.value(step, local, where))
        return current

    def function(self, fn: Mapping[str, Any], local: Mapping[str, Any], where: str) -> Any:
        name = str(fn.get("type", ""))
        raw = dict(fn.get("parameters") or {})
        if name == "resource_group":
            # pycep-parser names these by meaning, not position: resourceGroup([sub,] name).
            raw = {
                "subscription_id": raw.get("subscription_id"),
                "name": raw.get("resource_group_name"),
            }
            if raw["subscription_id"] is None:
                raw.pop("subscription_id")
        args = [self.value(v, local, f"{where} {name}()") for v in raw.values()]
        while args and args[-1] is None:
            args.pop()
        if name in {"if"}:
            return Unresolved(f"{where}: if() is a deploy condition")
        return call(self.scope, name, args)

    def loop_values(self, node: Mapping[str, Any], local: Mapping[str, Any], where: str) -> Any:
        values = []
        for bindings in self.iterations(node, local, where):
            if bindings is None:
                return Unresolved(f"{where}: a loop over a value left to deployment")
            if not self.condition_holds(node.get("condition"), bindings, where):
                continue
            values.append(self.value(node.get("config"), bindings, where))
        return values

    def iterations(
        self, node: Mapping[str, Any], local: Mapping[str, Any], where: str
    ) -> list[dict[str, Any] | None]:
        loop = node.get("loop_type") or {}
        detail = loop.get("detail") or {}
        if loop.get("type") == "object":
            # pycep-parser turns the object of items(...) into text: an identifier is looked up,
            # anything more complex is left to deployment.
            name = detail.get("object_name")
            source = (
                self.lookup(name, local)
                if isinstance(name, str) and name.isidentifier()
                else Unresolved(f"{where}: items() of an expression phiguard does not read")
            )
            if not isinstance(source, Mapping) or contains_unresolved(list(source)):
                return [None]
            items: list[Any] = [{"key": k, "value": v} for k, v in source.items()]
        else:
            source = self.value(detail.get("array_name"), local, where)
            if isinstance(source, int) and not isinstance(source, bool):
                items = list(range(source))
            elif isinstance(source, list):
                items = source
            else:
                return [None]
        out: list[dict[str, Any] | None] = []
        for index, item in enumerate(items):
            bindings = dict(local)
            bindings[str(detail.get("item_name"))] = item
            if detail.get("index_name"):
                bindings[str(detail["index_name"])] = index
            out.append(bindings)
        return out

    def condition_holds(self, condition: Any, local: Mapping[str, Any], where: str) -> bool:
        """False only when the condition is known false: an unknown one may deploy."""
        if condition is None:
            return True
        node = condition
        function = node.get("function") if isinstance(node, Mapping) else None
        if isinstance(function, Mapping) and function.get("type") == "if":
            params = function.get("parameters") or {}
            node = next(iter(params.values()), None)
        value = self.value(node, local, where)
        return True if contains_unresolved(value) else bool(value)

    # -- resources and modules ------------------------------------------------------------
    def _instances(self, kind: str, name: str) -> list[tuple[dict[str, Any], Mapping[str, Any]]]:
        """(local bindings, config) of each instance of a resource or module that may deploy."""
        spec = (self.tree.get(kind) or {})[name]
        config = spec.get("config") or {}
        where = f"{kind[:-1]} {name}"
        if isinstance(config, Mapping) and "loop_type" in config:
            out = []
            for bindings in self.iterations(config, {}, where):
                local = bindings if bindings is not None else {}
                if bindings is None:
                    local = {
                        str((config["loop_type"].get("detail") or {}).get("item_name")): (
                            Unresolved(f"{where}: a loop over a value left to deployment")
                        ),
                        str((config["loop_type"].get("detail") or {}).get("index_name")): 0,
                    }
                if self.condition_holds(config.get("condition"), local, where):
                    out.append((local, config.get("config") or {}))
            return out
        if isinstance(config, Mapping) and "condition" in config and "config" in config:
            if not self.condition_holds(config["condition"], {}, where):
                return []
            return [({}, config["config"] or {})]
        return [({}, config)]

    def resource_symbol(self, name: str) -> Any:
        if name not in self._symbols:
            self._symbols[name] = Unresolved(f"resource {name} refers to itself")
            found = [
                self._declare(name, local, cfg)[0]
                for local, cfg in self._instances("resources", name)
            ]
            spec = self.tree["resources"][name]
            looped = isinstance(spec.get("config"), Mapping) and "loop_type" in spec["config"]
            self._symbols[name] = (
                found
                if looped
                else (
                    found[0]
                    if found
                    else _Symbol(
                        id=Unresolved(f"resource {name} is not deployed"), name=Unresolved(name)
                    )
                )
            )
        return self._symbols[name]

    def _declare(
        self, symbol: str, local: Mapping[str, Any], config: Mapping[str, Any]
    ) -> tuple[_Symbol, Declared]:
        spec = self.tree["resources"][symbol]
        where = f"resource {symbol}"
        rtype = str(spec.get("type", ""))
        api_version = str(spec.get("api_version", ""))
        name = self.value(config.get("name"), local, f"{where}.name")
        parent_symbol: Any = None
        if "__" in symbol:
            parent_symbol = self.resource_symbol(symbol.rsplit("__", 1)[0])
        elif config.get("parent") is not None:
            parent_symbol = self.value(config.get("parent"), local, f"{where}.parent")
        scope_value = (
            self.value(config.get("scope"), local, f"{where}.scope")
            if config.get("scope") is not None
            else None
        )
        # A name left to deployment gets a stand-in that is the same every time this instance
        # is declared (its loop bindings), and differs between instances.
        instance = hashlib.sha256(
            json.dumps([self.instance_key, local], default=str, sort_keys=True).encode()
        ).hexdigest()[:8]
        segment = safe_segment(name, f"unresolved-{symbol.lower()}-{instance}")
        if isinstance(parent_symbol, Mapping):
            parent_id = str(parent_symbol.get("id"))
            rid = f"{parent_id}/{rtype.rsplit('/', 1)[-1]}/{segment}"
            parent_name = parent_symbol.get("name")
            full_name: Any = (
                f"{parent_name}/{name}"
                if isinstance(parent_name, str) and not contains_unresolved([parent_name, name])
                else name
            )
        elif isinstance(scope_value, Mapping) and isinstance(scope_value.get("id"), str):
            rid = _at_scope(str(scope_value["id"]), rtype, segment)
            full_name = name
        else:
            rid = _at_scope(self._scope_id(rtype), rtype, segment)
            full_name = name
        symbol_value = _Symbol(
            id=rid,
            name=full_name,
            type=rtype,
            apiVersion=api_version,
            properties=Unresolved(f"{symbol}.properties (runtime state)"),
        )
        body = {
            k: self.value(v, local, f"{where}.{k}")
            for k, v in config.items()
            if k not in {"name", "parent", "scope", "depends_on", "dependsOn"}
        }
        declared = Declared(rid, rtype, full_name, api_version, body, self.source, where)
        return symbol_value, declared

    def _scope_id(self, rtype: str) -> str:
        """Where a resource without ``parent`` or ``scope`` lands: this file's deployment scope."""
        if self.target_scope == "subscription" or self.scope.resource_group is None:
            return self.scope.subscription_id
        return str(self.scope.resource_group_id)

    def module_symbol(self, name: str) -> Any:
        templates = self.module_templates(name)
        values = [_Symbol(name=t.module_name, outputs=t.outputs()) for t in templates]
        spec = self.tree["modules"][name]
        looped = isinstance(spec.get("config"), Mapping) and "loop_type" in spec["config"]
        if looped:
            return values
        return values[0] if values else _Symbol(outputs={}, name=Unresolved(name))

    def module_templates(self, name: str) -> list[BicepTemplate]:
        if name in self._modules:
            return self._modules[name]
        self._modules[name] = []
        spec = self.tree["modules"][name]
        where = f"module {name}"
        detail = spec.get("detail") or {}
        if spec.get("type") != "local":
            raise IacError(
                self.source, where, "only local module files are read (not registries or specs)"
            )
        target = (self.path.parent / str(detail.get("path", ""))).resolve()
        if self.depth >= self.MAX_MODULE_DEPTH:
            raise IacError(self.source, where, "modules nested more than 20 deep")
        if not target.is_file():
            raise IacError(self.source, where, f"module file {detail.get('path')!r} not found")
        templates = []
        for local, config in self._instances("modules", name):
            params = self.value(config.get("params") or {}, local, f"{where}.params")
            scope = self.scope
            if config.get("scope") is not None:
                scope = _scope_of(self.value(config["scope"], local, f"{where}.scope"), self.scope)
            template = BicepTemplate(
                target,
                scope,
                params if isinstance(params, Mapping) else {},
                depth=self.depth + 1,
                root=self.root,
            )
            template.module_name = self.value(config.get("name"), local, f"{where}.name")
            templates.append(template)
        self._modules[name] = templates
        return templates

    def outputs(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, spec in (self.tree.get("outputs") or {}).items():
            value = spec.get("value") if isinstance(spec, Mapping) else None
            if isinstance(value, Mapping) and "loop_type" in value:
                out[name] = self.loop_values(value, {}, f"output {name}")
            else:
                out[name] = self.value(value, {}, f"output {name}")
        return out

    def _referenced(self, symbol: str) -> list[Declared]:
        """An ``existing`` reference of a type other resources' checks look up across the
        subscription (a region's Network Watcher): asserted to exist, in the deployment's
        region unless it names its own. Other references are the template's own resources
        or outside its judgement: not listed."""
        from dataclasses import replace

        rtype = str(self.tree["resources"][symbol].get("type", "")).lower()
        if rtype not in _lookup_types():
            return []
        found = []
        for local, config in self._instances("resources", symbol):
            declared = self._declare(symbol, local, config)[1]
            body = dict(declared.body)
            if "location" not in body and self.scope.location:
                body["location"] = self.scope.location
            found.append(replace(declared, body=body, existing=True))
        return found

    def declared(self) -> list[Declared]:
        """Every resource this file and its modules deploy (``existing`` ones are read, not
        declared)."""
        found: list[Declared] = []
        for name, spec in (self.tree.get("resources") or {}).items():
            if spec.get("existing"):
                found.extend(self._referenced(name))
                continue
            for local, config in self._instances("resources", name):
                found.append(self._declare(name, local, config)[1])
        for name in self.tree.get("modules") or {}:
            for template in self.module_templates(name):
                found.extend(template.declared())
        return found


def _lookup_types() -> frozenset[str]:
    from shared.kernel.related import subscription_lists

    return frozenset(d.doc_type for d in subscription_lists())


def _scope_of(value: Any, current: Scope) -> Scope:
    rid = value.get("id") if isinstance(value, Mapping) else None
    if not isinstance(rid, str) or contains_unresolved(rid):
        return Scope(current.subscription, current.resource_group, current.location)
    parts = rid.strip("/").split("/")
    if len(parts) >= 4 and parts[2].lower() == "resourcegroups":
        return Scope(parts[1], parts[3], current.location)
    if len(parts) >= 2 and parts[0].lower() == "subscriptions":
        return Scope(parts[1], None, current.location)
    return current


def _at_scope(scope_id: str, rtype: str, name: str) -> str:
    provider, *types = rtype.split("/")
    names = name.split("/")
    if rtype.lower() == "microsoft.resources/resourcegroups":
        return f"{scope_id}/resourceGroups/{name}"
    if len(names) != len(types):
        names = [*names, *["unresolved"] * (len(types) - len(names))][: len(types)]
    tail = "/".join(f"{t}/{n}" for t, n in zip(types, names, strict=True))
    return f"{scope_id}/providers/{provider}/{tail}"


def _closing_brace(text: str, start: int) -> int:
    depth, quoted, index = 0, False, start
    while index < len(text):
        char = text[index]
        if quoted:
            if char == "\\":
                index += 1
            elif char == "'":
                quoted = False
        elif char == "'":
            quoted = True
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return index
            depth -= 1
        index += 1
    return -1


def _groups(node: Any) -> bool:
    """Whether pycep-parser's grouping of this operand is in doubt (see the module note)."""
    if not (isinstance(node, Mapping) and set(node) == {"operator"}):
        return False
    op = node["operator"]
    return isinstance(op, Mapping) and op.get("type") in _GROUPING


def _steps(node: Any) -> list[tuple[str, Any]] | None:
    if isinstance(node, Ref):
        return [("prop", str(node))]
    if isinstance(node, str):
        return [("prop", node)]
    if isinstance(node, Mapping) and set(node) == {"operator"}:
        op = node["operator"]
        operands = op.get("operands") or {}
        if op.get("type") == "property_accessor":
            head, tail = _steps(operands.get("operand_1")), _steps(operands.get("operand_2"))
            return None if head is None or tail is None else head + tail
        if op.get("type") == "index_accessor":
            head = _steps(operands.get("operand_1"))
            return None if head is None else [*head, ("index", operands.get("operand_2"))]
    return None


def _index(base: Any, index: Any) -> Any:
    if isinstance(base, Unresolved) or contains_unresolved(index):
        return Unresolved("an index into a value left to deployment")
    try:
        if isinstance(base, Mapping):
            return base[str(index)]
        return base[int(index)]
    except (KeyError, IndexError, ValueError, TypeError):
        return Unresolved(f"index {index!r} not found")


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list):
        return json.dumps(value)
    return "" if value is None else str(value)
