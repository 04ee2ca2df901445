"""The fingerprint of what a source is validated against: when it changes, every month of the
table is validated again (and a version rejected under the old contract gets another chance).

It covers the contract, not the text of a file: the source's declaration (schema, key, time,
lateness, references), the pandera schema (each column's type, nullability, uniqueness and
checks with their parameters, the dataframe-wide checks), the code of the contract's own check
methods and of the source's row rules (and of the module-level functions they call by name),
and the threshold of bad rows. A comment or a reformatted line changes nothing; a changed
range, rule or threshold changes it.
"""

import hashlib
import json
import types
from collections.abc import Callable, Iterator
from typing import Any

from larder import Source


def fingerprint(source: Source, max_bad_share: float) -> str:
    schema = source.contract.to_schema()
    parts = {
        "source": source.describe(),
        "columns": {
            name: {
                "dtype": str(column.dtype),
                "nullable": column.nullable,
                "unique": column.unique,
                "checks": [_check(c) for c in column.checks],
            }
            for name, column in schema.columns.items()
        },
        "checks": [_check(c) for c in schema.checks],
        "strict": str(schema.strict),
        "methods": [_code(f) for f in _methods(source.contract)],
        "rules": [_code(rule) for rule in source.rules],
        "max_bad_share": max_bad_share,
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check(check: Any) -> list[Any]:
    statistics = sorted((k, repr(v)) for k, v in (check.statistics or {}).items())
    return [check.name, check.error, statistics]


def _methods(contract: type) -> Iterator[Callable]:
    """The check functions the contract's own class body defines (pandera's are its own)."""
    for value in vars(contract).values():
        function = getattr(value, "__func__", value)
        if isinstance(function, types.FunctionType):
            yield function


def _code(function: Callable, seen: set[int] | None = None) -> str:
    """A digest of a function's code and of the module-level functions it calls by name."""
    seen = seen if seen is not None else set()
    code = getattr(function, "__code__", None)
    if code is None or id(code) in seen:
        return ""
    seen.add(id(code))
    digest = hashlib.sha256(_code_bytes(code))
    for name in code.co_names:
        called = getattr(function, "__globals__", {}).get(name)
        if isinstance(called, types.FunctionType):
            digest.update(_code(called, seen).encode())
    return digest.hexdigest()


def _code_bytes(code: types.CodeType) -> bytes:
    consts = [
        _code_bytes(c) if isinstance(c, types.CodeType) else repr(c).encode()
        for c in code.co_consts
    ]
    return b"|".join([code.co_code, *consts, repr(code.co_names).encode()])
