"""Request bodies, checked and parsed once, before either path (fastpath.py or the routes) sees
them. What the server takes is UTF-8 JSON, as RFC 8259 defines it:

    415  a Content-Encoding other than identity, or a charset other than UTF-8
    400  bytes that are not UTF-8 (UTF-16 too, or any NUL byte), a byte order mark, JSON
         nested deeper than MAX_DEPTH levels (checked by a byte scan before parsing)
    422  not JSON; NaN, Infinity or a number too large for a float (1e400); a string with a lone
         surrogate (not Unicode); a key given twice in one object. These name the field, in
         FastAPI's format: `{"detail": [{"type", "loc": ["body", ...], "msg", "input"}]}`.

The body parses once, with `json.loads`, and the value is left in the ASGI scope (`PARSED`) for
the path that answers. Its hooks stop at a NaN, an infinite float or a repeated key, and only
then is the body parsed again, to say where; strings are walked for lone surrogates only when a
byte scan finds a `\\uD800`-style escape. A plain body costs a few scans at C speed and the one
parse.
"""

import json
import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.faults import error_body

MAX_DEPTH = 32
PATHS = frozenset({"/get-online-features", "/predict", "/predict/batch", "/push"})
PARSED = "larder.body"  # the scope key of the parsed body (absent for an empty body)

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_BOMS = [  # UTF-32's first: UTF-16's little-endian mark begins UTF-32's
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xef\xbb\xbf", "UTF-8"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
]
_BOM_STARTS = frozenset(bom[:1] for bom, _ in _BOMS)


