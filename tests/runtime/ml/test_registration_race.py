"""Two runs that both found no version of a model and both registered it (the race between
register's fingerprint check and its registration): keep_first_registration leaves one.

A stand-in for MlflowClient's two calls it makes (an MLflow store costs ~25 s to open here; the
real store under concurrency is exercised by `make drill`'s backfill on PostgreSQL)."""

from __future__ import annotations

import re
from types import SimpleNamespace

from airflow_mlops.runtime.ml.model_registry import keep_first_registration


class Registry:
    def __init__(self, fingerprints: list[str]):
        self.versions = {str(i + 1): fp for i, fp in enumerate(fingerprints)}

    def search_model_versions(self, filter_string: str):
        fingerprint = re.search(r"tags.model_fingerprint = '([^']*)'", filter_string).group(1)
        return [SimpleNamespace(version=v) for v, fp in self.versions.items() if fp == fingerprint]

    def delete_model_version(self, name: str, version: str) -> None:
        del self.versions[version]


def test_the_later_of_two_registrations_of_one_model_deletes_itself():
    registry = Registry(["other", "fp", "fp"])  # versions 2 and 3: the same model, registered at once
    # each racing registration calls it after its own create, in either order
    assert keep_first_registration(registry, "m", "fp", "3") == "2"
    assert keep_first_registration(registry, "m", "fp", "2") == "2"
    assert registry.versions == {"1": "other", "2": "fp"}


def test_a_single_registration_stays():
    registry = Registry(["other", "fp"])
    assert keep_first_registration(registry, "m", "fp", "2") == "2"
    assert registry.versions == {"1": "other", "2": "fp"}
