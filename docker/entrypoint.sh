#!/bin/sh
# The runtime image's ENTRYPOINT (installed as /opt/mlops/entrypoint): one image, two roles.
#
#  * Dataflow (or any portable Beam runner) starts its SDK container with the flags of Beam's
#    boot launcher, e.g.
#        --id=1-1 --logging_endpoint=... --artifact_endpoint=... --provision_endpoint=...
#        --control_endpoint=...        (or --worker_pool for a worker pool)
#    Those arguments go to /opt/apache/beam/boot, copied from Beam's SDK image of the lock's
#    apache-beam version (docker/runtime.Dockerfile); boot then runs the SDK harness with this
#    image's `python`.
#  * Anything else is the component CLI: `<component> --spec <uri>`, `--help`. Launchers that set
#    the command explicitly (`python -m airflow_mlops.runtime.components ...`) bypass this script.
#
# An argument selects the boot launcher only if it is one of boot's own flags (Go flag syntax: one
# or two dashes, `=value` or not). The component CLI has none of them: its arguments are a
# component name, --spec and -h/--help.
set -eu

for arg in "$@"; do
    case $arg in
        -*) ;;
        *) continue ;;
    esac
    name=${arg#-}
    name=${name#-}
    name=${name%%=*}
    case $name in
        id | logging_endpoint | artifact_endpoint | provision_endpoint | control_endpoint | \
        semi_persist_dir | worker_pool | setup_only | artifacts)
            exec /opt/apache/beam/boot "$@" ;;
    esac
done

exec python -m airflow_mlops.runtime.components "$@"
