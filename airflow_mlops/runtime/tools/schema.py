"""(Re)generate a pipeline's curated schema from its source data: ``make schema``.

    python -m airflow_mlops.runtime.tools.schema include/penguin/pipeline.yaml

Reads the source as ingest does, takes the training split, infers the schema as the validate
step does when the file is absent (with value ranges for the numeric features and a numeric
label, widened by ``validation.range_margin``), and writes it to ``validation.schema``. Review
the result (domains, ranges, presence limits) and commit it.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    import pandas as pd
    import tensorflow_data_validation as tfdv

    from airflow_mlops.contract.config import load_pipeline_config
    from airflow_mlops.runtime.components.ingest import assign_splits, read_file, resolve_source
    from airflow_mlops.runtime.components.validate import infer_schema, write_schema

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="the pipeline YAML")
    args = parser.parse_args(argv)

    config = load_pipeline_config(args.config)
    frames = [read_file(uri, config.format) for uri in resolve_source(config.source_uris)]
    data = pd.concat(frames, ignore_index=True)
    train = data[assign_splits(data, config.split, [str(c) for c in data.columns]) == "train"]
    stats = tfdv.generate_statistics_from_dataframe(train.reset_index(drop=True))
    features = {f.name: f.type for f in config.features}
    schema = infer_schema(stats, config.label, config.validation.max_missing_fraction, config.validation.range_margin, features)
    write_schema(schema, config.schema_uri)
    print(f"wrote {config.schema_uri.removeprefix('file://')} ({len(schema.feature)} columns, inferred from {len(train)} training rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
