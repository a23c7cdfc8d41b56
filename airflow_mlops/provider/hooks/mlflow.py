"""``MlflowHook``: the MLflow tracking server an Airflow connection (type ``mlflow``) describes.

The hook never imports MLflow (the control plane has none): it resolves the connection into what
the runtime plane's component needs - the tracking URI for the spec and MLflow's own environment
variables for the credentials - and the component's MLflow client does the rest.

Connection fields:

- host (``mlflow.example.com``, or a whole URL ``https://mlflow.example.com/prefix``), port, and
  scheme (``http`` or ``https``, in the connection's *schema* field; default ``http``);
- or extra ``tracking_uri``: any MLflow tracking URI (``databricks``, ``sqlite:///...``,
  ``https://...``), which wins over host/port;
- login/password: HTTP basic auth (``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``);
- extra ``token``: a bearer token (``MLFLOW_TRACKING_TOKEN``);
- extra ``insecure_tls``: skip TLS verification (``MLFLOW_TRACKING_INSECURE_TLS``).

The connection form fields and their behaviour are declared in the provider info
(``connection-types``: ``conn-fields``/``ui-field-behaviour``), as Airflow >= 3.2 expects. Airflow
3.1 ignores those and asks the hook instead, so on 3.1 (only) the hook also defines
``get_connection_form_widgets``/``get_ui_field_behaviour``, built from that same declaration
(deprecated from 3.2, where they are left out).
"""

from __future__ import annotations

import base64
import ssl
import urllib.error
import urllib.request
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_mlops.contract.typed import parse_bool
from airflow_mlops.provider.compat import (
    DECLARATIVE_CONNECTION_FORMS,
    AirflowFailException,
    legacy_field_behaviour,
    legacy_form_widgets,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

#: Connection types whose URI form (``https://host:port``) carries the scheme in the type.
HTTP_SCHEMES = ("http", "https")


def _as_bool(value: Any) -> bool:
    return value if isinstance(value, bool) else bool(parse_bool(str(value)))


class MlflowHook(BaseHook):
    """The MLflow tracking/registry server of an Airflow connection.

    :param mlflow_conn_id: the connection (type ``mlflow``; an ``http``/``https`` or ``generic``
        connection works too).
    """

    conn_name_attr = "mlflow_conn_id"
    default_conn_name = "mlflow_default"
    conn_type = "mlflow"
    hook_name = "MLflow"

    if not DECLARATIVE_CONNECTION_FORMS:  # Airflow < 3.2 reads the form from the hook class

        @classmethod
        def get_connection_form_widgets(cls) -> dict[str, Any]:
            return legacy_form_widgets(cls.conn_type)

        @classmethod
        def get_ui_field_behaviour(cls) -> dict[str, Any]:
            return legacy_field_behaviour(cls.conn_type)

    def __init__(self, mlflow_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mlflow_conn_id = mlflow_conn_id

    @cached_property
    def connection(self) -> Connection:
        return self.get_connection(self.mlflow_conn_id)

    def get_conn(self) -> Connection:
        """The Airflow connection (there is no client: the control plane has no MLflow)."""
        return self.connection

    def _extra(self, name: str) -> Any:
        """An extra field, stored plain (``name``) or prefixed (``extra__mlflow__name``)."""
        extra = self.connection.extra_dejson or {}
        value = extra.get(name)
        if value in (None, ""):
            value = extra.get(f"extra__{self.conn_type}__{name}")
        return None if value == "" else value

    def get_tracking_uri(self) -> str:
        """The tracking URI: extra ``tracking_uri``, else ``<scheme>://host[:port]`` (the scheme from
        the schema field, else the connection type when it is ``http``/``https``, else ``http``).

        :raises AirflowFailException: the connection has neither (retrying cannot help).
        """
        conn = self.connection
        uri = self._extra("tracking_uri")
        if uri:
            return str(uri)
        host = (conn.host or "").strip().rstrip("/")
        if not host:
            raise AirflowFailException(
                f"connection {self.mlflow_conn_id!r} has neither a host nor an extra 'tracking_uri'"
            )
        if "://" in host:  # the whole URL typed into the host field
            return host
        port = f":{conn.port}" if conn.port else ""
        scheme = next((s for s in (conn.schema, conn.conn_type) if s in HTTP_SCHEMES), "http")
        return f"{scheme}://{host}{port}"

    def get_component_env(self) -> dict[str, str]:
        """MLflow's environment variables for a component process: the credentials
        (``MLFLOW_TRACKING_USERNAME``/``PASSWORD``, ``MLFLOW_TRACKING_TOKEN``) and
        ``MLFLOW_TRACKING_INSECURE_TLS``; only those the connection sets. Secret values: pass
        them in the process environment, never in the spec or XCom."""
        conn = self.connection
        env: dict[str, str] = {}
        if conn.login:
            env["MLFLOW_TRACKING_USERNAME"] = conn.login
            env["MLFLOW_TRACKING_PASSWORD"] = conn.password or ""
        token = self._extra("token")
        if token:
            env["MLFLOW_TRACKING_TOKEN"] = str(token)
        if _as_bool(self._extra("insecure_tls") or False):
            env["MLFLOW_TRACKING_INSECURE_TLS"] = "true"
        return env

    def test_connection(self) -> tuple[bool, str]:
        """Ask an HTTP(S) tracking server's ``/health`` endpoint (the UI's *Test* button)."""
        try:
            uri = self.get_tracking_uri()
        except Exception as e:
            return False, str(e)
        if not uri.startswith(("http://", "https://")):
            return False, f"{uri} is not an HTTP(S) tracking server; only those can be tested"
        request = urllib.request.Request(f"{uri.rstrip('/')}/health")
        env = self.get_component_env()
        if "MLFLOW_TRACKING_TOKEN" in env:
            request.add_header("Authorization", f"Bearer {env['MLFLOW_TRACKING_TOKEN']}")
        elif "MLFLOW_TRACKING_USERNAME" in env:
            basic = f"{env['MLFLOW_TRACKING_USERNAME']}:{env['MLFLOW_TRACKING_PASSWORD']}"
            request.add_header("Authorization", "Basic " + base64.b64encode(basic.encode()).decode())
        context = ssl._create_unverified_context() if "MLFLOW_TRACKING_INSECURE_TLS" in env else None  # noqa: S323
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310 - http(s) only
                return True, f"{uri} answered {response.status}"
        except (urllib.error.URLError, OSError, ValueError) as e:
            return False, f"{uri}: {e}"
