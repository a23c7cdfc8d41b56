"""The admin reload with a token, a challenger that fails at predict time, and no model at all.

``steady`` is a server that never polls (``poll_seconds`` of an hour): what it serves changes only
through ``POST /admin/reload``, so a reload is observable. Its model cache holds, as version 2,
a model that loads but fails on every real row (:mod:`failing_model`)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from unittest import mock

import pytest
from conftest import serving_config
from failing_model import MESSAGE, write_failing_model
from serving_helpers import ROW

from airflow_mlops.contract.layout import predictions_uri
from airflow_mlops.runtime.predictions.reader import read_predictions
from airflow_mlops.runtime.serving.config import ADMIN_TOKEN_ENV
from airflow_mlops.runtime.serving.server import ServerProcess, http_get, http_post_json

TOKEN = "s3cret-admin-token"


def reset(models) -> None:
    """Version 1 the champion, no canary."""
    from airflow_mlops.runtime.serving.rollout import Rollout

    rollout = Rollout(models.registry(), models.root, "penguin", by="test")
    record = rollout.record()
    if record.canary is not None:
        rollout.reject_canary("test reset")
    if record.champion != "1":
        rollout.promote("1", "test reset")


@pytest.fixture(scope="module")
def steady(models, tmp_path_factory):
    state = tmp_path_factory.mktemp("steady")
    config = serving_config(models, state, poll_seconds=3600.0)
    write_failing_model(Path(config.cache_dir) / "penguin" / "2" / "model")
    reset(models)
    with mock.patch.dict(os.environ, {ADMIN_TOKEN_ENV: TOKEN}):
        process = ServerProcess.start(config, state)
    yield process
    process.stop()
    reset(models)


def status(server) -> dict:
    code, body = http_post_json(server.url + "/status", {})
    assert code == 200, body
    return body


def reload(server, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return http_post_json(server.url + "/admin/reload", {}, headers=headers)


def test_the_admin_reload_refreshes_with_the_token_and_only_with_it(steady, rollout, models):
    reset(models)
    assert reload(steady, TOKEN) == (200, {"champion": "1", "challenger": None, "canary_weight": 0.0})
    rollout.start_canary("2", 0.5, 60)
    try:
        for token in (None, "wrong", TOKEN + "x", ""):
            code, body = reload(steady, token)
            assert code == 401, (token, body)
        # a refused reload changed nothing; the server does not poll, so nothing else did either
        assert status(steady)["challenger"] is None
        assert reload(steady, TOKEN) == (200, {"champion": "1", "challenger": "2", "canary_weight": 0.5})
        assert status(steady)["challenger"] == "2"
    finally:
        reset(models)
    assert reload(steady, TOKEN)[1]["challenger"] is None


def test_a_challenger_failing_at_predict_time_is_logged_and_the_champion_answers(steady, rollout, models):
    rollout.start_canary("2", 1.0, 60)  # every row goes to the challenger first
    try:
        assert reload(steady, TOKEN) == (200, {"champion": "1", "challenger": "2", "canary_weight": 1.0})
        ids = [f"failing-challenger-{i}" for i in range(6)]
        code, answers = http_post_json(steady.url + "/predict", {"instances": [dict(ROW, request_id=i) for i in ids]})
        assert code == 200, answers
        assert [(a["request_id"], a["model_version"], a["model_role"]) for a in answers] == [(i, "1", "champion") for i in ids]
        assert {a["prediction"] for a in answers} == {"Gentoo"}

        root = predictions_uri(models.root, "penguin")
        deadline = time.monotonic() + 30
        while len(mine := [r for r in read_predictions(root) if r["request_id"] in ids]) < 2 * len(ids):
            assert time.monotonic() < deadline, f"not logged in 30 s: {mine}"
            time.sleep(0.2)
        errors = [r for r in mine if "error" in r]
        assert sorted(r["request_id"] for r in errors) == ids
        assert {(r["model_version"], r["model_role"]) for r in errors} == {("2", "challenger")}
        assert all(MESSAGE in r["error"] and r["error"].startswith("ValueError") for r in errors), errors[0]
        answered = [r for r in mine if "error" not in r]
        assert sorted(r["request_id"] for r in answered) == ids
        assert {(r["model_version"], r["model_role"]) for r in answered} == {("1", "champion")}
        assert "challenger 2 failed on 6 rows" in steady.log_tail(400)
        assert status(steady)["challenger"] == "2"  # still in its canary: canary_analysis decides on its errors
    finally:
        reset(models)


def test_with_no_model_at_all_predict_answers_503(models, tmp_path):
    """A registry without the model (no version, no champion): up, not ready, 503 - never 500."""
    config = serving_config(models, tmp_path, model_name="no_such_model", log_predictions=False)
    process = ServerProcess.start(config, tmp_path / "state", wait_ready=None)
    try:
        process.wait(120, ready=False)
        assert http_get(process.url + "/readyz")[0] != 200
        code, body = http_post_json(process.url + "/predict", {"instances": [ROW]})
        assert code == 503, body
        current = status(process)
        assert current["champion"] is None and current["served_rows"] == 0
    finally:
        assert process.stop() == 0
