# The runtime-plane image: TensorFlow 2.16, TFDV 1.16, Beam, Evidently, BentoML and MLflow, plus the
# two distributions built from this tree: airflow-mlops (contract, artifact store; its provider
# modules are never imported here) and airflow-mlops-runtime (airflow_mlops/runtime, built by
# runtime/pyproject.toml). A launcher runs one component per container with the same command line
# as everywhere else (ARCHITECTURE.md section 1):
#   <image> <component> --spec <uri-of-spec.json>
#
# Build from the repository root:
#   CPU: docker build -f docker/runtime.Dockerfile -t airflow-mlops-runtime .
#   GPU: docker build -f docker/runtime.Dockerfile -t airflow-mlops-runtime-gpu \
#          --build-arg BASE=tensorflow/tensorflow:2.16.2-gpu .
# The GPU base is Ubuntu 22.04 with Python 3.11 and CUDA/cuDNN already set up for TF 2.16. A bare
# nvidia/cuda:12.3.2-cudnn9-runtime-ubuntu22.04 would work too, but Ubuntu 22.04's own Python is
# 3.10 and this package needs 3.11, so Python would have to be installed first.
ARG BASE=python:3.11-slim-bookworm
# The same uv as the Makefile's UV_VERSION.
ARG UV_VERSION=0.13.9

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

FROM ${BASE}

COPY --from=uv /uv /uvx /usr/local/bin/

# Installed into the base image's python3.11 (--system): the container is the isolation.
# --break-system-packages only matters on a base whose Python marks itself externally managed.
#
# Bytecode is compiled at build time (--compile-bytecode). uv writes no .pyc unless asked;
# PYTHONDONTWRITEBYTECODE is commonly set in pods; and a non-root user cannot write
# __pycache__ into root-owned site-packages anyway. Without .pyc every component process
# recompiles TensorFlow's imports: about 30 s instead of 8-10 s per step.
#
# pyfarmhash (needed by TFDV) ships no wheel and is compiled from source, so a compiler is
# installed for this step only. The apt-mark dance removes exactly what was added here, and
# keeps whatever the base image had installed itself (the TF GPU base has its own toolchain).
COPY requirements/runtime.lock.txt /tmp/runtime.lock.txt
RUN set -eux; \
    savedAptMark="$(apt-mark showmanual)"; \
    apt-get update; \
    apt-get install -y --no-install-recommends build-essential; \
    uv pip install --system --python python3.11 --break-system-packages \
        --no-cache --compile-bytecode -r /tmp/runtime.lock.txt; \
    apt-mark auto '.*' > /dev/null; \
    apt-mark manual $savedAptMark > /dev/null; \
    apt-get purge -y --auto-remove -o APT::AutoRemove::RecommendsImportant=false; \
    rm -rf /var/lib/apt/lists/* /tmp/runtime.lock.txt

# The two distributions, without dependencies (the lock pinned them all): airflow-mlops from the
# root pyproject.toml, airflow-mlops-runtime from runtime/pyproject.toml, whose build takes
# ../airflow_mlops/runtime. Only what the wheels need is copied, so a local .venv, .venv-runtime or
# .mlops in the build context never gets in. `uv pip check` then verifies that the lock satisfies
# both distributions' requirements (airflow-mlops-runtime pins airflow-mlops to its own version).
COPY pyproject.toml README.md /tmp/airflow-mlops/
COPY runtime/pyproject.toml runtime/hatch_build.py runtime/README.md /tmp/airflow-mlops/runtime/
COPY airflow_mlops /tmp/airflow-mlops/airflow_mlops
RUN uv pip install --system --python python3.11 --break-system-packages \
        --no-cache --compile-bytecode --no-deps /tmp/airflow-mlops /tmp/airflow-mlops/runtime \
    && uv pip check --system --python python3.11 \
    && rm -rf /tmp/airflow-mlops

# Non-root, with a numeric uid so that Kubernetes' runAsNonRoot can verify it. Group 0 and a
# group-writable home let the image also run under an arbitrary uid (OpenShift style, or
# docker-compose's `user: 50000:0` to share the Airflow image's artifact volume): Keras and
# MLflow write caches under $HOME.
RUN useradd --uid 10001 --gid 0 --create-home --home-dir /home/mlops --shell /usr/sbin/nologin mlops \
    && chmod -R g=u /home/mlops
ENV HOME=/home/mlops \
    PYTHONUNBUFFERED=1
USER 10001
WORKDIR /home/mlops

ENTRYPOINT ["python", "-m", "airflow_mlops.runtime.components"]
CMD ["--help"]
