"""``DriftSensor``: wait for a monitoring alert (drift or degradation) and return its verdict.

Verdicts are files under ``verdicts_uri`` (see :mod:`airflow_mlops.provider.triggers.drift`). Optionally a
Pub/Sub subscription on which the monitoring step publishes the same verdicts wakes the deferred
sensor instead of polling storage; the verdict files stay the source of truth for ``poke``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException

from airflow_mlops.artifacts.store import ArtifactStore
from airflow_mlops.provider.triggers.drift import VerdictTrigger, find_alert, newest_alert, parse_time

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger


def message_verdict(received: dict[str, Any]) -> dict[str, Any]:
    """A verdict from a pulled Pub/Sub message (``ReceivedMessage.to_dict`` form): its data as a
    JSON object, else its attributes; ``at`` defaults to the publish time.

    :param received: ``{"ack_id": ..., "message": {"data": <base64>, "attributes": {...}, ...}}``.
    """
    message = received.get("message") or {}
    try:
        body = json.loads(base64.b64decode(message.get("data") or ""))
    except ValueError:
        body = None
    verdict = dict(body) if isinstance(body, dict) else dict(message.get("attributes") or {})
    verdict.setdefault("at", message.get("publish_time"))
    return verdict


class DriftSensor(BaseSensorOperator):
    """Wait for an ``alert`` verdict later than ``since`` and return it (the XCom).

    :param verdicts_uri: where the monitoring step writes ``<name>.json`` verdicts (templated).
    :param since: ISO-8601 time; older verdicts do not count (templated; when it does not render to
        a time, e.g. a run without a data interval, the run's ``run_after`` is used).
    :param poll_seconds: seconds between two looks (also the poke interval and Pub/Sub poll).
    :param deferrable: wait in the triggerer instead of occupying a worker slot.
    :param pubsub_subscription: when set, the deferred sensor waits on this Pub/Sub subscription
        (templated; messages are acknowledged by the trigger) instead of polling storage.
    :param project_id: the subscription's project (templated; default: the connection's).
    :param gcp_conn_id: the Google Cloud connection for Pub/Sub.
    :param max_messages: messages pulled at once.
    :param storage_options: fsspec options.
    """

    template_fields: Sequence[str] = ("verdicts_uri", "since", "pubsub_subscription", "project_id")
    ui_color = "#f4e4e4"

    def __init__(
        self,
        *,
        verdicts_uri: str,
        since: str = "{{ data_interval_start }}",
        poll_seconds: float = 60,
        deferrable: bool = True,
        pubsub_subscription: str | None = None,
        project_id: str | None = None,
        gcp_conn_id: str = "google_cloud_default",
        max_messages: int = 10,
        storage_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", poll_seconds)
        super().__init__(**kwargs)
        self.verdicts_uri = verdicts_uri
        self.since = since
        self.poll_seconds = poll_seconds
        self.deferrable = deferrable
        self.pubsub_subscription = pubsub_subscription
        self.project_id = project_id
        self.gcp_conn_id = gcp_conn_id
        self.max_messages = max_messages
        self.storage_options = storage_options

    def _since(self, context: Context) -> str:
        for value in (self.since, getattr(context.get("dag_run"), "run_after", None)):
            try:
                return parse_time(value).isoformat()
            except (TypeError, ValueError):
                continue
        raise AirflowException(f"since is not an ISO-8601 time: {self.since!r}")

    def _find(self, since: str) -> dict[str, Any] | None:
        found = find_alert(ArtifactStore(self.storage_options), self.verdicts_uri, since)
        if found is None:
            return None
        self.log.info("alert verdict %s", found[0])
        return found[1]

    def _trigger(self, since: str) -> BaseTrigger:
        if not self.pubsub_subscription:
            return VerdictTrigger(self.verdicts_uri, since, self.poll_seconds, self.storage_options)
        from airflow.providers.google.cloud.triggers.pubsub import PubsubPullTrigger

        return PubsubPullTrigger(
            project_id=self.project_id,
            subscription=self.pubsub_subscription,
            max_messages=self.max_messages,
            ack_messages=True,
            gcp_conn_id=self.gcp_conn_id,
            poke_interval=self.poll_seconds,
            return_immediately=False,
        )

    def _defer(self, since: str) -> NoReturn:
        self.defer(
            trigger=self._trigger(since),
            method_name="execute_complete",
            kwargs={"since": since},
            timeout=timedelta(seconds=self.timeout),
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        verdict = self._find(self._since(context))
        return PokeReturnValue(is_done=True, xcom_value=verdict) if verdict else False

    def execute(self, context: Context) -> dict[str, Any]:
        if not self.deferrable:
            return super().execute(context)
        since = self._since(context)
        verdict = self._find(since)
        if verdict:
            return verdict
        self._defer(since)

    def execute_complete(self, context: Context, event: dict[str, Any], since: str | None = None) -> dict[str, Any]:
        """Return the verdict of a ``VerdictTrigger`` event, or the newest alert among the pulled
        Pub/Sub messages (waiting again when there is none)."""
        if event.get("status") != "success":
            raise AirflowException(event.get("message", f"unexpected trigger event: {event!r}"))
        if "verdict" in event:
            return event["verdict"]
        since = since or self._since(context)
        messages = event.get("message") or []
        verdicts = [(str(m.get("message", {}).get("message_id", "")), message_verdict(m)) for m in messages]
        found = newest_alert(verdicts, since)
        if found:
            return found[1]
        self.log.info("no alert later than %s among %d message(s); waiting again", since, len(messages))
        self._defer(since)
