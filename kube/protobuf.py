"""Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`) read into the JSON
form of the same object, for request bodies: kubectl's typed commands (`create namespace`,
`create configmap|secret|deployment`, `run`, `expose`) send it. Pure.

A body is the magic `k8s\\0` and a runtime.Unknown: its TypeMeta names the kind, `raw` holds
the object's message. Fields are read by the schema kube/protobuf_schema.json, made from
Kubernetes' own generated.proto and types.go by scripts/gen-protobuf-schema; the JSON names
are Kubernetes' (the .proto uses them). Go's marshaller writes a non-pointer field even when
it is zero, where its JSON omits it: such zeros (and empty non-pointer messages) are dropped,
so the object reads as the JSON kubectl would have sent. An embedded struct (a Probe's
handler) is inline, as in the JSON. The well-known messages read as their JSON: Time and
MicroTime as RFC 3339, IntOrString as the int or the string, Quantity as its string,
RawExtension and FieldsV1 as the JSON they carry; bytes are base64.
"""

from __future__ import annotations

import base64
import functools
import json
import struct
from datetime import datetime, timezone
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
_META = "k8s.io.apimachinery.pkg.apis.meta.v1."
_UNKNOWN = "k8s.io.apimachinery.pkg.runtime.Unknown"


class ProtobufError(ValueError):
    """The body is not a protobuf object this server can read (the message says why)."""


@functools.cache
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (Path(__file__).with_name("protobuf_schema.json")).read_text())
    return schema


def decode(body: bytes) -> dict[str, Any]:
    """The object a protobuf request body carries, as JSON (with apiVersion and kind)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("not Kubernetes' protobuf encoding: the body does not start with "
                            "the magic k8s\\0")
    unknown = _message(body[len(MAGIC):], _UNKNOWN, "body")
    api_version, kind = unknown.get("apiVersion", ""), unknown.get("kind", "")
    if unknown.get("contentEncoding"):
        raise ProtobufError(f"contentEncoding {unknown['contentEncoding']!r} is not supported")
    message = _schema()["kinds"].get(f"{api_version}/{kind}")
    if message is None:
        raise ProtobufError(f"the protobuf encoding of {api_version or '?'}/{kind or '?'} is "
                            "not supported: send it as JSON")
    raw = base64.b64decode(unknown.get("raw", ""))
    return {"apiVersion": api_version, "kind": kind, **_message(raw, message, kind)}


def known_field(api_version: str, kind: str, path: tuple[str | int, ...]) -> bool:
    """Whether Kubernetes' own schema of the kind has the field at `path` (JSON names; list
    indices are skipped, and anything inside a map, or a well-known type, counts as known):
    how an unknown field is told from one Kubernetes has and this server does not implement."""
    schema = _schema()
    message = schema["kinds"].get(f"{api_version}/{kind}")
    if message is None:
        return False
    for depth, part in enumerate(path):
        if isinstance(part, int):
            continue
        if depth == 0 and part in ("apiVersion", "kind"):
            return True
        field = _field_named(message, part)
        if field is None:
            return False
        type_ = field[1]
        if type_ == "map" or type_ not in schema["messages"] or type_ in _SPECIAL:
            return True
        message = type_
    return True


def _field_named(message: str, json_name: str) -> list[Any] | None:
    for field in _schema()["messages"][message].values():
        if field[0] == json_name:
            return field  # type: ignore[no-any-return]
        if "inline" in field[3:]:
            inner = _field_named(field[1], json_name)
            if inner is not None:
                return inner
    return None


def _message(data: bytes, name: str, path: str) -> dict[str, Any]:
    """The fields of message `name` in `data`, by their JSON names."""
    fields = _schema()["messages"][name]
    out: dict[str, Any] = {}
    for number, wire, value in _fields(data, path):
        field = fields.get(str(number))
        if field is None:
            continue  # a field newer than the schema: its reader would not know it either
        json_name, type_ = field[0], field[1]
        where = f"{path}.{json_name}"
        if type_ == "map":
            key, item = _map_entry(_bytes(wire, value, where), field[2], field[3], where)
            out.setdefault(json_name, {})[key] = item
            continue
        repeated = field[2]
        if repeated and wire == 2 and type_ in _PACKABLE:
            out.setdefault(json_name, []).extend(_packed(value, type_, where))  # type: ignore[arg-type]
            continue
        if "inline" in field[3:]:  # an embedded struct: its fields are this object's
            out.update(_message(_bytes(wire, value, path), type_, path))
            continue
        item = _value(wire, value, type_, where)
        if repeated:
            out.setdefault(json_name, []).append(item)
        else:
            out[json_name] = item
    for field in fields.values():  # Go's always-written zeros, as its JSON omits them
        json_name = field[0]
        if json_name in out and field[1] != "map" and not field[2] and "pointer" not in field[3:]:
            if out[json_name] in ("", 0, False, {}, None):
                del out[json_name]
    return out


_PACKABLE = {"int32", "int64", "uint32", "uint64", "bool", "sint32", "sint64", "fixed32",
             "fixed64", "sfixed32", "sfixed64", "double", "float"}


def _value(wire: int, value: int | bytes, type_: str, where: str) -> Any:
    if type_ == "string":
        try:
            return _bytes(wire, value, where).decode()
        except UnicodeDecodeError:
            raise ProtobufError(f"{where}: not UTF-8") from None
    if type_ == "bytes":
        return base64.b64encode(_bytes(wire, value, where)).decode()
    if type_ in _PACKABLE:
        return _scalar(wire, value, type_, where)
    data = _bytes(wire, value, where)
    special = _SPECIAL.get(type_)
    if special is not None:
        return special(_message(data, type_, where), where)
    return _message(data, type_, where)


def _scalar(wire: int, value: int | bytes, type_: str, where: str) -> int | float | bool:
    if type_ in ("double", "fixed64", "sfixed64"):
        if wire != 1 or not isinstance(value, bytes):
            raise ProtobufError(f"{where}: wrong wire type {wire} for {type_}")
        number: int | float = struct.unpack(
            "<" + {"double": "d", "fixed64": "Q", "sfixed64": "q"}[type_], value)[0]
        return number
    if type_ in ("float", "fixed32", "sfixed32"):
        if wire != 5 or not isinstance(value, bytes):
            raise ProtobufError(f"{where}: wrong wire type {wire} for {type_}")
        number = struct.unpack(
            "<" + {"float": "f", "fixed32": "I", "sfixed32": "i"}[type_], value)[0]
        return number
    if wire != 0 or not isinstance(value, int):
        raise ProtobufError(f"{where}: wrong wire type {wire} for {type_}")
    if type_ == "bool":
        return value != 0
    if type_ in ("sint32", "sint64"):
        return (value >> 1) ^ -(value & 1)
    if type_ in ("int32", "int64") and value >= 1 << 63:
        return value - (1 << 64)  # a negative number: ten bytes of two's complement
    return value


def _packed(data: bytes, type_: str, where: str) -> list[Any]:
    if type_ in ("double", "fixed64", "sfixed64", "float", "fixed32", "sfixed32"):
        size = 8 if type_ in ("double", "fixed64", "sfixed64") else 4
        wire = 1 if size == 8 else 5
        if len(data) % size:
            raise ProtobufError(f"{where}: a packed list cut short")
        return [_scalar(wire, data[i:i + size], type_, where) for i in range(0, len(data), size)]
    out, i = [], 0
    while i < len(data):
        value, i = _varint(data, i, where)
        out.append(_scalar(0, value, type_, where))
    return out


def _map_entry(data: bytes, key_type: str, value_type: str, where: str) -> tuple[str, Any]:
    key: Any = ""
    value: Any = "" if value_type in ("string", "bytes") else {} \
        if value_type not in _PACKABLE else 0
    for number, wire, raw in _fields(data, where):
        if number == 1:
            key = _value(wire, raw, key_type, where)
        elif number == 2:
            value = _value(wire, raw, value_type, f"{where}[{key}]")
    if not isinstance(key, str):
        key = str(key)
    return key, value


def _fields(data: bytes, where: str) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, varint or bytes) for each field in `data`."""
    out: list[tuple[int, int, int | bytes]] = []
    i = 0
    while i < len(data):
        tag, i = _varint(data, i, where)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise ProtobufError(f"{where}: field number 0")
        value: int | bytes
        if wire == 0:
            value, i = _varint(data, i, where)
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 2:
            size, i = _varint(data, i, where)
            value, i = data[i:i + size], i + size
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ProtobufError(f"{where}: wire type {wire} is not supported")
        if i > len(data):
            raise ProtobufError(f"{where}: the message is cut short")
        out.append((number, wire, value))
    return out


