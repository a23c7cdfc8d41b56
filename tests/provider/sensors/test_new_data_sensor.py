"""NewDataSensor: claims each landed object exactly once (racing sensors, cleared runs), defers to
NewDataTrigger, and resolves storage credentials from a connection id."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from new_data_helpers import POLL, claimed, land, sensor
from trigger_helpers import collect

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.provider.compat import AirflowException, TaskDeferred
from airflow_mlops.provider.sensors import NewDataSensor
from airflow_mlops.provider.sensors.new_data import batch_id, claim
from airflow_mlops.provider.triggers import NewDataTrigger
from airflow_mlops.provider.triggers.new_data import unclaimed_objects


def test_execute_defers_when_there_is_nothing_new(landing, state_uri):
    task = sensor(landing, state_uri, pattern="*.csv", timeout=600)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({"run_id": "r1"})
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout.total_seconds() == 600
    assert deferred.value.trigger.serialize() == (
        "airflow_mlops.provider.triggers.new_data.NewDataTrigger",
        {
            "prefix": str(landing),
            "state_uri": state_uri,
            "poll_seconds": POLL,
            "pattern": "*.csv",
            "gcp_conn_id": "google_cloud_default",
        },
    )


def test_execute_returns_at_once_when_there_is_new_data(landing, state_uri):
    objects = land(landing, "a.csv", "b.csv")
    assert sensor(landing, state_uri).execute({"run_id": "r1"}) == {"objects": objects, "batch_id": batch_id(objects)}
    assert claimed(state_uri) == set(objects)
    with pytest.raises(TaskDeferred):
        sensor(landing, state_uri).execute({"run_id": "r2"})


def test_execute_complete_claims_and_a_racing_sensor_waits_again(landing, state_uri):
    objects = land(landing, "a.csv", "b.csv")
    event = collect(NewDataTrigger(prefix=str(landing), state_uri=state_uri, poll_seconds=POLL))[0]
    winner = sensor(landing, state_uri).execute_complete({"run_id": "r1"}, event)
    assert winner == {"objects": objects, "batch_id": batch_id(objects)}
    state = ArtifactStore().read_json(state_uri)
    assert set(state["claimed"]) == set(objects) and [b["run_id"] for b in state["batches"]] == ["r1"]

    with pytest.raises(TaskDeferred) as deferred:  # the same event, handled by a second sensor
        sensor(landing, state_uri).execute_complete({"run_id": "r2"}, event)
    assert isinstance(deferred.value.trigger, NewDataTrigger)
    assert len(ArtifactStore().read_json(state_uri)["batches"]) == 1


def test_a_partly_claimed_event_hands_out_only_the_rest(landing, state_uri):
    a, b = land(landing, "a.csv", "b.csv")
    claim(ArtifactStore(), state_uri, [a], run_id="other")
    result = sensor(landing, state_uri).execute_complete({"run_id": "r"}, {"status": "success", "objects": [a, b]})
    assert result["objects"] == [b]


def test_claims_racing_in_parallel_hand_each_object_out_once(landing, state_uri, monkeypatch):
    """Every claimer reads the state slowly, so unserialized read-check-writes would overlap."""
    objects = land(landing, "a.csv", "b.csv")
    read_json = ArtifactStore.read_json

    def slow_read(self, uri):
        try:
            return read_json(self, uri)
        finally:
            time.sleep(0.1)

    monkeypatch.setattr(ArtifactStore, "read_json", slow_read)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: claim(ArtifactStore(), state_uri, objects, run_id=f"r{i}"), range(4)))
    assert sorted(results, key=len) == [[], [], [], objects]
    assert len(read_json(ArtifactStore(), state_uri)["batches"]) == 1


def test_an_error_event_fails_the_task(landing, state_uri):
    with pytest.raises(AirflowException, match="bucket gone"):
        sensor(landing, state_uri).execute_complete({}, {"status": "error", "message": "bucket gone"})


def test_poke_claims_new_data_once(landing, state_uri):
    task = sensor(landing, state_uri, deferrable=False)
    assert task.poke({"run_id": "r"}) is False
    objects = land(landing, "a.csv")
    result = task.poke({"run_id": "r"})
    assert result and result.xcom_value == {"objects": objects, "batch_id": batch_id(objects)}
    assert task.poke({"run_id": "r2"}) is False


def test_a_cleared_run_gets_its_own_batch_back_and_no_other_run_gets_it(landing, state_uri):
    """Ingest failed after the claim; the user clears the whole run: the batch is retried, not lost."""
    first = land(landing, "a.csv")
    assert sensor(landing, state_uri).execute({"run_id": "r1"})["objects"] == first
    later = land(landing, "b.csv")
    assert sensor(landing, state_uri).execute({"run_id": "r1"}) == {"objects": first, "batch_id": batch_id(first)}
    event = {"status": "success", "objects": first + later}
    assert sensor(landing, state_uri).execute_complete({"run_id": "r1"}, event)["objects"] == first
    assert sensor(landing, state_uri).execute({"run_id": "r2"})["objects"] == later
    with pytest.raises(TaskDeferred):
        sensor(landing, state_uri).execute({"run_id": "r3"})
    assert [b["run_id"] for b in ArtifactStore().read_json(state_uri)["batches"]] == ["r1", "r2"]


def test_non_deferrable_execute_waits_and_returns_the_batch(landing, state_uri, monkeypatch):
    """The object lands after the sensor's second look found nothing: it pokes again."""
    import airflow_mlops.provider.sensors.new_data as module

    looks: list[list[str]] = []

    def look(*args, **kwargs):
        looks.append(unclaimed_objects(*args, **kwargs))
        if len(looks) == 2:
            land(landing, "a.csv")
        return looks[-1]

    monkeypatch.setattr(module, "unclaimed_objects", look)
    task = sensor(landing, state_uri, deferrable=False, timeout=60)
    assert task.execute({"run_id": "r"})["objects"] == [f"file://{landing}/a.csv"]
    assert looks == [[], [], [f"file://{landing}/a.csv"]]


