"""NewDataTrigger: each landed object is reported until a sensor claims it, on local disk and on
gs:// (the GCS emulator), across triggerer restarts; it serializes a connection id, never credentials."""

from __future__ import annotations

import pytest
from new_data_helpers import POLL, claimed, land, recorded_looks, sensor, watch
from trigger_helpers import collect, recreate

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.provider.sensors.new_data import batch_id, claim
from airflow_mlops.provider.triggers import NewDataTrigger
from airflow_mlops.provider.triggers.new_data import is_partial, unclaimed_objects


def test_each_batch_is_yielded_once_and_partial_files_never(landing, state_uri):
    first = land(landing, "2026-01-01/a.csv", "2026-01-01/b.csv")
    land(landing, "c.csv.tmp", "d.csv.part", ".hidden.csv", "_SUCCESS", "_temporary/0/e.csv", "f.csv._COPYING_")
    trigger = NewDataTrigger(prefix=str(landing), state_uri=state_uri, poll_seconds=POLL)

    assert collect(trigger) == [{"status": "success", "objects": sorted(first), "prefix": str(landing)}]
    assert claim(ArtifactStore(), state_uri, first, run_id="r1") == sorted(first)
    assert watch(trigger) == ([[]] * 3, [])  # the first batch is claimed: nothing yields twice

    second = land(landing, "2026-01-02/c.csv")
    assert collect(trigger)[0]["objects"] == second
    claim(ArtifactStore(), state_uri, second, run_id="r2")
    assert watch(trigger) == ([[]] * 3, [])
    assert claimed(state_uri) == set(first) | set(second)


def test_the_trigger_fires_for_objects_landing_while_it_waits(landing, state_uri):
    trigger = NewDataTrigger(prefix=f"file://{landing}", state_uri=state_uri, poll_seconds=POLL)
    # the object lands after the trigger's second look found nothing
    with recorded_looks(lambda n: n == 2 and land(landing, "late.csv")) as found:
        events = collect(trigger, timeout=30)
    assert events == [{"status": "success", "objects": [f"file://{landing}/late.csv"], "prefix": f"file://{landing}"}]
    assert found == [[], [], [f"file://{landing}/late.csv"]]


def test_pattern_matches_the_object_name(landing, state_uri):
    land(landing, "x/data.csv", "x/data.parquet", "notes.txt")
    trigger = NewDataTrigger(prefix=str(landing), state_uri=state_uri, poll_seconds=POLL, pattern="*.csv")
    assert collect(trigger)[0]["objects"] == [f"file://{landing}/x/data.csv"]


def test_a_missing_prefix_is_waited_for_not_an_error(tmp_path, state_uri):
    trigger = NewDataTrigger(prefix=str(tmp_path / "not-yet"), state_uri=state_uri, poll_seconds=POLL)
    assert watch(trigger) == ([[]] * 3, [])


def test_the_state_file_under_the_prefix_is_not_an_object(landing):
    state = f"file://{landing}/state.json"
    objects = land(landing, "a.csv")
    claim(ArtifactStore(), state, objects)
    assert (landing / "state.json.lock").exists()
    assert unclaimed_objects(ArtifactStore(), str(landing), state) == []


def test_an_unreadable_state_file_is_an_error_event(landing, tmp_path):
    land(landing, "a.csv")
    (tmp_path / "state.json").write_text("{not json")
    events = collect(NewDataTrigger(prefix=str(landing), state_uri=str(tmp_path / "state.json"), poll_seconds=POLL))
    assert len(events) == 1 and events[0]["status"] == "error"
    assert "JSONDecodeError" in events[0]["message"]


@pytest.mark.parametrize(
    ("name", "partial"),
    [
        ("a.csv", False),
        ("a.tmp.csv", False),
        ("a.csv.tmp", True),
        ("a.csv.part", True),
        ("_x", True),
        (".x", True),
        ("a.json.tmp-ab12", True),
    ],
)
def test_partial_names(name, partial):
    assert is_partial(name) is partial


