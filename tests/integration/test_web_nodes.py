"""The web view's nodes page (issue 28) in a real headless Chromium: an administrator sees a
Nodes link and a row a node (a node that is down with the services it ran); a plain user sees
no link. The rows are written by the agent's own store function."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg2
from selenium.webdriver.common.by import By

from swsagent.swarm.nodestore import record_nodes
from swsagent.swarm.report import Report
from tests.integration.test_api_nodes import row
from tests.integration.test_web_view import (  # noqa: F401  (fixtures, used by name)
    chromium,
    fits_the_screen,
    text_in,
    visible,
    web_api,
)


def sign_in(driver, url: str, token: str) -> None:
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
            record_nodes(cur, [row("n1", "node-1"), row("n2", "node-2", services=["web"], report=report)], now)
            record_nodes(cur, [row("n1", "node-1"), row("n2", "node-2", "down")], now)
    finally:
        conn.close()

    sign_in(driver, web_api.url, web_api.create_user("root", admin=True))
    visible(driver, "#nodes-link").click()
    text_in(driver, '#node-table tr[data-node="node-2"]', "down")
    cells = driver.find_elements(By.CSS_SELECTOR, '#node-table tr[data-node="node-2"] td')
    texts = [cell.text for cell in cells]
    assert texts[:7] == ["node-2", "worker", "down", "active", "web", "3.0GiB", "40.0GiB"]
    assert texts[7].endswith("ago")
    assert fits_the_screen(driver)
    driver.find_element(By.CSS_SELECTOR, "#sign-out").click()
    visible(driver, "#token")

    sign_in(driver, web_api.url, web_api.create_user("ada"))
    assert not driver.find_element(By.CSS_SELECTOR, "#nodes-link").is_displayed()
