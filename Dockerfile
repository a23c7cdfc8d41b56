# The control-plane image (Airflow / Composer side): Airflow 3, the Google, Kubernetes and
# OpenLineage providers, the airflow_mlops provider, the DAGs and their pipeline YAMLs.
# No TensorFlow here: the ML components run in the runtime image (docker/runtime.Dockerfile),
# because the two planes cannot share one Python environment (ARCHITECTURE.md section 1).
#
#   docker build -t airflow-mlops-airflow .
FROM apache/airflow:3.3.2-python3.11

# The base image's Python environment is a virtualenv in ~/.local (VIRTUAL_ENV is set), owned by
# the airflow user, and it ships uv, so `uv pip install` installs into it. The lock is what
# `make test` tested, so it is installed as pinned with --no-deps: nothing is re-resolved, every
# package the lock lists gets exactly its pinned version. `install` rather than `sync`: sync would
# also remove what the image brings beyond the lock, such as the Postgres driver the
# docker-compose metadata database needs. The lock's dev extra (pytest, gcp-storage-emulator) is
# small and stays.
COPY --chown=airflow:0 requirements/airflow.lock.txt /tmp/airflow-mlops/requirements/
RUN uv pip install --no-cache --compile-bytecode --no-deps -r /tmp/airflow-mlops/requirements/airflow.lock.txt

# The provider distribution (airflow-mlops: provider, contract, artifact store), without
# dependencies (the lock pinned them all). Its wheel leaves airflow_mlops/runtime out (root
# pyproject.toml); the runtime plane is the airflow-mlops-runtime distribution, which only the
# runtime image (docker/runtime.Dockerfile) installs. Only what the wheel needs is copied, so a
# local .venv, .venv-runtime or .mlops in the build context never gets in.
COPY --chown=airflow:0 pyproject.toml README.md /tmp/airflow-mlops/
COPY --chown=airflow:0 airflow_mlops /tmp/airflow-mlops/airflow_mlops
RUN uv pip install --no-cache --compile-bytecode --no-deps /tmp/airflow-mlops \
    && rm -rf /tmp/airflow-mlops

# A DAG file loads include/<pipeline>/pipeline.yaml from next to dags/ (dags/../include), and
# relative paths in that YAML are taken from /opt/airflow: artifacts go to /opt/airflow/.mlops
# unless $MLOPS_ARTIFACT_ROOT or [mlops] artifact_root says otherwise (gs://... on Composer).
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 include/ /opt/airflow/include/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
# Created in the image so that a named volume mounted there (docker-compose) starts out owned by
# airflow; group-writable so that a container running as another uid in group 0 can write too.
RUN mkdir -p /opt/airflow/.mlops && chmod g+rwx /opt/airflow/.mlops

ENV AIRFLOW__CORE__LOAD_EXAMPLES=False
# AIRFLOW__MLOPS__RUNTIME_PYTHON is deliberately not set: this image has no runtime venv, so the
# `local` launcher has nothing to run here. On Composer/GKE the `kubernetes` and `vertex`
# launchers start the runtime image instead. Only an image that also carries a runtime venv
# would set it, e.g. AIRFLOW__MLOPS__RUNTIME_PYTHON=/opt/mlops/.venv-runtime/bin/python.
