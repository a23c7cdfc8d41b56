"""Monitoring alerts: a log line, and a JSON post to the configured webhook."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

from airflow_mlops.provider.alerts import log_alert, summary, webhook_alert

VERDICT = {"status": "alert", "drift": True, "degradation": False, "reasons": ["body_mass_g drifted"]}
CONTEXT = {"dag": SimpleNamespace(dag_id="penguin_monitoring")}


def test_the_summary_names_the_pipeline_the_kind_and_the_reasons():
    assert summary("penguin", VERDICT) == "penguin: drift - body_mass_g drifted - retraining requested"


def test_log_alert_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="airflow_mlops.provider.alerts"):
        log_alert(VERDICT, CONTEXT)
    assert "ALERT penguin: drift - body_mass_g drifted" in caplog.text


def test_the_webhook_gets_the_verdict(monkeypatch):
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.handle_request, daemon=True).start()
    monkeypatch.setenv("MLOPS_ALERT_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hook")
    webhook_alert(VERDICT, CONTEXT)
    server.server_close()
    assert received == [{"text": summary("penguin", VERDICT), "verdict": VERDICT}]


def test_an_unreachable_webhook_does_not_fail_monitoring(monkeypatch, caplog):
    monkeypatch.setenv("MLOPS_ALERT_WEBHOOK", "http://127.0.0.1:9/nowhere")
    with caplog.at_level(logging.ERROR, logger="airflow_mlops.provider.alerts"):
        webhook_alert(VERDICT, CONTEXT)
    assert "could not post the alert" in caplog.text
