"""The web view in a real headless Chromium (Debian's chromium and chromium-driver, through
Selenium) against a real apiserver (gunicorn) and PostgreSQL: sign in, see a service, its log
line and history, roll it back, sign out.

The agent does not run here: a service is marked running, and its line shipped, with the
agent's own record and log shipper functions (tests/fixtures/store.py).

SWS_WEB_SCREENSHOTS=DIR saves the pages as PNGs there (docs/web-view.png comes from this).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from swsagent.swarm.nodestore import record_nodes
from swsagent.swarm.report import Report
from tests.fixtures.store import Store
from tests.integration.conftest import start_live_api, stop_live_api
from tests.integration.test_api_nodes import row

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-gpu",
)
PHONE = (390, 844)  # a narrow screen: the page must work without sideways scrolling
WAIT = 15


@pytest.fixture(scope="module")
def web_api(pg_server, migrated_template, tmp_path_factory):
    key = tmp_path_factory.mktemp("web") / "secret-key"
    key.write_text(os.urandom(32).hex())
    key.chmod(0o600)
    live = start_live_api(
        pg_server.create_database("t_web_view", template=migrated_template),
        SWS_SECRET_KEY_FILE=str(key),
    )
    yield live
    stop_live_api(live)


@pytest.fixture(scope="module")
def chromium():
    # Selenium must not look for a driver or browser on the network: both are Debian's.
    os.environ.setdefault("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={PHONE[0]},{PHONE[1]}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def sql(live, statement: str, *params) -> list[tuple]:
    conn = psycopg2.connect(live.database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def apply(live, token: str, image: str) -> None:
    document = {
        "apiVersion": "v1",
        "spec": {
            "name": "shop",
            "port": 8080,
            "domain": "shop.example.test",
            "image": image,
            "env": [{"name": "DB_PASSWORD", "value": "hunter2-secret"}],
        },
    }
    response = requests.put(
        f"{live.url}/v1/services/shop",
        json=document,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    response.raise_for_status()


def visible(driver, css: str):
    return WebDriverWait(driver, WAIT).until(
        seen.visibility_of_element_located((By.CSS_SELECTOR, css))
    )


def text_in(driver, css: str, text: str) -> None:
    WebDriverWait(driver, WAIT).until(
        seen.text_to_be_present_in_element((By.CSS_SELECTOR, css), text)
    )


def fits_the_screen(driver) -> bool:
    return driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")


def screenshot(driver, name: str, size: tuple[int, int]) -> None:
    folder = os.environ.get("SWS_WEB_SCREENSHOTS")
    if not folder:
        return
    driver.set_window_size(*size)
    driver.save_screenshot(str(Path(folder) / name))
    driver.set_window_size(*PHONE)


def fetch_status(driver, method: str, path: str, csrf: bool) -> int:
    """A request from the page itself, with the cookie, with or without the CSRF header."""
    return driver.execute_async_script(
        """
        const [method, path, csrf, done] = arguments;
        const headers = {};
        const go = (token) => {
          if (token) headers["X-CSRF-Token"] = token;
          fetch(path, {method, headers, credentials: "same-origin"}).then(r => done(r.status));
        };
        if (!csrf) return go(null);
        fetch("/v1/session").then(r => r.json()).then(s => go(s.csrf_token));
        """,
        method,
        path,
        csrf,
    )


def test_sign_in_see_a_service_and_its_history_roll_back_sign_out(web_api, chromium):
    driver = chromium
    token = web_api.create_user("ada")
    apply(web_api, token, "registry.example.com/shop:1.0")
    apply(web_api, token, "registry.example.com/shop:1.1")
    agent = Store(web_api.app, web_api.database_url)
    agent.mark_running("shop", 2)
    agent.ship_lines("shop", ["GET /cart 200 in 3 ms"])
    # A one-off job run (issue 26), asked for and not started: its command shown as text.
    started = requests.post(
        f"{web_api.url}/v1/services/shop/jobs",
        json={"command": ["sh", "-c", "<b>echo</b> $HOME"]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert started.status_code == 201, started.text

    driver.get(web_api.url + "/")
    visible(driver, "#token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#sign-in-form button").click()

    # The list: status, a link to the domain, the last log line.
    card = visible(driver, 'li[data-service="shop"]')
    text_in(driver, "#who", "ada")
    assert card.find_element(By.CSS_SELECTOR, ".status").text == "running"
    assert card.find_element(By.CSS_SELECTOR, ".replicas").text == "1/1"  # running/desired
    link = card.find_element(By.CSS_SELECTOR, 'a[href*="shop.example.test"]')
    assert link.text == "shop.example.test"
    assert card.find_element(By.CSS_SELECTOR, ".last-log").text == "GET /cart 200 in 3 ms"
    assert token not in driver.current_url
    assert fits_the_screen(driver)
    cookie = driver.get_cookie("sws_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert token not in cookie["value"]
    assert driver.execute_script("return document.cookie") == ""  # HttpOnly: not for scripts
    screenshot(driver, "web-view-list.png", (1000, 520))

    # The service: its log and its history, newest first.
    card.find_element(By.CSS_SELECTOR, "a.name").click()
    text_in(driver, "#service-name", "shop")
    text_in(driver, "#log", "GET /cart 200 in 3 ms")
    text_in(driver, "#service-facts", "1 running of 1")
    rows = driver.find_elements(By.CSS_SELECTOR, "#history tbody tr")
    assert [r.get_attribute("data-generation") for r in rows] == ["2", "1"]
    text_in(driver, "#jobs tbody tr", "<b>echo</b> $HOME")
    assert "(one-off)" in driver.find_element(By.CSS_SELECTOR, "#jobs tbody tr").text
    assert not driver.find_elements(By.CSS_SELECTOR, "#jobs b")  # text, never markup
    assert "registry.example.com/shop:1.0" in rows[1].text
    assert "hunter2" not in driver.page_source
    assert fits_the_screen(driver)
    screenshot(driver, "web-view.png", (1000, 620))
    screenshot(driver, "web-view-phone.png", PHONE)

    # A change with the cookie but without the CSRF header is refused; with it, it passes.
    assert fetch_status(driver, "POST", "/v1/services/shop/restart", csrf=False) == 403
    assert sql(web_api, "SELECT generation FROM services WHERE name = 'shop'") == [(2,)]

    # Roll back to generation 1: a new generation 3 with 1.0's spec.
    driver.find_element(By.CSS_SELECTOR, '#history tr[data-generation="1"] button').click()
    text_in(driver, "#notice", "Rolled back to the spec of generation 1: now generation 3")
    WebDriverWait(driver, WAIT).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#history tbody tr")) == 3
    )
    text_in(driver, "#history tbody tr:first-child", "rollback to 1")
    assert sql(web_api, "SELECT generation, spec->>'image' FROM services") == [
        (3, "registry.example.com/shop:1.0")
    ]

    # Sign out: the cookie is gone, the API refuses the page, reloading asks to sign in.
    driver.find_element(By.ID, "sign-out").click()
    visible(driver, "#sign-in")
    text_in(driver, "#notice", "Signed out.")
    assert driver.get_cookie("sws_session") is None
    assert fetch_status(driver, "GET", "/v1/services", csrf=False) == 401
    driver.refresh()
    visible(driver, "#token")
    assert not driver.find_element(By.ID, "services").is_displayed()


def test_a_wrong_token_is_refused_on_the_page(web_api, chromium):
    driver = chromium
    driver.delete_all_cookies()
    driver.get(web_api.url + "/ui")
    visible(driver, "#token").send_keys("sws_not-a-token")
    driver.find_element(By.CSS_SELECTOR, "#sign-in-form button").click()
    text_in(driver, "#notice", "That token was refused.")
    assert driver.get_cookie("sws_session") is None
    assert "sws_not-a-token" not in driver.current_url


def test_the_list_groups_services_by_stack(web_api, chromium):
    driver = chromium
    driver.delete_all_cookies()
    token = web_api.create_user("grace")
    items = [
        {"apiVersion": "v1", "spec": {"name": n, "port": 80, "image": "nginx:1.25", **more}}
        for n, more in [
            ("db", {"stack": "books"}),
            ("front", {"stack": "books", "domain": "books.example.test"}),
            ("solo", {"domain": "solo.example.test"}),
        ]
    ]
    response = requests.post(
        f"{web_api.url}/v1/apply",
        json={"items": items},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    driver.get(web_api.url + "/")
    visible(driver, "#token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#sign-in-form button").click()
    visible(driver, 'li[data-service="solo"]')
    sections = driver.find_elements(By.CSS_SELECTOR, "#service-list section")
    assert [s.find_element(By.TAG_NAME, "h3").text for s in sections] == [
        "Stack books",
        "Not in a stack",
    ]
    names = [
        li.get_attribute("data-service") for li in sections[0].find_elements(By.TAG_NAME, "li")
    ]
    assert names == ["db", "front"]
    db = sections[0].find_element(By.CSS_SELECTOR, 'li[data-service="db"] .private')
    assert db.text == "private (no domain)"


# The nodes page (issue 28): the rows are written by the agent's own store function.


def sign_in(driver, url: str, token: str) -> None:
    driver.delete_all_cookies()  # whoever an earlier test left signed in
    driver.get(url + "/")
    visible(driver, "#token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#sign-in-form button").click()
    visible(driver, "#services")


def test_an_administrator_sees_the_nodes_and_a_user_does_not(web_api, chromium):
    driver = chromium
    now = datetime.now(UTC)
    report = Report("n2", 3 * 2**30, 40 * 2**30, now)
    conn = psycopg2.connect(web_api.database_url)
    try:
        with conn, conn.cursor() as cur:
            rows = [row("n1", "node-1"), row("n2", "node-2", services=["web"], report=report)]
            record_nodes(cur, rows, now)
            record_nodes(cur, [row("n1", "node-1"), row("n2", "node-2", "down")], now)
    finally:
        conn.close()

    sign_in(driver, web_api.url, web_api.create_user("nodes-admin", admin=True))
    visible(driver, "#nodes-link").click()
    text_in(driver, '#node-table tr[data-node="node-2"]', "down")
    cells = driver.find_elements(By.CSS_SELECTOR, '#node-table tr[data-node="node-2"] td')
    texts = [cell.text for cell in cells]
    assert texts[:7] == ["node-2", "worker", "down", "active", "web", "3.0GiB", "40.0GiB"]
    assert texts[7].endswith("ago")
    assert fits_the_screen(driver)
    screenshot(driver, "web-view-nodes.png", (1000, 420))
    driver.find_element(By.CSS_SELECTOR, "#sign-out").click()
    visible(driver, "#token")

    sign_in(driver, web_api.url, web_api.create_user("nodes-user"))
    assert not driver.find_element(By.CSS_SELECTOR, "#nodes-link").is_displayed()
