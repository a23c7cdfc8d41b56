"""The monitor component on logged penguin predictions against a real champion's training data
(its parts: tests/runtime/monitoring and tests/runtime/predictions)."""

from __future__ import annotations

import pandas as pd
import pytest
from log_helpers import SPECIES, log_records, record
from pipeline_helpers import FEATURES, LABEL, Pipeline, own_first_run, own_pipeline  # noqa: F401  (fixtures: a pipeline of this module's own)

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ErrorKind, join_uri
from airflow_mlops.contract.layout import feedback_uri, predictions_uri, verdicts_uri
from airflow_mlops.runtime.components.monitor import COMPONENT
from airflow_mlops.runtime.components.runner import run_component

# The penguin pipeline's monitoring settings (include/penguin/pipeline.yaml).
SETTINGS = {"drift_share": 0.5, "must_not_drift": ["body_mass_g"], "min_rows": 30, "min_accuracy": 0.85, "min_labels": 20}


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
    directory = verdicts_uri(pipeline.root, "penguin")
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


# -- a regression champion (the diabetes example) ------------------------------------------------


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory):
    """A regression champion: the diabetes chain (few epochs, lenient thresholds) up to register,
    then alias ``champion`` set directly (deploy is not what is tested here)."""
    import shutil

    from test_tasks import DIABETES, DIABETES_FEATURES, DIABETES_SOURCE, chain

    from airflow_mlops.runtime.ml.examples import read_split

    base = tmp_path_factory.mktemp("diabetes-monitor")
    shutil.copy(DIABETES / "schema.pbtxt", base / "schema.pbtxt")
    pipeline = Pipeline(root=f"file://{base}/artifacts", tracking_uri=f"sqlite:///{base}/mlflow.db",
                        schema_uri=f"file://{base}/schema.pbtxt", model_name="diabetes")
    records = chain(pipeline, DIABETES_SOURCE, DIABETES_FEATURES, "target", "regression", {"epochs": 3}, {"rmse": {"max": 1e9}})
    version = records["register"].outputs["model_version"].properties["version"]
    pipeline.registry().client().set_registered_model_alias("diabetes", "champion", str(version))
    return pipeline, DIABETES_FEATURES, read_split(records["ingest"].outputs["examples"], "test").reset_index(drop=True)


def test_a_regression_is_judged_by_its_mae_against_max_mae(diabetes):
    pipeline, features, rows = diabetes
    hour, ids = "2026-05-01T10", [f"reg-{i}" for i in range(len(rows))]
    # Served predictions are numbers, 10 above the truth: mae = rmse = 10 on every labelled row.
    records = [{"timestamp": f"{hour}:{i % 60:02d}:00.000+00:00", "request_id": rid, "model_version": "1", "model_role": "champion",
                "features": {n: float(row[n]) for n in features}, "prediction": float(row["target"]) + 10.0,
                "latency_ms": 2.0, "batch_rows": 1} for i, (rid, (_, row)) in enumerate(zip(ids, rows.iterrows()))]
    log_records(predictions_uri(pipeline.root, "penguin"), records)
    labels = {rid: f"{t:g}" for rid, t in zip(ids, rows["target"])}
    labels[ids[0]] = "not measured"  # a label that is not a number: skipped, counted
    write_feedback(pipeline, "diabetes", labels)
    params = {"features": features, "label": "target", "task": "regression", "min_rows": 30, "min_labels": 20}

    bad = monitor(pipeline, hour, **params, max_mae=9.5)
    found = outputs(bad)
    verdict = found["verdict"]
    assert verdict["status"] == "alert" and verdict["degradation"] is True, verdict["reasons"]
    assert verdict["labelled"] == len(ids) - 1 and verdict["skipped_labels"] == 1 and verdict["accuracy"] is None
    assert verdict["mae"] == pytest.approx(10.0, abs=1e-3) and verdict["rmse"] == pytest.approx(10.0, abs=1e-3)
    assert any(r.startswith("performance degradation: mae 10 on") for r in verdict["reasons"])
    assert bad.metrics["mae"] == verdict["mae"] and bad.metrics["rmse"] == verdict["rmse"]
    # The champion's training label is a number: the predictions' drift is a numeric test, not chi-square.
    prediction = found["metrics"]["prediction_drift"]
    assert prediction and prediction["stattest"] and "chi" not in prediction["stattest"].lower()
    assert "Error on the labelled predictions" in found["report"] and "mean absolute error" in found["report"]

    assert outputs(monitor(pipeline, hour, **params, max_mae=10.5))["verdict"]["degradation"] is False
    unjudged = outputs(monitor(pipeline, hour, **params))["verdict"]
    assert unjudged["degradation"] is False and "mae not judged: monitoring.max_mae is not set" in " ".join(unjudged["reasons"])
