"""Monitoring: reading a window of the prediction log, the verdict's rules, and the monitor
component on logged penguin predictions against a real champion's training data."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from pipeline_helpers import FEATURES, LABEL, Pipeline

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.runtime.components.monitor import COMPONENT
from airflow_mlops.runtime.components.runner import run_component
from airflow_mlops.contract import ComponentError, ErrorKind, join_uri
from airflow_mlops.runtime.ml import monitoring
from airflow_mlops.contract.layout import feedback_uri, predictions_uri
from airflow_mlops.runtime.serving.prediction_log import PredictionLogger, read_predictions

# The penguin pipeline's monitoring settings (include/penguin/pipeline.yaml).
SETTINGS = {"drift_share": 0.5, "must_not_drift": ["body_mass_g"], "min_rows": 30, "min_accuracy": 0.85, "min_labels": 20}
SPECIES = ("Adelie", "Chinstrap", "Gentoo")


def record(row: pd.Series, request_id: str, timestamp: str, prediction: str | None = None) -> dict:
    """A prediction-log record of one penguin row, as the server writes it; the prediction is the
    true species unless given (the champion is ~98% accurate on these rows anyway)."""
    features = {name: (None if pd.isna(row[name]) else row[name]) for name in FEATURES}
    prediction = prediction or row[LABEL]
    return {"timestamp": timestamp, "request_id": request_id, "features": features, "prediction": prediction,
            "probabilities": {c: float(c == prediction) for c in SPECIES}, "model_version": "1", "model_role": "champion",
            "latency_ms": 3.5, "batch_rows": 1}


def log_records(root: str, records: list[dict]) -> None:
    logger = PredictionLogger(root, flush_rows=25, flush_seconds=0.05)
    logger.log(records)
    logger.close()
    assert logger.written == len(records) and logger.failed_writes == 0


def log_window(pipeline: Pipeline, rows: pd.DataFrame, hour: str, tag: str) -> list[str]:
    """Log ``rows`` inside the hour starting at ``hour`` (``2026-03-01T10``), plus, as traps, an
    error record inside and wildly drifted records just outside the window. Returns the ids."""
    ids = [f"{tag}-{i}" for i in range(len(rows))]
    records = [record(row, ids[i], f"{hour}:{i % 60:02d}:{7 * i % 60:02d}.{i % 1000:03d}+00:00") for i, (_, row) in enumerate(rows.iterrows())]
    records.append({"timestamp": f"{hour}:30:00.000+00:00", "request_id": f"{tag}-error", "model_version": "1",
                    "model_role": "champion", "error": "ValueError: boom"})
    outside = rows.head(40).assign(body_mass_g=99_999.0, island="Atlantis")
    before, after = _shift_hour(hour, -1), _shift_hour(hour, +1)
    records += [record(row, f"{tag}-before-{i}", f"{before}:59:59.999+00:00") for i, (_, row) in enumerate(outside.iterrows())]
    records += [record(row, f"{tag}-after-{i}", f"{after}:00:00.000+00:00") for i, (_, row) in enumerate(outside.iterrows())]
    log_records(predictions_uri(pipeline.root, "penguin"), records)
    return ids


def _shift_hour(hour: str, delta: int) -> str:
    from datetime import datetime, timedelta

    return (datetime.fromisoformat(hour + ":00") + timedelta(hours=delta)).strftime("%Y-%m-%dT%H")


def write_feedback(pipeline: Pipeline, name: str, labels: dict[str, str]) -> None:
    text = "request_id,label\n" + "".join(f"{rid},{label}\n" for rid, label in labels.items())
    ArtifactStore().write_text(join_uri(feedback_uri(pipeline.root, "penguin"), f"{name}.csv"), text)


def monitor(pipeline: Pipeline, hour: str, **overrides):
    """Run the monitor component over the hour starting at ``hour``."""
    params = {"features": FEATURES, "label": LABEL, "window_start": f"{hour}:00:00+00:00",
              "window_end": f"{_shift_hour(hour, 1)}:00:00+00:00", **SETTINGS, **overrides}
    return run_component(COMPONENT, pipeline.spec("monitor", params, run_id=f"monitor-{hour}"))


def outputs(record) -> dict:
    store, uri = ArtifactStore(), record.outputs["monitoring"].uri
    return {
        "verdict": store.read_json(f"{uri}/verdict.json"),
        "metrics": store.read_json(f"{uri}/metrics.json"),
        "report": store.read_text(f"{uri}/report.html"),
    }


@pytest.fixture(scope="module")
def test_rows(first_run) -> pd.DataFrame:
    """The champion's test split: real penguins it was not trained on."""
    from airflow_mlops.runtime.ml.examples import read_split

    rows = read_split(first_run["ingest"].outputs["examples"], "test")
    assert len(rows) >= 45  # enough for min_rows = 30 with room
    return rows.reset_index(drop=True)


