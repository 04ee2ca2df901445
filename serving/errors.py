"""The server's errors. Each message says what is wrong and how to fix it.

    ServingError
    ├── ModelNotFoundError    no model version carries the alias (nothing to serve)
    ├── ModelLoadError        the version's artifacts cannot be loaded (deleted, truncated)
    ├── ModelContractError    the model's tags don't match the feature repo's FeatureService
    ├── WarmUpError           the store and the model, loaded, do not answer a first prediction
    └── BadReadError          a read or push names features, views or entities the repo lacks,
                              or gives values of the wrong type (the routes answer 422)

A store that stops answering mid-request (Redis or PostgreSQL down, the connection dropped) is
not one of these: its client's error reaches the middleware, which `store_outage` turns into a
503 naming the store (the clients reconnect by themselves once it is back).

All but the last are raised while the app starts (or reloads, which then keeps the old
model), so a misconfigured server never answers a request. (A broken state file is
larder.state's StateError, named in one line with how to recover.)
"""


class ServingError(Exception):
    """Base of every error the server raises on purpose."""


class ModelNotFoundError(ServingError):
    pass


class ModelLoadError(ServingError):
    pass


class ModelContractError(ServingError):
    pass


class WarmUpError(ServingError):
    pass


class BadReadError(ServingError):
    pass


# (module, class) of the clients' errors that mean "the server is not answering", not a bug.
OUTAGES = {
    ("redis", "ConnectionError"): ("the online store", "Redis"),
    ("redis", "TimeoutError"): ("the online store", "Redis"),
    ("psycopg", "OperationalError"): ("the online store", "PostgreSQL"),
    ("psycopg", "InterfaceError"): ("the online store", "PostgreSQL"),
    ("psycopg_pool", "PoolTimeout"): ("the online store", "PostgreSQL"),
    ("sqlalchemy", "OperationalError"): ("the Feast registry", "PostgreSQL"),
    ("sqlalchemy", "InterfaceError"): ("the Feast registry", "PostgreSQL"),
    ("sqlalchemy", "DisconnectionError"): ("the Feast registry", "PostgreSQL"),
}


def store_outage(exc: BaseException) -> str | None:
    """The 503 detail for an error saying a store's server is unreachable, else None."""
    from larder.state import first_line

    seen: BaseException | None = exc
    while seen is not None:
        for kind in type(seen).__mro__:
            found = OUTAGES.get((kind.__module__.split(".")[0], kind.__name__))
            if found:
                what, server = found
                return (
                    f"{what} ({server}) is unavailable ({type(seen).__name__}: "
                    f"{first_line(seen)}): retry shortly; the server reconnects by itself "
                    f"once {server} is back"
                )
        seen = seen.__cause__ or seen.__context__
    return None
