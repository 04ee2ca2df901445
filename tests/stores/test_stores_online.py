"""The bulk online store, after the bulk engine's materialization, reads back exactly what stock
Feast's SQLite store reads back after its own; an older row never replaces a newer one; a write
that fails half way leaves the previous state readable; `feast serve` and the app's online
reads work on it."""

import json
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from pipelines.materialize import materialize_store, watermark
from pipelines.parity import entity_keys, keyed_alike
from pipelines.settings import PipelineSettings
from tests.stores.store_twins import FAST, STOCK, feature_store, repo_objects
from training.contract import service_inputs


def _twins(platform: PipelineSettings, base):
    """Stock and fast stores over a domain's data, both materialized up to the watermark."""
    objects = repo_objects(platform.feature_repo)
    stores = (
        feature_store(base / "stock", STOCK, objects),
        feature_store(base / "fast", FAST, objects),
    )
    for store in stores:
        materialize_store(store, watermark(platform.offline))
    return stores


@pytest.fixture(scope="module")
def twins(platform: PipelineSettings, tmp_path_factory):
    return _twins(platform, tmp_path_factory.mktemp("online_twins"))


@pytest.fixture(scope="module")
def domain_twins(domain_platform: PipelineSettings, tmp_path_factory):
    return domain_platform, _twins(domain_platform, tmp_path_factory.mktemp("domain_twins"))


def _unknown(value):
    return "ZZZZ" if isinstance(value, str) else -1


def _groups(store) -> list[tuple[list, list[dict]]]:
    """The views keyed alike, with every key row of their offline tables and one unknown."""
    out = []
    for names, views in keyed_alike(store).items():
        rows = entity_keys(views, names, None, 0).to_dicts()
        out.append((views, [*rows, {k: _unknown(rows[0][k]) for k in names}]))
    return out


def _rows(platform: PipelineSettings) -> list[dict]:
    keys = entity_keys(
        [v for v in _stock_views(platform) if v.join_keys == ["tailnum"]], ("tailnum",), None, 0
    )
    return keys.to_dicts()


def _stock_views(platform):
    from feast import FeatureStore

    return FeatureStore(repo_path=str(platform.feature_repo)).list_feature_views()


def test_online_reads_equal_stock_feast(domain_twins) -> None:
    _, (stock, fast) = domain_twins
    for views, rows in _groups(stock):
        refs = [f"{v.name}:{f.name}" for v in views for f in v.features]
        want = stock.get_online_features(features=refs, entity_rows=rows).proto
        got = fast.get_online_features(features=refs, entity_rows=rows).proto
        assert got == want  # values, statuses and event timestamps, feature by feature
        for view in views:  # and the store's own online_read, value protos and timestamps
            keys = [_key(view, row) for row in rows]
            reads = [
                s._get_provider().online_store.online_read(s.config, view, keys)
                for s in (stock, fast)
            ]
            assert reads[0] == reads[1], view.name


def _key(view, row):
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    names = sorted(view.join_keys)
    values = [
        Value(string_val=row[n]) if isinstance(row[n], str) else Value(int64_val=row[n])
        for n in names
    ]
    return EntityKey(join_keys=names, entity_values=values)


def test_the_servings_fast_path_reads_equal_stock_feast(domain_twins) -> None:
    from serving.online import OnlineReader, plan_for
    from tests.serving.conftest import known_request

    platform, twins = domain_twins
    stock, _ = twins
    task = platform.domain.task
    service = stock.get_feature_service(task.feature_service)
    keys, requested = service_inputs(stock, service)
    known = known_request(platform, stock)
    rows = [known, {**known, **{k: _unknown(known[k]) for k in keys}}]
    entities = {key: [row[key] for row in rows] for key in [*keys, *requested]}
    as_of = [watermark(platform.offline).timestamp()]
    answers = [
        OnlineReader(store).read(plan_for(store, service, False), entities, as_of)
        for store in twins
    ]
    assert answers[0] == answers[1]


