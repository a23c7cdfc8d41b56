# The runtime-plane image: TensorFlow 2.16, TFDV 1.16, Beam, Evidently, BentoML and MLflow, plus the
# two distributions built from this tree: airflow-mlops (contract, artifact store; its provider
# modules are never imported here) and airflow-mlops-runtime (airflow_mlops/runtime, built by
# runtime/pyproject.toml). A launcher runs one component per container with the same command line
# as everywhere else (ARCHITECTURE.md section 1):
#   <image> <component> --spec <uri-of-spec.json>
# The same image is also the SDK container of Dataflow workers (airflow_mlops/runtime/ml/beam.py):
# it carries Beam's boot launcher, and its entrypoint (docker/entrypoint.sh) hands the SDK
# harness's arguments (--id=... --provision_endpoint=... ...) to it.
#
# Build from the repository root (GPU: docker/runtime-cuda.Dockerfile, on top of this image):
#   docker build -f docker/runtime.Dockerfile -t airflow-mlops-runtime .
# BASE must be a glibc >= 2.36 Linux with python3.11 (the lock's platform, x86_64-manylinux_2_36);
# `make image-runtime` builds it without a Docker daemon on a Debian 12 root filesystem.
ARG BASE=python:3.11-slim-bookworm
# The same uv as the Makefile's UV_VERSION.
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9
# Beam's own SDK image for the lock's Python and apache-beam version (requirements/runtime.lock.txt:
# apache-beam==2.72.0): only its boot launcher, /opt/apache/beam, is taken, as Beam's and Dataflow's
# custom-container guides recommend. Its version must equal the lock's apache-beam pin.
ARG BEAM_SDK_IMAGE=apache/beam_python3.11_sdk:2.72.0

FROM ${UV_IMAGE} AS uv

FROM ${BEAM_SDK_IMAGE} AS beam_sdk

FROM ${BASE}

COPY --from=uv /uv /uvx /usr/local/bin/

# A virtualenv synced to exactly requirements/runtime.lock.txt, as `make setup` builds
# .venv-runtime: `uv pip sync` installs the pins and nothing else (no resolution, and whatever the
# base image's own Python has installed is neither used nor changed).
#
# Bytecode is compiled at build time: a non-root user cannot write __pycache__ into root-owned
# site-packages, and without .pyc every component process recompiles TensorFlow's imports (about
# 30 s instead of 8-10 s).
#
# pyfarmhash (needed by TFDV) ships no wheel and is compiled from source, so a compiler is
# installed for this step only; the apt-mark dance removes exactly what was added here.
#
# pip, which the lock does not pin (no package needs it), is added with an exact version and
# without dependencies (it has none): Beam's boot launcher checks `python -m pip show apache-beam`
# before it starts the SDK harness, and fails the worker if pip is missing.
# RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT=1 makes boot run the harness with this venv's python,
# instead of creating a fresh venv under /opt/apache (which uid 10001 could not write, and which
# would not see this venv's packages).
ENV VIRTUAL_ENV=/opt/mlops/venv \
    UV_PYTHON_DOWNLOADS=never \
    RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT=1
ENV PATH=/opt/mlops/venv/bin:$PATH
# A build behind a TLS-intercepting proxy passes its CA bundle (mounted) as SSL_CERT_FILE; as a
# build arg it is not kept in the image.
ARG SSL_CERT_FILE
COPY requirements/runtime.lock.txt /tmp/runtime.lock.txt
RUN set -eux; \
    savedAptMark="$(apt-mark showmanual)"; \
    apt-get update; \
    apt-get install -y --no-install-recommends build-essential; \
    uv venv --python python3.11 "$VIRTUAL_ENV"; \
    uv pip sync --no-cache --compile-bytecode /tmp/runtime.lock.txt; \
    uv pip install --no-cache --compile-bytecode --no-deps pip==26.3; \
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
RUN uv pip install --no-cache --compile-bytecode --no-deps /tmp/airflow-mlops /tmp/airflow-mlops/runtime \
    && uv pip check \
    && rm -rf /tmp/airflow-mlops

# Non-root, with a numeric uid so that Kubernetes' runAsNonRoot can verify it. Group 0 and a
# group-writable home let the image also run under an arbitrary uid (OpenShift style, or
# docker-compose's `user: 50000:0` to share the Airflow image's artifact volume): Keras and
# MLflow write caches under $HOME.
#
# Beam's boot launcher, and the entrypoint that dispatches between it (the SDK harness's arguments)
# and the component CLI (docker/entrypoint.sh); chmod here rather than COPY --chmod, which the
# classic docker builder lacks.
COPY --from=beam_sdk /opt/apache/beam /opt/apache/beam
COPY docker/entrypoint.sh /opt/mlops/entrypoint
RUN chmod 0755 /opt/mlops/entrypoint \
    && useradd --uid 10001 --gid 0 --create-home --home-dir /home/mlops --shell /usr/sbin/nologin mlops \
    && chmod -R g=u /home/mlops
ENV HOME=/home/mlops \
    PYTHONUNBUFFERED=1
USER 10001
WORKDIR /home/mlops

ENTRYPOINT ["/opt/mlops/entrypoint"]
CMD ["--help"]
