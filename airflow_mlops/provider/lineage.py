"""A step's inputs and outputs as OpenLineage datasets, for the OpenLineage provider's listener
(``get_openlineage_facets_on_complete`` of :class:`~.operators.component.ComponentOperator`).

Dataset names follow OpenLineage's naming conventions:

- a local file or directory: namespace ``file``, name its absolute path;
- a GCS object or prefix: namespace ``gs://<bucket>``, name the path in the bucket;
- a BigQuery table (``bigquery://<project>.<dataset>.<table>`` or ``bq://...``): namespace ``bigquery``,
  name ``<project>.<dataset>.<table>``;
- a model version: name ``models:/<name>/<version>``, namespace ``mlflow://<host>[:<port>]`` of an
  ``http(s)`` tracking server, ``mlflow`` for a registry without a server (``sqlite:``).

So the chain reads: the source files → ingest → examples → validate → statistics, schema, anomalies
→ transform → transform → train → model → evaluate → evaluation, blessing → register → the model
version → infra_validate → deploy → the deployment record (``<root>/<pipeline>/deployment/record.json``,
which every rollout decision updates) and the deployment artifact.

The OpenLineage provider is imported only here, inside functions: without it nothing imports this.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_mlops.contract import ArtifactRef
from airflow_mlops.contract.layout import deployment_record_uri

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import Dataset

#: the steps that change the deployment record
ROLLOUT_COMPONENTS = ("deploy", "rollback", "canary_analysis")


def mlflow_namespace(tracking_uri: str | None) -> str:
    """``mlflow://<host>[:<port>]`` of an ``http(s)`` tracking server, else ``mlflow``."""
    parts = urlsplit(tracking_uri or "")
    if parts.scheme in ("http", "https") and parts.hostname:
        return f"mlflow://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return "mlflow"


def dataset_id(uri: str, tracking_uri: str | None = None) -> tuple[str, str] | None:
    """``(namespace, name)`` of the dataset at ``uri``; None for what is no dataset of its own
    (``package://`` resources: ingest reports the file they resolve to)."""
    if uri.startswith("models:/"):
        return mlflow_namespace(tracking_uri), uri
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in ("", "file"):
        return "file", parts.path
    if scheme in ("gs", "gcs"):
        return f"gs://{parts.netloc}", parts.path.lstrip("/")
    if scheme in ("bigquery", "bq"):
        return "bigquery", (parts.netloc + parts.path).strip("/").replace("/", ".").replace(":", ".")
    if scheme == "package":
        return None
    return f"{scheme}://{parts.netloc}", parts.path.lstrip("/")


def _dataset(uri: str, tracking_uri: str | None, columns: Mapping[str, Any] | None = None) -> Dataset | None:
    from openlineage.client.event_v2 import Dataset

    found = dataset_id(uri, tracking_uri)
    if found is None:
        return None
    facets: dict[str, Any] = {}
    if columns:
        from openlineage.client.facet_v2 import schema_dataset

        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[schema_dataset.SchemaDatasetFacetFields(name=str(n), type=str(t)) for n, t in columns.items()]
        )
    return Dataset(namespace=found[0], name=found[1], facets=facets)


def _unique(datasets: Iterable[Dataset | None]) -> list[Dataset]:
    out, seen = [], set()
    for dataset in datasets:
        if dataset is not None and (dataset.namespace, dataset.name) not in seen:
            seen.add((dataset.namespace, dataset.name))
            out.append(dataset)
    return out


def _ref_dataset(ref: ArtifactRef, tracking_uri: str | None) -> Dataset | None:
    columns = ref.properties.get("columns") if ref.type == "Examples" else None
    return _dataset(ref.uri, tracking_uri, columns if isinstance(columns, dict) else None)


def step_datasets(
    *,
    component: str,
    pipeline: str,
    artifact_root: str,
    tracking_uri: str | None,
    inputs: Mapping[str, ArtifactRef],
    outputs: Mapping[str, ArtifactRef],
    params: Mapping[str, Any] | None = None,
) -> tuple[list[Dataset], list[Dataset]]:
    """The step's input and output datasets.

    Inputs: its input artifacts; for ingest the files it read (``files`` of its examples; before it
    produced any, its ``source`` parameter); for validate also the curated schema file. Outputs: its
    output artifacts (a model version as ``models:/<name>/<version>``) and, for a rollout step, the
    deployment record.
    """
    sources: list[str] = []
    for ref in outputs.values():
        if ref.type == "Examples":
            sources += [str(f) for f in ref.properties.get("files") or []]
        if ref.type == "Schema" and ref.properties.get("curated"):
            sources.append(str(ref.properties["curated"]))
    if component == "ingest" and not outputs and params:
        source = params.get("source")
        sources += [source] if isinstance(source, str) else [str(s) for s in source or []]
    ins = _unique([*(_dataset(uri, tracking_uri) for uri in sources), *(_ref_dataset(r, tracking_uri) for r in inputs.values())])
    outs = [_ref_dataset(r, tracking_uri) for r in outputs.values()]
    if component in ROLLOUT_COMPONENTS and outputs:
        outs.append(_dataset(deployment_record_uri(artifact_root, pipeline), tracking_uri))
    return ins, _unique(outs)


def step_lineage(**kwargs: Any) -> OperatorLineage:
    """:func:`step_datasets` as the provider's ``OperatorLineage``."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    inputs, outputs = step_datasets(**kwargs)
    return OperatorLineage(inputs=inputs, outputs=outputs)
