"""Feature values between Arrow, SQLite columns and Feast's ValueProto, in bulk.

Stock Feast turns every value into a protobuf message and writes one SQLite row per value. Here
the common scalar types go into SQLite as native values (one row per entity), converted column
by column; any other type is stored as the serialized ValueProto Feast itself would build.
Each codec decodes back to exactly the ValueProto stock Feast's SQLite store returns, including
its rule that NaN and null are both the empty value.
"""

import struct
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.type_map import feast_value_type_to_python_type, python_values_to_proto_values
from feast.value_type import ValueType

PROTO = "proto"  # a serialized ValueProto: any type, and every value written through protos

_ARROW = {  # codec -> (arrow type the column is cast to, ValueProto field)
    "int64": (pa.int64(), "int64_val"),
    "int32": (pa.int32(), "int32_val"),
    "double": (pa.float64(), "double_val"),
    "float": (pa.float64(), "float_val"),  # kept as the double; float_val rounds as stock does
    "string": (pa.string(), "string_val"),
    "bytes": (pa.binary(), "bytes_val"),
    "bool": (pa.bool_(), "bool_val"),
}
_CODEC = {
    ValueType.INT64: "int64",
    ValueType.INT32: "int32",
    ValueType.DOUBLE: "double",
    ValueType.FLOAT: "float",
    ValueType.STRING: "string",
    ValueType.BYTES: "bytes",
    ValueType.BOOL: "bool",
}


def codec_for(value_type: ValueType) -> str:
    return _CODEC.get(value_type, PROTO)


def column_values(column: pa.ChunkedArray, value_type: ValueType) -> tuple[str, list[Any]]:
    """(codec, one SQLite value per row) for a feature column declared as `value_type`."""
    codec = codec_for(value_type)
    if codec == PROTO:
        protos = python_values_to_proto_values(column.to_numpy(zero_copy_only=False), value_type)
        return codec, [p.SerializeToString() for p in protos]
    if pa.types.is_floating(column.type):
        # Feast reads NaN as a missing value; a null stores it that way.
        column = pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
    arrow_type, _ = _ARROW[codec]
    return codec, pc.cast(column, arrow_type, safe=False).to_pylist()


Decoder = Callable[[Any], ValueProto]


def decoder(codec: str) -> Decoder:
    """The stored value -> ValueProto function of `codec`, built once: a reader keeps it."""
    return _DECODERS[codec]


def _parse(blob: bytes | None) -> ValueProto:
    value = ValueProto()
    if blob is not None:
        value.ParseFromString(blob)
    return value


def _scalar(field: str, convert: Callable[[Any], Any] | None) -> Decoder:
    # A fresh proto per value (callers may change what they read); setattr beats keywords.
    def decode(stored: Any) -> ValueProto:
        value = ValueProto()
        if stored is not None:
            setattr(value, field, stored if convert is None else convert(stored))
        return value

    return decode


_DECODERS: dict[str, Decoder] = {
    PROTO: _parse,
    **{c: _scalar(f, bool if c == "bool" else None) for c, (_, f) in _ARROW.items()},
}


PythonDecoder = Callable[[Any], Any]


def python_decoder(codec: str) -> PythonDecoder | None:
    """The stored value -> Python value function of `codec`: what `proto_python` gives for the
    ValueProto `decoder(codec)` builds, without building it. None: the stored value is already
    that Python value (most codecs; a null is None either way)."""
    return _PYTHON.get(codec)


def proto_python(proto: ValueProto) -> Any:
    """A ValueProto's Python value, as Feast's online response holds it (None: no value)."""
    kind = proto.WhichOneof("val")
    if kind is None:
        return None
    return getattr(proto, kind) if kind in _SCALARS else feast_value_type_to_python_type(proto)


_SCALARS = {"int64_val", "int32_val", "double_val", "float_val", "string_val", "bool_val"}
_FLOAT32 = struct.Struct("<f")


def _float32(stored: Any) -> Any:
    # float_val holds a C float: the double rounds to nearest, as protobuf rounds it.
    if stored is None:
        return None
    try:
        return _FLOAT32.unpack(_FLOAT32.pack(stored))[0]
    except OverflowError:  # beyond float32's range: protobuf gives an infinity
        return float(np.float32(stored))


_PYTHON: dict[str, PythonDecoder] = {
    PROTO: lambda blob: proto_python(_parse(blob)),
    "float": _float32,
    "bool": lambda stored: None if stored is None else bool(stored),
}


