"""The replay: train on what was known before `start`, then walk to `end` with a simulated clock.

At every batch time b (every `batch_every` from `start`):
  1. the data that became known since the last batch is dropped into the landing folder and
     goes through ingest, validate and transform (only the months it changes);
  2. the online store is materialized up to b, and online = offline is checked at b;
  3. at the end of a period: that period is monitored (drift, realized performance, skew,
     freshness, serving health), the policy decides, a retrain trains a challenger on the
     recent data and the promotion gate compares it with the champion; a promoted champion is
     reloaded by the running server;
  4. until the next batch, every `push_every`: the rows of the views fed by push sources that
     were made since the last push are pushed to the server, then the examples due to be
     predicted are sent to it over HTTP.

Nothing reads past the clock: drops hold only rows known by b (at b or before, as Feast counts
a row at t as known at t), Feast reads are at or before b, and labels exist only for examples
whose label is in a drop.
"""

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import polars as pl

from monitoring import alarms, bins, drift, health, performance, platform, policy, report, skew
from monitoring import champion as champions
from monitoring import verdict as verdicts
from monitoring.errors import ReplayError
from monitoring.logs import LogReader, feature_values
from monitoring.reference import References
from monitoring.server import SENT_SCHEMA, Server, running_server
from monitoring.settings import ReplaySettings
from monitoring.world import World, load_world, world_folder, write_drop, write_references
from pipelines import materialize, stages
from training import promote
from training.contract import service_inputs, service_reads
from training.errors import TrainingError
from training.settings import TrainingSettings
from training.train import train

if TYPE_CHECKING:
    from feast import FeatureStore

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
Say = Callable[[str], None]
T = TypeVar("T")