# -- the component on a real champion -------------------------------------------------------


def test_traffic_like_the_training_data_is_ok(pipeline, first_run, test_rows):
    ids = log_window(pipeline, test_rows, "2026-03-01T10", "ok")
    result = monitor(pipeline, "2026-03-01T10")
    found = outputs(result)
    verdict = found["verdict"]
    assert verdict["status"] == "ok", verdict["reasons"]
    assert verdict["drift"] is False and verdict["degradation"] is False
    assert verdict["rows"] == len(ids)  # neither the error record nor the traps outside the window
    newest = max(f"2026-03-01T10:{i % 60:02d}:{7 * i % 60:02d}.{i % 1000:03d}+00:00" for i in range(len(ids)))
    assert verdict["last_prediction_at"] == newest
    assert set(found["metrics"]["features"]) == set(FEATURES)
    assert all(f["stattest"] and f["score"] is not None for f in found["metrics"]["features"].values())
    assert "Atlantis" not in found["report"] and "Dataset Drift" in found["report"]  # Evidently's own HTML
    assert result.metrics == {k: verdict[k] for k in ("status", "drift", "degradation", "rows", "drift_share", "accuracy")}
    assert result.outputs["monitoring"].properties["status"] == "ok"
    assert result.outputs["monitoring"].properties["report"].endswith("/report.html")


def test_drifted_features_are_named_and_make_a_drift_alert(pipeline, first_run, test_rows):
    drifted = test_rows.assign(body_mass_g=test_rows["body_mass_g"] + 2500, bill_length_mm=test_rows["bill_length_mm"] * 1.6)
    log_window(pipeline, drifted, "2026-03-01T12", "drift")
    verdict = outputs(monitor(pipeline, "2026-03-01T12"))["verdict"]
    assert verdict["status"] == "alert" and verdict["drift"] is True and verdict["degradation"] is False
    assert set(verdict["drifted_features"]) >= {"body_mass_g", "bill_length_mm"}
    assert any("must-not-drift" in r and "body_mass_g" in r for r in verdict["reasons"])
    # 2 of 6 features is below drift_share 0.5: without the must-not-drift rule this is no drift ...
    relaxed = outputs(monitor(pipeline, "2026-03-01T12", must_not_drift=[]))["verdict"]
    assert relaxed["drift"] is False and relaxed["status"] == "ok", relaxed["reasons"]
    # ... and with a lower share it is.
    strict = outputs(monitor(pipeline, "2026-03-01T12", must_not_drift=[], drift_share=0.3))["verdict"]
    assert strict["drift"] is True and strict["reasons"][0].startswith("data drift")


def test_an_empty_window_is_no_traffic_and_still_writes_everything(pipeline, first_run):
    store = ArtifactStore()
    result = monitor(pipeline, "2026-03-02T03")
    found = outputs(result)
    assert found["verdict"]["status"] == "no_traffic" and found["verdict"]["rows"] == 0
    assert found["verdict"]["last_prediction_at"] is None
    assert found["verdict"]["drift"] is False and found["verdict"]["degradation"] is False
    assert "only 0 predictions" in found["verdict"]["reasons"][0] and "no_traffic" in found["report"]
    assert found["metrics"]["rows"] == 0
    assert store.exists(found["verdict"]["verdict_uri"])


def test_a_window_below_min_rows_is_no_traffic(pipeline, first_run, test_rows):
    log_window(pipeline, test_rows.head(10), "2026-03-02T05", "few")
    verdict = outputs(monitor(pipeline, "2026-03-02T05"))["verdict"]
    assert verdict["status"] == "no_traffic" and verdict["rows"] == 10


