"""The try-it page at GET /, driven in real headless Chromium (Debian's chromium and
chromium-driver, through Selenium): the form is generated from the schema, a click scores
the record, and a bad value shows the server's 422 explanation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from .conftest import Project

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("Debian's chromium and chromium-driver are needed (make test installs them: "
                    "bash .ci/ensure-browser).")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1200,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _wait_for_result(browser, timeout: float = 20) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, timeout).until(
        lambda d: d.find_element(By.ID, "result").text and "Scoring" not in d.find_element(By.ID, "result").text)
    return browser.find_element(By.ID, "result").text


def test_page_form_scores_a_record_in_chromium(browser, server, trained: Project, tmp_path: Path):
    from selenium.webdriver.common.by import By

    columns = httpx.get(f"{server.url}/metadata", timeout=10).json()["inputs"]
    browser.get(server.url + "/")
    assert "churn" in browser.title.lower() or "mlw" in browser.title.lower()
    record = {}
    for name, spec in columns.items():
        field = browser.find_element(By.ID, f"field-{name}")
        value = field.get_attribute("value")
        record[name] = value
    assert set(record) == set(columns)

    browser.find_element(By.ID, "predict").click()
    text = _wait_for_result(browser)
    assert text.startswith("Prediction: ")
    shown = text.splitlines()[0].removeprefix("Prediction: ")

    # The page sent the form's values; the same record through the API gives the same answer.
    payload = {}
    for name, spec in columns.items():
        raw = record[name]
        if raw == "":
            payload[name] = None
        elif spec["kind"] == "numeric":
            payload[name] = float(raw)
        elif spec["kind"] == "boolean":
            payload[name] = raw == "true"
        else:
            payload[name] = raw
    answer = httpx.post(f"{server.url}/predict", json=[payload], timeout=10).json()
    assert shown == str(answer["predictions"][0])
    for cls in answer["probabilities"][0]:
        assert cls in text  # the probability table lists every class
    screenshot = tmp_path / "page.png"
    browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_page_shows_validation_errors_in_chromium(browser, server):
    from selenium.webdriver.common.by import By

    browser.get(server.url + "/")
    numeric = json.loads(browser.find_element(By.ID, "mlw-columns").get_attribute("textContent"))
    name = next(n for n, spec in numeric.items() if spec["kind"] == "numeric")
    field = browser.find_element(By.ID, f"field-{name}")
    browser.execute_script("arguments[0].type = 'text'; arguments[0].value = 'not a number';", field)
    browser.find_element(By.ID, "predict").click()
    text = _wait_for_result(browser)
    assert "could not score this record (HTTP 422)" in text
    assert f"{name}: expected a number, got 'not a number'" in text
