#!/usr/bin/env bash
# Builds docker/runtime.Dockerfile without a Docker daemon or registry access, then runs the
# component CLI inside the image (`make image-runtime`; needs root, buildah and debootstrap).
#
#  1. base image: a Debian 12 root filesystem from debootstrap (Python 3.11 with its headers, as
#     python:3.11-slim-bookworm has), committed as localhost/debian-python:bookworm;
#  2. uv image: the Makefile's uv binary in an empty image (stands in for ghcr.io/astral-sh/uv);
#  3. STAND-IN Beam SDK image: Docker Hub cannot be reached, so apache/beam_python3.11_sdk cannot be
#     pulled. localhost/beam-sdk-standin:<the lock's apache-beam version> holds only
#     /opt/apache/beam/boot, a shell script that says it is a stand-in, prints its arguments and
#     checks what Beam's real boot launcher needs from the image (`python -m pip show apache-beam`,
#     RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT, the SDK harness module). It is NOT Beam's boot
#     launcher: an image built by this script cannot serve as Dataflow's SDK container;
#  4. `buildah bud` of docker/runtime.Dockerfile on those three (chroot isolation);
#  5. the image's own ENTRYPOINT and USER: `--help`, then the ingest component on a spec in a
#     mounted directory (penguins from the palmerpenguins package, no network), then the SDK
#     harness's arguments as Dataflow passes them, which must reach the stand-in boot.
#
# Environment: UV (uv binary), UV_VERSION, IMAGE (tag), WORK (scratch dir), MIRROR (Debian mirror),
# DRIVER (buildah storage driver), CA_BUNDLE (CA bundle for PyPI behind a TLS-intercepting proxy).
set -euo pipefail

: "${UV:?}" "${UV_VERSION:?}" "${IMAGE:?}" "${WORK:?}" "${MIRROR:?}" "${DRIVER:?}" "${CA_BUNDLE:?}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BASE=localhost/debian-python:bookworm
UV_IMAGE="localhost/uv:${UV_VERSION}"
BEAM_VERSION=$(sed -n 's/^apache-beam==//p' "$ROOT/requirements/runtime.lock.txt")
BEAM_SDK_IMAGE="localhost/beam-sdk-standin:${BEAM_VERSION:?no apache-beam pin in the runtime lock}"
buildah() { command buildah --root "$WORK/storage" --runroot "$WORK/run" --storage-driver "$DRIVER" "$@"; }
step() { echo ">> $* ($(( $(date +%s) - start )) s)"; }
start=$(date +%s)
mkdir -p "$WORK"

if ! buildah inspect --type image "$BASE" >/dev/null 2>&1; then
    step "debootstrap bookworm from $MIRROR"
    rm -rf "$WORK/rootfs"
    debootstrap --variant=minbase --include=python3.11-dev,ca-certificates bookworm "$WORK/rootfs" "$MIRROR" \
        > "$WORK/debootstrap.log"
    rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
    printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$MIRROR" "$MIRROR" \
        > "$WORK/rootfs/etc/apt/sources.list"
    c=$(buildah from scratch)
    cp -a "$WORK/rootfs/." "$(buildah mount "$c")/"
    buildah umount "$c" >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/bash "$c"
    buildah commit --quiet --rm "$c" "$BASE" >/dev/null
    rm -rf "$WORK/rootfs"
fi

if ! buildah inspect --type image "$UV_IMAGE" >/dev/null 2>&1; then
    step "uv $UV_VERSION image"
    c=$(buildah from scratch)
    buildah copy --quiet "$c" "$UV" "$(dirname "$UV")/uvx" /
    buildah commit --quiet --rm "$c" "$UV_IMAGE" >/dev/null
fi

if ! buildah inspect --type image "$BEAM_SDK_IMAGE" >/dev/null 2>&1; then
    step "STAND-IN Beam SDK image $BEAM_SDK_IMAGE (not apache/beam_python3.11_sdk: no Docker Hub here)"
    c=$(buildah from scratch)
    m=$(buildah mount "$c")
    mkdir -p "$m/opt/apache/beam"
    cat > "$m/opt/apache/beam/boot" <<'BOOT'
