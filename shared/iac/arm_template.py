"""ARM template JSON (``$schema`` …/deploymentTemplate.json) evaluated offline into declared
resources: parameters (the parameters file, else ``defaultValue``), variables, template
expressions (``"[...]"``), ``condition``, ``copy`` loops, child resources nested in
``resources`` and nested deployments (``Microsoft.Resources/deployments`` with an inline
``template``, flattened at their scope). Linked templates (``templateLink``) are not fetched:
they are reported in the notes and their resources are not evaluated."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shared.iac.functions import Scope, call
from shared.iac.model import Declared, IacError, safe_segment
from shared.iac.values import Unresolved, contains_unresolved

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_.]*)|(?P<sym>[()\[\],.]))"
)


def is_arm_template(document: Any) -> bool:
    if not isinstance(document, Mapping):
        return False
    schema = str(document.get("$schema", "")).lower()
    return "deploymenttemplate.json" in schema or (
        "resources" in document and "contentVersion" in document and "parameters" not in schema
    )


def is_parameters_file(document: Any) -> bool:
    return (
        isinstance(document, Mapping)
        and "deploymentparameters.json" in str(document.get("$schema", "")).lower()
    )


class _Expression:
    def __init__(self, text: str, template: ArmTemplate, local: Mapping[str, Any]) -> None:
        self.tokens: list[tuple[str, str]] = []
        index = 0
        while index < len(text):
            match = _TOKEN.match(text, index)
            if not match or match.end() == index:
                if text[index:].strip() == "":
                    break
                raise ValueError(f"unexpected {text[index : index + 10]!r}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            index = match.end()
        self.at = 0
        self.template = template
        self.local = local

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, symbol: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (symbol is not None and token[1] != symbol):
            raise ValueError(f"expected {symbol or 'more'}")
        self.at += 1
        return token

    def parse(self) -> Any:
        value = self.expression()
        if self.peek() is not None:
            raise ValueError("trailing text")
        return value

    def expression(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            value: Any = text[1:-1].replace("''", "'")
        elif kind == "num":
            value = int(text)
        elif kind == "name":
            self.take("(")
            args: list[Any] = []
            while self.peek() and self.peek() != ("sym", ")"):
                args.append(self.expression())
                if self.peek() == ("sym", ","):
                    self.take(",")
            self.take(")")
            value = self.template.function(text, args, self.local)
        else:
            raise ValueError(f"unexpected {text!r}")
        while self.peek() in (("sym", "."), ("sym", "[")):
            _, symbol = self.take()
            if isinstance(value, Unresolved):
                if symbol == ".":
                    self.take()
                else:
                    self.expression()
                    self.take("]")
                continue
            if symbol == ".":
                _, name = self.take()
                match = (
                    next((k for k in value if str(k).lower() == name.lower()), None)
                    if isinstance(value, Mapping)
                    else None
                )
                value = value[match] if match is not None else Unresolved(f".{name} unknown")
            else:
                index = self.expression()
                self.take("]")
                try:
                    value = value[index] if isinstance(value, Mapping) else value[int(index)]
                except (KeyError, IndexError, ValueError, TypeError):
                    value = Unresolved(f"[{index!r}] not found")
        return value


class ArmTemplate:
    """One ARM template JSON document deployed at one scope."""

    def __init__(
        self, document: Mapping[str, Any], source: str, scope: Scope, given: Mapping[str, Any]
    ) -> None:
        self.document = document
        self.source = source
        self.scope = scope
        self.params: dict[str, Any] = {}
        declared = document.get("parameters") or {}
        if not isinstance(declared, Mapping):
            raise IacError(source, "$.parameters", "must be an object")
        for name, spec in declared.items():
            if name in given:
                self.params[name] = given[name]
            elif isinstance(spec, Mapping) and "defaultValue" in spec:
                self.params[name] = self.value(spec["defaultValue"], {}, f"$.parameters.{name}")
            else:
                self.params[name] = Unresolved(f"parameter {name} has no value or default")
        self.variables = document.get("variables") or {}
        self._vars: dict[str, Any] = {}

    def function(self, name: str, args: list[Any], local: Mapping[str, Any]) -> Any:
        key = name.lower()
        if key == "parameters":
            return self.params.get(str(args[0]), Unresolved(f"parameter {args[0]} undeclared"))
        if key == "variables":
            vname = str(args[0])
            if vname not in self._vars:
                self._vars[vname] = Unresolved(f"variable {vname} refers to itself")
                self._vars[vname] = self.value(
                    self.variables.get(vname, Unresolved(f"variable {vname} undeclared")),
                    {},
                    f"$.variables.{vname}",
                )
            return self._vars[vname]
        if key in {"copyindex"}:
            offset = int(args[-1]) if args and isinstance(args[-1], int) else 0
            index = local.get("copyIndex")
            return index + offset if isinstance(index, int) else Unresolved("copyIndex()")
        return call(self.scope, name, args)

    def value(self, node: Any, local: Mapping[str, Any], where: str) -> Any:
        if isinstance(node, Unresolved):
            return node
        if isinstance(node, str):
            text = node.strip()
            if text.startswith("[[") or not (text.startswith("[") and text.endswith("]")):
                return node[1:] if text.startswith("[[") else node
            try:
                return _Expression(text[1:-1], self, local).parse()
            except (ValueError, IndexError) as exc:
                raise IacError(self.source, where, f"template expression not read: {exc}") from None
        if isinstance(node, list):
            return [self.value(v, local, f"{where}[{i}]") for i, v in enumerate(node)]
        if isinstance(node, Mapping):
            return {k: self.value(v, local, f"{where}.{k}") for k, v in node.items()}
        return node

    def declared(self) -> tuple[list[Declared], list[str]]:
        found: list[Declared] = []
        notes: list[str] = []
        resources = self.document.get("resources") or []
        if isinstance(resources, Mapping):  # languageVersion 2.0: symbolic names
            resources = list(resources.values())
        if not isinstance(resources, list):
            raise IacError(self.source, "$.resources", "must be an array or object")
        for index, resource in enumerate(resources):
            self._resource(resource, f"$.resources[{index}]", None, found, notes)
        return found, notes

    def _resource(
        self,
        resource: Any,
        where: str,
        parent: Declared | None,
        found: list[Declared],
        notes: list[str],
    ) -> None:
        if not isinstance(resource, Mapping) or not isinstance(resource.get("type"), str):
            raise IacError(self.source, where, "a resource needs a string 'type'")
        copies: list[dict[str, Any]] = [{}]
        copy = resource.get("copy")
        if isinstance(copy, Mapping):
            count = self.value(copy.get("count"), {}, f"{where}.copy.count")
            copies = (
                [{"copyIndex": i} for i in range(count)]
                if isinstance(count, int)
                else [{"copyIndex": Unresolved("copy count left to deployment")}]
            )
        for local in copies:
            if "condition" in resource:
                condition = self.value(resource["condition"], local, f"{where}.condition")
                if not contains_unresolved(condition) and not condition:
                    continue
            rtype = str(resource["type"])
            if parent is not None and "/" not in rtype.split("/", 1)[-1] and "." not in rtype:
                rtype = f"{parent.type}/{rtype}"
            name = self.value(resource.get("name"), local, f"{where}.name")
            if rtype.lower() == "microsoft.resources/deployments":
                self._nested(resource, local, where, found, notes)
                continue
            segment = safe_segment(name, f"unresolved-{len(found)}")
            rid = self._id(rtype, segment, parent, resource, local, where)
            body = {
                k: self.value(v, local, f"{where}.{k}")
                for k, v in resource.items()
                if k
                not in {
                    "type",
                    "name",
                    "apiVersion",
                    "dependsOn",
                    "resources",
                    "copy",
                    "condition",
                    "scope",
                    "comments",
                }
            }
            item = Declared(
                rid, rtype, name, str(resource.get("apiVersion", "")), body, self.source, where
            )
            found.append(item)
            children = resource.get("resources") or []
            for index, child in enumerate(children if isinstance(children, list) else []):
                self._resource(child, f"{where}.resources[{index}]", item, found, notes)

    def _id(
        self,
        rtype: str,
        name: str,
        parent: Declared | None,
        resource: Mapping[str, Any],
        local: Mapping[str, Any],
        where: str,
    ) -> str:
        if parent is not None:
            return f"{parent.id}/{rtype.rsplit('/', 1)[-1]}/{name.rsplit('/', 1)[-1]}"
        if "scope" in resource:
            scope = self.value(resource["scope"], local, f"{where}.scope")
            if isinstance(scope, str) and not contains_unresolved(scope):
                base = scope if scope.startswith("/") else self._top(scope)
                provider, *types = rtype.split("/")
                return f"{base}/providers/{provider}/{types[-1]}/{name.rsplit('/', 1)[-1]}"
        if rtype.lower() == "microsoft.resources/resourcegroups":
            return f"{self.scope.subscription_id}/resourceGroups/{name}"
        return self._top_id(rtype, name)

    def _top(self, name: str) -> str:
        return str(call(self.scope, "resourceId", [name]))

    def _top_id(self, rtype: str, name: str) -> str:
        base = self.scope.resource_group_id or self.scope.subscription_id
        provider, *types = rtype.split("/")
        names = name.split("/")
        names = [*names, *["unresolved"] * (len(types) - len(names))][: len(types)]
        tail = "/".join(f"{t}/{n}" for t, n in zip(types, names, strict=True))
        return f"{base}/providers/{provider}/{tail}"

    def _nested(
        self,
        resource: Mapping[str, Any],
        local: Mapping[str, Any],
        where: str,
        found: list[Declared],
        notes: list[str],
    ) -> None:
        props = resource.get("properties") or {}
        template = props.get("template") if isinstance(props, Mapping) else None
        if not isinstance(template, Mapping):
            notes.append(f"{self.source}: {where}: a linked template is not read offline")
            return
        inner_scope = (props.get("expressionEvaluationOptions") or {}).get("scope", "outer")
        scope = self.scope
        sub = resource.get("subscriptionId")
        group = resource.get("resourceGroup")
        if sub is not None or group is not None:
            sub_value = self.value(sub, local, f"{where}.subscriptionId") if sub else None
            group_value = self.value(group, local, f"{where}.resourceGroup") if group else None
            scope = Scope(
                str(sub_value) if isinstance(sub_value, str) else self.scope.subscription,
                str(group_value) if isinstance(group_value, str) else self.scope.resource_group,
                self.scope.location,
            )
        given: dict[str, Any] = {}
        if str(inner_scope).lower() == "inner":
            raw = props.get("parameters") or {}
            for name, entry in raw.items() if isinstance(raw, Mapping) else []:
                if isinstance(entry, Mapping) and "value" in entry:
                    given[name] = self.value(entry["value"], local, f"{where}.parameters.{name}")
            inner = ArmTemplate(template, self.source, scope, given)
        else:
            # Outer scope: the nested template's expressions see this template's parameters.
            inner = ArmTemplate(template, self.source, scope, {})
            inner.params = self.params
            inner.variables = self.variables
        more, more_notes = inner.declared()
        found.extend(more)
        notes.extend(more_notes)