def test_serialize_round_trips_with_the_connection_id_only(state_uri):
    trigger = NewDataTrigger(
        prefix="gs://b/landing", state_uri=state_uri, poll_seconds=7, pattern="*.csv", gcp_conn_id="landing_gcp"
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_mlops.provider.triggers.new_data.NewDataTrigger"
    rebuilt = recreate(trigger)
    assert type(rebuilt) is NewDataTrigger
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs == {
        "prefix": "gs://b/landing",
        "state_uri": state_uri,
        "poll_seconds": 7,
        "pattern": "*.csv",
        "gcp_conn_id": "landing_gcp",
    }
    assert NewDataTrigger(prefix="p", state_uri="s").serialize()[1]["gcp_conn_id"] == "google_cloud_default"


def test_a_restarted_triggerer_misses_nothing_and_repeats_nothing(landing, state_uri):
    """The triggerer dies while waiting and again after firing (before the worker resumed): the
    trigger re-created from its kwargs finds exactly the unclaimed objects each time."""
    trigger = NewDataTrigger(prefix=str(landing), state_uri=state_uri, poll_seconds=POLL)
    assert watch(trigger, looks=2) == ([[]] * 2, [])  # killed while waiting
    first = land(landing, "a.csv")
    assert collect(recreate(trigger))[0]["objects"] == first
    assert collect(recreate(trigger))[0]["objects"] == first  # fired, not yet claimed: fires the same again
    sensor(landing, state_uri).execute_complete({"run_id": "r1"}, collect(recreate(trigger))[0])
    second = land(landing, "b.csv")
    assert collect(recreate(trigger))[0]["objects"] == second
    state = ArtifactStore().read_json(state_uri)
    assert set(state["claimed"]) == set(first)
    at = state["claimed"][first[0]]
    assert state["batches"] == [{"at": at, "objects": first, "run_id": "r1", "batch_id": batch_id(first)}]


def test_the_trigger_on_gcs_with_objects_uploaded_by_the_storage_client(gcs_bucket):
    bucket = gcs_bucket.name
    for name in ("landing/2026-01-01/a.csv", "landing/2026-01-01/b.csv", "landing/2026-01-01/c.csv.tmp"):
        gcs_bucket.blob(name).upload_from_string("a,b\n1,2\n")
    gcs_bucket.blob("landing-other/z.csv").upload_from_string("x")  # a sibling prefix, not below it
    state = f"gs://{bucket}/state/landing.json"
    trigger = NewDataTrigger(prefix=f"gs://{bucket}/landing", state_uri=state, poll_seconds=POLL)

    first = [f"gs://{bucket}/landing/2026-01-01/a.csv", f"gs://{bucket}/landing/2026-01-01/b.csv"]
    assert collect(trigger, timeout=10) == [{"status": "success", "objects": first, "prefix": f"gs://{bucket}/landing"}]
    task = sensor(f"gs://{bucket}/landing", state)
    assert task.execute_complete({"run_id": "r1"}, {"status": "success", "objects": first})["objects"] == first
    assert gcs_bucket.blob("state/landing.json").exists()
    assert watch(recreate(trigger)) == ([[]] * 3, [])

    gcs_bucket.blob("landing/2026-01-02/c.csv").upload_from_string("a,b\n3,4\n")
    assert collect(recreate(trigger), timeout=10)[0]["objects"] == [f"gs://{bucket}/landing/2026-01-02/c.csv"]
    assert claimed(state) == set(first)


def test_a_missing_gcs_prefix_is_waited_for(gcs_bucket):
    trigger = NewDataTrigger(
        prefix=f"gs://{gcs_bucket.name}/nothing", state_uri=f"gs://{gcs_bucket.name}/s.json", poll_seconds=POLL
    )
    assert watch(trigger) == ([[]] * 3, [])


def test_the_trigger_on_gcs_uses_the_connections_credentials(gcs_bucket, monkeypatch):
    """The connection (anonymous, as the emulator wants) is resolved in the triggerer: a trigger
    re-created from its kwargs finds it again by id."""
    conn = '{"conn_type": "google_cloud_platform", "extra": {"is_anonymous": true, "project": "landing-project"}}'
    monkeypatch.setenv("AIRFLOW_CONN_LANDING_GCP", conn)
    gcs_bucket.blob("landing/a.csv").upload_from_string("a,b\n1,2\n")
    prefix, state = f"gs://{gcs_bucket.name}/landing", f"gs://{gcs_bucket.name}/state.json"
    trigger = NewDataTrigger(prefix=prefix, state_uri=state, poll_seconds=POLL, gcp_conn_id="landing_gcp")
    assert trigger._store().storage_options["project"] == "landing-project"
    assert collect(recreate(trigger), timeout=10)[0]["objects"] == [f"{prefix}/a.csv"]


def test_an_unresolvable_connection_is_an_error_event(landing, state_uri, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_BROKEN_GCP", '{"conn_type": "google_cloud_platform", "extra": {"keyfile_dict": "{nope"}}')
    trigger = NewDataTrigger(prefix="gs://b/landing", state_uri=state_uri, poll_seconds=POLL, gcp_conn_id="broken_gcp")
    events = collect(trigger)
    assert len(events) == 1 and events[0]["status"] == "error", events
