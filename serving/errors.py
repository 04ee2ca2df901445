"""The server's errors. Each message says what is wrong and how to fix it.

    ServingError
    ├── ModelNotFoundError    no model version carries the alias (nothing to serve)
    ├── ModelContractError    the model's tags don't match the feature repo's FeatureService
    └── BadReadError          a read or push names features, views or entities the repo lacks,
                              or gives values of the wrong type (the routes answer 422)

The first two are raised while the app starts (or reloads, which then keeps the old model),
so a misconfigured server never answers a request.
"""


class ServingError(Exception):
    """Base of every error the server raises on purpose."""


class ModelNotFoundError(ServingError):
    pass


class ModelContractError(ServingError):
    pass


class BadReadError(ServingError):
    pass
