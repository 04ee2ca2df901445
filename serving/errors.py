"""The server's errors. Each message says what is wrong and how to fix it.

    ServingError
    ├── ModelNotFoundError    no model version carries the alias (nothing to serve)
    ├── ModelLoadError        the version's artifacts cannot be loaded (deleted, truncated)
    ├── ModelContractError    the model's tags don't match the feature repo's FeatureService
    ├── WarmUpError           the store and the model, loaded, do not answer a first prediction
    └── BadReadError          a read or push names features, views or entities the repo lacks,
                              or gives values of the wrong type (the routes answer 422)

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
