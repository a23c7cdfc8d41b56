"""The MLOps view in a real browser: headless Chromium (Debian's ``chromium`` through its
``chromedriver``, driven by Selenium) against the real-scheduler tests' ``airflow standalone`` on
127.0.0.1 (``airflow_services`` of tests/conftest.py; this file runs after theirs). It signs in
through Airflow's login page, opens the MLOps entry of the navigation, a pipeline's page, a report
and the MLOps tab of a DAG, and checks what the pages show; without the session cookie the view
refuses. Screenshots are written under the test's tmp directory (paths printed; ``-s`` shows them).

Two pipelines are looked at. ``penguin_demo`` is the MLOps view tests' fake state
(tests/provider/plugin/fake_root.py: versions 1 to 4 with a promotion, a canary at 10 %, a held
version and a drift alert, whose validation report carries an inline PNG), written under the
machine's artifact root (the view reads a pipeline without a YAML from there; it says which root in
``/mlops/api/pipelines``). ``penguin`` is what the scheduler tests' runs left in its own YAML's root:
its DAG's MLOps tab, and the *Report* extra link of a ``validate`` task instance, which opens that
run's validation report in the view.
"""

from __future__ import annotations

import json
import struct
import sys
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

import pytest
from conftest import REPO, api_token

sys.path.insert(0, str(REPO / "tests" / "provider" / "plugin"))

from fake_root import ALERT_REASON, HOLD_REASON, PROMOTE_REASON, FakeRoot  # noqa: E402

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WAIT_SECONDS = 30
#: the inline picture put into the validation report: its size is checked as the browser decoded it
PICTURE = (64, 40)
#: the fake pipeline's name (no DAG and no YAML: read from the machine root)
DEMO = "penguin_demo"


def png(width: int, height: int) -> bytes:
    """A one-colour RGB PNG of ``width`` x ``height`` (no imaging library in the control plane)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x1f\x77\xb4" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _admin_password(env: dict) -> str:
    return json.loads((Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated").read_text())["admin"]


def _get(env: dict, port: int, path: str) -> dict:
    """GET ``path`` of the API server with an admin token."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {api_token(env, port)}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _view_root(env: dict, port: int) -> str:
    """The machine's artifact root, which the running view reads pipelines without a YAML from."""
    return _get(env, port, "/mlops/api/pipelines")["artifact_root"]


@pytest.fixture(scope="module")
def view_state(airflow_services) -> FakeRoot:
    """The fake root written where the view reads, its validation report with an inline PNG."""
    import base64

    env, paths = airflow_services
    root = _view_root(env, paths["api_port"])
    assert root.startswith("file://"), root
    assert root.rstrip("/") != paths["artifact_root"].rstrip("/"), \
        "the view reads the scheduler tests' artifact root: a fake pipeline there would change what they assert"
    fake = FakeRoot(root, pipeline=DEMO).write()
    picture = base64.b64encode(png(*PICTURE)).decode()
    fake.store.write_text(fake.uri("validate/v1/attempt-a/anomalies/report.html"),
                          "<!DOCTYPE html><html><body><h1>Data validation</h1><p>body_mass_g against the champion's</p>"
                          f'<img id="histogram" alt="body_mass_g" src="data:image/png;base64,{picture}"></body></html>')
    return fake


