"""The prediction server as the replay uses it: started as users start it (`python -m serving`),
spoken to over HTTP, and told to reload when a champion is promoted."""

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import polars as pl

from monitoring.errors import ReplayError
from training.examples import MISSING_KEY


@dataclass
class Server:
    client: httpx.Client
    admin_token: str
    answer: str  # the task's answer field

    def ready(self) -> dict:
        return self.client.get("/ready").raise_for_status().json()

    def reload(self) -> str:
        """Reload the champion now; the version then served."""
        answer = self.client.post("/admin/reload", headers=self._admin())
        if answer.status_code != 200:
            raise ReplayError(f"the server refused to reload ({answer.status_code}): {answer.text}")
        return answer.json()["model"]["version"]

    def push(self, source: str, rows: pl.DataFrame) -> int:
        """Rows through POST /push (Feast's push API); how many were written."""
        times = [c for c, t in rows.schema.items() if isinstance(t, pl.Datetime)]
        columns = rows.with_columns(pl.col(times).dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_dict()
        body = {"push_source_name": source, "df": {k: v.to_list() for k, v in columns.items()}}
        answer = self.client.post("/push", json=body, headers=self._admin())
        if answer.status_code != 200:
            raise ReplayError(f"the server refused a push ({answer.status_code}): {answer.text}")
        return sum(view["written"] for view in answer.json()["views"])

    def _admin(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.admin_token}"}

    def predict(
        self,
        due: pl.DataFrame,
        fields: list[str],
        join_keys: list[str],
        key: list[str],
        batch_size: int,
    ) -> pl.DataFrame:
        """Every due example through POST /predict/batch, its request holding only `fields`;
        one row per example: its `key`, prediction time, HTTP status, request id (to find it
        in the prediction log) and probability."""
        strings = {c for c in join_keys if due.schema[c] == pl.String}
        requests = [_request(row, strings) for row in due.select(fields).to_dicts()]
        keys = due.select(*key, pl.col(PREDICTED).alias("prediction_time")).to_dicts()
        sent = []
        for i in range(0, len(requests), batch_size):
            sent.extend(self._batch(requests[i : i + batch_size], keys[i : i + batch_size]))
        schema = {**due.select(key).schema, **SENT_SCHEMA}
        return pl.DataFrame(sent, schema=schema)

    def _batch(self, requests: list[dict], keys: list[dict]) -> list[dict]:
        answer = self.client.post("/predict/batch", json={"rows": requests})
        if answer.status_code != 200:
            return [_sent(k, answer.status_code, None, None) for k in keys]
        predictions = answer.json()["predictions"]
        return [
            _sent(k, 200, p["request_id"], p[self.answer])
            for k, p in zip(keys, predictions, strict=True)
        ]


PREDICTED = "_prediction_time"
SENT_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "prediction_time": pl.Datetime("us", "UTC"),
    "status": pl.Int64,
    "request_id": pl.String,
    "probability": pl.Float64,
}


def _request(row: dict, strings: set[str]) -> dict:
    """JSON for one example: times in ISO-8601, a missing text join key (`strings`) as the
    missing-key mark, as training gives it; other missing values as null."""
    out = {}
    for name, value in row.items():
        if value is None and name in strings:
            value = MISSING_KEY
        out[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return out


def _sent(key: dict, status: int, request_id: str | None, probability: float | None) -> dict:
    return {**key, "status": status, "request_id": request_id, "probability": probability}


@contextmanager
def running_server(
    feature_repo: Path, tracking_uri: str, log_dir: Path, port: int, answer: str
) -> Iterator[Server]:
    """`python -m serving` in a child process for as long as the block runs."""
    token = secrets.token_urlsafe(16)
    env = {
        **os.environ,
        "TZ": "UTC",
        "LARDER_FEATURE_REPO": str(feature_repo),
        "MLFLOW_TRACKING_URI": tracking_uri,
        "LARDER_ADMIN_TOKEN": token,
        "LARDER_RELOAD_INTERVAL_S": "0",  # the replay reloads when it promotes
        "LARDER_LOG_DIR": str(log_dir),
        "LARDER_LOG_FLUSH_S": "1",
    }
    command = [sys.executable, "-m", "serving", "--port", str(port), "--no-access-log"]
    log = (log_dir.parent / "server.log").open("a")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
    try:
        _wait_ready(client, process, Path(log.name))
        yield Server(client, token, answer)
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_ready(
    client: httpx.Client, process: subprocess.Popen, log: Path, timeout_s: float = 120
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = log.read_text()[-2000:]
            raise ReplayError(f"the server exited at start (its log: {log}):\n{said}")
        try:
            if client.get("/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise ReplayError(f"the server was not ready within {timeout_s:.0f} s")
