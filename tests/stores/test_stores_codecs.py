"""Bulk conversions equal Feast's value-by-value ones: entity keys byte for byte (as written
and as looked up), and every feature value decodes to the ValueProto Feast's own conversion
builds (NaN and null alike)."""

from datetime import UTC, datetime

import pyarrow as pa
import pytest
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType

from stores import codecs

COLUMNS = [
    (ValueType.DOUBLE, pa.array([1.5, None, float("nan"), -0.0, 1e308])),
    (ValueType.FLOAT, pa.array([1.5, None, float("nan"), 0.1], pa.float32())),
    (ValueType.INT64, pa.array([1, None, 2**62 + 1, -7])),
    (ValueType.INT64, pa.array([1.0, None, 3.0])),  # ints that went through pandas as floats
    (ValueType.INT32, pa.array([1, None, -7], pa.int32())),
    (ValueType.STRING, pa.array(["a", None, "", "é"])),
    (ValueType.BOOL, pa.array([True, None, False])),
    (ValueType.BYTES, pa.array([b"x", None, b""])),
    (ValueType.UNIX_TIMESTAMP, pa.array([datetime(2013, 1, 1, 5, 30, 1, 5, tzinfo=UTC), None])),
    (ValueType.DOUBLE_LIST, pa.array([[1.0, 2.0], None, []])),
]


@pytest.mark.parametrize(("value_type", "array"), COLUMNS, ids=lambda v: str(v))
def test_values_decode_to_what_feast_builds(value_type, array) -> None:
    column = pa.chunked_array([array])
    codec, stored = codecs.column_values(column, value_type)
    decode = codecs.decoder(codec)
    got = [decode(v) for v in stored]
    # The server's read path: straight to the Python value the ValueProto holds.
    python = codecs.python_decoder(codec) or (lambda v: v)
    assert [python(v) for v in stored] == [codecs.proto_python(p) for p in got]
    want = python_values_to_proto_values(column.to_numpy(zero_copy_only=False), value_type)
    if value_type == ValueType.INT64 and pa.types.is_integer(array.type):
        # Feast routes an integer column with nulls through float64; 2**62 + 1 survives only here.
        assert got[2].int64_val == 2**62 + 1
        got, want = got[:2] + got[3:], want[:2] + want[3:]
    assert got == want


@pytest.mark.parametrize(
    "columns",
    [
        {"tailnum": (pa.chunked_array([["N14228", "N1", "é"]]), ValueType.STRING)},
        {"id": (pa.chunked_array([[0, -1, 2**40]]), ValueType.INT64)},
        {"n": (pa.chunked_array([[3, 4, 5]], pa.int32()), ValueType.INT32)},
        {  # two keys: Feast sorts them by name
            "origin": (pa.chunked_array([["EWR", "JFK", "LGA"]]), ValueType.STRING),
            "carrier": (pa.chunked_array([["UA", "AA", "B6"]]), ValueType.STRING),
        },
    ],
)
def test_entity_keys_are_feasts_bytes(columns) -> None:
    names = list(columns)
    values = [
        python_values_to_proto_values(col.to_numpy(zero_copy_only=False), vt)
        for col, vt in columns.values()
    ]
    protos = [
        EntityKey(join_keys=names, entity_values=list(row)) for row in zip(*values, strict=True)
    ]
    want = [serialize_entity_key(key, 3) for key in protos]
    assert codecs.entity_keys(columns, 3) == want
    assert codecs.serialized_keys(protos, 3) == want  # what a read looks up
    assert codecs.serialized_keys(protos, 3) == want  # and again, remembered
    rows = zip(*(col.to_pylist() for col, _ in columns.values()), strict=True)
    types = [vt for _, vt in columns.values()]
    assert [codecs.entity_key(names, types, row) for row in rows] == want  # one at a time


def test_a_double_stored_for_a_float_feature_rounds_as_protobuf_rounds_it() -> None:
    from feast.protos.feast.types.Value_pb2 import Value

    python = codecs.python_decoder("float")
    assert python is not None
    for stored in (0.1, -1e-50, 3.4028235e38, 1e39, -1e300, float("inf"), None):
        proto = Value()
        if stored is not None:
            proto.float_val = stored
        assert python(stored) == codecs.proto_python(proto), stored


def test_an_entity_key_of_another_type_is_refused() -> None:
    with pytest.raises(ValueError, match="INT64"):
        codecs.entity_key(["id"], [ValueType.INT64], [True])
    with pytest.raises(ValueError, match="STRING"):
        codecs.entity_key(["tailnum"], [ValueType.STRING], [5])