def test_template_fields_render(landing, state_uri):
    task = NewDataSensor(task_id="t", prefix="{{ params.p }}", state_uri="{{ params.s }}", pattern="{{ params.g }}")
    assert task.template_fields == ("prefix", "state_uri", "pattern")
    task.render_template_fields({"params": {"p": str(landing), "s": state_uri, "g": "*.csv"}})
    assert (task.prefix, task.state_uri, task.pattern) == (str(landing), state_uri, "*.csv")


def test_deferrable_defaults_to_the_operators_default_deferrable_option(landing, state_uri, monkeypatch):
    """As the Google provider's GCS sensors do; the data-arrival DAG asks for deferral explicitly."""
    import inspect

    from airflow_mlops.provider.compat import conf

    parameter = inspect.signature(NewDataSensor.__init__).parameters["deferrable"]
    assert parameter.default is conf.getboolean("operators", "default_deferrable", fallback=False)
    task = NewDataSensor(task_id="t", prefix=str(landing), state_uri=state_uri, poll_seconds=POLL, timeout=1)
    assert task.deferrable is parameter.default


def test_the_sensor_on_gcs_resolves_the_connection_on_the_worker(gcs_bucket, monkeypatch):
    conn = '{"conn_type": "google_cloud_platform", "extra": {"is_anonymous": true, "project": "landing-project"}}'
    monkeypatch.setenv("AIRFLOW_CONN_LANDING_GCP", conn)
    gcs_bucket.blob("landing/a.csv").upload_from_string("a,b\n1,2\n")
    prefix, state = f"gs://{gcs_bucket.name}/landing", f"gs://{gcs_bucket.name}/state/landing.json"
    task = sensor(prefix, state, gcp_conn_id="landing_gcp")
    assert task.execute({"run_id": "r1"})["objects"] == [f"{prefix}/a.csv"]
    assert task.store.storage_options["project"] == "landing-project"
    assert gcs_bucket.blob("state/landing.json").exists()
    with pytest.raises(TaskDeferred) as deferred:
        sensor(prefix, state, gcp_conn_id="landing_gcp").execute({"run_id": "r2"})
    assert deferred.value.trigger.serialize()[1]["gcp_conn_id"] == "landing_gcp"