class Browser:
    """A signed-in Chromium on the Airflow UI at ``base``; screenshots go to ``shots``."""

    def __init__(self, driver, base: str, shots: Path) -> None:
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.base, self.shots = driver, base, shots
        # the React UI re-renders while it loads: an element found a moment ago may be gone; look again
        self.wait = WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,))

    def until(self, condition, what: str):
        """``condition(driver)`` once it is true; on a timeout a screenshot and where the browser was."""
        from selenium.common.exceptions import TimeoutException

        try:
            return self.wait.until(condition)
        except TimeoutException:
            shot = self.shots / f"timeout-{len(list(self.shots.glob('timeout-*')))}.png"
            self.driver.save_screenshot(str(shot))
            pytest.fail(f"no {what} after {WAIT_SECONDS} s at {self.driver.current_url}; screenshot {shot}")

    def find(self, css: str):
        """The first element matching ``css``, once there is one."""
        from selenium.webdriver.common.by import By

        return self.until(lambda d: (d.find_elements(By.CSS_SELECTOR, css) or [None])[0], css)

    def all(self, css: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def link(self, text: str):
        """The first link whose text is exactly ``text``, once there is one."""
        from selenium.webdriver.common.by import By

        return self.until(lambda d: next((a for a in d.find_elements(By.TAG_NAME, "a") if a.text.strip() == text), None), f"link {text!r}")

    def into_frame(self, src_path: str) -> None:
        """Into the UI's frame of the plugin page at ``src_path``, once it has a heading."""
        self.driver.switch_to.default_content()
        frame = self.find(f"iframe[src$='{src_path}']")
        self.driver.switch_to.frame(frame)
        self.find("h1, p")

    def open_view(self) -> None:
        """The view's own index page, outside the UI's frame (the same cookie signs it in)."""
        self.driver.switch_to.default_content()
        self.driver.get(self.base + "/mlops/")
        self.find("h1")

    def screenshot(self, name: str) -> Path:
        self.driver.switch_to.default_content()
        path = self.shots / f"{name}.png"
        assert self.driver.save_screenshot(str(path)), path
        print(f"screenshot: {path}")
        return path


@pytest.fixture(scope="module")
def browser(airflow_services, view_state, tmp_path_factory):
    """Chromium signed in as standalone's admin through Airflow's own login page."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    env, paths = airflow_services
    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000", "--hide-scrollbars"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        b = Browser(driver, f"http://127.0.0.1:{paths['api_port']}", tmp_path_factory.mktemp("browser-screenshots"))
        driver.get(b.base + "/")
        b.until(lambda d: "/auth/login" in d.current_url, "login page")  # not signed in
        b.find("input[name=username]").send_keys("admin")
        b.find("input[name=password]").send_keys(_admin_password(env))
        b.find("button[type=submit]").click()
        b.until(lambda d: "/auth/login" not in d.current_url and d.get_cookie("_token"), "signed-in page")
        yield b
    finally:
        driver.quit()


def test_the_navigation_entry_lists_the_pipeline_with_what_serves(browser):
    browser.link("MLOps").click()
    # (on a standalone's first page the UI has been seen to route to /plugin/mlops/mlops/: the same page)
    browser.until(lambda d: "/plugin/mlops" in d.current_url, "MLOps page")
    browser.into_frame("/mlops/")
    assert browser.find("h1").text == "MLOps"
    # pipeline, champion, canary, last decision, last verdict (the newest of each), where it is read from
    rows = {r[0]: r for r in ([c.text for c in tr.find_elements("css selector", "td")] for tr in browser.all("table tr")) if r}
    assert {DEMO, "penguin", "penguin_gate", "penguin_remote"} <= set(rows), rows
    cells = rows[DEMO]
    assert cells[1:3] == ["2", "v3 at 10%"] and cells[3] == "canary v3" and cells[4].startswith("alert"), cells
    browser.screenshot("1-mlops-entry")


def test_a_pipeline_page_shows_versions_history_verdicts_and_pictures(browser):
    browser.open_view()
    browser.link(DEMO).click()
    browser.find("h2")
    assert browser.find("h1").text == DEMO
    assert "champion v2" in browser.find("body").text and "challenger v3" in browser.find("body").text
    assert "Canary: v3 answers 10% of the requests" in browser.find("body").text
    tables = browser.all("table")
    versions, history, verdicts = (t.find_elements("css selector", "tr") for t in tables[:3])
    assert [r.text.split()[0] for r in versions[1:]] == ["v4", "v3", "v2", "v1"]
    assert "held" in versions[1].text and "champion" in versions[3].text
    # newest first, the hold of v4 (deploy's record) among the rollout's decisions
    assert [r.find_elements("css selector", "td")[1].text for r in history[1:]] == ["hold", "canary", "promote", "canary", "bootstrap"]
    assert HOLD_REASON in history[1].text and PROMOTE_REASON in history[3].text
    assert "alert" in verdicts[1].text and "body_mass_g" in verdicts[1].text and ALERT_REASON in verdicts[1].text
    # the three pictures are drawn: inline SVG with a size on the page
    pictures = [s for s in browser.all(".pictures svg") if s.size["width"] > 100 and s.size["height"] > 50]
    assert len(pictures) == 3, [s.size for s in browser.all(".pictures svg")]
    # each title fits its picture, as Chromium lays the text out
    fits = browser.driver.execute_script(
        "return [...document.querySelectorAll('.pictures svg')].map(s => {const t = s.querySelector('text').getBBox();"
        " return [t.x + t.width, s.width.baseVal.value];})")
    assert all(right <= width for right, width in fits), fits
    browser.screenshot("2-pipeline-page")


def test_a_report_opens_from_the_view_with_its_inline_picture(browser):
    browser.open_view()
    browser.link(DEMO).click()
    validation = browser.find(f"a[href$='/reports/{DEMO}/validate/v1/attempt-a/anomalies/report.html']")
    validation.click()
    assert browser.find("h1").text == "Data validation"
    # served sandboxed (scripts cannot act as the user), the report still shows its inline PNG
    picture = browser.find("img#histogram")
    browser.until(lambda d: d.execute_script("return arguments[0].complete", picture), "decoded picture")
    assert browser.driver.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", picture) == list(PICTURE)
    browser.screenshot("3-report")


def _champion(paths: dict) -> str:
    """penguin's champion as its deployment record (in its YAML's root) says, after the scheduler tests."""
    root = Path(paths["artifact_root"].removeprefix("file://"))
    return json.loads((root / "penguin" / "deployment" / "record.json").read_text())["champion"]


def test_the_mlops_tab_of_a_dag_shows_its_pipeline_from_its_own_root(browser, airflow_services):
    _, paths = airflow_services
    browser.driver.get(browser.base + "/dags/penguin_training")
    tab = browser.find("a[href$='/dags/penguin_training/plugin/mlops_dag']")
    assert tab.text == "MLOps"
    tab.click()
    browser.until(lambda d: d.current_url.endswith("/dags/penguin_training/plugin/mlops_dag"), "DAG tab")
    browser.into_frame("/mlops/dags/penguin_training")
    assert browser.find("h1").text == "penguin"
    body = browser.find("body").text
    assert f"champion v{_champion(paths)}" in body and paths["artifact_root"] in body, body
    browser.screenshot("4-dag-tab")


def test_the_report_extra_link_of_a_task_opens_its_report_in_the_view(browser, airflow_services):
    env, paths = airflow_services
    runs = _get(env, paths["api_port"], "/api/v2/dags/penguin_training/dagRuns?state=success&order_by=-start_date")["dag_runs"]
    assert runs, "the scheduler tests ran penguin_training"
    run_id = runs[0]["dag_run_id"]
    # the task instance's Details tab lists its "Extra Links"
    browser.driver.get(f"{browser.base}/dags/penguin_training/runs/{urllib.parse.quote(run_id, safe='')}/tasks/validate/details")
    link = browser.link("Report")
    href = link.get_attribute("href")
    assert href.startswith(f"{browser.base}/mlops/reports/penguin/validate/") and href.endswith(".html"), href
    assert [a.text for a in browser.all("a") if a.text in ("MLflow run", "Model version", "Vertex AI job")] == []  # no link to nothing
    browser.screenshot("5-extra-links")
    link.click()  # same origin: the UI opens it in this tab (another origin's link, in a new one)
    browser.until(lambda d: d.current_url == href or len(d.window_handles) > 1, "the report")
    if len(browser.driver.window_handles) > 1:
        browser.driver.switch_to.window(browser.driver.window_handles[-1])
    assert browser.find("h1").text == "Data validation"
    assert "penguin" in browser.find("body").text
    browser.screenshot("6-report-from-extra-link")


def test_without_the_session_cookie_the_view_refuses(browser):
    cookies = browser.driver.get_cookies()
    browser.driver.delete_all_cookies()
    try:
        browser.driver.get(browser.base + "/mlops/pipelines/penguin")
        body = browser.find("body").text
        assert "Not authenticated" in body or "401" in body, body
        assert "penguin" not in browser.driver.title and "champion" not in body
    finally:  # still on the API server's origin: the cookies can go back
        for cookie in cookies:
            browser.driver.add_cookie(cookie)
