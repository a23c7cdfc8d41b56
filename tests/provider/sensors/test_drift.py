"""VerdictTrigger and DriftSensor: fire on an alert verdict newer than ``since``, and only then;
the Pub/Sub path defers to the Google provider's trigger and maps its messages to a verdict."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred
from google.cloud.pubsub_v1.types import PubsubMessage, ReceivedMessage

from trigger_helpers import collect, recreate

from airflow_mlops.provider.sensors import DriftSensor
from airflow_mlops.provider.sensors.drift import message_verdict
from airflow_mlops.provider.triggers import VerdictTrigger

POLL = 0.05
SINCE = "2026-03-01T00:00:00+00:00"


def verdict(status: str, at: str, **extra: Any) -> dict[str, Any]:
    alert = status == "alert"
    return {"status": status, "drift": alert, "degradation": False, "at": at, **extra}


def write(directory: Path, name: str, content: dict[str, Any] | str) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(content if isinstance(content, str) else json.dumps(content))
    return f"file://{directory / name}"


@pytest.fixture
def verdicts(tmp_path: Path) -> Path:
    return tmp_path / "verdicts"


def sensor(verdicts: Path, **kwargs: Any) -> DriftSensor:
    kwargs.setdefault("since", SINCE)
    return DriftSensor(task_id="drift", verdicts_uri=str(verdicts), poll_seconds=POLL, **kwargs)


def received(data: dict[str, Any] | bytes, message_id: str = "1", **attributes: str) -> dict[str, Any]:
    """A pulled message in the form PubsubPullTrigger puts in its event."""
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    message = PubsubMessage(
        data=body,
        attributes=attributes,
        message_id=message_id,
        publish_time=datetime(2026, 3, 2, 12, tzinfo=timezone.utc),
    )
    return ReceivedMessage.to_dict(ReceivedMessage(ack_id=f"ack-{message_id}", message=message))


# -- the trigger ------------------------------------------------------------------------------


def test_the_trigger_yields_the_newest_alert_after_since(verdicts):
    write(verdicts, "2026-02-28.json", verdict("alert", "2026-02-28T23:59:59Z"))
    write(verdicts, "a.json", verdict("alert", "2026-03-02T00:00:00Z", drifted=["bill_length_mm"]))
    uri = write(verdicts, "b.json", verdict("alert", "2026-03-03T00:00:00Z"))
    write(verdicts, "c.json", verdict("ok", "2026-03-04T00:00:00Z"))
    events = collect(VerdictTrigger(str(verdicts), SINCE, poll_seconds=POLL))
    assert events == [{"status": "success", "verdict": verdict("alert", "2026-03-03T00:00:00Z"), "uri": uri}]


def test_the_trigger_keeps_waiting_on_ok_verdicts_and_old_alerts(verdicts):
    write(verdicts, "old.json", verdict("alert", "2026-02-01T00:00:00+00:00"))
    write(verdicts, "same-time.json", verdict("alert", SINCE))  # "later than", not "at"
    write(verdicts, "ok.json", verdict("ok", "2026-03-05T00:00:00+00:00"))
    write(verdicts, "quiet.json", verdict("no_traffic", "2026-03-05T00:00:00+00:00"))
    assert collect(VerdictTrigger(str(verdicts), SINCE, poll_seconds=POLL), timeout=0.5) is None


def test_partial_unparsable_and_timeless_verdicts_do_not_count(verdicts):
    write(verdicts, "new.json.tmp", verdict("alert", "2026-03-05T00:00:00Z"))
    write(verdicts, "half.json", '{"status": "alert", "at": "2026-03-05')
    write(verdicts, "no-time.json", {"status": "alert"})
    write(verdicts, "bad-time.json", verdict("alert", "yesterday"))
    write(verdicts, "list.json", "[1, 2]")
    assert collect(VerdictTrigger(str(verdicts), SINCE, poll_seconds=POLL), timeout=0.5) is None


def test_a_missing_verdicts_directory_is_waited_for(verdicts):
    assert collect(VerdictTrigger(str(verdicts), SINCE, poll_seconds=POLL), timeout=0.3) is None


def test_an_invalid_since_is_an_error_event(verdicts):
    write(verdicts, "a.json", verdict("alert", "2026-03-05T00:00:00Z"))
    events = collect(VerdictTrigger(str(verdicts), "None", poll_seconds=POLL))
    assert len(events) == 1 and events[0]["status"] == "error"


def test_serialize_round_trips():
    trigger = VerdictTrigger("gs://b/monitoring/verdicts", SINCE, poll_seconds=5, storage_options={"token": "anon"})
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_mlops.provider.triggers.drift.VerdictTrigger"
    rebuilt = recreate(trigger)
    assert type(rebuilt) is VerdictTrigger and rebuilt.serialize() == (classpath, kwargs)
    assert kwargs == {
        "verdicts_uri": "gs://b/monitoring/verdicts",
        "since": SINCE,
        "poll_seconds": 5,
        "storage_options": {"token": "anon"},
    }


# -- the sensor, on verdict files -----------------------------------------------------------------


def test_execute_defers_to_the_verdict_trigger_while_there_is_no_new_alert(verdicts):
    write(verdicts, "old.json", verdict("alert", "2026-02-01T00:00:00Z"))
    with pytest.raises(TaskDeferred) as deferred:
        sensor(verdicts, since="2026-03-01 00:00:00+00:00", timeout=900).execute({})
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.kwargs == {"since": SINCE}
    assert deferred.value.timeout.total_seconds() == 900
    assert deferred.value.trigger.serialize() == (
        "airflow_mlops.provider.triggers.drift.VerdictTrigger",
        {"verdicts_uri": str(verdicts), "since": SINCE, "poll_seconds": POLL, "storage_options": None},
    )


def test_execute_returns_an_existing_new_alert_at_once(verdicts):
    write(verdicts, "a.json", verdict("alert", "2026-03-02T00:00:00Z"))
    assert sensor(verdicts).execute({}) == verdict("alert", "2026-03-02T00:00:00Z")


def test_execute_complete_returns_the_triggers_verdict(verdicts):
    write(verdicts, "a.json", verdict("alert", "2026-03-02T00:00:00Z", psi=0.4))
    event = collect(VerdictTrigger(str(verdicts), SINCE, poll_seconds=POLL))[0]
    result = sensor(verdicts).execute_complete({}, event, since=SINCE)
    assert result == verdict("alert", "2026-03-02T00:00:00Z", psi=0.4)
    with pytest.raises(AirflowException, match="permission denied"):
        sensor(verdicts).execute_complete({}, {"status": "error", "message": "permission denied"})


def test_poke_waits_for_a_new_alert(verdicts):
    task = sensor(verdicts, deferrable=False)
    write(verdicts, "old.json", verdict("alert", "2026-02-01T00:00:00Z"))
    write(verdicts, "ok.json", verdict("ok", "2026-03-02T00:00:00Z"))
    assert task.poke({}) is False
    write(verdicts, "new.json", verdict("alert", "2026-03-03T00:00:00Z"))
    result = task.poke({})
    assert result and result.xcom_value == verdict("alert", "2026-03-03T00:00:00Z")


def test_since_defaults_to_the_data_interval_start_else_the_runs_run_after(verdicts):
    task = DriftSensor(task_id="d", verdicts_uri=str(verdicts), poll_seconds=POLL)
    assert task.since == "{{ data_interval_start }}"
    task.render_template_fields({"data_interval_start": pendulum.datetime(2026, 3, 1, tz="UTC")})
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({})
    assert deferred.value.kwargs == {"since": SINCE}

    manual = DriftSensor(task_id="d", verdicts_uri=str(verdicts), poll_seconds=POLL)
    manual.render_template_fields({"data_interval_start": None})  # a run without a data interval
    run = SimpleNamespace(run_after=pendulum.datetime(2026, 3, 7, tz="UTC"))
    with pytest.raises(TaskDeferred) as deferred:
        manual.execute({"dag_run": run})
    assert deferred.value.kwargs == {"since": "2026-03-07T00:00:00+00:00"}
    with pytest.raises(AirflowException, match="not an ISO-8601 time"):
        manual.execute({})


# -- the sensor, woken by Pub/Sub -----------------------------------------------------------------


def pubsub_sensor(verdicts: Path, **kwargs: Any) -> DriftSensor:
    return sensor(verdicts, pubsub_subscription="monitoring-verdicts", project_id="proj", gcp_conn_id="gcp", **kwargs)


def test_with_a_subscription_the_sensor_defers_to_the_pubsub_trigger(verdicts):
    from airflow.providers.google.cloud.triggers.pubsub import PubsubPullTrigger

    with pytest.raises(TaskDeferred) as deferred:
        pubsub_sensor(verdicts, max_messages=3).execute({})
    assert isinstance(deferred.value.trigger, PubsubPullTrigger)
    assert deferred.value.method_name == "execute_complete" and deferred.value.kwargs == {"since": SINCE}
    assert deferred.value.trigger.serialize() == (
        "airflow.providers.google.cloud.triggers.pubsub.PubsubPullTrigger",
        {
            "project_id": "proj",
            "subscription": "monitoring-verdicts",
            "max_messages": 3,
            "ack_messages": True,
            "poke_interval": POLL,
            "gcp_conn_id": "gcp",
            "impersonation_chain": None,
            "return_immediately": False,
        },
    )


def test_execute_complete_maps_pulled_messages_to_the_newest_alert(verdicts):
    event = {
        "status": "success",
        "message": [
            received(verdict("ok", "2026-03-04T00:00:00Z"), "1"),
            received(verdict("alert", "2026-03-03T00:00:00Z", psi=0.3), "2"),
            received(verdict("alert", "2026-03-02T00:00:00Z"), "3"),
        ],
    }
    result = pubsub_sensor(verdicts).execute_complete({}, event, since=SINCE)
    assert result == verdict("alert", "2026-03-03T00:00:00Z", psi=0.3)


def test_messages_without_a_new_alert_make_the_sensor_wait_again(verdicts):
    from airflow.providers.google.cloud.triggers.pubsub import PubsubPullTrigger

    event = {
        "status": "success",
        "message": [
            received(verdict("ok", "2026-03-04T00:00:00Z"), "1"),
            received(verdict("alert", "2026-02-01T00:00:00Z"), "2"),
        ],
    }
    with pytest.raises(TaskDeferred) as deferred:
        pubsub_sensor(verdicts).execute_complete({}, event, since=SINCE)
    assert isinstance(deferred.value.trigger, PubsubPullTrigger)
    assert deferred.value.kwargs == {"since": SINCE}


def test_a_message_with_attributes_only_is_a_verdict_published_at_its_publish_time():
    assert message_verdict(received(b"", status="alert", drift="true")) == {
        "status": "alert",
        "drift": "true",
        "at": "2026-03-02T12:00:00Z",
    }
    assert message_verdict(received(b"not json", status="ok"))["status"] == "ok"


def test_the_pubsub_trigger_event_resumes_the_sensor(verdicts):
    """The real PubsubPullTrigger with a stand-in for its hook: its event is what the sensor reads."""
    from airflow.providers.google.cloud.triggers.pubsub import PubsubPullTrigger

    with pytest.raises(TaskDeferred) as deferred:
        pubsub_sensor(verdicts).execute({})
    trigger: PubsubPullTrigger = deferred.value.trigger
    data = json.dumps(verdict("alert", "2026-03-02T00:00:00Z")).encode()
    pulled = [ReceivedMessage(ack_id="a", message=PubsubMessage(data=data, message_id="9"))]
    acked = []

    class Hook:
        async def pull(self, **kwargs: Any) -> list[ReceivedMessage]:
            return pulled

        async def acknowledge(self, **kwargs: Any) -> None:
            acked.append(kwargs["messages"])

    trigger.__dict__["hook"] = Hook()
    (event,) = collect(trigger)
    assert acked == [pulled]
    result = pubsub_sensor(verdicts).execute_complete({}, event, **deferred.value.kwargs)
    assert result == verdict("alert", "2026-03-02T00:00:00Z")
    assert base64.b64decode(event["message"][0]["message"]["data"])  # the data crosses as base64
