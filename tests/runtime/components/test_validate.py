"""validate: statistics and reports on good data, the readable rejection of corrupted data,
schema inference, and drift against the champion's training data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ErrorKind, Status


def files_under(uri: str) -> set[str]:
    return {f.removeprefix(uri + "/") for f in ArtifactStore().list_files(uri)}


def test_good_data_gives_statistics_schema_and_reports(first_run):
    record = first_run["validate"]
    assert record.status is Status.SUCCEEDED and record.metrics["verdict"] == "valid"
    assert files_under(record.outputs["statistics"].uri) == {"train.stats", "eval.stats", "test.stats", "statistics.html"}
    assert files_under(record.outputs["anomalies"].uri) == {"anomalies.json", "anomalies.txt", "report.html"}
    schema = ArtifactStore().read_text(record.outputs["schema"].uri + "/schema.pbtxt")
    assert "jensen_shannon_divergence" in schema and "infinity_norm" in schema  # drift thresholds applied
    assert "facets" in ArtifactStore().read_text(record.outputs["statistics"].uri + "/statistics.html")
    report = ArtifactStore().read_text(record.outputs["anomalies"].uri + "/report.html")
    assert "Verdict: <span class='ok'>valid</span>" in report
    assert "<td>body_mass_g</td><td>FLOAT</td>" in report and "<td>island</td><td>STRING</td>" in report


def corrupt(penguins_csv, tmp_path, how: str):
    data = pd.read_csv(penguins_csv)
    if how == "missing_column":
        data = data.drop(columns=["body_mass_g"])
    elif how == "string_in_numeric":
        data["bill_length_mm"] = data["bill_length_mm"].astype(object)
        data.loc[data.index[::3], "bill_length_mm"] = "n/a (broken scale)"
    elif how == "out_of_domain":
        data.loc[data.index[::4], "island"] = "Atlantis"
    elif how == "too_many_missing":
        data.loc[data.index[::2], "sex"] = np.nan
    elif how == "unexpected_column":
        data["colour"] = "blue"
    path = tmp_path / f"{how}.csv"
    data.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "how, column, words",
    [
        ("missing_column", "body_mass_g", "Column dropped"),
        ("string_in_numeric", "bill_length_mm", "Unexpected data type"),
        ("out_of_domain", "island", "Unexpected string values"),
        ("too_many_missing", "sex", "present in fewer examples than expected"),
        ("unexpected_column", "colour", "New column"),
    ],
)
def test_corrupted_data_is_rejected_with_a_readable_summary(pipeline, penguins_csv, tmp_path, how, column, words):
    examples = pipeline.ingest(str(corrupt(penguins_csv, tmp_path, how))).outputs["examples"]
    with pytest.raises(ComponentError) as err:
        pipeline.validate(examples)
    assert err.value.kind is ErrorKind.DATA
    message = err.value.message
    assert message.startswith("data validation failed: ")
    line = next(line for line in message.splitlines() if f"column '{column}'" in line)
    assert words.lower() in line.lower(), message
    assert "Traceback" not in message
    assert ArtifactStore().exists(err.value.details["report"])  # the report is there to look at


def test_schema_is_inferred_and_written_when_absent(pipeline, first_run, tmp_path):
    from dataclasses import replace

    schema_uri = f"file://{tmp_path}/new/schema.pbtxt"
    record = replace(pipeline, schema_uri=schema_uri).validate(first_run["ingest"].outputs["examples"])
    assert record.metrics["verdict"] == "valid"
    text = (tmp_path / "new" / "schema.pbtxt").read_text()
    assert text.startswith("# Curated data schema")
    from airflow_mlops.runtime.components.validate import read_schema

    schema = read_schema(schema_uri)
    presence = {f.name: f.presence.min_fraction for f in schema.feature}
    assert presence["species"] == 1.0 and presence["sex"] == pytest.approx(0.9)
    assert {d.name: list(d.value) for d in schema.string_domain}["island"] == ["Biscoe", "Dream", "Torgersen"]


def drifted_copy(penguins_csv, tmp_path):
    data = pd.read_csv(penguins_csv)
    data["body_mass_g"] = data["body_mass_g"] + 2500
    data["bill_length_mm"] = data["bill_length_mm"] * 1.6
    path = tmp_path / "drifted.csv"
    data.to_csv(path, index=False)
    return path


def test_drift_against_the_champion_is_measured_and_warns(pipeline, first_run, penguins_csv, tmp_path):
    assert first_run["deploy"].metrics["champion"] == "1"
    examples = pipeline.ingest(str(drifted_copy(penguins_csv, tmp_path))).outputs["examples"]
    record = pipeline.validate(examples, on_drift="warn")
    assert record.metrics["verdict"] == "drifted"
    summary = ArtifactStore().read_json(record.outputs["anomalies"].uri + "/anomalies.json")
    assert {"body_mass_g", "bill_length_mm"} <= set(summary["drifted_columns"])
    assert "island" not in summary["drifted_columns"]
    measured = {d["column"]: d for d in summary["drift"]}
    assert measured["body_mass_g"]["value"] > measured["body_mass_g"]["threshold"]
    assert measured["island"]["value"] <= measured["island"]["threshold"]


def test_drift_fails_the_step_when_configured(pipeline, first_run, penguins_csv, tmp_path):
    examples = pipeline.ingest(str(drifted_copy(penguins_csv, tmp_path))).outputs["examples"]
    with pytest.raises(ComponentError) as err:
        pipeline.validate(examples, on_drift="fail")
    assert err.value.kind is ErrorKind.DATA
    assert "data drift vs the champion's training data in" in err.value.message
    assert "body_mass_g" in err.value.message


def test_same_data_as_the_champion_is_a_cache_hit(pipeline, first_run):
    again = pipeline.validate(first_run["ingest"].outputs["examples"], run_id="r2")
    assert again.cache_hit and again.fingerprint == first_run["validate"].fingerprint
