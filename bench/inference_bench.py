"""Inference benchmark: the champion's trees in LightGBM's own predict (what serves) against
the same trees converted to ONNX by onnxmltools and run by ONNX Runtime.

    TZ=UTC .venv/bin/python bench/inference_bench.py [--rows 5000] [--max-load 1.5]

Needs the `onnx` extra (`pip install -e '.[onnx]'`); measured with
`pip install onnxmltools==1.16.0 onnxruntime==1.32.0 onnx==1.23.2`, which also brought
skl2onnx==1.20.0, flatbuffers==25.12.19 and ml_dtypes==0.7.0 (protobuf 7.36.2 was already
there), beside lightgbm 4.6.0 and numpy 2.4.6.

Loads the registered champion (name, alias and MLflow store as the server reads them) and the
rows of the task's test months from the newest saved training frame, in random order: as the
dict rows serving gets (None for missing) and as the matrix `encode_rows` makes. Then:

- converts the booster (from its text model, as logged) with `onnxmltools.convert_lightgbm`
  over a float32 input, and counts what became of LightGBM's categorical (set) splits;
- compares ONNX Runtime's raw margin (the converted graph with its sigmoid switched off) and
  the served probability (the champion's Platt sigmoid over that margin) with LightGBM's, on
  every test row, on them with every categorical input missing, and on rows with one number
  set just above one of the model's thresholds (where float32 cannot follow); and counts the
  test rows that hold such a number;
- times per call, single-threaded, for 1 and 100 rows (of the first --rows rows): LightGBM's
  predict (and variants), the served path (`encode_rows` + `proba`), ONNX Runtime's `run`,
  the served path with ONNX Runtime in LightGBM's place, and `encode_rows` alone; wall-clock
  median and p99, and the CPU time per call (which another job on the machine hardly
  changes). Cases take turns in rounds, each call on other rows.

Writes bench/results/inference.md and prints it. It asserts nothing: the figures are the
finding. Before timing it waits (up to --wait seconds) for the 1-minute load average to fall
below --max-load, and says whether it did.
"""

import argparse
import ctypes
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import lightgbm
import numpy as np
import pandas as pd
from scipy.special import expit

from serving.model import Champion, load_champion
from serving.settings import ServingSettings
from training.settings import TrainingSettings
from training.split import split_by_time

ROOT = Path(__file__).resolve().parent.parent

PACKAGES = ("lightgbm", "onnxruntime", "onnxmltools", "onnx", "skl2onnx", "numpy", "protobuf")
EXACT = 1e-6  # the bound between the served path and the logged model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000, help="test-month rows timed")
    parser.add_argument("--calls-1", type=int, default=2000, help="timed one-row calls")
    parser.add_argument("--calls-100", type=int, default=500, help="timed 100-row calls")
    parser.add_argument("--max-load", type=float, default=1.5)
    parser.add_argument("--wait", type=int, default=600, help="seconds to wait for it")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "inference.md")
    args = parser.parse_args()
    start = {"uptime": uptime()}
    champion = champion_model()
    rows, frame = test_rows(champion)
    matrix, unseen = champion.booster.encoding.encode_rows(rows)
    booster = lightgbm.Booster(model_str=champion.booster.model_text)
    started = time.perf_counter()
    onnx_model = to_onnx(booster)
    convert_s = time.perf_counter() - started
    margin_session = session(onnx_model, raw=True)
    facts = {
        "model": model_facts(champion, booster, onnx_model, convert_s),
        "equality": equality(champion, booster, onnx_model, margin_session, frame, matrix),
        "unseen": len(unseen),
        "ties": float32_ties(booster, matrix, champion.inputs),
    }
    start["quiet"] = wait_for_quiet(args.max_load, args.wait)
    start["uptime_timed"] = uptime()
    n = min(args.rows, len(rows))
    timings = time_all(champion, booster, margin_session, rows[:n], matrix[:n], args)
    report(args, start, uptime(), champion, (len(rows), n), facts, timings)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def wait_for_quiet(max_load: float, seconds: int) -> bool:
    """Whether the 1-minute load average fell below `max_load` within `seconds`."""
    deadline = time.monotonic() + seconds
    while os.getloadavg()[0] >= max_load:
        if time.monotonic() > deadline:
            return False
        time.sleep(15)
    return True


