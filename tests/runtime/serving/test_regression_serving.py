"""Serving follows the task: a regression model served for real (numbers, no probabilities,
its own OpenAPI schema, its prediction log), and a model of another task is never served."""

from __future__ import annotations

import math
import time

import pytest
from regression_helpers import FEATURES, ROW, build_model, diabetes_frame, keras_values, register

from airflow_mlops.contract.layout import predictions_uri
from airflow_mlops.runtime.components.infra_validate import free_port
from airflow_mlops.runtime.serving.server import ServerProcess, VersionRefused, http_get, http_post_json

PIPELINE = "diabetes"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """Version 1: a regression (champion); version 2: a binary classifier of the same features."""
    from airflow_mlops.runtime.ml.model_registry import CHAMPION, Registry

    base = tmp_path_factory.mktemp("regression")
    root, tracking_uri = f"file://{base}/artifacts", f"sqlite:///{base}/mlflow.db"
    frame = diabetes_frame()
    regression = build_model(frame, "regression", base / "regression")
    classes = frame.assign(target=["high" if v > 140 else "low" for v in frame["target"]])
    classifier = build_model(classes, "binary_classification", base / "classifier")
    assert register(tracking_uri, root, PIPELINE, regression) == "1"
    assert register(tracking_uri, root, PIPELINE, classifier) == "2"
    Registry(tracking_uri, PIPELINE, PIPELINE, "").client().set_registered_model_alias(PIPELINE, CHAMPION, "1")
    return {"root": root, "tracking_uri": tracking_uri, "regression": regression, "base": base}


def config(registry, state, **overrides):
    from airflow_mlops.runtime.serving.config import ServingConfig

    values = dict(
        pipeline=PIPELINE, model_name=PIPELINE, tracking_uri=registry["tracking_uri"], artifact_root=registry["root"],
        features=FEATURES, task="regression", cache_dir=str(state / "models"), port=free_port(), poll_seconds=0.3,
        max_rows=100, max_request_bytes=65536, log_flush_seconds=0.2,
    )
    return ServingConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def server(registry, tmp_path_factory):
    state = tmp_path_factory.mktemp("regression-server")
    process = ServerProcess.start(config(registry, state), state)
    yield process
    process.stop()


def predict(server, rows):
    return http_post_json(server.url + "/predict", {"instances": rows})


def status(server) -> dict:
    return http_post_json(server.url + "/status", {})[1]


