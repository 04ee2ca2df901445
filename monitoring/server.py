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
from monitoring.world import SCHEDULE
from training.labels import UNKNOWN_TAILNUM


@dataclass
class Server:
    client: httpx.Client
    admin_token: str

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

    def predict(self, due: pl.DataFrame, batch_size: int) -> pl.DataFrame:
        """Every due flight through POST /predict/batch; one row per flight: its key, the
        request id (to find it in the prediction log), the HTTP status and probability."""
        rows = due.select(*SCHEDULE, "prediction_time", "flight").to_dicts()
        sent = []
        for i in range(0, len(rows), batch_size):
            sent.extend(self._batch(rows[i : i + batch_size]))
        return pl.DataFrame(sent, schema=SENT_SCHEMA)

    def _batch(self, rows: list[dict]) -> list[dict]:
        body = {"flights": [_request(r) for r in rows]}
        answer = self.client.post("/predict/batch", json=body)
        if answer.status_code != 200:
            return [_sent(r, answer.status_code, None, None) for r in rows]
        predictions = answer.json()["predictions"]
        return [
            _sent(r, 200, p["request_id"], p["delay_probability"])
            for r, p in zip(rows, predictions, strict=True)
        ]


SENT_SCHEMA = {
    "carrier": pl.String,
    "flight": pl.Int64,
    "scheduled_departure": pl.Datetime("us", "UTC"),
    "prediction_time": pl.Datetime("us", "UTC"),
    "status": pl.Int64,
    "request_id": pl.String,
    "probability": pl.Float64,
}


def _request(row: dict) -> dict:
    return {
        "tailnum": row["tailnum"] or UNKNOWN_TAILNUM,
        "carrier": row["carrier"],
        "origin": row["origin"],
        "dest": row["dest"],
        "scheduled_departure": row["scheduled_departure"].isoformat(),
        "distance": row["distance"],
    }


def _sent(row: dict, status: int, request_id: str | None, probability: float | None) -> dict:
    keys = ("carrier", "flight", "scheduled_departure", "prediction_time")
    return {
        **{k: row[k] for k in keys},
        "status": status,
        "request_id": request_id,
        "probability": probability,
    }


@contextmanager
def running_server(
    feature_repo: Path, tracking_uri: str, log_dir: Path, port: int
) -> Iterator[Server]:
    """`python -m serving` in a child process for as long as the block runs."""
    token = secrets.token_urlsafe(16)
    env = {
        **os.environ,
        "TZ": "UTC",
        "FLIGHTS_FEATURE_REPO": str(feature_repo),
        "MLFLOW_TRACKING_URI": tracking_uri,
        "FLIGHTS_ADMIN_TOKEN": token,
        "FLIGHTS_RELOAD_INTERVAL_S": "0",  # the replay reloads when it promotes
        "FLIGHTS_LOG_DIR": str(log_dir),
        "FLIGHTS_LOG_FLUSH_S": "1",
    }
    command = [sys.executable, "-m", "serving", "--port", str(port), "--no-access-log"]
    log = (log_dir.parent / "server.log").open("a")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
    try:
        _wait_ready(client, process, Path(log.name))
        yield Server(client, token)
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