# --- the model and its rows ---------------------------------------------------------------


def champion_model() -> Champion:
    settings = ServingSettings()
    champion = load_champion(settings.tracking_uri, settings.model, settings.model_alias)
    if champion.booster is None:
        sys.exit(f"{champion.name} version {champion.version} is not a CalibratedBooster")
    return champion


def test_rows(champion: Champion) -> tuple[list[dict], pd.DataFrame]:
    """The rows of the task's test months in random order, as dict rows and as a frame of the
    model's inputs."""
    settings = TrainingSettings()
    frames = sorted(settings.frames_dir.glob("*.parquet"), key=lambda p: p.stat().st_mtime)
    if not frames:
        sys.exit(
            f"no saved training frame in {settings.frames_dir}: run `python -m training train`"
        )
    test = split_by_time(pd.read_parquet(frames[-1]), settings.split).test
    frame = test[champion.inputs].sample(frac=1.0, random_state=0)
    frame = frame.reset_index(drop=True)
    # as Feast answers: Python numbers and strings, None for missing
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return rows, frame


# --- ONNX ---------------------------------------------------------------------------------


def to_onnx(booster: lightgbm.Booster):
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    inputs = [("input", FloatTensorType([None, booster.num_feature()]))]
    return convert_lightgbm(booster, initial_types=inputs, zipmap=False)


def session(onnx_model, raw: bool):
    """A one-thread ONNX Runtime session; `raw`: with the converted sigmoid switched off, so
    the second output column is LightGBM's raw margin."""
    import onnx
    import onnxruntime as ort

    model = onnx.ModelProto()
    model.CopyFrom(onnx_model)
    if raw:
        trees = next(n for n in model.graph.node if n.op_type == "TreeEnsembleClassifier")
        next(a for a in trees.attribute if a.name == "post_transform").s = b"NONE"
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # the converter declares the label output's shape as [1]
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def onnx_margin(margin_session, matrix: np.ndarray) -> np.ndarray:
    return margin_session.run(["probabilities"], {"input": f32(matrix)})[0][:, 1].astype(np.float64)


def model_facts(champion: Champion, booster: lightgbm.Booster, onnx_model, convert_s: float):
    dump = booster.dump_model()
    splits: Counter = Counter()
    for tree in dump["tree_info"]:
        count_splits(tree["tree_structure"], splits)
    trees = next(n for n in onnx_model.graph.node if n.op_type == "TreeEnsembleClassifier")
    modes = next(a for a in trees.attribute if a.name == "nodes_modes").strings
    return {
        "trees": booster.num_trees(),
        "leaves": sum(t["num_leaves"] for t in dump["tree_info"]),
        "inputs": booster.num_feature(),
        "categorical inputs": len(champion.booster.encoding.positions),
        "numeric splits (<=)": splits["<="],
        "categorical splits (in set)": splits["=="],
        "categories in those sets": splits["categories"],
        "ONNX nodes": dict(Counter(m.decode() for m in modes)),
        "text model KB": len(champion.booster.model_text) / 1e3,
        "ONNX model KB": onnx_model.ByteSize() / 1e3,
        "conversion s": convert_s,
    }


def count_splits(node: dict, splits: Counter) -> None:
    if "decision_type" not in node:
        return
    splits[node["decision_type"]] += 1
    if node["decision_type"] == "==":
        splits["categories"] += len(str(node["threshold"]).split("||"))
    count_splits(node["left_child"], splits)
    count_splits(node["right_child"], splits)


# --- equality -----------------------------------------------------------------------------


