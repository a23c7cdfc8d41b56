"""The contract between the control plane and the runtime plane. Standard library only.

Both planes import this package: the control plane writes a :class:`ComponentSpec`, the runtime
runs the component and writes an :class:`ExecutionRecord` (or an :class:`ErrorReport`), and the
control plane reads it back. Everything here round-trips through JSON.
"""

from __future__ import annotations

from airflow_mlops.contract.artifacts import ArtifactRef
from airflow_mlops.contract.errors import EXIT_REJECTED, ComponentError, ErrorKind, ErrorReport
from airflow_mlops.contract.execution import ExecutionRecord, RemoteJob, Status
from airflow_mlops.contract.fingerprint import fingerprint
from airflow_mlops.contract.layout import (
    ERROR_FILE,
    EXECUTION_FILE,
    REMOTE_JOB_FILE,
    RESULT_FILE,
    SPEC_FILE,
    execution_dir,
    invocation_dir,
    join_uri,
)
from airflow_mlops.contract.spec import ComponentSpec, RunInfo

__all__ = [
    "ArtifactRef",
    "ComponentError",
    "ComponentSpec",
    "ERROR_FILE",
    "EXECUTION_FILE",
    "EXIT_REJECTED",
    "ErrorKind",
    "ErrorReport",
    "ExecutionRecord",
    "REMOTE_JOB_FILE",
    "RemoteJob",
    "RESULT_FILE",
    "RunInfo",
    "SPEC_FILE",
    "Status",
    "execution_dir",
    "fingerprint",
    "invocation_dir",
    "join_uri",
]
