"""What happens when monitoring raises an alert (drift or degradation): callbacks
``(verdict, context) -> None``. The defaults log it and, if a webhook is configured
(``$MLOPS_ALERT_WEBHOOK`` or ``[mlops] alert_webhook``, e.g. a Slack incoming webhook), post it."""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

AlertCallback = Callable[[Mapping[str, Any], Mapping[str, Any]], None]


def summary(pipeline: str, verdict: Mapping[str, Any]) -> str:
    kinds = " and ".join(k for k in ("drift", "degradation") if verdict.get(k)) or "alert"
    return f"{pipeline}: {kinds} - " + "; ".join(verdict.get("reasons") or []) + " - retraining requested"


def log_alert(verdict: Mapping[str, Any], context: Mapping[str, Any]) -> None:
    log.warning("ALERT %s", summary(context["dag"].dag_id.rsplit("_", 1)[0], verdict))


def webhook_alert(verdict: Mapping[str, Any], context: Mapping[str, Any]) -> None:
    from airflow_mlops.provider.compat import conf

    url = os.environ.get("MLOPS_ALERT_WEBHOOK") or conf.get("mlops", "alert_webhook", fallback=None)
    if not url:
        return
    body = json.dumps({"text": summary(context["dag"].dag_id.rsplit("_", 1)[0], verdict), "verdict": dict(verdict)}, default=str)
    request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            log.info("alert posted to the webhook: HTTP %s", response.status)
    except OSError as exc:  # an unreachable notifier must not fail the monitoring run
        log.error("could not post the alert to %s: %s", url, exc)


DEFAULT_ALERTS: tuple[AlertCallback, ...] = (log_alert, webhook_alert)
