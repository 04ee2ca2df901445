"""Training's errors. Each message says what is wrong and how to fix it.

TrainingError
├── MissingInputError   the offline store, a feature table or the Feast registry is not there
├── DataError           an input, or Feast's answer, breaks what training relies on
└── SplitError          a time split is empty or holds a single outcome
"""


class TrainingError(Exception):
    """Base of every error training raises on purpose."""


class MissingInputError(TrainingError):
    pass


class DataError(TrainingError):
    pass


class SplitError(TrainingError):
    pass
