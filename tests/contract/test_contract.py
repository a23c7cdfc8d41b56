"""The contract: JSON round-trips and fingerprints. Runs in both environments."""

from __future__ import annotations

import json
import sys

import pytest

from airflow_mlops.contract import (
    ArtifactRef,
    ComponentError,
    ComponentSpec,
    ErrorKind,
    ErrorReport,
    ExecutionRecord,
    RunInfo,
    Status,
    execution_dir,
    fingerprint,
    invocation_dir,
    join_uri,
)

REF = ArtifactRef(
    name="examples",
    type="Examples",
    uri="gs://bucket/root/penguin/ingest/abc/examples",
    producer="ingest",
    fingerprint="abc",
    execution_uri="gs://bucket/root/penguin/ingest/abc/execution.json",
    properties={"rows": 344, "splits": {"train": 240}},
)


def test_contract_imports_only_the_standard_library():
    import airflow_mlops.contract as contract  # noqa: F401

    modules = [m for m in sys.modules if m.startswith("airflow_mlops.contract")]
    assert modules
    for name in modules:
        source = open(sys.modules[name].__file__).read()
        for line in source.splitlines():
            if line.startswith(("import ", "from ")) and not line.startswith(("from __future__", "from airflow_mlops.contract")):
                top = line.split()[1].split(".")[0]
                assert top in sys.stdlib_module_names, f"{name} imports {top}"


def test_spec_round_trips_through_json():
    spec = ComponentSpec(
        component="validate",
        pipeline="penguin",
        artifact_root="file:///tmp/a",
        invocation_uri="file:///tmp/a/penguin/_invocations/x",
        params={"threshold": 0.1, "nested": {"a": [1, 2]}},
        inputs={"examples": REF},
        cache=False,
        run=RunInfo(dag_id="d", run_id="r", task_id="t", try_number=2, logical_date="2026-01-01"),
    )
    assert ComponentSpec.from_json(spec.to_json()) == spec
    assert json.loads(spec.to_json())["inputs"]["examples"]["properties"]["rows"] == 344


def test_execution_record_round_trips_through_json():
    record = ExecutionRecord(
        component="ingest",
        pipeline="penguin",
        code_version="c0de",
        fingerprint="abc",
        status=Status.SUCCEEDED,
        params={"source": "x.csv"},
        inputs={},
        outputs={"examples": REF},
        metrics={"rows": 344},
        started_at="2026-01-01T00:00:00+00:00",
        ended_at="2026-01-01T00:00:01+00:00",
        duration_seconds=1.5,
        host="h",
        executor="pid 1",
    )
    assert ExecutionRecord.from_json(record.to_json()) == record


def test_error_report_round_trips_and_kinds_know_about_retries():
    report = ComponentError(ErrorKind.DATA, "file is empty: x.csv", {"file": "x.csv"}).report("ingest")
    assert ErrorReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report
    assert not ErrorKind.DATA.retryable and not ErrorKind.CONFIG.retryable
    assert ErrorKind.INFRASTRUCTURE.retryable and ErrorKind.INTERNAL.retryable


def test_same_inputs_give_the_same_fingerprint_regardless_of_key_order():
    a = fingerprint("ingest", "v1", {"a": 1, "b": {"x": 1, "y": 2}}, {"examples": "f1", "schema": "f2"})
    b = fingerprint("ingest", "v1", {"b": {"y": 2, "x": 1}, "a": 1}, {"schema": "f2", "examples": "f1"})
    assert a == b
    assert len(a) == 20


@pytest.mark.parametrize(
    "change",
    [
        dict(component="validate"),
        dict(code_version="v2"),
        dict(params={"a": 2, "b": {"x": 1, "y": 2}}),
        dict(params={"a": 1, "b": {"x": 1, "y": 3}}),
        dict(params={"a": 1, "b": {"x": 1, "y": 2}, "c": None}),
        dict(inputs={"examples": "f1-changed", "schema": "f2"}),
        dict(inputs={"examples": "f1"}),
    ],
)
def test_any_change_gives_a_different_fingerprint(change):
    base = dict(component="ingest", code_version="v1", params={"a": 1, "b": {"x": 1, "y": 2}}, inputs={"examples": "f1", "schema": "f2"})
    changed = {**base, **change}
    assert fingerprint(base["component"], base["code_version"], base["params"], base["inputs"]) != fingerprint(
        changed["component"], changed["code_version"], changed["params"], changed["inputs"]
    )


def test_layout():
    assert join_uri("gs://b/root/", "/penguin", "ingest/") == "gs://b/root/penguin/ingest"
    assert execution_dir("file:///r", "penguin", "ingest", "f") == "file:///r/penguin/ingest/f"
    assert invocation_dir("file:///r", "penguin", "d/r/t/try-1") == "file:///r/penguin/_invocations/d/r/t/try-1"
