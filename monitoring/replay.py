"""The replay: train on what was known before `start`, then walk to `end` with a simulated clock.

At every batch time b (every `batch_every` from `start`):
  1. the data that became known since the last batch is dropped into the landing folder and
     goes through ingest, validate and transform (only the months it changes);
  2. the online store is materialized up to b, and online = offline is checked at b;
  3. at the end of a period (a week): that period is monitored (drift, realized performance,
     skew, freshness, serving health), the policy decides, a retrain trains a challenger on
     the recent data and the promotion gate compares it with the champion; a promoted
     champion is reloaded by the running server;
  4. the flights due to be predicted before the next batch go to the server over HTTP.

Nothing reads past the clock: drops hold only rows known before b, Feast reads are at or
before b, and labels exist only for flights whose outcome is in a drop.
"""

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from monitoring import bins, drift, health, performance, platform, policy, report, skew
from monitoring import champion as champions
from monitoring.logs import LogReader, feature_values
from monitoring.server import SENT_SCHEMA, Server, running_server
from monitoring.settings import ReplaySettings
from monitoring.world import World, load_world, write_drop, write_references
from pipelines import __main__ as stages
from pipelines import materialize
from pipelines.tables import package_data_dir
from training import promote
from training.errors import TrainingError
from training.settings import TrainingSettings
from training.train import train

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
Say = Callable[[str], None]


