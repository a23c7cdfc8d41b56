"""airflow-mlops: continuous training, validation, serving and monitoring of ML models on Airflow 3.

Three parts, one per plane (see ``ARCHITECTURE.md`` and the README's layout section):

- :mod:`airflow_mlops.provider` - the control plane Airflow imports (operators, sensors,
  triggers, hooks, launchers, DAG factory);
- :mod:`airflow_mlops.runtime` - the runtime plane, run in its own environment or image
  (components, ML helpers, serving);
- :mod:`airflow_mlops.contract` - what both share: component specs and their typed parameters,
  artifact references, execution records, errors, the artifact layout and the pipeline config.
  Standard library only (plus PyYAML, imported lazily by the config loader);
  :mod:`airflow_mlops.artifacts` reads and writes them on any fsspec URI.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("airflow-mlops")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