def equality(champion, booster, onnx_model, margin_session, frame, matrix) -> list[dict]:
    """Max abs differences between ONNX Runtime and LightGBM on the test rows, on them with
    every categorical input missing (what an unseen category becomes), and on them with one
    number each moved just above a threshold of its feature."""
    model = champion.booster
    missing = matrix.copy()
    missing[:, model.encoding.positions] = np.nan
    checks = [
        diff(
            "encode_rows (dict rows) vs encode (frame): matrix",
            model.encoding.encode(frame),
            matrix,
        )
    ]
    for label, m in (
        ("test rows", matrix),
        ("test rows, categories missing", missing),
        ("test rows, a number just above a threshold", above_thresholds(booster, matrix)),
    ):
        raw = booster.predict(m, raw_score=True, num_threads=1)
        onnx_raw = onnx_margin(margin_session, m)
        checks += [
            diff(f"{label}: raw margin, ONNX vs LightGBM", raw, onnx_raw),
            diff(
                f"{label}: served probability (Platt), ONNX margin vs LightGBM",
                model.proba(m),
                expit(model.slope * onnx_raw + model.intercept),
            ),
        ]
    raw = booster.predict(matrix, raw_score=True, num_threads=1)
    stock = session(onnx_model, raw=False).run(["probabilities"], {"input": f32(matrix)})[0]
    fast = FastSingleRow(model.model_text)({"matrix": matrix})
    return [
        *checks,
        diff("test rows: stock ONNX probability vs LightGBM's sigmoid", expit(raw), stock[:, 1]),
        diff("test rows: raw margin, LightGBM single-row fast vs predict", raw, fast),
    ]


def f32(matrix: np.ndarray) -> np.ndarray:
    return matrix.astype(np.float32)


def numeric_thresholds(booster: lightgbm.Booster) -> dict[int, np.ndarray]:
    """Per feature, the distinct thresholds of its `x <= t` splits, sorted."""
    found: dict[int, set[float]] = {}
    stack = [tree["tree_structure"] for tree in booster.dump_model()["tree_info"]]
    while stack:
        node = stack.pop()
        if "decision_type" not in node:
            continue
        if node["decision_type"] == "<=":
            found.setdefault(node["split_feature"], set()).add(float(node["threshold"]))
        stack += [node["left_child"], node["right_child"]]
    return {feature: np.array(sorted(values)) for feature, values in found.items()}


def above_thresholds(booster: lightgbm.Booster, matrix: np.ndarray) -> np.ndarray:
    """One row per finite threshold: a test row with that feature set to the next double
    above it (LightGBM goes right; float32 rounds it onto the threshold, so ONNX goes left)."""
    pairs = [
        (feature, t)
        for feature, ts in numeric_thresholds(booster).items()
        for t in ts
        if abs(t) < 1e38
    ]
    rows = matrix[np.arange(len(pairs)) % len(matrix)].copy()
    for r, (feature, t) in enumerate(pairs):
        rows[r, feature] = np.nextafter(t, np.inf)
    return rows


def float32_ties(booster: lightgbm.Booster, matrix: np.ndarray, inputs: list[str]) -> dict:
    """Test rows with a number above one of its feature's thresholds that float32 cannot tell
    apart from it (where ONNX's `x <= t` goes left and LightGBM's goes right)."""
    thresholds = numeric_thresholds(booster)
    tied, examples = np.zeros(len(matrix), dtype=bool), []
    for feature, t in thresholds.items():
        with np.errstate(over="ignore"):  # LightGBM's 1e300 (all numbers left) is inf
            t32 = f32(t)
        x = matrix[:, feature]
        lo = np.searchsorted(t32, f32(x), side="left")
        hi = np.searchsorted(t32, f32(x), side="right")
        here = (hi > lo) & (t[np.minimum(lo, len(t) - 1)] < x)
        examples += [
            f"{inputs[feature]} = {float(x[r])!r} > {float(t[lo[r]])!r}"
            for r in np.flatnonzero(here)
        ]
        tied |= here
    return {
        "rows": int(tied.sum()),
        "thresholds": sum(len(t) for t in thresholds.values()),
        "examples": examples[:3],
    }


def diff(label: str, expected: np.ndarray, actual: np.ndarray) -> dict:
    gap = np.abs(np.asarray(expected, np.float64) - np.asarray(actual, np.float64))
    both_nan = np.isnan(expected) & np.isnan(actual)
    gap = np.where(both_nan, 0.0, gap)
    gap = np.where(np.isnan(gap), np.inf, gap)  # NaN on one side only
    return {
        "check": label,
        "values": gap.size,
        "max": float(gap.max()),
        "over_exact": int((gap > EXACT).sum()),
        "over_1e-4": int((gap > 1e-4).sum()),
    }


