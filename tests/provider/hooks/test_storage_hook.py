"""ArtifactStorageHook: fsspec options for artifact URIs from a Google Cloud connection (or ADC),
anonymous against the GCS emulator, nothing for local files."""

from __future__ import annotations

import json

import pytest
from google.auth.credentials import AnonymousCredentials

from airflow_mlops.artifacts.store import ArtifactStore
from airflow_mlops.provider.hooks import ArtifactStorageHook
from airflow_mlops.provider.hooks.storage import protocol_of

ANONYMOUS = {"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True, "project": "my-project"}}


def connect(monkeypatch, conn_id: str, conn: dict) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.mark.parametrize(
    ("uri", "protocol"), [("gs://b/k", "gs"), ("GCS://b", "gcs"), ("file:///x", "file"), ("/abs/x", "file"), ("rel", "file")]
)
def test_protocol_of(uri, protocol):
    assert protocol_of(uri) == protocol


def test_local_uris_need_no_options_and_no_connection(tmp_path, monkeypatch):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    hook = ArtifactStorageHook(gcp_conn_id="does_not_exist")
    assert hook.storage_options(f"file://{tmp_path}", str(tmp_path)) == {}
    assert hook._gcs_options is None  # nothing was resolved
    store = hook.store(f"file://{tmp_path}/a.json")
    store.write_json(f"file://{tmp_path}/a.json", {"x": 1})
    assert ArtifactStore().read_json(f"file://{tmp_path}/a.json") == {"x": 1}


def test_gcs_uses_the_connections_credentials_and_project(monkeypatch):
    connect(monkeypatch, "my_gcp", ANONYMOUS)
    hook = ArtifactStorageHook(gcp_conn_id="my_gcp")
    options = hook.storage_options("gs://bucket/landing", "file:///tmp/state.json")
    assert isinstance(options["token"], AnonymousCredentials)
    assert options["project"] == "my-project"
    assert hook.storage_options("gcs://bucket")["token"] is options["token"]  # resolved once per hook


def test_without_the_connection_gcs_falls_back_to_adc(monkeypatch):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    assert ArtifactStorageHook(gcp_conn_id="does_not_exist").storage_options("gs://b/k") == {"token": "google_default"}


def test_without_the_connection_the_emulator_is_used_anonymously(monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:1")
    assert ArtifactStorageHook(gcp_conn_id="does_not_exist").storage_options("gs://b/k") == {"token": "anon"}


def test_the_default_connection_id_is_googles():
    assert ArtifactStorageHook().gcp_conn_id == "google_cloud_default" == ArtifactStorageHook.default_conn_name


def write_and_read(bucket, conn_id: str) -> None:
    uri = f"gs://{bucket.name}/artifacts/x.json"
    store = ArtifactStorageHook(gcp_conn_id=conn_id).store(uri)
    store.write_json(uri, {"ok": True})
    assert store.read_json(uri) == {"ok": True}
    assert json.loads(bucket.blob("artifacts/x.json").download_as_bytes()) == {"ok": True}


def test_emulator_without_connection(gcs_bucket):
    write_and_read(gcs_bucket, "does_not_exist")


def test_emulator_with_anonymous_connection(gcs_bucket, monkeypatch):
    connect(monkeypatch, "emulator_gcp", ANONYMOUS)
    write_and_read(gcs_bucket, "emulator_gcp")