class Rejected(Exception):
    """A body the server does not take: the status and the `detail` to answer."""

    def __init__(self, status: int, detail: str | list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def check_headers(scope: Scope) -> None:
    for name, value in scope["headers"]:
        if name == b"content-encoding":
            codings = [c.strip() for c in value.decode("latin-1").lower().split(",")]
            if any(c not in ("", "identity") for c in codings):
                raise Rejected(
                    415,
                    f"Content-Encoding {value.decode('latin-1')!r} is not accepted: send the "
                    "body uncompressed (identity)",
                )
        elif name == b"content-type":
            charset = _charset(value.decode("latin-1"))
            if charset not in (None, "utf-8", "utf8"):
                raise Rejected(415, f"charset {charset!r} is not accepted: send UTF-8 JSON")


def _charset(content_type: str) -> str | None:
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def parse(body: bytes) -> Any:
    """The body's JSON value; Rejected when it is not UTF-8 JSON the server takes."""
    text = _text(body)
    _check_depth(body)
    try:
        value = _DECODER.decode(text)
    except _Suspect:  # parsed again, to name where
        return _diagnosed(text)
    except ValueError as exc:  # JSONDecodeError, or an integer of more than 4300 digits
        raise Rejected(422, [_invalid(exc)]) from None
    if b"\\u" in body and _SURROGATE.search(body):
        _raise_problems(value)
    return value


def _text(body: bytes) -> str:
    for bom, encoding in _BOMS if body[:1] in _BOM_STARTS else ():
        if body.startswith(bom):
            raise Rejected(
                400, f"the body starts with a {encoding} byte order mark: send UTF-8 JSON"
            )
    if b"\x00" in body:  # valid UTF-8, but never in JSON text (a string spells it \u0000)
        raise Rejected(
            400, "the body holds NUL bytes, as UTF-16 and UTF-32 text do: send UTF-8 JSON"
        )
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(
            400, f"the body is not UTF-8: byte {exc.start} is invalid; send UTF-8 JSON"
        ) from None


def _check_depth(body: bytes) -> None:
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:  # cannot nest deeper: no scan
        return
    brackets = np.frombuffer(_STRING.sub(b"", body).translate(None, _NOT_BRACKETS), np.uint8)
    opens = (brackets == ord("[")) | (brackets == ord("{"))
    depth = np.cumsum(np.where(opens, 1, -1), dtype=np.int64)
    if depth.size and int(depth.max()) > MAX_DEPTH:
        raise Rejected(400, f"the JSON body is nested deeper than the limit of {MAX_DEPTH} levels")


class _Suspect(Exception):
    """Raised while parsing: what the value holds is to be found and named."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise _Suspect
    return found


def _suspect(constant: str) -> Any:
    raise _Suspect


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # the text cannot be NaN: json passes that to parse_constant
        raise _Suspect
    return value


class _NonFinite:
    def __init__(self, text: str) -> None:
        self.text = text


class _Repeated(dict):
    """An object whose keys repeat (only while a body is diagnosed)."""

    repeated: list[str]


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) == len(pairs):
        return found
    repeated = _Repeated(found)
    counts = Counter(key for key, _ in pairs)
    repeated.repeated = [key for key, n in counts.items() if n > 1][:10]
    return repeated


# One decoder for every request: json.loads with hooks would build one per call.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique, parse_constant=_suspect, parse_float=_finite)


def _float(text: str) -> Any:
    value = float(text)
    return _NonFinite(text) if math.isinf(value) else value


def _diagnosed(text: str) -> Any:
    """The value, parsed so that what the byte scan suspected can be found and named."""
    try:
        value = json.JSONDecoder(
            object_pairs_hook=_pairs, parse_constant=_NonFinite, parse_float=_float
        ).decode(text)
    except ValueError as exc:
        raise Rejected(422, [_invalid(exc)]) from None
    _raise_problems(value)
    return value


def _raise_problems(value: Any) -> None:
    problems = [p for p in (_problem(loc, v) for loc, v in _walk(value, ("body",))) if p]
    if problems:
        raise Rejected(422, problems[:10])


def _walk(value: Any, loc: tuple) -> Iterator[tuple[tuple, Any]]:
    """Every value and key in the tree, with where it is (no deeper than MAX_DEPTH)."""
    yield loc, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*loc, _printable(key)), key
            yield from _walk(item, (*loc, _printable(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, (*loc, i))


def _problem(loc: tuple, value: Any) -> dict[str, Any] | None:
    if isinstance(value, _NonFinite):
        msg = "must be a finite number: JSON has no NaN or Infinity, and a float ends at 1.8e308"
        return _error("finite_number", loc, msg, value.text)
    if isinstance(value, _Repeated):
        msg = f"gives the key(s) {value.repeated} more than once: give each key once"
        return _error("duplicate_key", loc, msg, value.repeated)
    if isinstance(value, str) and not _is_unicode(value):
        msg = "holds a lone surrogate (a \\uD800-\\uDFFF escape without its pair): not Unicode"
        return _error("string_unicode", loc, msg, _printable(value))
    return None


def _error(kind: str, loc: tuple, msg: str, given: Any) -> dict[str, Any]:
    return {"type": kind, "loc": list(loc), "msg": msg, "input": given}


def _invalid(exc: ValueError) -> dict[str, Any]:
    where = getattr(exc, "pos", None)
    said = getattr(exc, "msg", str(exc))
    loc = ["body"] if where is None else ["body", where]
    return {
        "type": "json_invalid",
        "loc": loc,
        "msg": "JSON decode error",
        "input": {},
        "ctx": {"error": said},
    }


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(text: Any) -> Any:
    """The text with lone surrogates spelled as escapes, so that it can be answered."""
    if isinstance(text, str) and not _is_unicode(text):
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class CheckedBodies:
    """Reads each body of a POST to PATHS, answers what it rejects, and hands on the rest with
    the parsed value in the scope and the body replayed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in PATHS:
            await self.app(scope, receive, send)
            return
        body = await whole_body(receive)
        if body is None:  # the client left while sending
            return
        try:
            check_headers(scope)
            if body:
                scope[PARSED] = parse(body)
        except Rejected as rejected:
            await answer(send, rejected.status, rejected.detail)
            return
        await self.app(scope, replayed(body, receive), send)


async def whole_body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def replayed(body: bytes, receive: Receive) -> Receive:
    """`receive` for what follows: the body already read, then whatever the client sends next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def answer(send: Send, status: int, detail: Any) -> None:
    """A JSON error answer, whatever `detail` holds (see serving/faults.py)."""
    body = error_body(detail)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