def test_wrong_labels_are_a_degradation_and_right_ones_are_not(pipeline, first_run, test_rows):
    wrong_ids = log_window(pipeline, test_rows, "2026-03-03T10", "wrong")
    right_ids = log_window(pipeline, test_rows, "2026-03-03T14", "right")  # not next to the other: traps
    truth = list(test_rows[LABEL])
    # 80% of the labels contradict the logged prediction (the true species).
    wrong = {rid: (SPECIES[(SPECIES.index(s) + 1) % 3] if i % 5 else s) for i, (rid, s) in enumerate(zip(wrong_ids, truth))}
    write_feedback(pipeline, "wrong", wrong)
    write_feedback(pipeline, "right", dict(zip(right_ids, truth)))

    bad = outputs(monitor(pipeline, "2026-03-03T10"))
    assert bad["verdict"]["status"] == "alert" and bad["verdict"]["degradation"] is True and bad["verdict"]["drift"] is False
    assert bad["verdict"]["labelled"] == len(wrong_ids)
    assert bad["verdict"]["accuracy"] == pytest.approx(sum(1 for i in range(len(truth)) if i % 5 == 0) / len(truth))
    assert "performance degradation" in bad["verdict"]["reasons"][0]
    assert "Accuracy on the labelled predictions" in bad["report"]  # Evidently's classification section

    good = outputs(monitor(pipeline, "2026-03-03T14"))["verdict"]
    assert good["status"] == "ok" and good["degradation"] is False and good["accuracy"] == 1.0
    # Too few labels: not judged, however bad.
    unjudged = outputs(monitor(pipeline, "2026-03-03T10", min_labels=len(wrong_ids) + 1))["verdict"]
    assert unjudged["degradation"] is False and "accuracy not judged" in " ".join(unjudged["reasons"])


def test_the_verdict_is_copied_where_a_sensor_looks(pipeline, first_run, test_rows):
    log_window(pipeline, test_rows, "2026-03-04T07", "copy")
    result = monitor(pipeline, "2026-03-04T07")
    store = ArtifactStore()
    directory = monitoring.verdicts_uri(pipeline.root, "penguin")
    assert directory == join_uri(pipeline.root, "penguin", "monitoring", "verdicts")
    copy = join_uri(directory, "2026-03-04T08-00-00Z.json")
    assert store.exists(copy)
    assert store.read_json(copy) == outputs(result)["verdict"]
    assert store.read_json(copy)["window_end"] == "2026-03-04T08:00:00.000+00:00"


