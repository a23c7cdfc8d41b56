"""A canary for real: the server splits traffic, labels arrive, canary_analysis decides, the server follows."""

from __future__ import annotations

import csv

import pytest
from serving_helpers import FEATURES, ROW
from test_service import predict, wait_for

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract.layout import deployment_record_uri, feedback_uri
from airflow_mlops.runtime.serving.record import read_record
from airflow_mlops.runtime.serving.requests import json_row

THRESHOLDS = {"max_error_rate_increase": 0.01, "max_latency_ratio": 5.0, "max_accuracy_drop": 0.05, "min_requests": 20, "min_labels": 10}


@pytest.fixture
def canary_of_v2(server, rollout):
    rollout.start_canary("2", 0.5, 60)
    wait_for(server, lambda s: s["challenger"] == "2")
    yield
    record = rollout.record()
    if record.canary is not None:
        rollout.reject_canary("test over")
    if record.champion != "1":
        rollout.promote("1", "test reset")
    wait_for(server, lambda s: s["champion"] == "1" and s["challenger"] is None)


def penguins(n: int):
    from importlib import resources

    path = resources.files("palmerpenguins").joinpath("data/penguins.csv")
    with open(str(path)) as f:
        rows = [r for r in csv.DictReader(f) if r["sex"] != "NA" and r["body_mass_g"] != "NA"]
    return rows[:: max(1, len(rows) // n)][:n]


def send_traffic(server, tag: str, n: int = 120):
    """Labelled rows, one request each; returns the answers and the true species by request id."""
    answers, truth = [], {}
    for i, row in enumerate(penguins(n)):
        values = {k: (None if row[k] == "NA" else float(row[k]) if FEATURES[k] == "numeric" else row[k]) for k in FEATURES}
        request_id = f"{tag}-{i}"
        code, body = predict(server, [dict(json_row(values, FEATURES), request_id=request_id)])
        assert code == 200
        answers.append(body[0])
        truth[request_id] = row["species"]
    wait_for(server, lambda s: s["logged_rows"] == s["served_rows"])  # all flushed to the log
    return answers, truth


def write_labels(models, name: str, labels: dict[str, str]) -> None:
    lines = ["request_id,label"] + [f"{k},{v}" for k, v in labels.items()]
    ArtifactStore().write_text(f"{feedback_uri(models.root, 'penguin')}/{name}.csv", "\n".join(lines) + "\n")


def test_a_good_challenger_is_promoted_and_then_serves(server, models, canary_of_v2):
    answers, truth = send_traffic(server, "good")
    assert {a["model_role"] for a in answers} == {"champion", "challenger"}
    write_labels(models, "good", truth)
    waiting = models.run("canary_analysis", {**THRESHOLDS, "force": False}, run_id="wait")
    assert waiting.metrics["decision"] == "wait"  # the 60-minute window is not over

    decided = models.run("canary_analysis", {**THRESHOLDS, "force": True}, run_id="good")
    assert {k: decided.metrics[k] for k in ("decision", "challenger", "champion")} == {"decision": "promote", "challenger": "2", "champion": "1"}
    report = ArtifactStore().read_json(decided.outputs["canary_report"].uri + "/canary_report.json")
    challenger, champion = report["figures"]["challenger"], report["figures"]["champion"]
    assert decided.metrics["figures"] == report["figures"]  # what the approver is shown (approval: promote)
    assert challenger["predictions"] + champion["predictions"] >= 120 and challenger["labelled"] >= 10
    assert challenger["accuracy"] > 0.9 and champion["accuracy"] > 0.9
    assert ArtifactStore().exists(decided.outputs["canary_report"].uri + "/report.html")
    wait_for(server, lambda s: s["champion"] == "2" and s["challenger"] is None)
    code, after = predict(server, [ROW] * 10)
    assert code == 200 and {a["model_version"] for a in after} == {"2"}
    record = read_record(deployment_record_uri(models.root, "penguin"), "penguin")
    assert [d.action for d in record.history][-2:] == ["canary", "promote"]
    assert record.history[-1].figures["challenger"]["labelled"] == challenger["labelled"]


def test_a_worse_challenger_is_rejected_and_the_champion_stays(server, models, canary_of_v2):
    answers, truth = send_traffic(server, "bad")
    # Labels that contradict every challenger answer: its accuracy is 0 on them.
    classes = ["Adelie", "Chinstrap", "Gentoo"]
    labels = {
        a["request_id"]: (next(c for c in classes if c != a["prediction"]) if a["model_role"] == "challenger" else truth[a["request_id"]])
        for a in answers
    }
    write_labels(models, "bad", labels)
    decided = models.run("canary_analysis", {**THRESHOLDS, "force": True}, run_id="bad")
    assert decided.metrics["decision"] == "reject"
    assert "accuracy: challenger 0.00%" in decided.outputs["canary_report"].properties["reason"]
    wait_for(server, lambda s: s["champion"] == "1" and s["challenger"] is None)
    record = read_record(deployment_record_uri(models.root, "penguin"), "penguin")
    assert record.history[-1].action == "reject" and record.champion == "1"
