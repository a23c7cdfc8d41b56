"""The one mapping from the registry's rollout decisions to what the remote target does.

The deploy, canary analysis and rollback components decide in the registry and the deployment
record; the operators then hand that decision to :func:`apply_remote`, which moves the Vertex AI
endpoint's traffic split (:func:`~airflow_mlops.provider.deploy.vertex.vertex_rollout`) or the
Cloud Run service's revision traffic (:func:`~airflow_mlops.provider.deploy.cloud_run.cloud_run_rollout`):

========================  ==========  ===============================================================
registry decision         remote      traffic afterwards
========================  ==========  ===============================================================
``bootstrap``             promote     all to the first model
``canary``                canary      ``weight`` to the challenger, the rest to the champion
``promote``               promote     all to the new champion; the others leave the split
``reject``                reject      all back to the champion; the challenger leaves the split
``rollback``              rollback    all to the previous champion; the others leave the split
anything else (``none``)  --          unchanged
========================  ==========  ===============================================================
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

#: registry decision -> rollout action on the remote target
REMOTE_ACTIONS = {"bootstrap": "promote", "canary": "canary", "promote": "promote", "reject": "reject", "rollback": "rollback"}


@dataclass(frozen=True)
class RemoteChange:
    """What to do on the remote target.

    :param action: ``canary``, ``promote``, ``reject`` or ``rollback``.
    :param version: the version that gets the traffic: the canary's share, or all of it.
    :param current_version: during a canary, the champion that keeps the rest.
    :param artifact_uri: the version's SavedModel, if it may have to be uploaded (Vertex AI).
    """

    action: str
    version: str
    current_version: str | None = None
    artifact_uri: str = ""


def remote_change(decision: str, version: str | None, champion: str | None = None, artifact_uri: str = "") -> RemoteChange | None:
    """The remote change for a registry decision, or ``None`` when the decision changes nothing.

    :param decision: the registry's decision (``bootstrap``, ``canary``, ``promote``, ``reject``,
        ``rollback``, ``none``, ...).
    :param version: the version decided on: the canary, the promoted version, the rejected
        challenger, the version rolled back to.
    :param champion: the champion besides it: during a canary the one that keeps the rest; for a
        rejection the one that gets all traffic back.
    :param artifact_uri: the version's SavedModel (``gs://.../saved_model``), when known.
    """
    action = REMOTE_ACTIONS.get(decision)
    if action is None:
        return None
    if action == "reject":
        if not champion:
            raise ValueError(f"cannot reject canary version {version} remotely: there is no champion to give the traffic back to")
        return RemoteChange("reject", str(champion))
    if not version:
        raise ValueError(f"a {decision} decision without a version")
    return RemoteChange(action, str(version), str(champion) if action == "canary" and champion else None, artifact_uri)


def apply_remote(
    target: str,
    settings: dict[str, Any],
    model_name: str,
    change: RemoteChange,
    weight: float | None = None,
    gcp_conn_id: str = "google_cloud_default",
    log: logging.Logger | logging.LoggerAdapter | Any | None = None,
) -> dict[str, Any]:
    """Apply ``change`` to ``target`` (``vertex`` or ``cloud_run``) with its ``deployment.<target>`` settings.

    :param weight: the canary's share of traffic (used by ``canary`` only; the target function's
        default otherwise).
    :return: what the target function returns: the traffic sent and the resources changed.
    """
    extra: dict[str, Any] = {} if weight is None else {"weight": weight}
    if target == "vertex":
        from airflow_mlops.provider.deploy.vertex import vertex_rollout

        return vertex_rollout(change.action, settings, model_name, change.version, change.artifact_uri,
                              gcp_conn_id=gcp_conn_id, log=log, **extra)
    if target == "cloud_run":
        from airflow_mlops.provider.deploy.cloud_run import cloud_run_rollout

        return cloud_run_rollout(change.action, settings, model_name, change.version, current_version=change.current_version,
                                 gcp_conn_id=gcp_conn_id, log=log, **extra)
    raise ValueError(f"no remote rollout for target {target!r}: expected vertex or cloud_run")
