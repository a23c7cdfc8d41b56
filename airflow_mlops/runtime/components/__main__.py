"""Command line of the runtime plane, identical for every launcher.

    python -m airflow_mlops.runtime.components <component> --spec <uri-of-spec.json>

Exit codes: 0 success (``result.json`` written next to the spec); 3 the component rejected its
input or configuration (``error.json`` with ``kind``/``message``/``details``); anything else a
crash (``error.json`` of kind ``internal`` or ``infrastructure`` when it could still be written).
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import (
    ERROR_FILE,
    EXIT_REJECTED,
    RESULT_FILE,
    ComponentError,
    ComponentSpec,
    ErrorKind,
    ErrorReport,
    join_uri,
)

EXIT_CRASHED = 1


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m airflow_mlops.runtime.components", description=__doc__.split("\n\n")[0])
    parser.add_argument("component", help="component name, e.g. ingest")
    parser.add_argument("--spec", required=True, help="URI of the component spec (spec.json)")
    return parser.parse_args(argv)


def _write_error(store: ArtifactStore, invocation_uri: str, report: ErrorReport) -> None:
    try:
        store.write_json(join_uri(invocation_uri, ERROR_FILE), report.to_dict())
    except Exception:  # the error is still on stderr and in the exit code
        logging.getLogger(__name__).exception("could not write %s", ERROR_FILE)


def main(argv: list[str] | None = None) -> int:
    # No timestamps: every launcher's log (task log, pod log) stamps each line itself.
    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(name)s: %(message)s", force=True
    )
    args = _parse_args(argv)
    store = ArtifactStore()
    spec = ComponentSpec.from_json(store.read_text(args.spec))
    try:
        if spec.component != args.component:
            raise ComponentError(
                ErrorKind.CONFIG, f"spec {args.spec} is for component {spec.component!r}, not {args.component!r}"
            )
        from airflow_mlops.runtime.components.catalog import load_component
        from airflow_mlops.runtime.components.runner import run_component

        record = run_component(load_component(args.component), spec, store)
        store.write_text(join_uri(spec.invocation_uri, RESULT_FILE), record.to_json())
        return 0
    except ComponentError as exc:
        print(f"{args.component}: {exc.kind.value} error: {exc.message}", file=sys.stderr, flush=True)
        _write_error(store, spec.invocation_uri, exc.report(args.component))
        return EXIT_REJECTED if not exc.kind.retryable else EXIT_CRASHED
    except Exception as exc:
        # Storage and network trouble may pass on a retry; anything else is a bug or a crash.
        kind = ErrorKind.INFRASTRUCTURE if isinstance(exc, (OSError, ConnectionError, TimeoutError)) else ErrorKind.INTERNAL
        trace = traceback.format_exc()
        print(trace, file=sys.stderr, flush=True)
        report = ErrorReport(args.component, kind, f"{type(exc).__name__}: {exc}", {"traceback": trace})
        _write_error(store, spec.invocation_uri, report)
        return EXIT_CRASHED


if __name__ == "__main__":
    sys.exit(main())
