"""The one place where the control plane meets differences between the Airflow versions it supports.

The supported range is ``apache-airflow>=3.1.8,<3.4`` (pyproject.toml): 3.1.8 is the oldest Airflow 3
that Cloud Composer 3 offers, 3.3 the newest tested. Every control-plane module imports what differs
from here (the pattern of Airflow's own providers' ``version_compat.py``):

- ``conf``: ``airflow.sdk.conf`` from 3.2, ``airflow.configuration.conf`` before;
- the task exceptions (``AirflowException``, ``AirflowSkipException``, ``AirflowFailException``,
  ``AirflowNotFoundException``, ``TaskDeferred``): ``airflow.sdk.exceptions`` from 3.2 (what the
  task runner catches there), ``airflow.exceptions`` before;
- :func:`latest_inlet_event`: the newest event of an inlet Asset;
- :data:`DECLARATIVE_CONNECTION_FORMS`: Airflow 3.2 reads a connection type's form fields from the
  provider info (``conn-fields``, ``ui-field-behaviour``); 3.1 asks the hook class
  (``get_connection_form_widgets``, ``get_ui_field_behaviour``), so the hooks define both.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow import __version__ as AIRFLOW_VERSION
from packaging.version import Version

__all__ = [
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "AIRFLOW_VERSION",
    "DECLARATIVE_CONNECTION_FORMS",
    "MIN_AIRFLOW_VERSION",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSkipException",
    "DownstreamTasksSkipped",
    "TaskDeferred",
    "conf",
    "connection_type_info",
    "latest_inlet_event",
    "task_state_of",
    "legacy_field_behaviour",
    "legacy_form_widgets",
]

MIN_AIRFLOW_VERSION = "3.1.8"

log = logging.getLogger(__name__)


def _base_version(version: str) -> tuple[int, int, int]:
    return Version(Version(version).base_version).release[:3]  # type: ignore[return-value]


AIRFLOW_V_3_2_PLUS = _base_version(AIRFLOW_VERSION) >= (3, 2, 0)
#: triggers get ``on_kill`` when a person kills a deferred task
AIRFLOW_V_3_3_PLUS = _base_version(AIRFLOW_VERSION) >= (3, 3, 0)

if AIRFLOW_V_3_2_PLUS:
    from airflow.sdk import conf
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSkipException,
        TaskDeferred,
    )
else:  # Airflow 3.1
    from airflow.configuration import conf  # type: ignore[assignment]
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined,unused-ignore]
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSkipException,
        TaskDeferred,
    )

try:  # what a human-in-the-loop operator raises to skip its downstream tasks
    from airflow.sdk.exceptions import DownstreamTasksSkipped
except ImportError:  # Airflow 3.1
    from airflow.exceptions import DownstreamTasksSkipped  # type: ignore[no-redef,attr-defined,unused-ignore]

DECLARATIVE_CONNECTION_FORMS = AIRFLOW_V_3_2_PLUS


def latest_inlet_event(inlet_events: Any, asset: Any) -> Any | None:
    """The newest event of ``asset`` (one of the task's inlets), or None when it has none.

    From 3.2 the accessor is a lazy query (``.ascending(False).limit(1)`` fetches one event);
    on 3.1 ``inlet_events[asset]`` is the list of all its events, of which the newest is taken.
    """
    events = inlet_events[asset]
    if hasattr(events, "ascending"):
        newest: list[Any] = list(events.ascending(False).limit(1))
        return newest[0] if newest else None
    events = list(events)
    log.info("Airflow %s gives all %d events of %s; the newest is taken (Airflow 3.2 fetches only that one)",
             AIRFLOW_VERSION, len(events), getattr(asset, "uri", asset))
    return max(events, key=lambda event: event.timestamp, default=None)


def connection_type_info(connection_type: str) -> dict[str, Any]:
    """This provider's ``connection-types`` entry for ``connection_type`` (the one declaration of its form)."""
    from airflow_mlops.get_provider_info import get_provider_info

    (entry,) = [e for e in get_provider_info()["connection-types"] if e["connection-type"] == connection_type]
    return entry


def legacy_form_widgets(connection_type: str) -> dict[str, Any]:
    """The provider info's ``conn-fields`` as WTForms fields, what ``get_connection_form_widgets``
    returns to Airflow < 3.2. Imported lazily: Airflow's UI substitutes stand-ins for WTForms and
    Flask-AppBuilder when they are not installed (Airflow 3 does not need them otherwise)."""
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, PasswordField, StringField

    widgets: dict[str, Any] = {}
    for name, field in connection_type_info(connection_type).get("conn-fields", {}).items():
        schema = field.get("schema", {})
        types = schema.get("type", "string")
        types = [types] if isinstance(types, str) else list(types)
        label = lazy_gettext(field.get("label", name))
        kwargs: dict[str, Any] = {"description": field.get("description", "")}
        if "default" in schema:
            kwargs["default"] = schema["default"]
        if "boolean" in types:
            widgets[name] = BooleanField(label, **kwargs)
        elif "integer" in types:
            widgets[name] = IntegerField(label, widget=BS3TextFieldWidget(), **kwargs)
        elif schema.get("format") == "password":
            widgets[name] = PasswordField(label, widget=BS3PasswordFieldWidget(), **kwargs)
        else:
            widgets[name] = StringField(label, widget=BS3TextFieldWidget(), **kwargs)
    return widgets


def legacy_field_behaviour(connection_type: str) -> dict[str, Any]:
    """The provider info's ``ui-field-behaviour`` in the shape ``get_ui_field_behaviour`` returns
    to Airflow < 3.2 (``hidden_fields``, ``relabeling``, ``placeholders``)."""
    behaviour = connection_type_info(connection_type).get("ui-field-behaviour", {})
    return {
        "hidden_fields": list(behaviour.get("hidden-fields", [])),
        "relabeling": dict(behaviour.get("relabeling", {})),
        "placeholders": dict(behaviour.get("placeholders", {})),
    }


def task_state_of(ti: Any) -> str | None:
    """The current state of a trigger's task instance, asked through the task SDK (Airflow < 3.3
    triggers learn of a kill only this way)."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    states = RuntimeTaskInstance.get_task_states(
        dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], map_index=ti.map_index
    )
    state = states[ti.run_id][ti.task_id]
    return str(getattr(state, "value", state)) if state is not None else None
