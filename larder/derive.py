"""Derivations: frame-in, frame-out Polars functions that turn validated tables into the event
tables a domain's views read, and into its task's examples.

    @derivation(reach=timedelta(days=14))
    def order_examples(orders: pl.LazyFrame, customers: pl.LazyFrame) -> pl.LazyFrame: ...

A derivation's inputs are named by its parameters: a source table or another derivation's
output, each given as a LazyFrame. Its output is named after the function. No I/O: the
platform reads the inputs and writes what the views need.

`reach`: how far, in time, an output row may lie from the input rows it comes from (a landing
a day after its scheduled hour, a label 24 hours after its observation). An incremental run
recomputes the months a changed month can reach through it.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import overload

import polars as pl

Derive = Callable[..., pl.LazyFrame]


@dataclass(frozen=True, eq=False)
class Derivation:
    name: str
    function: Derive
    inputs: tuple[str, ...]
    reach: timedelta = timedelta(0)

    def __call__(self, *frames: pl.LazyFrame, **named: pl.LazyFrame) -> pl.LazyFrame:
        return self.function(*frames, **named)


@overload
def derivation(function: Derive, /) -> Derivation: ...
@overload
def derivation(
    *, name: str | None = None, reach: timedelta = timedelta(0)
) -> Callable[[Derive], Derivation]: ...
def derivation(
    function: Derive | None = None, /, *, name: str | None = None, reach: timedelta = timedelta(0)
) -> Derivation | Callable[[Derive], Derivation]:
    """Declare a derivation: `@derivation` or `@derivation(name=..., reach=...)`."""

    def declare(fn: Derive) -> Derivation:
        params = inspect.signature(fn).parameters.values()
        odd = [p.name for p in params if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if odd:
            raise TypeError(f"derivation {fn.__name__}: inputs are named parameters, not {odd}")
        return Derivation(name or fn.__name__, fn, tuple(p.name for p in params), reach)

    return declare(function) if function is not None else declare