def test_no_champion_is_a_config_error(tmp_path):
    lonely = Pipeline(root=f"file://{tmp_path}/artifacts", tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", schema_uri="")
    with pytest.raises(ComponentError) as err:
        monitor(lonely, "2026-03-01T10")
    assert err.value.kind is ErrorKind.CONFIG and "no champion to compare with" in err.value.message


def test_a_reversed_window_is_a_config_error(pipeline):
    with pytest.raises(ComponentError) as err:
        monitor(pipeline, "2026-03-01T10", window_start="2026-03-01T12:00:00Z")
    assert err.value.kind is ErrorKind.CONFIG and "window" in err.value.message


# -- the parts, without a model -------------------------------------------------------------


def test_the_fast_reader_returns_what_the_record_reader_does(tmp_path, penguins_csv):
    rows = pd.read_csv(penguins_csv).head(120)
    root = f"file://{tmp_path}/log"
    records = [record(row, f"r{i}", f"2026-05-01T{9 + i // 40:02d}:{i % 60:02d}:00.000+00:00") for i, (_, row) in enumerate(rows.iterrows())]
    records.append({"timestamp": "2026-05-01T10:10:00.000+00:00", "request_id": "e", "model_version": "2", "error": "boom"})
    log_records(root, records)
    # A file pyarrow cannot type (a number for a categorical feature) is read record by record.
    odd = {**records[50], "request_id": "odd", "features": {**records[50]["features"], "island": 7}}
    ArtifactStore().write_text(f"{root}/date=2026-05-01/hour=10/part-odd.jsonl", json.dumps(odd) + "\n")
    since, until = monitoring.utc_iso("2026-05-01T09:30:00Z"), monitoring.utc_iso("2026-05-01T11:00:00")
    fast = monitoring.read_prediction_frame(root, FEATURES, since, until)
    slow = monitoring.prediction_frame(read_predictions(root, since, until), FEATURES)
    key = ["timestamp", "request_id"]
    pd.testing.assert_frame_equal(fast.sort_values(key).reset_index(drop=True), slow.sort_values(key).reset_index(drop=True))
    expected = sum(1 for r in records if since <= r["timestamp"] < until and "error" not in r) + 1  # + odd
    assert len(fast) == expected == 51 and "e" not in set(fast["request_id"])
    assert fast.loc[fast["request_id"] == "odd", "island"].item() == "7"
    assert fast["body_mass_g"].dtype == "float64" and fast["island"].dtype == object


def test_times_are_put_in_the_logs_format():
    assert monitoring.utc_iso("2026-03-01T10:00:00Z") == "2026-03-01T10:00:00.000+00:00"
    assert monitoring.utc_iso("2026-03-01T12:00:00+02:00") == "2026-03-01T10:00:00.000+00:00"
    assert monitoring.utc_iso("2026-03-01T10:00:00") == "2026-03-01T10:00:00.000+00:00"
    assert monitoring.safe_name("2026-03-01T10:00:00+00:00") == "2026-03-01T10-00-00Z"
    assert monitoring.safe_name("2026-03-01T10:00:00.250Z") == "2026-03-01T10-00-00.250Z"


def figures(rows=100, drifted=(), labelled=0, accuracy=None) -> dict:
    names = list(FEATURES)
    return {"rows": rows, "features": {n: {"detected": n in drifted, "note": ""} for n in names},
            "drifted_features": list(drifted), "drift_share": len(drifted) / len(names), "labelled": labelled, "accuracy": accuracy}


@pytest.mark.parametrize(
    "kwargs, overrides, status, drift, degradation",
    [
        ({}, {}, "ok", False, False),
        ({}, {"rows": 29}, "no_traffic", False, False),
        ({}, {"rows": 0, "drifted": ("sex", "island", "body_mass_g")}, "no_traffic", False, False),
        ({}, {"drifted": ("sex", "island")}, "ok", False, False),  # 2/6 < 0.5
        ({}, {"drifted": ("sex", "island", "bill_depth_mm")}, "alert", True, False),  # 3/6 >= 0.5
        ({"must_not_drift": ["sex"]}, {"drifted": ("sex",)}, "alert", True, False),
        ({"must_not_drift": ["sex"]}, {"drifted": ("island",)}, "ok", False, False),
        ({"drift_share": 0.0}, {}, "ok", False, False),  # a share of 0 still needs a drifted feature
        ({}, {"labelled": 20, "accuracy": 0.84}, "alert", False, True),
        ({}, {"labelled": 20, "accuracy": 0.85}, "ok", False, False),
        ({}, {"labelled": 19, "accuracy": 0.1}, "ok", False, False),
        ({}, {"labelled": 50, "accuracy": 0.5, "drifted": ("sex", "island", "body_mass_g")}, "alert", True, True),
    ],
)
def test_verdict_rules(kwargs, overrides, status, drift, degradation):
    settings = {"drift_share": 0.5, "must_not_drift": [], "min_rows": 30, "min_accuracy": 0.85, "min_labels": 20, **kwargs}
    result = monitoring.verdict(figures(**overrides), **settings)
    assert (result["status"], result["drift"], result["degradation"]) == (status, drift, degradation), result["reasons"]
    assert result["reasons"] and set(result) >= {"rows", "drift_share", "drifted_features", "accuracy", "labelled", "at"}


def test_large_windows_are_sampled_down_to_the_reference_for_the_drift_tests(penguins_csv):
    """Evidently's chi-square test treats the reference's proportions as exact: a window 20
    times the reference drawn from the same population would be 'drifted' most of the time."""
    data = pd.read_csv(penguins_csv)
    reference = data.sample(240, random_state=1)
    window = data.sample(5000, replace=True, random_state=2).assign(request_id="x", prediction="Adelie", model_version="1", timestamp="t")
    _, found = monitoring.drift_report(reference, window, FEATURES)
    assert found["tested_rows"] == 240 and found["reference_rows"] == 240
    assert found["drifted_features"] == [], found["features"]
    _, capped = monitoring.drift_report(reference, window, FEATURES, max_rows=100)
    assert capped["tested_rows"] == 100 and capped["reference_rows"] == 240


def test_a_feature_missing_from_every_prediction_counts_as_drifted(penguins_csv):
    data = pd.read_csv(penguins_csv)
    window = data.sample(100, random_state=3).assign(sex=None, request_id="x", prediction="Adelie", model_version="1", timestamp="t")
    _, found = monitoring.drift_report(data, window, FEATURES)
    assert found["features"]["sex"]["detected"] is True and found["features"]["sex"]["note"] == "no values in the window"
    assert "sex" in found["drifted_features"]