class Replay:
    def __init__(self, settings: ReplaySettings, say: Say = print) -> None:
        self.s = settings
        self.say = say
        self.world: World = load_world(settings.source_dir or package_data_dir())
        self.pipes = platform.create(settings.workdir)
        self.log = LogReader(settings.predictions)
        self.periods: list[dict] = []
        self.retrains: list[int] = []
        self.champion: champions.Champion | None = None
        self.store = None
        self.server: Server | None = None
        self.clock: dict[str, float] = {}  # seconds spent per phase, this period

    @contextlib.contextmanager
    def timed(self, phase: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.clock[phase] = self.clock.get(phase, 0.0) + time.perf_counter() - started

    # -- the walk -------------------------------------------------------------------------

    def run(self) -> Path:
        started = time.perf_counter()
        self._first_batch()
        self._first_champion()
        with running_server(
            self.s.feature_repo, self.s.tracking_uri, self.s.predictions, self.s.port
        ) as server:
            self.server = server
            self.say(f"[serve] python -m serving on port {self.s.port}, {server.ready()['model']}")
            for k, (begin, end) in enumerate(self.s.periods()):
                self._period(k, begin, end)
        seconds = time.perf_counter() - started
        path = report.write_summary(self.s.reports, self._summary(seconds))
        self.say(f"[replay] done in {seconds / 60:.1f} min; summary: {path}")
        return path

    def _first_batch(self) -> None:
        folder = self.s.landing / f"{self.s.start:%Y%m%dT%H%M}-initial"
        write_references(self.world, folder)
        write_drop(self.world, EARLIEST, self.s.start, folder)
        platform.load(self.pipes, folder, full=True)
        stages.run_apply(self.pipes)
        self.store = materialize.open_store(self.pipes.feature_repo)
        self._fill(self.s.start)
        self.say(f"[data] known before {self.s.start:%Y-%m-%d %H:%M}: loaded and materialized")

    def _first_champion(self) -> None:
        settings = self._training(self.s.validation_start, self.s.test_start)
        result = train(settings, self._train_say)
        self.say(f"[train] first champion: version {result.version}")
        self.champion = champions.load(settings, 0, self.s.reference_rows)

    def _period(self, k: int, begin: datetime, end: datetime) -> None:
        tick, self.clock = time.perf_counter(), {}
        sent: list[pl.DataFrame] = []  # the requests of each batch of the period
        for at, until in self.s.batches(begin, end):
            if at != begin:  # the batch at `begin` ran already: the start, or the last period's end
                self._batch(at)
            sent.append(self._serve(at, until))
        self._batch(end)
        with self.timed("monitoring"):
            requests = pl.concat([s for s in sent if s.height] or [_no_requests()])
            summary = self._monitor(k, begin, end, requests)
        summary["decision"] = self._decide(k, summary, end)
        summary["seconds"] = time.perf_counter() - tick
        summary["phases"] = dict(self.clock)
        self.periods.append(summary)
        report.write_period(self.s.reports, summary)
        self.say(_line(summary))

    def _batch(self, at: datetime) -> None:
        """The drop of what became known in the batch before `at`, loaded and materialized."""
        folder = self.s.landing / f"{at:%Y%m%dT%H%M}"
        with self.timed("pipelines"):
            if write_drop(self.world, at - self.s.batch_every, at, folder):
                platform.load(self.pipes, folder)
        with self.timed("materialize and parity"):
            self._fill(at)

    def _fill(self, at: datetime) -> None:
        seed = int(at.timestamp())
        platform.fill_online(self.store, self.pipes, at, self.s.parity_sample, seed)

    def _serve(self, at: datetime, until: datetime) -> pl.DataFrame:
        """Hour by hour: the weather observed in the last hour is pushed (a stream beside the
        nightly batch), then the flights due to be predicted in the hour are sent."""
        sent, hour = [], at
        while hour < until:
            with self.timed("weather pushes"):
                observed = self.world.observed_by(hour - HOUR, hour)
                if observed.height:
                    pushed = observed.rename({"time_hour": "event_timestamp"})
                    self.server.push("origin_weather_push", pushed)
            due = self.world.schedule(hour, min(hour + HOUR, until))
            with self.timed("predictions over HTTP"):
                if due.height:
                    sent.append(self.server.predict(due, self.s.batch_size))
            hour += HOUR
        return pl.concat(sent) if sent else _no_requests()

    # -- a period's monitoring and decision -----------------------------------------------

    def _monitor(self, k: int, begin: datetime, end: datetime, sent: pl.DataFrame) -> dict:
        """The period's monitoring; `sent` holds the requests sent in the period."""
        sent = sent.filter(pl.col("prediction_time").is_between(begin, end, closed="left"))
        ids = set(sent.drop_nulls("request_id")["request_id"].to_list())
        self.log.wait_for(ids)
        logged = self.log.read(begin, end).filter(pl.col("request_id").is_in(list(ids)))
        champ = self.champion
        flights = pl.read_parquet(self.pipes.offline / "flights.parquet")
        served = sent.join(logged.select("request_id", "model_version"), on="request_id")
        realized = performance.realized(
            performance.with_labels(served, flights, end), self.s.policy.min_labelled
        )
        thresholds = drift.DriftThresholds(min_rows=self.s.drift_min_rows)
        values = feature_values(logged, champ.names)
        features = drift.frame_drift(champ.reference, values, champ.names, thresholds)
        predictions = drift.feature_drift(
            champ.reference_probability, logged["probability"], thresholds, "probability"
        )
        return {
            "period": k,
            "start": begin.isoformat(),
            "end": end.isoformat(),
            "champion": champ.version,
            "champion_test_auc": champ.test_auc,
            "realized": realized,
            "drift": [asdict(d) for d in features],
            "prediction_drift": asdict(predictions),
            "histograms": _moved(champ, values, features),
            "skew": self._skew(logged, champ),
            "freshness": health.freshness(self.store, self._views(champ.service), end),
            "serving": health.serving(logged, sent),
        }

    def _skew(self, logged: pl.DataFrame, champ: champions.Champion) -> dict:
        sample = logged.sample(min(self.s.skew_sample, logged.height), seed=len(self.periods))
        service = self.store.get_feature_service(champ.service)
        found = skew.compare(sample, self.store, service, champ.names, self._batch_at)
        return {"rows": found.rows, "rate": found.rate, "features": found.per_feature,
                "examples": found.examples}  # fmt: skip

    def _batch_at(self, moment: datetime) -> datetime:
        """The last batch at or before `moment`: what the online store held then."""
        return self.s.start + ((moment - self.s.start) // self.s.batch_every) * self.s.batch_every

    def _views(self, service_name: str) -> list[str]:
        service = self.store.get_feature_service(service_name)
        names = {p.name for p in service.feature_view_projections}
        views = {v.name for v in self.store.list_feature_views()}
        return sorted(n for n in names if n in views)

    def _decide(self, k: int, summary: dict, clock: datetime) -> dict:
        champ = self.champion
        auc = summary["realized"]["roc_auc"]
        if champ.baseline_auc is None and auc is not None:
            champ.baseline_auc = auc  # its first judged period is its served baseline
        important = champ.important(self.s.policy.important_features)
        drifted = [d["feature"] for d in summary["drift"] if d["drifted"]]
        evidence = policy.Evidence(
            period=k,
            auc=auc,
            baseline_auc=champ.baseline_auc,
            drifted_important=[n for n in important if n in drifted],
            champion_periods=k - champ.since_period + 1,
            since_retrain=k - self.retrains[-1] if self.retrains else None,
        )
        decided = policy.decide(evidence, self.s.policy)
        record = {**asdict(decided), "clock": clock.isoformat(), "evidence": asdict(evidence)}
        if decided.retrain:
            with self.timed("retrain and promotion gate"):
                record["outcome"] = self._retrain(k, clock)
        _append(self.s.journal / "decisions.jsonl", record)
        return record

    def _retrain(self, k: int, clock: datetime) -> dict:
        """Train a challenger on the recent data; the gate decides. A retrain that cannot be
        done (too little data, one outcome only) is written down and the champion stays."""
        self.retrains.append(k)
        settings = self._training(clock - 2 * self.s.recent, clock - self.s.recent)
        try:
            return self._challenge(k, settings)
        except TrainingError as exc:
            self.say(f"[retrain] period {k}: failed: {exc}")
            return {"challenger": None, "action": "failed", "reasons": [str(exc)]}

    def _challenge(self, k: int, settings: TrainingSettings) -> dict:
        result = train(settings, self._train_say)
        decision = promote.promote(settings, self._train_say)
        out = {
            "challenger": result.version,
            "action": decision.action,
            "reasons": decision.reasons,
            "champion_before": decision.champion_before,
            "champion_after": decision.champion_after,
            "challenger_test_auc": result.metrics.get("test_roc_auc"),
        }
        if decision.action == promote.PROMOTE:
            serving_now = self.server.reload()
            out["served_after_reload"] = serving_now
            self.champion = champions.load(settings, k + 1, self.s.reference_rows)
        self.say(f"[retrain] period {k}: version {result.version}: {decision.action}")
        return out

    def _training(self, validation_start: datetime, test_start: datetime) -> TrainingSettings:
        return TrainingSettings(
            feature_repo=self.s.feature_repo,
            mlflow_tracking_uri=self.s.tracking_uri,
            validation_start=validation_start,
            test_start=test_start,
            tune_budget=self.s.tune_budget,
        )

    def _train_say(self, stage: str, message: str) -> None:
        self.say(f"    [{stage}] {message}")

    def _summary(self, seconds: float) -> dict:
        return {
            "settings": json.loads(self.s.model_dump_json()),
            "seconds": seconds,
            "periods": self.periods,
        }


def _no_requests() -> pl.DataFrame:
    return pl.DataFrame(schema=SENT_SCHEMA)


def _moved(champ: champions.Champion, served: pl.DataFrame, found: list) -> list[dict]:
    """Histograms (reference vs `served` feature values) of the features that drifted, worst
    first."""
    moved = sorted((d for d in found if d.drifted), key=lambda d: -(d.psi or 0))
    return [bins.histogram(champ.reference[d.feature], served[d.feature]) for d in moved[:6]]


def _append(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as sink:
        sink.write(json.dumps(record, default=str) + "\n")


def _line(p: dict) -> str:
    r = p["realized"]
    auc = "n/a" if r["roc_auc"] is None else f"{r['roc_auc']:.3f}"
    drifted = sum(d["drifted"] for d in p["drift"])
    action = p["decision"].get("outcome", {}).get("action") or (
        "retrain" if p["decision"]["retrain"] else "keep"
    )
    phases = ", ".join(f"{k} {v:.0f}" for k, v in p["phases"].items())
    return (
        f"[week {p['period'] + 1:2d}] {p['start'][:10]}: {r['predictions']} predictions, "
        f"AUC {auc}, {drifted} feature(s) drifted, skew {p['skew']['rate']:.1%}, "
        f"champion v{p['champion']}: {action} ({p['seconds']:.0f} s: {phases})"
    )
