"""``ArtifactStorageHook``: fsspec options for artifact and landing URIs, from Airflow connections.

Credentials are resolved where the work runs (worker or triggerer), never stored in a task's or a
trigger's arguments: operators, sensors and triggers carry only the connection id.

- ``file://`` and plain paths (and any other protocol): no options.
- ``gs://``/``gcs://``: the credentials and project of the Google Cloud connection, through the
  Google provider's ``GoogleBaseHook`` (key file, keyfile JSON, Secret Manager key, workload
  identity federation, impersonation chain and ``is_anonymous`` are all the connection's business).
  Without that connection: Application Default Credentials (``token="google_default"``), or
  anonymous access when ``STORAGE_EMULATOR_HOST`` points at a GCS emulator (what the
  google-cloud-storage client does too).
"""

from __future__ import annotations

import os
from typing import Any

from airflow.sdk import BaseHook

from airflow_mlops.artifacts.store import ArtifactStore
from airflow_mlops.provider.compat import AirflowNotFoundException

#: URI schemes served by gcsfs.
GCS_PROTOCOLS = ("gs", "gcs")


def protocol_of(uri: str) -> str:
    """``gs://b/k`` -> ``gs``; a plain path -> ``file``."""
    return uri.split("://", 1)[0].lower() if "://" in uri else "file"


class ArtifactStorageHook(BaseHook):
    """Storage options (and an :class:`~airflow_mlops.artifacts.store.ArtifactStore`) for URIs.

    The Google credentials are resolved once per hook instance, so the stores it makes share one
    gcsfs filesystem (fsspec caches instances by their options).

    :param gcp_conn_id: the Google Cloud connection for ``gs://`` URIs; when it does not exist,
        Application Default Credentials (anonymous with a GCS emulator).
    """

    conn_name_attr = "gcp_conn_id"
    default_conn_name = "google_cloud_default"
    hook_name = "MLOps artifact storage"

    def __init__(self, gcp_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gcp_conn_id = gcp_conn_id
        self._gcs_options: dict[str, Any] | None = None

    def gcs_options(self) -> dict[str, Any]:
        """gcsfs options: ``{"token": <google.auth Credentials>, "project": ...}`` from the
        connection, else ADC (``{"token": "google_default"}``) or, with a GCS emulator,
        ``{"token": "anon"}``."""
        if self._gcs_options is None:
            self._gcs_options = self._resolve_gcs_options()
        return dict(self._gcs_options)

    def _resolve_gcs_options(self) -> dict[str, Any]:
        from airflow.providers.google.common.hooks.base_google import GoogleBaseHook

        try:
            google = GoogleBaseHook(gcp_conn_id=self.gcp_conn_id)
        except AirflowNotFoundException:
            if os.environ.get("STORAGE_EMULATOR_HOST"):
                self.log.info("no connection %r; anonymous access to the GCS emulator", self.gcp_conn_id)
                return {"token": "anon"}
            self.log.info("no connection %r; using Application Default Credentials", self.gcp_conn_id)
            return {"token": "google_default"}
        credentials, project = google.get_credentials_and_project_id()
        options: dict[str, Any] = {"token": credentials}
        if project:
            options["project"] = project
        return options

    def storage_options(self, *uris: str) -> dict[str, Any]:
        """fsspec options that serve every one of ``uris`` (``{}`` when none needs any)."""
        options: dict[str, Any] = {}
        if any(protocol_of(uri) in GCS_PROTOCOLS for uri in uris):
            options.update(self.gcs_options())
        return options

    def store(self, *uris: str) -> ArtifactStore:
        """An ``ArtifactStore`` whose options serve every one of ``uris``."""
        return ArtifactStore(self.storage_options(*uris))