class Replay:
    def __init__(self, settings: ReplaySettings, say: Say = print) -> None:
        self.s = settings
        self.clock_of = settings.clock
        self.say = say
        self.domain = settings.domain
        self.pipes = platform.create(
            settings.feature_repo, settings.replay_repo, settings.parity_sample
        )
        self.log = LogReader(settings.predictions)
        self.periods: list[dict] = []
        self.retrains: list[int] = []
        self.champion: champions.Champion | None = None
        self.world: World | None = None
        self.store: FeatureStore | None = None
        self.server: Server | None = None
        self.clock: dict[str, float] = {}  # seconds spent per phase, this period
        self.references = References(self.domain.task.seasonality, self.clock_of.period)

    # The walk's state, set by its first steps (run() takes them before any other).

    @property
    def _store(self) -> "FeatureStore":
        return _started(self.store, "feature store")

    @property
    def _world(self) -> World:
        return _started(self.world, "world")

    @property
    def _champion(self) -> champions.Champion:
        return _started(self.champion, "champion")

    @property
    def _server(self) -> Server:
        return _started(self.server, "server")

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
            self.s.replay_repo,
            self.s.tracking_uri,
            self.s.predictions,
            self.s.port,
            self.domain.task.answer,
        ) as server:
            self.server = server
            self.say(f"[serve] python -m serving on port {self.s.port}, {server.ready()['model']}")
            for k, (begin, end) in enumerate(self.s.periods()):
                self._period(k, begin, end)
        seconds = time.perf_counter() - started
        path = report.write_summary(self.s.report_dir, self._summary(seconds))
        self.say(f"[replay] done in {seconds / 60:.1f} min; summary: {path}")
        return path

    def _first_batch(self) -> None:
        start = self.clock_of.start
        folder = self.s.landing_dir / f"{start:%Y%m%dT%H%M}-initial"
        stages.apply(self.pipes)  # the registry first: the world's pushes are read from it
        self.store = materialize.open_store(self.pipes.feature_repo)
        source = world_folder(self.domain, self.s.landing, self.s.base / "world")
        self.world = load_world(self.domain, source, self._pushed_views())
        write_references(self.world, folder)
        write_drop(self.world, EARLIEST, start, folder)
        platform.load(self.pipes, folder, full=True)
        self._fill(start)
        self.say(f"[data] known before {start:%Y-%m-%d %H:%M}: loaded and materialized")

    def _pushed_views(self) -> dict[str, list[str]]:
        """Push source -> the views it feeds, from the registry."""
        found: dict[str, list[str]] = {}
        for view in self._store.list_feature_views():
            stream = view.stream_source
            if stream is not None and type(stream).__name__ == "PushSource":
                found.setdefault(stream.name, []).append(view.name)
        return found

    def _first_champion(self) -> None:
        replay = self.clock_of
        settings = self._training(replay.first_validation_start, replay.first_test_start)
        result = train(settings, self._train_say)
        self.say(f"[train] first champion: version {result.version}")
        self.champion = champions.load(settings, 0, self.s.reference_rows)
        task = self.domain.task
        unknown = [n for n in task.seasonality.calendar if n not in self.champion.names]
        if unknown:
            raise ReplayError(
                f"task {task.name!r}: Seasonality.calendar names {unknown}, which are not "
                f"numeric features of {self.champion.service} ({', '.join(self.champion.names)})"
            )

    def _period(self, k: int, begin: datetime, end: datetime) -> None:
        tick, self.clock = time.perf_counter(), {}
        sent: list[pl.DataFrame] = []  # the requests of each batch of the period
        for at, until in self.s.batches(begin, end):
            if at != begin:  # the batch at `begin` ran already: the start, or the last period's end
                self._batch(at)
            sent.append(self._serve(at, until))
        self._batch(end)
        with self.timed("monitoring"):
            requests = pl.concat([s for s in sent if s.height] or [self._no_requests()])
            summary = self._monitor(k, begin, end, requests)
        summary["decision"] = self._decide(k, summary, end)
        summary["seconds"] = time.perf_counter() - tick
        summary["phases"] = dict(self.clock)
        self.periods.append(summary)
        report.write_period(self.s.report_dir, summary)
        self.say(_line(summary))

    def _batch(self, at: datetime) -> None:
        """The drop of what became known in the batch before `at`, loaded and materialized.

        A batch that brings nothing, before a batch's time in which nothing is due to be
        predicted (a quiet season), skips the materialization: no answer can depend on it,
        and the next one catches up incrementally (its parity check then covers both)."""
        folder = self.s.landing_dir / f"{at:%Y%m%dT%H%M}"
        every = self.clock_of.batch_every
        with self.timed("pipelines"):
            dropped = write_drop(self._world, at - every, at, folder)
            if dropped:
                platform.load(self.pipes, folder)
        if not dropped and self._world.schedule(at, at + every).is_empty():
            return
        with self.timed("materialize and parity"):
            self._fill(at)

    def _fill(self, at: datetime) -> None:
        platform.fill_online(self.store, self.pipes, at, int(at.timestamp()))

    def _serve(self, at: datetime, until: datetime) -> pl.DataFrame:
        """Step by step: the rows made since the last step are pushed (a stream beside the
        batch), then the examples due to be predicted in the step are sent."""
        sent, step, every = [], at, self.clock_of.push_every
        while step < until:
            with self.timed("pushes"):
                for source in self._world.pushed:
                    made = self._world.made(source, step - every, step)
                    if made.height:
                        self._server.push(source, made)
            due = self._world.schedule(step, min(step + every, until))
            with self.timed("predictions over HTTP"):
                if due.height:
                    fields, keys = self._request_fields()
                    key = list(self.domain.task.key)
                    sent.append(self._server.predict(due, fields, keys, key, self.s.batch_size))
            step += every
        return pl.concat(sent) if sent else self._no_requests()

    def _request_fields(self) -> tuple[list[str], list[str]]:
        """What a request to the champion holds (its service's join keys and request fields,
        and the task's time), and which of those are join keys."""
        service = self._store.get_feature_service(self._champion.service)
        keys, requested = service_inputs(self._store, service)
        task = self.domain.task
        time = [task.time] if task.time not in keys + requested else []
        return [*keys, *requested, *time], keys

    def _no_requests(self) -> pl.DataFrame:
        key = self._world.examples.select(self.domain.task.key).schema
        return pl.DataFrame(schema={**key, **SENT_SCHEMA})

    # -- a period's monitoring and decision -----------------------------------------------

    def _monitor(self, k: int, begin: datetime, end: datetime, sent: pl.DataFrame) -> dict:
        """The period's monitoring; `sent` holds the requests sent in the period."""
        sent = sent.filter(pl.col("prediction_time").is_between(begin, end, closed="left"))
        ids = set(sent.drop_nulls("request_id")["request_id"].to_list())
        self.log.wait_for(ids)
        logged = self.log.read(begin, end).filter(pl.col("request_id").is_in(list(ids)))
        champ = self._champion
        task = self.domain.task
        examples = pl.read_parquet(self.pipes.offline / f"{task.examples}.parquet")
        served = sent.join(logged.select("request_id", "model_version"), on="request_id")
        realized = performance.realized(
            performance.with_labels(served, examples, end, task), self.s.min_labelled
        )
        thresholds = replace(verdicts.JUDGED, min_rows=self.s.min_rows)
        values = feature_values(logged, champ.names)
        probability = logged["probability"]
        reference = self.references.of(champ, begin, end)
        features = drift.frame_drift(reference.features, values, champ.names, thresholds)
        predictions = drift.feature_drift(
            reference.probability, probability, thresholds, "probability"
        )
        found = verdicts.verdict(
            features,
            predictions,
            champ.importance,
            task.seasonality.calendar,
            reference.probability,
            probability,
            self.s.policy.drift_share,
        )
        self.references.served(begin, champ.version, values, probability)
        return {
            "period": k,
            "start": begin.isoformat(),
            "end": end.isoformat(),
            "champion": champ.version,
            "champion_test_auc": champ.test_auc,
            "realized": realized,
            "reference": reference.what,
            "drift": [asdict(d) for d in features],
            "prediction_drift": asdict(predictions),
            "verdict": asdict(found),
            "before": _before(champ, values, self.s.min_rows),
            "histograms": _moved(reference.features, values, found),
            "skew": self._skew(logged, champ),
            "freshness": health.freshness(self._store, self._views(champ.service), end),
            "serving": health.serving(logged, sent),
        }

    def _skew(self, logged: pl.DataFrame, champ: champions.Champion) -> dict:
        sample = logged.sample(min(self.s.skew_sample, logged.height), seed=len(self.periods))
        service = self._store.get_feature_service(champ.service)
        times = self._time_fields(service)
        found = skew.compare(sample, self._store, service, champ.names, self._batch_at, times)
        return {"rows": found.rows, "rate": found.rate, "features": found.per_feature,
                "examples": found.examples}  # fmt: skip

    def _time_fields(self, service) -> list[str]:
        """The request fields that are timestamps (they are logged as text)."""
        from feast.types import UnixTimestamp

        requested = service_reads(self._store, service).requested
        times = {name for name, f in requested.items() if f.dtype == UnixTimestamp}
        return sorted({self.domain.task.time, *times})

    def _batch_at(self, moment: datetime) -> datetime:
        """The last batch at or before `moment`: what the online store held then."""
        start, every = self.clock_of.start, self.clock_of.batch_every
        return start + ((moment - start) // every) * every

    def _views(self, service_name: str) -> list[str]:
        """The batch views answering the service, those only its on-demand views read too."""
        service = self._store.get_feature_service(service_name)
        return sorted(service_reads(self._store, service).views)

    def _decide(self, k: int, summary: dict, clock: datetime) -> dict:
        champ = self._champion
        auc = summary["realized"]["roc_auc"]
        if champ.baseline_auc is None and auc is not None:
            champ.baseline_auc = auc  # its first judged period is its served baseline
            champ.baseline_brier = summary["realized"]["brier"]
        found = summary["verdict"]
        evidence = policy.Evidence(
            period=k,
            auc=auc,
            baseline_auc=champ.baseline_auc,
            drift_alarm=found["alarm"],
            drift_reason=found["reason"],
            champion_periods=k - champ.since_period + 1,
            since_retrain=k - self.retrains[-1] if self.retrains else None,
            brier=summary["realized"]["brier"],
            baseline_brier=champ.baseline_brier,
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
        recent = self.clock_of.recent
        settings = self._training(clock - 2 * recent, clock - recent)
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
            serving_now = self._server.reload()
            out["served_after_reload"] = serving_now
            self.champion = champions.load(settings, k + 1, self.s.reference_rows)
        self.say(f"[retrain] period {k}: version {result.version}: {decision.action}")
        return out

    def _training(self, validation_start: datetime, test_start: datetime) -> TrainingSettings:
        return TrainingSettings(
            feature_repo=self.s.replay_repo,
            mlflow_tracking_uri=self.s.tracking_uri,
            validation_start=validation_start,
            test_start=test_start,
            tune_budget=self.s.tune_budget,
        )

    def _train_say(self, stage: str, message: str) -> None:
        self.say(f"    [{stage}] {message}")

    def _summary(self, seconds: float) -> dict:
        return {
            "domain": self.domain.project,
            "task": self.domain.task.name,
            "settings": json.loads(self.s.model_dump_json()),
            "clock": {k: str(v) for k, v in asdict(self.clock_of).items()},
            "seconds": seconds,
            "periods": self.periods,
            "alarms": self._scored(),
        }

    def _scored(self) -> dict:
        """The drift alarms (and the rule before them) against the periods that worsened."""
        p = self.s.policy
        window = self.domain.task.seasonality.periods
        truth = alarms.worsened([q["realized"] for q in self.periods], window, p.auc_drop,
                                p.brier_rise)  # fmt: skip
        verdict = [q["verdict"] for q in self.periods]
        curve = alarms.curve([v["weighted"] for v in verdict],
                             [v["predictions_drifted"] for v in verdict], truth)  # fmt: skip
        return {
            "worsened": truth,
            "rule": f"ROC AUC down more than {p.auc_drop} or Brier up more than "
            f"{p.brier_rise} from the median of the {window} judged periods before",
            "alarm": alarms.score([v["alarm"] for v in verdict], truth),
            "before": alarms.score([q["before"]["alarm"] for q in self.periods], truth),
            "curve": curve,
            "best": alarms.best(curve),
        }


def _started(value: T | None, what: str) -> T:
    """`value`, which the walk's first steps set: None means a step ran before them."""
    if value is None:
        raise ReplayError(f"the replay has no {what} yet: Replay.run() sets it up first")
    return value


def _moved(reference: pl.DataFrame, served: pl.DataFrame, verdict: verdicts.Verdict) -> list[dict]:
    """Histograms (reference vs `served` feature values) of the judged features that drifted,
    most important first."""
    return [bins.histogram(reference[n], served[n]) for n in verdict.drifted[:6]]


# The rule before seasonality-aware references (kept to score both in one replay): every
# feature against the training rows, effect sizes alone, an alarm when 3 of the champion's 8
# most important features drifted.
BEFORE_IMPORTANT, BEFORE_DRIFTED = 8, 3


def _before(champ: champions.Champion, served: pl.DataFrame, min_rows: int) -> dict:
    thresholds = drift.DriftThresholds(min_rows=min_rows, alpha=1.0)
    found = drift.frame_drift(champ.reference, served, champ.names, thresholds)
    drifted = [d.feature for d in found if d.drifted]
    important = [n for n in champ.important(BEFORE_IMPORTANT) if n in drifted]
    return {"drifted": drifted, "alarm": len(important) >= BEFORE_DRIFTED}


def _append(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as sink:
        sink.write(json.dumps(record, default=str) + "\n")


def _line(p: dict) -> str:
    r = p["realized"]
    auc = "n/a" if r["roc_auc"] is None else f"{r['roc_auc']:.3f}"
    v = p["verdict"]
    drifted = f"{len(v['drifted'])} ({v['weighted']:.0%} of importance)"
    action = p["decision"].get("outcome", {}).get("action") or (
        "retrain" if p["decision"]["retrain"] else "keep"
    )
    phases = ", ".join(f"{k} {v:.0f}" for k, v in p["phases"].items())
    return (
        f"[period {p['period'] + 1:2d}] {p['start'][:10]}: {r['predictions']} predictions, "
        f"AUC {auc}, drifted {drifted}{', ALARM' if v['alarm'] else ''}, "
        f"skew {p['skew']['rate']:.1%}, "
        f"champion v{p['champion']}: {action} ({p['seconds']:.0f} s: {phases})"
    )
