"""Schemathesis fuzzes the service's own OpenAPI document: no input makes it answer 5xx."""

from __future__ import annotations

from collections import Counter

import schemathesis
from hypothesis import HealthCheck, given, settings

FUZZED = {"/predict", "/status", "/admin/reload"}


def test_no_generated_request_gets_a_server_error(server):
    schema = schemathesis.openapi.from_url(server.url + "/docs.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    selected = [op for op in operations if op.path in FUZZED]
    assert {op.path for op in selected} == FUZZED
    statuses: Counter = Counter()
    failures: list[str] = []

    for operation in selected:

        @given(case=operation.as_strategy())
        @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def fuzz(case):
            response = case.call(base_url=server.url)
            statuses[(operation.path, response.status_code)] += 1
            if response.status_code >= 500:
                failures.append(f"{operation.path} {case.body!r:.300} -> {response.status_code} {response.text[:300]}")

        fuzz()
    assert failures == []
    # The fuzzer reached both sides of the schema: answers and rejections.
    assert statuses[("/predict", 200)] > 0 and statuses[("/predict", 400)] > 0, statuses