#!/bin/sh
# STAND-IN for Beam's boot launcher, made by docker/buildah-runtime.sh because Docker Hub (and so
# apache/beam_python3.11_sdk) cannot be reached. It starts no SDK harness: it shows that the
# runtime image's entrypoint called it, and checks what the real boot needs from the image.
set -eu
echo "STAND-IN /opt/apache/beam/boot (not Beam's boot launcher), uid $(id -u), arguments: $*"
echo "RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT=${RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT:-<unset>}"
shown=$(python -m pip show apache-beam)
echo "python -m pip show apache-beam (boot's check): $(echo "$shown" | sed -n 's/^Version: //p')"
python -c 'import apache_beam.runners.worker.sdk_worker_main as m; print("SDK harness module:", m.__name__)'
BOOT
    chmod 0755 "$m/opt/apache/beam/boot"
    buildah umount "$c" >/dev/null
    buildah commit --quiet --rm "$c" "$BEAM_SDK_IMAGE" >/dev/null
fi

step "buildah bud docker/runtime.Dockerfile -> $IMAGE"
buildah bud --isolation chroot --network host --pull-never --layers \
    -v "$CA_BUNDLE:/run/host-ca.crt:ro" --build-arg SSL_CERT_FILE=/run/host-ca.crt \
    --build-arg BASE="$BASE" --build-arg UV_IMAGE="$UV_IMAGE" \
    --build-arg BEAM_SDK_IMAGE="$BEAM_SDK_IMAGE" \
    -f "$ROOT/docker/runtime.Dockerfile" -t "$IMAGE" "$ROOT"
step "built: $(buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$IMAGE")"

# Run as the image would: its ENTRYPOINT and USER, the spec directory mounted (chroot isolation
# cannot cut the network; the ingest spec needs none).
config=$(buildah inspect --type image "$IMAGE")
user=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["OCIv1"]["config"]["User"])' "$config")
mapfile -t cli < <(python3 -c 'import json,sys; print(*json.loads(sys.argv[1])["OCIv1"]["config"]["Entrypoint"], sep="\n")' "$config")
data="$WORK/data"
rm -rf "$data" && mkdir -p "$data/artifacts/smoke/_invocations/ingest/try-1"
cat > "$data/artifacts/smoke/_invocations/ingest/try-1/spec.json" <<'EOF'
{
  "artifact_root": "file:///data/artifacts",
  "cache": false,
  "component": "ingest",
  "inputs": {},
  "invocation_uri": "file:///data/artifacts/smoke/_invocations/ingest/try-1",
  "params": {"format": "csv", "label": "species", "source": ["package://palmerpenguins/data/penguins.csv"],
             "split": {"train": 0.7, "eval": 0.15, "test": 0.15}, "split_key": []},
  "pipeline": "smoke",
  "run": {"dag_id": "smoke", "logical_date": "2026-01-01 00:00:00+00:00", "run_id": "smoke",
          "task_id": "ingest", "try_number": 1},
  "settings": {}
}
EOF
chown -R "${user%%:*}:0" "$data"
c=$(buildah from --pull-never "$IMAGE")
trap 'buildah rm "$c" >/dev/null' EXIT
step "component CLI --help (user $user, entrypoint ${cli[*]})"
buildah run --isolation chroot --network host --user "$user" "$c" -- "${cli[@]}" --help
step "ingest on a mounted spec"
buildah run --isolation chroot --network host --user "$user" -v "$data:/data" "$c" -- \
    "${cli[@]}" ingest --spec file:///data/artifacts/smoke/_invocations/ingest/try-1/spec.json
cat "$data/artifacts/smoke/_invocations/ingest/try-1/result.json"
echo
# The arguments Dataflow gives the SDK container: the entrypoint must hand them to boot (here the
# stand-in, which says so), not to the component CLI.
step "SDK-harness arguments -> /opt/apache/beam/boot (the STAND-IN)"
out=$(buildah run --isolation chroot --network host --user "$user" "$c" -- "${cli[@]}" \
    --id=1-1 --logging_endpoint=localhost:12370 --artifact_endpoint=localhost:12372 \
    --provision_endpoint=localhost:12372 --control_endpoint=localhost:12371)
echo "$out"
grep -q '^STAND-IN /opt/apache/beam/boot' <<<"$out"
grep -q "^RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT=1$" <<<"$out"
grep -q "(boot's check): ${BEAM_VERSION}$" <<<"$out"
step "done"
