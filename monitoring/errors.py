"""The monitoring package's errors.

MonitoringError
 ├── ReplayError   the replay cannot go on (a stage failed, the server would not start)
 └── ParityError   the online store differs from the offline store after a materialization
"""


class MonitoringError(Exception):
    """Base of the errors below; the message says what is wrong and how to fix it."""


class ReplayError(MonitoringError):
    pass


class ParityError(MonitoringError):
    pass
