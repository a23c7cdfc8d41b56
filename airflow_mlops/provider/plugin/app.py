"""The MLOps view's FastAPI app, mounted by the API server under ``/mlops``.

Routes (every one needs an authenticated Airflow user, see :mod:`.security`):

- ``GET /``: the pipelines under the artifact root (HTML); ``GET /api/pipelines``: the same as JSON;
- ``GET /pipelines/{pipeline}``: a pipeline's page; ``GET /api/pipelines/{pipeline}``: its JSON;
- ``GET /dags/{dag_id}``: the page of the pipeline a DAG belongs to (the tab on a DAG's pages);
- ``GET /reports/{pipeline}/{path}``: a report file under ``<artifact root>/<pipeline>/`` (see :mod:`.reports`).

The artifact root is the machine's (``$MLOPS_ARTIFACT_ROOT``, then ``[mlops] artifact_root``, then
``.mlops/artifacts`` next to the DAGs folder, as for the pipelines); ``gs://`` is read with the API
server's Application Default Credentials (or the GCS emulator of ``STORAGE_EMULATOR_HOST``).
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, Response

from airflow_mlops.artifacts.store import ArtifactStore, to_uri
from airflow_mlops.contract.config.model import DEFAULT_ARTIFACT_ROOT
from airflow_mlops.provider.plugin import pages
from airflow_mlops.provider.plugin.data import ArtifactReader, valid_pipeline_name
from airflow_mlops.provider.plugin.overview import pipeline_overview, pipeline_summary
from airflow_mlops.provider.plugin.reports import REPORT_HEADERS, ReportRefused, resolve_report
from airflow_mlops.provider.plugin.security import can_read_dag, get_user, require_dag_access, training_dag_id

#: the DAGs the factory makes for a pipeline, by the suffix of their id
PIPELINE_DAG_SUFFIXES = ("_training", "_monitoring", "_promotion", "_rollback", "_data_arrival")

User = Annotated[BaseUser, Depends(get_user)]


def configured_artifact_root() -> str:
    """``$MLOPS_ARTIFACT_ROOT``, else ``[mlops] artifact_root``, else ``<dags folder>/../.mlops/artifacts``."""
    from airflow_mlops.provider.compat import conf

    configured = os.environ.get("MLOPS_ARTIFACT_ROOT") or conf.get("mlops", "artifact_root", fallback=None)
    if configured:
        return to_uri(configured).rstrip("/")
    dags_folder = os.path.abspath(conf.get("core", "dags_folder"))
    return to_uri(os.path.join(os.path.dirname(dags_folder), DEFAULT_ARTIFACT_ROOT))


def pipeline_of_dag(dag_id: str) -> str | None:
    for suffix in PIPELINE_DAG_SUFFIXES:
        if dag_id.endswith(suffix) and len(dag_id) > len(suffix):
            return dag_id[: -len(suffix)]
    return None


def create_app(artifact_root: str | None = None, store: ArtifactStore | None = None) -> FastAPI:
    """The view over ``artifact_root`` (default: :func:`configured_artifact_root`)."""
    root = (artifact_root or configured_artifact_root()).rstrip("/")
    reader = ArtifactReader(root, store)
    # no /docs or /openapi.json: they would be routes without the user dependency
    app = FastAPI(title="MLOps view", docs_url=None, redoc_url=None, openapi_url=None, dependencies=[Depends(get_user)])

    def base(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    def known_pipeline(pipeline: str, user: BaseUser) -> str:
        if not valid_pipeline_name(pipeline):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "not a pipeline name")
        require_dag_access(user, training_dag_id(pipeline))
        if pipeline not in reader.pipelines():
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no pipeline {pipeline} under the artifact root")
        return pipeline

    def summaries(user: BaseUser) -> list[dict[str, Any]]:
        return [pipeline_summary(reader, p) for p in reader.pipelines() if can_read_dag(user, training_dag_id(p))]

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request, user: User) -> HTMLResponse:
        return HTMLResponse(pages.index_page(base(request), summaries(user), root))

    @app.get("/api/pipelines")
    def api_pipelines(user: User) -> JSONResponse:
        return JSONResponse({"artifact_root": root, "pipelines": summaries(user)})

    @app.get("/api/pipelines/{pipeline}")
    def api_pipeline(pipeline: str, user: User) -> JSONResponse:
        return JSONResponse(pipeline_overview(reader, known_pipeline(pipeline, user)))

    @app.get("/pipelines/{pipeline}", response_class=HTMLResponse)
    def pipeline_page(pipeline: str, request: Request, user: User) -> HTMLResponse:
        return HTMLResponse(pages.pipeline_page(base(request), pipeline_overview(reader, known_pipeline(pipeline, user))))

    @app.get("/dags/{dag_id}", response_class=HTMLResponse)
    def dag_tab(dag_id: str, request: Request, user: User) -> HTMLResponse:
        require_dag_access(user, dag_id)
        pipeline = pipeline_of_dag(dag_id)
        if pipeline is None or not valid_pipeline_name(pipeline) or pipeline not in reader.pipelines():
            return HTMLResponse(pages.not_a_pipeline_page(base(request), dag_id))
        return HTMLResponse(pages.pipeline_page(base(request), pipeline_overview(reader, known_pipeline(pipeline, user))))

    @app.get("/reports/{pipeline}/{path:path}")
    def report(pipeline: str, path: str, user: User) -> Response:
        if not valid_pipeline_name(pipeline):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "not a pipeline name")
        require_dag_access(user, training_dag_id(pipeline))
        try:
            found = resolve_report(root, pipeline, path)
            with reader.store.open(found.uri, "rb") as f:
                content = f.read()
        except ReportRefused as e:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(e)) from None
        except (FileNotFoundError, IsADirectoryError):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such report") from None
        return Response(content, media_type=found.media_type, headers=REPORT_HEADERS)

    return app