def wait_for(server, check, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check(current := status(server)):
            return current
        time.sleep(0.1)
    raise AssertionError(f"the server did not get there in {timeout} s: {status(server)}")


def test_a_regression_is_answered_with_the_keras_models_number(server, registry):
    missing = {k: None for k in ROW}
    rows = [dict(ROW, request_id="reg-1"), dict(ROW, bmi=-0.05, group="low"), missing]
    code, answers = predict(server, rows)
    assert code == 200, answers
    expected = keras_values(registry["regression"], rows)
    assert [a["request_id"] for a in answers][0] == "reg-1"
    for answer, value in zip(answers, expected):
        assert set(answer) == {"request_id", "prediction", "model_version", "model_role"}  # no probabilities
        assert isinstance(answer["prediction"], float) and math.isfinite(answer["prediction"])
        assert answer["prediction"] == pytest.approx(value, abs=1e-4)
        assert answer["model_version"] == "1" and answer["model_role"] == "champion"
    assert status(server)["task"] == "regression"


def test_the_logged_record_has_a_numeric_prediction(server, registry):
    from airflow_mlops.runtime.predictions.reader import read_prediction_frame, read_predictions

    code, answers = predict(server, [dict(ROW, request_id="logged-1")])
    assert code == 200
    root = predictions_uri(registry["root"], PIPELINE)
    deadline = time.monotonic() + 20
    while not (records := [r for r in read_predictions(root) if r["request_id"] == "logged-1"]):
        assert time.monotonic() < deadline, "not logged"
        time.sleep(0.2)
    (record,) = records
    assert isinstance(record["prediction"], float) and "probabilities" not in record
    assert record["prediction"] == answers[0]["prediction"]
    assert record["features"] == ROW
    frame = read_prediction_frame(root, FEATURES)
    assert frame["prediction"].dtype == "float64"
    assert frame.loc[frame["request_id"] == "logged-1", "prediction"].item() == pytest.approx(answers[0]["prediction"])


def test_the_openapi_document_shows_the_regression_answer(server):
    code, body = http_get(server.url + "/docs.json")
    assert code == 200
    import json

    schemas = json.loads(body)["components"]["schemas"]
    answer = schemas["RegressionPrediction"]
    assert answer["properties"]["prediction"]["type"] == "number"
    assert "target" in answer["properties"]["prediction"]["description"]
    assert "probabilities" not in answer["properties"]
    assert "Prediction" not in schemas  # the classifier's answer is not offered
    predict_response = json.loads(body)["paths"]["/predict"]["post"]["responses"]["200"]
    assert "RegressionPrediction" in json.dumps(predict_response)


@pytest.mark.parametrize("row", [
    {k: v for k, v in ROW.items() if k != "bmi"},
    dict(ROW, extra=1.0),
    dict(ROW, bmi="high"),
    dict(ROW, group=3),
])
def test_bad_rows_still_get_400(server, row):
    code, body = predict(server, [ROW, row])
    assert code == 400, body
    assert body["detail"][0]["loc"][:2] == ["instances", 1]


def test_a_classifier_as_champion_or_challenger_is_not_served(server, registry):
    """The regression keeps answering; the reason is in /status."""
    from airflow_mlops.runtime.serving.rollout import Rollout

    rollout = Rollout(_registry(registry), registry["root"], PIPELINE, by="test")
    try:
        rollout.start_canary("2", 0.5, 60)
        current = wait_for(server, lambda s: (s["last_error"] or "").startswith("NotServable: challenger not served"))
        assert current["challenger"] is None and "binary_classification" in current["last_error"]
        codes = [predict(server, [ROW] * 5) for _ in range(5)]
        assert {c for c, _ in codes} == {200} and {a["model_version"] for _, answers in codes for a in answers} == {"1"}

        rollout.promote("2", "test: a classifier as champion")
        current = wait_for(server, lambda s: "version 2 is a binary_classification model" in (s["last_error"] or "")
                           and "challenger" not in s["last_error"])
        assert current["champion"] == "1" and current["refused_versions"].keys() == {"2"}
        code, answers = predict(server, [ROW])
        assert code == 200 and answers[0]["model_version"] == "1"
        assert http_get(server.url + "/readyz")[0] == 200
    finally:
        rollout.promote("1", "test over")
    wait_for(server, lambda s: s["champion"] == "1" and s["last_error"] is None)


def _registry(registry):
    from airflow_mlops.runtime.ml.model_registry import Registry

    return Registry(registry["tracking_uri"], PIPELINE, PIPELINE, "")


def test_a_pinned_version_of_another_task_fails_at_once(registry, tmp_path):
    """At once: on the refusal the server reports (VersionRefused), not at the end of the start
    timeout (a plain ServerError "was not ready after 300 s")."""
    with pytest.raises(VersionRefused, match="does not serve version 2: .*binary_classification model; this server serves regression"):
        ServerProcess.start(config(registry, tmp_path, pin_version="2", log_predictions=False), tmp_path, wait_ready=300)


def test_a_server_of_another_task_answers_503_with_the_reason(registry, tmp_path):
    """A classification server whose champion is the regression: up, not ready, 503 - never 500."""
    process = ServerProcess.start(config(registry, tmp_path, task="classification", log_predictions=False), tmp_path, wait_ready=None)
    try:
        process.wait(120, ready=False)
        deadline = time.monotonic() + 60
        while not (status(process).get("refused_versions") or {}):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert http_get(process.url + "/readyz")[0] != 200
        code, body = predict(process, [ROW])
        assert code == 503, body  # BentoML hides a 5xx's message; /status and the log say why
        reason = status(process)["last_error"]
        assert "version 1 is a regression model; this server serves classification" in reason, reason
        assert "version 1 is a regression model" in process.log_tail(400)
    finally:
        process.stop()