# --- timing -------------------------------------------------------------------------------


def time_all(champion, booster, margin_session, rows, matrix, args) -> list[dict]:
    model = champion.booster
    encoding = model.encoding
    fast = FastSingleRow(model.model_text)
    one_tree = lightgbm.Booster(model_str=model.model_text)  # see FastSingleRow
    cases: dict[str, Callable] = {
        "(a) LightGBM predict, raw, num_threads=1": lambda b: booster.predict(
            b["matrix"], raw_score=True, num_threads=1
        ),
        "(a') same + predict_disable_shape_check": lambda b: booster.predict(
            b["matrix"], raw_score=True, num_threads=1, predict_disable_shape_check=True
        ),
        "(a'') same, first tree only (the call's fixed cost)": lambda b: one_tree.predict(
            b["matrix"], raw_score=True, num_threads=1, num_iteration=1
        ),
        "(a''') LightGBM C API single-row fast predict (ctypes), row by row": fast,
        "(b) served: encode_rows + CalibratedBooster.proba": lambda b: model.proba(
            encoding.encode_rows(b["rows"])[0]
        ),
        "(c) ONNX Runtime run, float32 matrix": lambda b: margin_session.run(
            ["probabilities"], {"input": b["float32"]}
        ),
        "(c') encode_rows + float32 + ONNX Runtime + Platt": lambda b: expit(
            model.slope * onnx_margin(margin_session, encoding.encode_rows(b["rows"])[0])
            + model.intercept
        ),
        "(d) encode_rows alone": lambda b: encoding.encode_rows(b["rows"]),
    }
    results = []
    for size, calls in ((1, args.calls_1), (100, args.calls_100)):
        batches = make_batches(rows, matrix, size)
        for name, samples in time_cases(cases, batches, calls).items():
            results.append({"case": name, "rows": size, **summary(samples)})
    return results


class FastSingleRow:
    """LightGBM's C API for one row with its configuration parsed once
    (`LGBM_BoosterPredictForMatSingleRowFast`), which the Python package does not wrap: reached
    through its private `_LIB` and `_handle`, to measure what the wrapper's per-call work costs,
    not as a way to serve.

    On a booster of its own: the fast configuration does not hold which trees to use, the
    booster does, and any `predict(..., num_iteration=k)` on the same booster silently makes
    every later fast call use k trees."""

    def __init__(self, model_text: str) -> None:
        from lightgbm.basic import _LIB, _safe_call

        booster = lightgbm.Booster(model_str=model_text)
        self._lib, self._check, self._booster = _LIB, _safe_call, booster
        self._config = ctypes.c_void_p()
        raw_score, float64, all_trees = 1, 1, -1  # the C API's constants
        self._check(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(raw_score),
                ctypes.c_int(0),
                ctypes.c_int(all_trees),
                ctypes.c_int(float64),
                ctypes.c_int32(booster.num_feature()),
                ctypes.c_char_p(b"num_threads=1"),
                ctypes.byref(self._config),
            )
        )

    def __call__(self, batch: dict) -> np.ndarray:
        matrix = batch["matrix"]
        out, length = np.empty(len(matrix)), ctypes.c_int64()
        for i in range(len(matrix)):
            self._check(
                self._lib.LGBM_BoosterPredictForMatSingleRowFast(
                    self._config,
                    matrix[i].ctypes.data_as(ctypes.c_void_p),
                    ctypes.byref(length),
                    out[i:].ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
                )
            )
        return out

    def __del__(self) -> None:
        self._lib.LGBM_FastConfigFree(self._config)


def make_batches(rows: list[dict], matrix: np.ndarray, size: int) -> list[dict]:
    return [
        {
            "rows": rows[i : i + size],
            "matrix": np.ascontiguousarray(matrix[i : i + size]),
            "float32": matrix[i : i + size].astype(np.float32),
        }
        for i in range(0, len(rows) - size + 1, size)
    ]


