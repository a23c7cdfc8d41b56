"""``MlopsViewPlugin``: the Airflow plugin of the MLOps view (provider info key ``plugins``).

Airflow loads plugins in the scheduler, the DAG processor and the workers too, so this module
stays light: it imports no FastAPI, and the app (:func:`.app.create_app`) is built on the first
request the API server routes to it (:class:`LazyApp`).

External views (Airflow >= 3.1): ``destination: "nav"`` puts an "MLOps" entry in the navigation
(at the top level: alone in 3.1, where one plugin entry is shown directly, and by
``nav_top_level`` from the Airflow versions whose UI knows it; older ones keep the key as an extra
field and ignore it); ``destination: "dag"`` adds an "MLOps" tab to every DAG's pages, whose
``{DAG_ID}`` the UI fills in. The UI shows both in an iframe.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from airflow.plugins_manager import AirflowPlugin

#: where the API server mounts the app
URL_PREFIX = "/mlops"


class LazyApp:
    """An ASGI app that builds the real one on its first request.

    :param factory: ``module:function`` returning the app.
    """

    def __init__(self, factory: str) -> None:
        self.factory = factory
        self._app: Any = None
        self._lock = threading.Lock()

    def build(self) -> Any:
        with self._lock:
            if self._app is None:
                module, _, function = self.factory.partition(":")
                self._app = getattr(importlib.import_module(module), function)()
        return self._app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        app = self._app if self._app is not None else self.build()
        await app(scope, receive, send)


class MlopsViewPlugin(AirflowPlugin):
    """Model versions, rollout decisions, monitoring verdicts and reports of every pipeline."""

    name = "mlops_view"
    fastapi_apps = [
        {"app": LazyApp("airflow_mlops.provider.plugin.app:create_app"), "url_prefix": URL_PREFIX, "name": "MLOps view"}
    ]
    external_views = [
        {
            "name": "MLOps",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "mlops",
            "nav_top_level": True,
        },
        {
            "name": "MLOps",
            "href": f"{URL_PREFIX}/dags/{{DAG_ID}}",
            "destination": "dag",
            "url_route": "mlops_dag",
        },
    ]
