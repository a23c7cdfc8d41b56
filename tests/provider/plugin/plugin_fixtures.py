"""Fixtures of the MLOps view's tests (a module the tests import, not a conftest.py: a second
conftest module would shadow tests/conftest.py for the `from conftest import` of later test folders): a fake artifact root, the view's app over it, and real JWTs
of Airflow's SimpleAuthManager (the auth manager the API server would check them with)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))

from fake_root import FakeRoot  # noqa: E402

SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


@pytest.fixture
def fake_root(tmp_path: Path) -> FakeRoot:
    return FakeRoot("file://" + str(tmp_path / "artifacts")).write()


@pytest.fixture(scope="module")
def token_db(tmp_path_factory):
    """A SQLite metadata database with the one table token checks read: Airflow >= 3.3 looks a
    token's id up in ``revoked_token`` (3.1 has no such table and no such check). Only the ORM
    points there, and only for the module: the environment variable is set just while the ORM is
    configured, so it cannot leak into later tests' Airflow subprocesses (``airflow_env``)."""
    from airflow import settings

    url = f"sqlite:///{tmp_path_factory.mktemp('airflow-db')}/airflow.db"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", url)
        settings.configure_vars()
        settings.configure_orm()
    try:
        from airflow.models.revoked_token import RevokedToken
    except ImportError:  # Airflow 3.1
        pass
    else:
        RevokedToken.__table__.create(settings.engine)
    yield url
    settings.configure_vars()
    settings.configure_orm()


@pytest.fixture
def auth_manager(monkeypatch, token_db):
    """The API server's auth manager (SimpleAuthManager), as ``get_auth_manager()`` returns it."""
    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER", SIMPLE_AUTH_MANAGER)
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "mlops-view-test-secret")
    from airflow.api_fastapi.app import create_auth_manager

    return create_auth_manager()


@pytest.fixture
def token_for(auth_manager):
    """``token_for(role)``: a JWT the auth manager accepts, for a user of that role (None: no role)."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    def make(role: str | None = "viewer", username: str = "someone") -> str:
        return auth_manager.generate_jwt(SimpleAuthManagerUser(username=username, role=role))

    return make


@pytest.fixture
def client(fake_root: FakeRoot, auth_manager) -> TestClient:
    from airflow_mlops.provider.plugin.app import create_app

    return TestClient(create_app(fake_root.root, include=[]), root_path="/mlops")
