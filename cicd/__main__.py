"""``python -m cicd render | sync | load-test``: see :mod:`cicd`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cicd", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="write cloudbuild/ from cicd/environments.yaml")
    render.add_argument("--environments", default=str(REPO / "cicd" / "environments.yaml"))
    render.add_argument("--output", default=str(REPO / "cloudbuild"))
    sync = commands.add_parser("sync", help="dags/, include/ and plugins/ to a Composer bucket")
    sync.add_argument("--source", default=".")
    sync.add_argument("--bucket", required=True, help="gs://<the environment's bucket>")
    sync.add_argument("--project")
    sync.add_argument("--keep-deleted", action="store_true", help="do not remove objects no longer in the repository")
    load = commands.add_parser("load-test", help="one-row requests at a fixed rate against the model API")
    load.add_argument("--url", required=True, help="the prediction route, e.g. https://.../predict")
    load.add_argument("--rows", default=str(REPO / "cicd" / "load_test_rows.json"))
    load.add_argument("--qps", type=float, required=True)
    load.add_argument("--duration", type=float, required=True, help="seconds")
    load.add_argument("--concurrency", type=int, default=32)
    load.add_argument("--max-p95-ms", type=float, required=True)
    load.add_argument("--max-error-rate", type=float, default=0.0)
    load.add_argument("--min-qps-ratio", type=float, default=0.9)
    args = parser.parse_args(argv)

    if args.command == "render":
        from cicd import config
        from cicd import render as renderer

        written = renderer.write(config.load(args.environments), Path(args.output))
        print("\n".join(str(p) for p in written))
        return 0
    if args.command == "sync":
        from cicd.sync import sync as run_sync

        result = run_sync(Path(args.source), args.bucket, delete=not args.keep_deleted, project=args.project)
        for what in ("uploaded", "deleted"):
            for name in getattr(result, what):
                print(f"{what}: {args.bucket.rstrip('/')}/{name}")
        print(f"{len(result.uploaded)} uploaded, {len(result.unchanged)} unchanged, {len(result.deleted)} deleted")
        return 0
    from cicd import load_test

    rows = json.loads(Path(args.rows).read_text())
    result = load_test.run(args.url, rows, args.qps, args.duration, args.concurrency)
    broken = load_test.verdict(result, args.qps, args.max_p95_ms, args.max_error_rate, args.min_qps_ratio)
    print(load_test.report(result, broken))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
