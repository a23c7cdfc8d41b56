"""The DAGs, the pipeline YAMLs and the plugins to a Composer environment's bucket.

Composer mounts only ``dags/``, ``plugins/`` and ``data/``: ``include/`` goes to ``dags/include/``,
where the DAG files look for their YAML (``dags/.airflowignore`` keeps the DAG processor out of
it). A file whose object already has the same MD5 is not uploaded again; with ``delete`` an object
under those prefixes that is no longer in the repository is removed (a deleted DAG file stops
running), except Composer's own ``dags/airflow_monitoring.py``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

#: repository folder -> the bucket prefix it goes to
FOLDERS = {"dags": "dags", "include": "dags/include", "plugins": "plugins"}
#: what Composer itself keeps in the bucket
COMPOSER_OWN = frozenset({"dags/airflow_monitoring.py"})
SKIP_PARTS = frozenset({"__pycache__", ".pytest_cache"})


@dataclass
class SyncResult:
    uploaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def local_files(source: Path) -> dict[str, Path]:
    """Object name -> local file, for every file of :data:`FOLDERS` under ``source``."""
    files = {}
    for folder, prefix in FOLDERS.items():
        root = source / folder
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            relative = path.relative_to(root)
            if path.is_file() and not SKIP_PARTS & set(relative.parts) and path.suffix != ".pyc":
                files[f"{prefix}/{relative.as_posix()}"] = path
    return files


def _md5(path: Path) -> str:
    return base64.b64encode(hashlib.md5(path.read_bytes()).digest()).decode()


def client(project: str | None = None):
    """A storage client: anonymous against ``$STORAGE_EMULATOR_HOST``, else Application Default Credentials."""
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=project or "local", credentials=AnonymousCredentials())
    return storage.Client(project=project)


def sync(source: Path, bucket_uri: str, delete: bool = True, project: str | None = None) -> SyncResult:
    if not bucket_uri.startswith("gs://"):
        raise ValueError(f"the bucket must be a gs:// URI (got {bucket_uri!r})")
    bucket = client(project).bucket(bucket_uri.removeprefix("gs://").strip("/"))
    files = local_files(source)
    if not any(name.startswith("dags/") and name.endswith(".py") and name.count("/") == 1 for name in files):
        raise ValueError(f"no DAG files in {source / 'dags'}: is {source} the repository?")
    remote = {blob.name: blob.md5_hash for prefix in ("dags/", "plugins/") for blob in bucket.list_blobs(prefix=prefix)}
    result = SyncResult()
    for name, path in files.items():
        if remote.get(name) == _md5(path):
            result.unchanged.append(name)
            continue
        bucket.blob(name).upload_from_filename(str(path))
        result.uploaded.append(name)
    if delete:
        for name in sorted(set(remote) - set(files) - COMPOSER_OWN):
            bucket.blob(name).delete()
            result.deleted.append(name)
    return result