def time_cases(cases: dict[str, Callable], batches: list[dict], calls: int, rounds: int = 10):
    """(wall ns, CPU ns) per call for each case; the cases take turns in `rounds` rounds so a
    change in the machine's load falls on all of them alike."""
    samples: dict[str, list[tuple[int, int]]] = {name: [] for name in cases}
    for fn in cases.values():  # warm up: first calls allocate and fault pages in
        for batch in batches[:20]:
            fn(batch)
    call = 0
    for _ in range(rounds):
        for name, fn in cases.items():
            for k in range(calls // rounds):
                batch = batches[(call + k) % len(batches)]
                wall, cpu = time.perf_counter_ns(), time.process_time_ns()
                fn(batch)
                samples[name].append((time.perf_counter_ns() - wall, time.process_time_ns() - cpu))
        call += calls // rounds
    return samples


def summary(samples: list[tuple[int, int]]) -> dict:
    wall = np.array([w for w, _ in samples]) / 1e3
    cpu = np.array([c for _, c in samples]) / 1e3
    return {
        "calls": len(samples),
        "median_us": float(np.median(wall)),
        "p99_us": float(np.percentile(wall, 99)),
        "cpu_median_us": float(np.median(cpu)),
        "cpu_mean_us": float(cpu.mean()),
    }


# --- report -------------------------------------------------------------------------------


def report(args, start, end_uptime, champion, n_rows, facts, timings) -> None:
    model = facts["model"]
    lines = [
        f"# Inference benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} cores, {cpu_name()}, one thread)",
        "",
        f"Model: {champion.name} version {champion.version}: {model['trees']} trees, "
        f"{model['leaves']} leaves, {model['inputs']} inputs "
        f"({model['categorical inputs']} categorical). Rows: the test months (the task's "
        f"split of the newest saved training frame), {n_rows[0]} compared, the first "
        f"{n_rows[1]} of them (random order) timed.",
        "",
        "| case | rows | calls | median µs | p99 µs | CPU median µs | CPU mean µs |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {t['case']} | {t['rows']} | {t['calls']} | {t['median_us']:.1f} | "
        f"{t['p99_us']:.1f} | {t['cpu_median_us']:.1f} | {t['cpu_mean_us']:.1f} |"
        for t in timings
    ]
    lines += [
        "",
        "Per call, wall clock (perf_counter) and CPU time of the process (process_time); "
        "LightGBM with num_threads=1 (as CalibratedBooster uses up to 512 rows), ONNX "
        "Runtime with intra_op_num_threads=1, inter_op_num_threads=1, sequential. (c) "
        "gives the margin only, from a float32 matrix made beforehand; (c') is the whole "
        "served path with ONNX Runtime in place of LightGBM.",
        "",
        f"## Same answers? (bound {EXACT:g})",
        "",
        "| check | values | max abs difference | over 1e-6 | over 1e-4 |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {c['check']} | {c['values']} | {c['max']:.3g} | {c['over_exact']} | {c['over_1e-4']} |"
        for c in facts["equality"]
    ]
    lines += [
        "",
        "## The conversion",
        "",
        *[
            f"- {name}: {value if not isinstance(value, float) else f'{value:.1f}'}"
            for name, value in model.items()
        ],
        f"- unseen categories in the test rows (answered as missing): {facts['unseen']}",
        f"- test rows with a number that float32 cannot tell from a threshold above it "
        f"(of {facts['ties']['thresholds']} distinct numeric thresholds): "
        f"{facts['ties']['rows']} ({'; '.join(facts['ties']['examples']) or 'none'})",
        "",
        "## Conditions",
        "",
        f"- at start: `{start['uptime']}`",
        f"- timing began: `{start['uptime_timed']}` "
        f"({'load below' if start['quiet'] else 'load still above'} {args.max_load} "
        f"after waiting up to {args.wait} s)",
        f"- at end: `{end_uptime}`",
        f"- Python {sys.version.split()[0]}; " + ", ".join(f"{p} {version(p)}" for p in PACKAGES),
    ]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


if __name__ == "__main__":
    main()
