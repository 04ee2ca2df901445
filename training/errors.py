"""Training's errors. Each message says what is wrong and how to fix it.

TrainingError
├── MissingInputError   the offline store, a feature table, the Feast registry or a saved frame
│                       is not there
├── DataError           an input, or Feast's answer, breaks what training relies on
│   └── LeakageError    a training frame holds a value not known at its row's prediction time,
│                       or the label among the features (names the feature)
├── SplitError          a time split is empty or holds a single outcome
├── ContractError       a model's recorded FeatureService / feature types differ from the Feast
│                       registry (says what differs, feature by feature)
└── RegistryError       the MLflow registry lacks what a command needs (no challenger to
                        promote, no previous champion to roll back to)

A refused promotion is not an error: it is a decision, recorded with its reasons.
"""


class TrainingError(Exception):
    """Base of every error training raises on purpose."""


class MissingInputError(TrainingError):
    pass


class DataError(TrainingError):
    pass


class LeakageError(DataError):
    pass


class SplitError(TrainingError):
    pass


class ContractError(TrainingError):
    pass


class RegistryError(TrainingError):
    pass
