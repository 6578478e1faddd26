"""AWS responses and requests as botocore's models define them, without AWS.

``complete`` fills a hand-written response (the fields a test cares about,
with AWS's values) with every other member the operation's output shape
lists, recursively, so a saved response carries EVERY field a real one may
(tests/unit/fixtures/ops/, written by ``python -m tests.unit.ops_fixtures``).
``missing`` and ``invalid`` check a saved response against the model.
``RecordingClient`` stands for a boto3 client: it validates every request
against the operation's input shape (botocore's ParamValidator), records it
and answers with a saved response, its timestamps parsed as boto3 parses them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import botocore.session
from botocore import xform_name
from botocore.utils import parse_timestamp
from botocore.validate import ParamValidator

SESSION = botocore.session.get_session()
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ops"
WHEN = "2026-05-01T10:00:00+00:00"
# A response carries its page token only when another page follows: a saved one never does.
PAGE_TOKENS = {"nextToken", "NextToken", "NextMarker"}


def model(service: str):
    return SESSION.get_service_model(service)


def output_shape(service: str, operation: str):
    return model(service).operation_model(operation).output_shape


def _synth(shape, name: str, path: tuple[str, ...]) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return complete(shape, {}, path)
    if kind == "list":
        return [_synth(shape.member, name, path)]
    if kind == "map":
        return {f"example-{name}": _synth(shape.value, name, path)}
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if kind == "string":
        if shape.enum:
            return shape.enum[0]
        text = f"example-{name}".ljust(int(low or 0), "x")
        return text[: int(high)] if high else text
    if kind in ("integer", "long", "double", "float"):
        number = max(1, low or 1) if high is None else min(max(1, low or 1), high)
        return float(number) if kind in ("double", "float") else int(number)
    if kind == "boolean":
        return False
    if kind == "timestamp":
        return WHEN
    if kind == "blob":
        return ""
    raise ValueError(f"no example for {shape.name} ({kind})")


def complete(shape, value: Any, path: tuple[str, ...] = ()) -> Any:
    """``value`` with every member of ``shape`` it lacks (structures inside
    lists and maps too), each absent one made up from its type."""
    kind = shape.type_name
    if kind == "structure":
        out = dict(value)
        for name, member in shape.members.items():
            if not path and name in PAGE_TOKENS:
                continue
            if name in out:
                out[name] = complete(member, out[name], (*path, shape.name))
            elif member.type_name != "structure" or member.name not in path:  # a recursive shape ends here
                out[name] = _synth(member, name, (*path, shape.name))
        return out
    if kind == "list":
        return [complete(shape.member, v, path) for v in value]
    if kind == "map":
        return {k: complete(shape.value, v, path) for k, v in value.items()}
    return value


def missing(shape, value: Any, where: str, top: bool = True) -> list[str]:
    """Members of ``shape`` absent from ``value`` (structures inside lists and maps too)."""
    out: list[str] = []
    if shape.type_name == "structure":
        for name, member in shape.members.items():
            if top and name in PAGE_TOKENS:
                continue
            if name not in value:
                out.append(f"{where}.{name} ({shape.name})")
            else:
                out += missing(member, value[name], f"{where}.{name}", False)
    elif shape.type_name == "list":
        for i, item in enumerate(value):
            out += missing(shape.member, item, f"{where}[{i}]", False)
    elif shape.type_name == "map":
        for key, item in value.items():
            out += missing(shape.value, item, f"{where}.{key}", False)
    return out


def invalid(shape, value: Any) -> str:
    """What the model says is wrong with ``value`` ('' when nothing)."""
    report = ParamValidator().validate(value, shape)
    return report.generate_report() if report.has_errors() else ""


def parsed(shape, value: Any) -> Any:
    """``value`` as boto3 hands it over: timestamps as datetimes."""
    if value is None:
        return None
    kind = shape.type_name
    if kind == "structure":
        return {k: parsed(shape.members[k], v) if k in shape.members else v for k, v in value.items()}
    if kind == "list":
        return [parsed(shape.member, v) for v in value]
    if kind == "map":
        return {k: parsed(shape.value, v) for k, v in value.items()}
    if kind == "timestamp" and isinstance(value, str):
        return parse_timestamp(value)
    return value


def saved(name: str) -> dict[str, Any]:
    """A saved response: ``{"service", "operation", "response"}``."""
    return json.loads((FIXTURES / name).read_text())


Answer = Any  # a response, an exception to raise, or a callable(params) -> either


class RecordingClient:
    """A boto3 client's stand-in for one service: each call's parameters are
    validated against the operation's input shape and recorded; the answer
    is the response given for the operation (see ``Answer``)."""

    def __init__(
        self, service: str, answers: dict[str, Answer], endpoint_url: str = "https://example.amazonaws.com"
    ) -> None:
        self.service = service
        self.model = model(service)
        self.answers = answers
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.meta = SimpleNamespace(endpoint_url=endpoint_url, region_name="eu-central-1")
        self._operations = {xform_name(op): op for op in self.model.operation_names}

    def __getattr__(self, method: str) -> Callable[..., Any]:
        operation = self._operations.get(method)
        if operation is None:
            raise AttributeError(f"{self.service} has no operation {method}")

        def call(**params: Any) -> Any:
            op = self.model.operation_model(operation)
            problem = invalid(op.input_shape, params) if op.input_shape is not None else ""
            assert not problem, f"{operation}: {problem}"
            self.calls.append((operation, params))
            if operation not in self.answers:
                raise AssertionError(f"unexpected call {operation}({params})")
            answer = self.answers[operation]
            if callable(answer) and not isinstance(answer, dict):
                answer = answer(params)
            if isinstance(answer, BaseException):
                raise answer
            return parsed(op.output_shape, copy.deepcopy(answer))

        return call


class FakeTarget:
    """An ``AwsTarget`` whose clients are RecordingClients."""

    def __init__(
        self, clients: dict[str, RecordingClient], endpoint_url: str | None = None, region: str = "eu-central-1"
    ) -> None:
        self.clients, self.endpoint_url, self.region = clients, endpoint_url, region

    def client(self, service: str) -> RecordingClient:
        return self.clients.setdefault(service, RecordingClient(service, {}))
