"""Load the champion model from the MLflow registry, with the contract it was trained on."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from larder.state import first_line
from serving.errors import ModelContractError, ModelLoadError, ModelNotFoundError
from serving.metrics import unseen_category
from training.booster import CalibratedBooster
from training.contract import ModelContract
from training.errors import ContractError

# Up to this many rows LightGBM's predict answers in well under a millisecond (fine on the
# event loop); past it, the batch goes to a worker thread.
QUICK_ROWS = 128


@dataclass(frozen=True)
class Champion:
    """A registered version, the features it expects, and its model.

    The model encodes its own inputs (training.booster): rows are dicts of the contract's
    inputs as they come from Feast and the request, categories as strings. A model saved
    before that (a scikit-learn estimator over floats) is called through a DataFrame.
    """

    name: str
    version: str
    contract: ModelContract
    estimator: Any

    @property
    def feature_service(self) -> str:
        return self.contract.feature_service

    @property
    def feature_names(self) -> list[str]:
        return self.contract.feature_names

    @cached_property
    def names(self) -> tuple[str, ...]:
        """`feature_names` as one tuple, shared by every prediction this version makes."""
        return tuple(self.contract.feature_names)

    @property
    def inputs(self) -> list[str]:
        """The model's columns: the features, then the entity keys it reads as categories."""
        return self.contract.inputs

    @property
    def booster(self) -> CalibratedBooster | None:
        return self.estimator if isinstance(self.estimator, CalibratedBooster) else None

    def frame(self, values: Mapping[str, Any]) -> pd.DataFrame:
        """One row of the model's inputs: numbers as float64 (NaN missing), strings as they are."""
        return _frame([values], self.inputs)

    def predict(self, values: Mapping[str, Any]) -> float:
        return self.predict_many([values])[0]

    def quick(self, rows: int) -> bool:
        """Whether `rows` rows take microseconds (fine on the event loop), not milliseconds."""
        return self.booster is not None and rows <= QUICK_ROWS

    def predict_many(self, rows: Sequence[Mapping[str, Any]]) -> list[float]:
        """One call for all rows: per-call overhead dominates small batches. Categories the
        model never saw are answered as missing, and counted."""
        booster = self.booster
        if booster is None:
            frame = _frame(rows, self.inputs)
            return self.estimator.predict_proba(frame)[:, 1].tolist()
        matrix, unseen = booster.encoding.encode_rows(rows)
        for name in unseen:
            unseen_category(name).inc()
        return booster.proba(matrix).tolist()


def _frame(rows: Sequence[Mapping[str, Any]], names: list[str]) -> pd.DataFrame:
    """The rows as a DataFrame: number columns as float64 (NaN missing), strings as they are."""
    frame = pd.DataFrame([[row.get(n) for n in names] for row in rows], columns=names)
    for name in names:
        column = frame[name]
        if not any(isinstance(v, str) for v in column):
            frame[name] = column.astype("float64")
    return frame


def load_champion(tracking_uri: str, name: str, alias: str) -> Champion:
    """The version `name@alias` and its estimator; raises ModelNotFoundError if there is none."""
    import mlflow  # costs seconds: only when the server starts

    client, version = _find_version(tracking_uri, name, alias)
    contract = _contract(version.tags, f"{name} version {version.version}")
    # By number, not alias: the version we report is the version we run, even if the alias
    # moves meanwhile. From its artifact URI, because `load_model("models:/...")` resolves
    # names against MLflow's process-wide registry URI rather than this one.
    estimator = _estimator(mlflow, client.get_model_version_download_uri(name, version.version))
    return Champion(name, str(version.version), contract, estimator)


def _estimator(mlflow: Any, uri: str) -> Any:
    try:
        return mlflow.sklearn.load_model(uri)
    except Exception as exc:  # deleted, truncated, or pickled by another library version
        raise ModelLoadError(
            f"the model's artifacts at {uri} cannot be loaded ({type(exc).__name__}: "
            f"{first_line(exc)}): restore them, or train and promote a new version "
            "(`python -m training train`)"
        ) from exc


def champion_version(tracking_uri: str, name: str, alias: str) -> str:
    """The version number `name@alias` points at now, with its contract tags checked."""
    _, version = _find_version(tracking_uri, name, alias)
    _contract(version.tags, f"{name} version {version.version}")
    return str(version.version)


def champion_service(tracking_uri: str, name: str, alias: str) -> str:
    """The FeatureService the version `name@alias` was trained on (what the server answers)."""
    _, version = _find_version(tracking_uri, name, alias)
    return _contract(version.tags, f"{name} version {version.version}").feature_service


def _find_version(tracking_uri: str, name: str, alias: str) -> tuple[Any, Any]:
    import mlflow

    _require_sqlite_file(tracking_uri, name, alias)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    return client, _version_by_alias(client, tracking_uri, name, alias)


def _require_sqlite_file(tracking_uri: str, name: str, alias: str) -> None:
    # MLflow would create an empty database at a missing path; serving only reads.
    if not tracking_uri.startswith("sqlite:///"):
        return
    path = Path(tracking_uri.removeprefix("sqlite:///"))
    if not path.is_file():
        raise ModelNotFoundError(
            f"no MLflow store at {path}, so no model {name}@{alias}: train and promote one "
            "(`python -m training train`) or point MLFLOW_TRACKING_URI at the store that has it"
        )


def _version_by_alias(client: Any, tracking_uri: str, name: str, alias: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        # MLflow answers an unknown model with RESOURCE_DOES_NOT_EXIST and an unknown alias
        # with INVALID_PARAMETER_VALUE; anything else (say, an unreachable store) is not ours.
        if exc.error_code not in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            raise
        raise ModelNotFoundError(
            f"no version of model {name!r} has alias {alias!r} in {tracking_uri} "
            f"({exc.message}): train and promote one (`python -m training train`), "
            "or choose another alias with LARDER_MODEL_ALIAS"
        ) from exc


def _contract(tags: Mapping[str, str], which: str) -> ModelContract:
    """The FeatureService and features the version was trained on, from its tags."""
    try:
        return ModelContract.from_tags(tags, f"model {which}")
    except ContractError as exc:
        raise ModelContractError(str(exc)) from exc
