"""The fingerprint of what a source is validated against: when it changes, every month of the
table is validated again (and a version rejected under the old contract gets another chance).

It covers the contract, not the text of a file: the source's declaration (schema, key, time,
lateness, references), the pandera schema (each column's type, nullability, uniqueness and
checks with their parameters, the dataframe-wide checks), the code of the contract's own check
methods and of the source's row rules (and of the module-level functions and constants they
name, directly or through a module), and the threshold of bad rows. A comment or a reformatted
line changes nothing; a changed range, rule, constant or threshold changes it.
"""

import hashlib
import json
import types
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
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
    """A digest of a function's code and of the module-level values it names: constants by
    value, functions by their code, followed through a module's attributes too
    (`derivations.time_zones`). Only the domain's own code is followed, not a library's."""
    seen = seen if seen is not None else set()
    code = getattr(function, "__code__", None)
    if code is None or id(code) in seen:
        return ""
    seen.add(id(code))
    digest = hashlib.sha256(_code_bytes(code))
    scope = getattr(function, "__globals__", {})
    names = _names(code)
    folder = Path(code.co_filename).parent
    modules = [
        v
        for v in (scope.get(n) for n in names)
        if isinstance(v, types.ModuleType)
        and Path(getattr(v, "__file__", "") or "/").parent == folder
    ]
    for name in names:
        for value in [scope.get(name), *(getattr(m, name, None) for m in modules)]:
            if isinstance(value, types.FunctionType):
                if Path(value.__code__.co_filename).parent == folder:
                    digest.update(_code(value, seen).encode())
            elif isinstance(value, CONSTANTS):
                digest.update(f"{name}={_canonical(value)}".encode())
    return digest.hexdigest()


def _names(code: types.CodeType) -> list[str]:
    """The global and attribute names a code object and its nested ones (lambdas,
    comprehensions) use."""
    nested = [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return sorted({*code.co_names, *(n for c in nested for n in _names(c))})


# the values a rule may read as settings; the repr of anything else (a class, an object) carries
# no meaning or an address
CONSTANTS = (bool, int, float, str, bytes, tuple, list, dict, set, frozenset, timedelta)


def _canonical(value: Any) -> str:
    """A repr that does not depend on the process (a set's order does, with hash seeds)."""
    if isinstance(value, set | frozenset):
        return "{" + ",".join(sorted(_canonical(v) for v in value)) + "}"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(sorted(f"{_canonical(k)}:{_canonical(v)}" for k, v in value.items()))
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    return repr(value)


def _code_bytes(code: types.CodeType) -> bytes:
    consts = [
        _code_bytes(c) if isinstance(c, types.CodeType) else _canonical(c).encode()
        for c in code.co_consts
    ]
    return b"|".join([code.co_code, *consts, repr(code.co_names).encode()])