def test_the_servings_reads_of_every_stored_entity_equal_stock_feast(domain_twins) -> None:
    """Stock Feast's store goes through Feast's OnlineStore interface, the platform's through
    its own reader by serialized key: every key of every view, all at once and one by one."""
    from serving.online import OnlineReader, plan_for

    platform, (stock, fast) = domain_twins
    as_of = [watermark(platform.offline).timestamp()]
    readers = [OnlineReader(store) for store in (stock, fast)]
    assert readers[0]._direct is None and readers[1]._direct is not None
    for views, rows in _groups(stock):
        refs = [f"{v.name}:{f.name}" for v in views for f in v.features]
        entities = {k: [row[k] for row in rows] for k in rows[0]}
        answers = [r.read(plan_for(r.store, refs, True), entities, as_of) for r in readers]
        assert answers[0] == answers[1]
        for row in rows[:: max(1, len(rows) // 40)] + rows[-1:]:  # the unknown key last
            one = {k: [v] for k, v in row.items()}
            answers = [r.read(plan_for(r.store, refs, True), one, as_of) for r in readers]
            assert answers[0] == answers[1], row


def _carrier_view(store):
    return store.get_feature_view("carrier_performance")


def _table(view, carrier: str, at, flights: int) -> pa.Table:
    """One carrier_performance row written straight to the store, as the engine would."""
    values = {f.name: [float(flights)] for f in view.features}
    values.update({f.name: [flights] for f in view.features if "flights" in f.name})
    return pa.table(
        {
            "carrier": [carrier],
            "event_timestamp": pa.array([at], pa.timestamp("us", "UTC")),
            **values,
        }
    )


def test_an_older_row_never_overwrites_a_newer_one(twins, platform) -> None:
    _, fast = twins
    view, online = _carrier_view(fast), fast._get_provider().online_store
    at = watermark(platform.offline) + timedelta(days=400)
    online.write_arrow(fast.config, view, _table(view, "QQ", at, 7))
    online.write_arrow(fast.config, view, _table(view, "QQ", at - timedelta(hours=1), 1))
    fast.materialize(  # an old window again, through the engine
        start_date=watermark(platform.offline) - timedelta(days=3),
        end_date=watermark(platform.offline) - timedelta(days=2),
    )
    got = fast.get_online_features(
        features=["carrier_performance:carrier_flights_7d"], entity_rows=[{"carrier": "QQ"}]
    )
    assert got.to_dict()["carrier_flights_7d"] == [7]
    stock_after, fast_after = (
        s.get_online_features(
            features=["carrier_performance:carrier_flights_7d"],
            entity_rows=[{"carrier": c} for c in ("UA", "AA")],
        ).to_dict()
        for s in twins
    )
    assert fast_after == stock_after  # the re-run of an old window changed nothing


def test_a_write_that_fails_half_way_leaves_the_previous_state(twins, platform) -> None:
    _, fast = twins
    view, online = _carrier_view(fast), fast._get_provider().online_store
    keys = [{"carrier": c} for c in ("UA", "AA", "B6", "EV")]
    before = fast.get_online_features(
        features=["carrier_performance:on_time_rate_7d"], entity_rows=keys
    ).proto
    later = watermark(platform.offline) + timedelta(days=1)
    batch = pa.concat_tables([_table(view, c["carrier"], later, 99) for c in keys])
    broken = batch.set_column(
        1, "event_timestamp", pa.array([later, later, None, later], pa.timestamp("us", "UTC"))
    )
    with pytest.raises(Exception, match="NOT NULL"):  # the third row fails after two were written
        online.write_arrow(fast.config, view, broken)
    after = fast.get_online_features(
        features=["carrier_performance:on_time_rate_7d"], entity_rows=keys
    ).proto
    assert after == before


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_feast_serve_answers_from_the_bulk_store(platform, twins) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "feast.cli.cli", "serve", "--host", "127.0.0.1", "-p", str(port)],
        cwd=platform.feature_repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        body = json.dumps({
            "features": ["aircraft_history:flights_7d", "aircraft_history:mean_arr_delay_7d"],
            "entities": {"tailnum": [r["tailnum"] for r in _rows(platform)[:5]]},
        }).encode()  # fmt: skip
        answer = _post_when_up(f"http://127.0.0.1:{port}/get-online-features", body, server)
    finally:
        server.terminate()
        server.wait(timeout=30)
    stock, _ = twins
    want = stock.get_online_features(
        features=["aircraft_history:flights_7d", "aircraft_history:mean_arr_delay_7d"],
        entity_rows=[{"tailnum": r["tailnum"]} for r in _rows(platform)[:5]],
    ).to_dict()
    names = answer["metadata"]["feature_names"]
    served = {name: result["values"] for name, result in zip(names, answer["results"], strict=True)}
    assert served["flights_7d"] == want["flights_7d"]
    assert served["mean_arr_delay_7d"] == want["mean_arr_delay_7d"]


def _post_when_up(url: str, body: bytes, server: subprocess.Popen, wait: float = 60.0) -> dict:
    deadline = time.monotonic() + wait
    while True:
        try:
            request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.load(response)
        except OSError as exc:
            if server.poll() is not None or time.monotonic() > deadline:
                log = server.stderr.read()[-2000:]
                raise AssertionError(f"feast serve did not answer: {log}") from exc
            time.sleep(0.5)


def test_a_reader_follows_schema_changes_made_by_another_writer(tmp_path) -> None:
    """The reader keeps each layout's decoders and column positions; a feature added by another
    writer (a new layout, a new column) and a table dropped and rebuilt with its columns in
    another order (the same layout, other positions) still read right, old rows included."""
    from feast import RepoConfig
    from feast.infra.key_encoding_utils import serialize_entity_key

    from stores.online import ABSENT, BulkSqliteOnlineStore

    config = RepoConfig(
        project="schema",
        provider="local",
        registry=str(tmp_path / "registry.db"),
        online_store={
            "type": "stores.online.BulkSqliteOnlineStore",
            "path": str(tmp_path / "o.db"),
        },
        entity_key_serialization_version=3,
        repo_path=str(tmp_path),
    )
    old, added, swapped = _view("flights"), _view("flights", "on_time"), _view("on_time", "flights")
    reader, writer = BulkSqliteOnlineStore(), BulkSqliteOnlineStore()

    direct = reader.values_reader(config, added, ["flights", "on_time"])  # built before a table
    narrow = reader.values_reader(config, added, ["on_time"])

    def read() -> list:
        keys = [_key(added, {"carrier": c}) for c in ("UA", "AA")]
        got = reader.online_read(config, added, keys)
        plain = [None if values is None else _plain(values) for _, values in got]
        # The server's reader answers the same, a feature the row lacks as ABSENT.
        serialized = [serialize_entity_key(k, 3) for k in keys]
        rows = direct(serialized)
        assert [direct.one(k) for k in serialized] == [rows.get(k) for k in serialized]
        # and one query over several views answers each view's own reads (no table yet,
        # a column added by another writer, a table rebuilt: each read the same)
        joined = reader.joined_reader([direct, narrow, direct])
        assert joined.one([serialized[0], serialized[1], serialized[1]]) == [
            direct.one(serialized[0]),
            narrow.one(serialized[1]),
            direct.one(serialized[1]),
        ]
        assert [
            None
            if k not in rows
            else {f: v for f, v in zip(direct.features, rows[k][1], strict=True) if v is not ABSENT}
            for k in serialized
        ] == plain
        return plain

    assert read() == [None, None]  # applied nowhere yet: no such table
    writer.write_arrow(config, old, _row("UA", flights=3))
    assert read() == [{"flights": 3}, None]
    reader.online_read(config, old, [_key(old, {"carrier": "UA"})])[0][1]["flights"].int64_val = 9
    assert read() == [{"flights": 3}, None]  # a caller's change to a value is its own
    writer.write_arrow(config, added, _row("AA", flights=5, on_time=0.5))
    assert read() == [{"flights": 3}, {"flights": 5, "on_time": 0.5}]
    writer.teardown(config, [old], [])
    writer.write_arrow(config, swapped, _row("AA", on_time=0.25, flights=6))
    writer.write_arrow(config, old, _row("UA", flights=4))
    assert read() == [{"flights": 4}, {"flights": 6, "on_time": 0.25}]


def _view(*features: str):
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64, String

    types = {"flights": Int64, "on_time": Float64}
    return FeatureView(
        name="carrier_stats",
        entities=[Entity(name="carrier", join_keys=["carrier"], value_type=ValueType.STRING)],
        schema=[Field(name="carrier", dtype=String)]
        + [Field(name=f, dtype=types[f]) for f in features],
        source=FileSource(path="unused.parquet", timestamp_field="event_timestamp"),
    )


def _row(carrier: str, **features) -> pa.Table:
    at = pa.array([datetime(2013, 1, 1, tzinfo=UTC)], pa.timestamp("us", "UTC"))
    return pa.table(
        {"carrier": [carrier], "event_timestamp": at, **{k: [v] for k, v in features.items()}}
    )


def _plain(values: dict) -> dict:
    return {name: getattr(proto, proto.WhichOneof("val")) for name, proto in values.items()}
