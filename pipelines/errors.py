"""The pipeline's errors. Each message says what is wrong and how to fix it.

PipelineError
├── IngestError        a source file cannot be read into its table's schema
├── ContractError      a batch breaks its data contract as a whole (e.g. a missing column)
└── ReconcileError     rows in != rows validated + rows quarantined
"""


class PipelineError(Exception):
    """Base of every error a pipeline stage raises on purpose."""


class IngestError(PipelineError):
    pass


class ContractError(PipelineError):
    pass


class ReconcileError(PipelineError):
    pass
