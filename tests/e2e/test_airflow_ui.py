"""Browser test: the local Airflow UI shows olist_batch with a successful run.

A real olist_batch run (shared with tests/integration/test_airflow_local.py)
is recorded in its AIRFLOW_HOME; the UI (api-server, scheduler,
dag-processor on 127.0.0.1, a free port) is started on that home, and
headless Chromium from Debian's package, driven by Playwright, signs in with
the Simple auth manager's admin user and finds the run, in state success.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.airflow_support import RUN_TIMEOUT_S, BatchRun, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.mark.timeout(RUN_TIMEOUT_S)
def test_ui_signs_in_and_shows_a_successful_olist_batch_run(batch_run: BatchRun):
    if not Path(CHROMIUM).is_file():
        pytest.skip("Debian's chromium is not installed (make setup installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    from olist_pipeline.airflow.ui import credentials, start_ui

    assert batch_run.result.ok, f"olist_batch did not succeed: {batch_run.result.log_file}"
    airflow_run_id = batch_run.result.airflow_run_id
    user, password = credentials(batch_run.settings)

    ui = start_ui(batch_run.settings, free_port(), airflow_home=batch_run.airflow_home)
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                page = browser.new_page()
                page.set_default_timeout(180_000)  # two shared cores: the UI renders slowly
                page.goto(f"{ui.url}/dags/olist_batch/runs")
                page.wait_for_url("**/auth/login**")
                page.locator("input[name=username]").fill(user)
                page.locator("input[name=password]").fill(password)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(lambda url: "/auth/login" not in url)

                page.goto(f"{ui.url}/dags/olist_batch/runs")
                row = page.locator("tr", has_text=airflow_run_id)
                row.wait_for()
                text = row.inner_text()
                assert "success" in text.lower(), text
                body = page.evaluate("document.body.innerText")
                assert "olist_batch" in body
            finally:
                browser.close()
    finally:
        ui.stop()
