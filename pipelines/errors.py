"""The pipeline's errors. Each message says what is wrong and how to fix it.

PipelineError
├── IngestError        a dropped file cannot be read into its table's schema (empty, not
│                      UTF-8, not Parquet, a wrong separator, a missing/extra column, a column
│                      in which no value casts); the file is recorded as rejected
├── ContractError      a batch breaks its data contract as a whole (a missing column), or its
│                      share of bad rows passes LARDER_MAX_BAD_SHARE (recorded as rejected)
└── ReconcileError     rows in != rows validated + rows quarantined (a bug: never expected)
"""


class PipelineError(Exception):
    """Base of every error a pipeline stage raises on purpose."""


class IngestError(PipelineError):
    pass


class ContractError(PipelineError):
    pass


class ReconcileError(PipelineError):
    pass
