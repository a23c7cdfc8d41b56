"""The MLOps view's FastAPI app, mounted by the API server under ``/mlops``.

Routes (every one needs an authenticated Airflow user, see :mod:`.security`):

- ``GET /``: the pipelines (HTML), each with the artifact root it is read from; ``GET /api/pipelines``: the same as JSON;
- ``GET /pipelines/{pipeline}``: a pipeline's page; ``GET /api/pipelines/{pipeline}``: its JSON;
- ``GET /dags/{dag_id}``: the page of the pipeline a DAG belongs to (the tab on a DAG's pages);
- ``GET /reports/{pipeline}/{path}``: a report file under ``<the pipeline's root>/<pipeline>/`` (see :mod:`.reports`).

Each pipeline with a YAML the DAGs find is read from the artifact root its DAGs write to (see
:mod:`.sources`); the others from the machine's root (``$MLOPS_ARTIFACT_ROOT``, then
``[mlops] artifact_root``, then ``.mlops/artifacts`` next to the DAGs folder, as for the pipelines).
``gs://`` is read with the API server's Application Default Credentials (or the GCS emulator of
``STORAGE_EMULATOR_HOST``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, Response

from airflow_mlops.artifacts.store import ArtifactStore, to_uri
from airflow_mlops.contract.config import include_dirs
from airflow_mlops.contract.config.model import DEFAULT_ARTIFACT_ROOT
from airflow_mlops.provider.plugin import pages
from airflow_mlops.provider.plugin.data import ArtifactReader, valid_pipeline_name
from airflow_mlops.provider.plugin.overview import pipeline_overview, pipeline_summary
from airflow_mlops.provider.plugin.reports import REPORT_HEADERS, ReportRefused, lies_in, resolve_report
from airflow_mlops.provider.plugin.security import can_read_dag, get_user, require_dag_access, training_dag_id
from airflow_mlops.provider.plugin.sources import (
    MACHINE_ROOT,
    PipelineConfigs,
    PipelineSource,
    machine_setting,
    yaml_sources,
)

#: the DAGs the factory makes for a pipeline, by the suffix of their id
PIPELINE_DAG_SUFFIXES = ("_training", "_monitoring", "_promotion", "_rollback", "_data_arrival")

User = Annotated[BaseUser, Depends(get_user)]


def default_artifact_root() -> str:
    """``<dags folder>/../.mlops/artifacts``, the root when the machine sets none."""
    from airflow_mlops.provider.compat import conf

    dags_folder = os.path.abspath(conf.get("core", "dags_folder"))
    return to_uri(os.path.join(os.path.dirname(dags_folder), DEFAULT_ARTIFACT_ROOT))


def configured_artifact_root() -> str:
    """``$MLOPS_ARTIFACT_ROOT``, else ``[mlops] artifact_root``, else ``<dags folder>/../.mlops/artifacts``."""
    setting = machine_setting()
    return setting[1] if setting else default_artifact_root()


def dags_include_dirs() -> list[Path]:
    """Where the DAG files of the DAGs folder find their pipeline YAMLs (the factory's rule)."""
    from airflow_mlops.provider.compat import conf

    return include_dirs(conf.get("core", "dags_folder"))


def pipeline_of_dag(dag_id: str) -> str | None:
    for suffix in PIPELINE_DAG_SUFFIXES:
        if dag_id.endswith(suffix) and len(dag_id) > len(suffix):
            return dag_id[: -len(suffix)]
    return None


def create_app(artifact_root: str | None = None, store: ArtifactStore | None = None,
               include: Iterable[Path] | None = None) -> FastAPI:
    """The view of the pipelines whose YAMLs are in ``include`` (default: :func:`dags_include_dirs`,
    looked at again every :data:`~.sources.CONFIG_TTL_SECONDS`), each read from its own artifact
    root, and of those that wrote under ``artifact_root`` (the machine root, default:
    :func:`configured_artifact_root`) without a YAML."""
    if artifact_root:
        machine_root, machine_label = artifact_root.rstrip("/"), MACHINE_ROOT
    else:
        machine_label, machine_root = machine_setting() or (MACHINE_ROOT, default_artifact_root())
    store = store or ArtifactStore()
    machine = ArtifactReader(machine_root, store)
    configs = PipelineConfigs(dags_include_dirs if include is None else include)
    # no /docs or /openapi.json: they would be routes without the user dependency
    app = FastAPI(title="MLOps view", docs_url=None, redoc_url=None, openapi_url=None, dependencies=[Depends(get_user)])

    def base(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    def sources() -> dict[str, PipelineSource]:
        """Every pipeline the view knows, by name: its YAML's, then the machine root's others."""
        table = yaml_sources(configs.found(), machine_root, machine_label)
        for name in machine.pipelines():
            table.setdefault(name, PipelineSource(name, machine_root, machine_label))
        return dict(sorted(table.items()))

    def reader(source: PipelineSource) -> ArtifactReader:
        return machine if source.root == machine_root else ArtifactReader(source.root, store)

    def known_pipeline(pipeline: str, user: BaseUser) -> PipelineSource:
        if not valid_pipeline_name(pipeline):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "not a pipeline name")
        require_dag_access(user, training_dag_id(pipeline))
        source = sources().get(pipeline)
        if source is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no pipeline {pipeline}: no pipeline YAML and nothing "
                                                           "under the machine's artifact root")
        return source

    def overview(source: PipelineSource) -> dict[str, Any]:
        return {**pipeline_overview(reader(source), source.pipeline), **source.to_dict()}

    def summaries(user: BaseUser) -> list[dict[str, Any]]:
        return [{**pipeline_summary(reader(s), s.pipeline), **s.to_dict()}
                for s in sources().values() if can_read_dag(user, training_dag_id(s.pipeline))]

    def where() -> dict[str, Any]:
        return {"artifact_root": machine_root, "root_source": machine_label, "include_dirs": [str(d) for d in configs.dirs]}

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request, user: User) -> HTMLResponse:
        listed = summaries(user)
        return HTMLResponse(pages.index_page(base(request), listed, where()))

    @app.get("/api/pipelines")
    def api_pipelines(user: User) -> JSONResponse:
        listed = summaries(user)
        return JSONResponse({**where(), "pipelines": listed})

    @app.get("/api/pipelines/{pipeline}")
    def api_pipeline(pipeline: str, user: User) -> JSONResponse:
        return JSONResponse(overview(known_pipeline(pipeline, user)))

    @app.get("/pipelines/{pipeline}", response_class=HTMLResponse)
    def pipeline_page(pipeline: str, request: Request, user: User) -> HTMLResponse:
        return HTMLResponse(pages.pipeline_page(base(request), overview(known_pipeline(pipeline, user))))

    @app.get("/dags/{dag_id}", response_class=HTMLResponse)
    def dag_tab(dag_id: str, request: Request, user: User) -> HTMLResponse:
        require_dag_access(user, dag_id)
        pipeline = pipeline_of_dag(dag_id)
        source = sources().get(pipeline) if pipeline is not None and valid_pipeline_name(pipeline) else None
        if source is None:
            return HTMLResponse(pages.not_a_pipeline_page(base(request), dag_id))
        require_dag_access(user, training_dag_id(source.pipeline))
        return HTMLResponse(pages.pipeline_page(base(request), overview(source)))

    @app.get("/reports/{pipeline}/{path:path}")
    def report(pipeline: str, path: str, user: User) -> Response:
        if not valid_pipeline_name(pipeline):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "not a pipeline name")
        require_dag_access(user, training_dag_id(pipeline))
        table = sources()
        # a pipeline the view does not know is looked for under the machine root, as before
        source = table.get(pipeline) or PipelineSource(pipeline, machine_root, machine_label)
        try:
            found = resolve_report(source.root, pipeline, path)
            # two pipelines' directories can nest (a root inside another pipeline's directory):
            # what lies in another pipeline's directory is that pipeline's, behind its DAG's access
            if any(lies_in(found.uri, other.root, other.pipeline) for other in table.values() if other.pipeline != pipeline):
                raise ReportRefused("the path lies in another pipeline's directory")
            with store.open(found.uri, "rb") as f:
                content = f.read()
        except ReportRefused as e:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(e)) from None
        except (FileNotFoundError, IsADirectoryError):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such report") from None
        return Response(content, media_type=found.media_type, headers=REPORT_HEADERS)

    return app
