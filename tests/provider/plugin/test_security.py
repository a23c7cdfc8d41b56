"""The MLOps view needs an authenticated Airflow user on every route and serves only report files
from under the artifact root."""

from __future__ import annotations

import os

import pytest
from plugin_fixtures import auth_manager, client, fake_root, token_db, token_for  # noqa: F401  (fixtures)

from airflow_mlops.provider.plugin.reports import ReportRefused, resolve_report

REPORT = "evaluate/e2/attempt-a/evaluation/report.html"
ROUTES = ["/", "/api/pipelines", "/pipelines/penguin", "/api/pipelines/penguin", "/dags/penguin_training",
          f"/reports/penguin/{REPORT}"]


@pytest.mark.parametrize("route", ROUTES)
def test_without_a_token_every_route_is_401(client, route):
    response = client.get(route)
    assert response.status_code == 401, response.text
    assert "penguin" not in response.text.replace(route, "")


@pytest.mark.parametrize("route", ROUTES)
def test_a_forged_token_is_refused(client, token_for, route):
    forged = token_for("admin")[:-4] + "AAAA"  # a changed signature
    assert client.get(route, headers={"Authorization": f"Bearer {forged}"}).status_code in (401, 403)
    assert client.get(route, cookies={"_token": "not-a-jwt"}).status_code in (401, 403)


@pytest.mark.parametrize("route", ROUTES)
def test_a_viewer_gets_every_route(client, token_for, route):
    response = client.get(route, headers={"Authorization": f"Bearer {token_for('viewer')}"})
    assert response.status_code == 200, response.text


def test_the_ui_cookie_authenticates_too(client, token_for, fake_root):
    client.cookies.set("_token", token_for("viewer"))
    response = client.get(f"/reports/penguin/{REPORT}")
    assert response.status_code == 200
    assert response.text == fake_root.reports[REPORT]


def test_a_user_without_dag_access_sees_no_pipeline(client, token_for):
    headers = {"Authorization": f"Bearer {token_for(None)}"}  # authenticated, no role: no DAG may be read
    assert client.get("/api/pipelines", headers=headers).json()["pipelines"] == []
    for route in ROUTES[2:]:
        assert client.get(route, headers=headers).status_code == 403, route


@pytest.mark.parametrize("path", [
    "%2E%2E/%2E%2E/secret.html",          # ../../secret.html, encoded so no client normalises it away
    "evaluate/%2E%2E/%2E%2E/secret.html",
    "%2Fetc%2Fpasswd.html",               # an absolute path
    "evaluate//report.html",
    "evaluate/%2E/e2/attempt-a/evaluation/report.html",
    "evaluate%5C..%5C..%5Csecret.html",   # backslashes
    "file:%2F%2F%2Ftmp%2Fsecret.html",
])
def test_paths_that_could_leave_the_root_are_refused(client, token_for, fake_root, path):
    secret = os.path.join(fake_root.root[len("file://"):], "..", "secret.html")
    with open(secret, "w") as f:
        f.write("secret")
    response = client.get(f"/reports/penguin/{path}", headers={"Authorization": f"Bearer {token_for('admin')}"})
    assert 400 <= response.status_code < 500, (path, response.status_code)
    assert "secret" not in response.text.replace("secret.html", "")


def test_a_symlink_out_of_the_root_is_refused(client, token_for, fake_root, tmp_path):
    outside = tmp_path / "outside.html"
    outside.write_text("outside the root")
    local = fake_root.root[len("file://"):]
    os.symlink(outside, os.path.join(local, "penguin", "evaluate", "link.html"))
    os.symlink(tmp_path, os.path.join(local, "penguin", "evaluate", "linkdir"))
    headers = {"Authorization": f"Bearer {token_for('admin')}"}
    for path in ("evaluate/link.html", "evaluate/linkdir/outside.html"):
        response = client.get(f"/reports/penguin/{path}", headers=headers)
        assert response.status_code == 400, path
        assert "outside the root" not in response.text


def test_only_report_files_are_served(client, token_for, fake_root):
    fake_root.store.write_text(fake_root.uri("predictions/date=2026-01-01/hour=10/part-0.jsonl"), '{"x": 1}\n')
    headers = {"Authorization": f"Bearer {token_for('admin')}"}
    assert client.get("/reports/penguin/predictions/date=2026-01-01/hour=10/part-0.jsonl", headers=headers).status_code == 400
    assert client.get("/reports/penguin/evaluate/missing.html", headers=headers).status_code == 404
    assert client.get("/reports/..%2Fpenguin/deployment/record.json", headers=headers).status_code in (400, 404)


def test_a_report_is_served_sandboxed(client, token_for, fake_root):
    response = client.get(f"/reports/penguin/{REPORT}", headers={"Authorization": f"Bearer {token_for('viewer')}"})
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"].startswith("sandbox")
    assert response.text == fake_root.reports[REPORT]


@pytest.mark.parametrize("path", ["../x.html", "a/../../x.html", "/etc/passwd.html", "a//b.html", "./a.html", "a\\b.html",
                                  "gs://other/x.html", "a/model.keras", ""])
def test_resolve_report_refuses(path, tmp_path):
    with pytest.raises(ReportRefused):
        resolve_report("file://" + str(tmp_path), "penguin", path)


def test_resolve_report_on_gcs_joins_under_the_pipeline():
    assert resolve_report("gs://b/root", "penguin", "evaluate/x/report.html").uri == "gs://b/root/penguin/evaluate/x/report.html"
    with pytest.raises(ReportRefused):
        resolve_report("gs://b/root", "..", "x.html")
