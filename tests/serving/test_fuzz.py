"""Schemathesis generates requests from the OpenAPI schema: no answer is ever a 5xx.

Driven through hypothesis directly (schemathesis' pytest plugin does not load under pytest 9),
against the session client's app, whose lifespan has loaded the store and model.
"""

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error


def test_no_generated_request_gets_a_server_error(client) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/get-online-features", "/predict", "/push"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def no_server_error(case) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        no_server_error()