_KEY_FORMAT = {  # value type -> (struct format of the value, arrow type)
    ValueType.INT64: ("<q", pa.int64()),
    ValueType.INT32: ("<i", pa.int32()),
}


def entity_keys(columns: dict[str, tuple[pa.ChunkedArray, ValueType]], version: int) -> list[bytes]:
    """Feast's serialized entity key of every row, without building EntityKey protos.

    Byte for byte `serialize_entity_key` (version 3): the key count, the sorted key names, then
    each value with its type and length. Other versions and key types take Feast's own path.
    """
    names = sorted(columns)
    if version != 3 or any(not _fast_key(*columns[n]) for n in names):
        return _slow_keys(columns, version)
    head = struct.pack("<I", len(names))
    for name in names:
        encoded = name.encode("utf8")
        head += struct.pack("<II", ValueType.STRING.value, len(encoded)) + encoded
    parts = [_key_values(*columns[n]) for n in names]
    if len(parts) == 1:
        return [head + p for p in parts[0]]
    return [head + b"".join(p) for p in zip(*parts, strict=True)]


def entity_key(names: Sequence[str], types: Sequence[ValueType], values: Sequence[Any]) -> bytes:
    """One entity's serialized key (version 3) from its join keys' names, types and values,
    byte for byte what `entity_keys` gives for a row; strings and integers only (ValueError
    for anything else: a caller with other types builds Feast's EntityKey instead)."""
    order = sorted(range(len(names)), key=names.__getitem__)
    out = [struct.pack("<I", len(names))]
    for i in order:
        encoded = names[i].encode("utf8")
        out.append(struct.pack("<II", ValueType.STRING.value, len(encoded)) + encoded)
    for i in order:
        out.append(_key_value(values[i], types[i]))
    return b"".join(out)


def _key_value(value: Any, value_type: ValueType) -> bytes:
    if value_type == ValueType.STRING and isinstance(value, str):
        encoded = value.encode("utf8")
        return struct.pack("<II", ValueType.STRING.value, len(encoded)) + encoded
    if value_type in _KEY_FORMAT and isinstance(value, int) and not isinstance(value, bool):
        fmt, _ = _KEY_FORMAT[value_type]
        return struct.pack("<II" + fmt[1:], value_type.value, struct.calcsize(fmt), value)
    raise ValueError(f"an entity key of type {value_type.name} cannot hold {value!r}")


def serialized_keys(keys: Sequence[EntityKeyProto], version: int) -> list[bytes]:
    """`serialize_entity_key` of each key, remembered by the key's protobuf bytes: reading a
    key's fields through protobuf costs several times more than serializing it whole."""
    return [_serialized_key(k.SerializeToString(), version) for k in keys]


@lru_cache(maxsize=16384)  # the entities a server reads again and again
def _serialized_key(message: bytes, version: int) -> bytes:
    # Messages with equal bytes hold equal fields, so Feast serializes them alike.
    key = EntityKeyProto.FromString(message)
    return serialize_entity_key(key, entity_key_serialization_version=version)


def _fast_key(column: pa.ChunkedArray, value_type: ValueType) -> bool:
    if column.null_count:
        raise ValueError("an entity key column holds nulls: Feast cannot key a row by null")
    if value_type == ValueType.STRING:
        return pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    return value_type in _KEY_FORMAT and pa.types.is_integer(column.type)


def _key_values(column: pa.ChunkedArray, value_type: ValueType) -> list[bytes]:
    if value_type == ValueType.STRING:
        tag = ValueType.STRING.value
        return [
            struct.pack("<II", tag, len(b)) + b
            for b in (s.encode("utf8") for s in column.to_pylist())
        ]
    fmt, arrow_type = _KEY_FORMAT[value_type]
    pack = struct.Struct("<II" + fmt[1:]).pack
    size = struct.calcsize(fmt)
    return [pack(value_type.value, size, v) for v in pc.cast(column, arrow_type).to_pylist()]


def _slow_keys(columns: dict[str, tuple[pa.ChunkedArray, ValueType]], version: int) -> list[bytes]:
    names = list(columns)
    values = [
        python_values_to_proto_values(col.to_numpy(zero_copy_only=False), vt)
        for col, vt in columns.values()
    ]
    return [
        serialize_entity_key(EntityKeyProto(join_keys=names, entity_values=list(row)), version)
        for row in zip(*values, strict=True)
    ]
