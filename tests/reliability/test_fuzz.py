"""Property-based fuzzing of the native API from its own OpenAPI schema, over a live server.

Schemathesis generates requests, valid and invalid, for every operation in /api/v1/schema/;
Hypothesis runs a bounded number of examples per operation with a fixed seed (derandomize), so
every run sends the same requests. Every answer must not be a 5xx and must conform to the
schema: a documented status code, the documented content type, a body matching the schema.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 10
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,  # a fixed seed: the same requests on every run
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


def has_inputs(operation) -> bool:
    definition = operation.definition.raw
    return bool(definition.get("parameters") or definition.get("requestBody"))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_the_api_answers_every_generated_request_within_its_schema(live_server, write_token, mode):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema/")
    headers = {"Authorization": f"Bearer {write_token[1]}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, "the schema lost its operations"
    failures: list[str] = []
    for operation in operations:
        if mode == GenerationMode.NEGATIVE and not has_inputs(operation):
            continue  # nothing to send wrong (the /api/v1/ index takes no parameter and no body)

        @given(case=operation.as_strategy(generation_mode=mode))
        @FUZZ_SETTINGS
        def check(case):
            case.call_and_validate(
                headers=headers,
                checks=CHECKS,
                allow_redirects=False,  # a 303 is an answer in the schema, not something to follow
                timeout=30,
            )

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