def _varint(data: bytes, i: int, where: str) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if i >= len(data) or shift > 63:
            raise ProtobufError(f"{where}: a number is cut short")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def _bytes(wire: int, value: int | bytes, where: str) -> bytes:
    if wire != 2 or not isinstance(value, bytes):
        raise ProtobufError(f"{where}: expected a length-delimited field, got wire type {wire}")
    return value


def _time(fields: dict[str, Any], where: str, micro: bool = False) -> str | None:
    seconds, nanos = fields.get("seconds", 0), fields.get("nanos", 0)
    if not seconds and not nanos:
        return None  # Go's zero time: JSON null
    try:
        moment = datetime.fromtimestamp(seconds + nanos / 1e9, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise ProtobufError(f"{where}: not a time") from None
    if micro:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_string(fields: dict[str, Any], where: str) -> int | str:
    if fields.get("type", 0) == 1:
        return str(fields.get("strVal", ""))
    return int(fields.get("intVal", 0))


def _raw_json(fields: dict[str, Any], where: str, key: str = "raw") -> Any:
    raw = base64.b64decode(fields.get(key, ""))
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ProtobufError(f"{where}: the embedded object is not JSON") from None


_SPECIAL: dict[str, Callable[[dict[str, Any], str], Any]] = {
    _META + "Time": _time,
    _META + "MicroTime": lambda f, w: _time(f, w, micro=True),
    _META + "FieldsV1": lambda f, w: _raw_json(f, w, "Raw"),
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": _int_or_string,
    "k8s.io.apimachinery.pkg.api.resource.Quantity": lambda f, w: f.get("string", ""),
    "k8s.io.apimachinery.pkg.runtime.RawExtension": _raw_json,
}
