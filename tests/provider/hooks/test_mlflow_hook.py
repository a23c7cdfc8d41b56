"""MlflowHook: the tracking URI and the component's MLflow environment from an ``mlflow``
connection, without MLflow in the control plane."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from airflow_mlops.provider.compat import DECLARATIVE_CONNECTION_FORMS, AirflowFailException
from airflow_mlops.provider.hooks import MlflowHook


def connect(monkeypatch, conn_id: str, conn: str | dict) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn if isinstance(conn, str) else json.dumps(conn))


def test_the_hook_declares_its_connection_type():
    assert (MlflowHook.conn_type, MlflowHook.conn_name_attr, MlflowHook.default_conn_name, MlflowHook.hook_name) == (
        "mlflow",
        "mlflow_conn_id",
        "mlflow_default",
        "MLflow",
    )
    assert MlflowHook().mlflow_conn_id == "mlflow_default"
    # The form is declared in the provider info; the hook methods (deprecated from 3.2) are defined
    # only for Airflow < 3.2, which ignores the declaration and asks the hook.
    legacy = not DECLARATIVE_CONNECTION_FORMS
    assert ("get_connection_form_widgets" in MlflowHook.__dict__) is legacy
    assert ("get_ui_field_behaviour" in MlflowHook.__dict__) is legacy


@pytest.mark.parametrize(
    ("conn", "expected"),
    [
        ("mlflow://mlflow.internal:5000", "http://mlflow.internal:5000"),
        ({"conn_type": "mlflow", "host": "mlflow.example.com", "schema": "https"}, "https://mlflow.example.com"),
        ({"conn_type": "mlflow", "host": "https://mlflow.example.com/prefix/"}, "https://mlflow.example.com/prefix"),
        ("http://mlflow.internal:5000", "http://mlflow.internal:5000"),
        ("https://mlflow.example.com", "https://mlflow.example.com"),
        ({"conn_type": "generic", "extra": {"tracking_uri": "databricks://profile"}}, "databricks://profile"),
        ({"conn_type": "mlflow", "host": "ignored", "extra": {"tracking_uri": "sqlite:///x.db"}}, "sqlite:///x.db"),
        ({"conn_type": "mlflow", "extra": {"extra__mlflow__tracking_uri": "https://prefixed"}}, "https://prefixed"),
    ],
)
def test_tracking_uri(monkeypatch, conn, expected):
    connect(monkeypatch, "mlflow_default", conn)
    assert MlflowHook().get_tracking_uri() == expected


def test_a_connection_without_host_or_tracking_uri_fails_without_retry(monkeypatch):
    connect(monkeypatch, "empty_mlflow", {"conn_type": "mlflow"})
    with pytest.raises(AirflowFailException, match="neither a host nor"):
        MlflowHook("empty_mlflow").get_tracking_uri()


def test_component_env_carries_only_what_the_connection_sets(monkeypatch):
    connect(monkeypatch, "plain", {"conn_type": "mlflow", "host": "h"})
    assert MlflowHook("plain").get_component_env() == {}
    connect(
        monkeypatch,
        "secured",
        {
            "conn_type": "mlflow",
            "host": "h",
            "login": "alice",
            "password": "s3cret-pw",
            "extra": {"token": "tok-123456", "insecure_tls": "true"},
        },
    )
    assert MlflowHook("secured").get_component_env() == {
        "MLFLOW_TRACKING_USERNAME": "alice",
        "MLFLOW_TRACKING_PASSWORD": "s3cret-pw",
        "MLFLOW_TRACKING_TOKEN": "tok-123456",
        "MLFLOW_TRACKING_INSECURE_TLS": "true",
    }


def test_the_hook_does_not_import_mlflow(monkeypatch):
    connect(monkeypatch, "mlflow_default", "http://h:5000")
    monkeypatch.setitem(sys.modules, "mlflow", None)  # any import of mlflow would now fail
    hook = MlflowHook()
    assert hook.get_tracking_uri() == "http://h:5000"
    assert hook.get_component_env() == {}


class Health(BaseHTTPRequestHandler):
    seen: list[str | None] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        Health.seen.append(self.headers.get("Authorization"))
        ok = self.path == "/health"
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(b"OK" if ok else b"")

    def log_message(self, *args):
        pass


def test_test_connection_asks_the_health_endpoint(monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        connect(monkeypatch, "live", {"conn_type": "mlflow", "host": "127.0.0.1", "port": port, "login": "a", "password": "b"})
        ok, message = MlflowHook("live").test_connection()
        assert ok, message
        assert Health.seen[-1] == "Basic YTpi"
    finally:
        server.shutdown()
        thread.join()
    connect(monkeypatch, "local", {"conn_type": "mlflow", "extra": {"tracking_uri": "sqlite:///x.db"}})
    ok, message = MlflowHook("local").test_connection()
    assert not ok and "not an HTTP(S) tracking server" in message
