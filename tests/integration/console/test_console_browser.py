"""The alert console in a real browser, on a real `verdict serve`, broker and Redis.

A worker learns a pattern (large night payments at one merchant are fraud) from labels, then
decides a live stream that raises alerts. Headless Chromium signs in to ``/console`` with the
API token, sees the alerts arrive, opens one (the customer's recent activity shows, without
the customer id) and marks it "fraud". The label reaches the ``labels`` topic with
``source: analyst``, the worker learns it, and the customer's next look-alike transaction
scores far higher than the same transaction of a twin customer scored before the label.

The screenshot is saved under the test's folder and copied to ``docs/console.png``.
"""

from __future__ import annotations

import math
import random
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from events import topics
from state.settings import RedisSettings
from streams.admin import ensure_topics
from streams.settings import KafkaSettings
from tests.integration.kafka_fixtures import start_test_broker, unique_topic
from tests.integration.streams.workers import ROOT, ServeProcess, read_topic, wait_until

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.common.exceptions import (  # noqa: E402
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

TOKEN: Final = "console-test-token"
DAY: Final = 86_400
WARM: Final = 240  # labels learnt before the live stream: past the scorer's cold start (200)
CHROMIUM: Final = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER: Final = shutil.which("chromedriver")


def _night_base() -> float:
    """02:00 UTC of the latest night already past: the live stream's event time."""
    now = time.time()
    base = now - now % DAY + 2 * 3600
    return base if base + 3600 < now else base - DAY


class Api:
    """The worker's API, with the token."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.base + path,
            data=orjson.dumps(body),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = orjson.loads(response.read())
            return answer

    def decide(self, tx: dict[str, Any]) -> dict[str, Any]:
        return self.post("/v1/decisions", tx)

    def metrics(self) -> str:
        request = urllib.request.Request(
            self.base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(response.read().decode())

    def up(self) -> bool:
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _learnt(api: Api) -> float:
    """Labels the worker's fraud model has learnt."""
    for family in text_string_to_metric_families(api.metrics()):
        if family.name == "verdict_model_labels":
            return sum(
                s.value
                for s in family.samples
                if s.name.endswith("_total")
                and s.labels.get("role") == "fraud"
                and s.labels.get("outcome") in ("fraud", "legitimate")
            )
    return 0.0


def _warm_up(api: Api, base: float) -> None:
    """Ordinary daytime payments, one in ten a large night payment at merchant t-x; labelled."""
    rnd = random.Random(5)
    txs = []
    for i in range(WARM):
        pattern = i % 10 == 3
        tx = {
            "tx_id": f"w{i:04d}",
            "ts": base - 9 * DAY + (i // 30) * DAY + (0 if pattern else 8 * 3600) + (i % 30) * 60,
            "customer_id": f"c{rnd.randrange(40):02d}",
            "amount": round(rnd.uniform(700, 990) if pattern else rnd.uniform(10, 80), 2),
            "terminal_id": "t-x" if pattern else f"t{rnd.randrange(30):02d}",
            "country": "FR",
        }
        api.decide(tx)
        txs.append(tx)
    for twin in ("C", "D"):  # two customers with the same history, at merchants of their own
        for k in range(3):
            api.decide({"tx_id": f"h{twin}{k}", "ts": base - 2 * DAY + (8 + k) * 3600,
                        "customer_id": f"twin-{twin}", "amount": 25.0 + k,
                        "terminal_id": f"shop-{twin}", "country": "FR"})  # fmt: skip
    for tx in txs:
        api.post("/v1/labels", {"tx_id": tx["tx_id"], "is_fraud": tx["terminal_id"] == "t-x",
                                "ts": base - DAY, "source": "chargeback",
                                "customer_id": tx["customer_id"]})  # fmt: skip


def _live(api: Api, base: float) -> None:
    """A live stream: look-alikes of the pattern, a burst of payments, ordinary ones."""
    rnd = random.Random(8)
    for i in range(36):
        kind = i % 6
        customer = f"c{rnd.randrange(40):02d}"
        tx: dict[str, Any] = {
            "tx_id": f"live{i:03d}",
            "ts": base + i * 40,
            "customer_id": customer,
            "country": "FR",
        }
        if kind in (0, 3):
            tx.update(amount=round(rnd.uniform(650, 990), 2), terminal_id="t-x")
        elif kind == 1:
            terminal = f"t{rnd.randrange(30):02d}"
            amount = round(rnd.uniform(300, 600), 2)
            tx.update(amount=amount, terminal_id=terminal, country="BR", device_id=f"dev-{i}")
        else:
            tx.update(amount=round(rnd.uniform(10, 80), 2), terminal_id=f"t{rnd.randrange(30):02d}")
        api.decide(tx)
    for k in range(12):  # one customer's burst: the velocity rule
        api.decide({"tx_id": f"burst{k:02d}", "ts": base + 1500 + k * 30, "customer_id": "c07",
                    "amount": 19.99, "terminal_id": "t-web", "channel": "ecom"})  # fmt: skip


def _look_alike(twin: str, tx_id: str, ts: float, amount: float) -> dict[str, Any]:
    return {"tx_id": tx_id, "ts": ts, "customer_id": f"twin-{twin}", "amount": amount,
            "terminal_id": f"shop-{twin}-night", "country": "FR"}  # fmt: skip


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless Chromium (Debian's chromium and chromium-driver), or a skip that says why."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("no browser: install Debian's chromium and chromium-driver packages")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1500,1080", "--lang=en-GB"):  # fmt: skip
        options.add_argument(argument)
    try:
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    except WebDriverException as error:
        pytest.skip(f"headless Chromium does not start here: {error.msg}")
    try:
        yield driver
    finally:
        driver.quit()


@dataclass
class Worker:
    """The worker and the broker it reads."""

    process: ServeProcess
    kafka: KafkaSettings


@pytest.fixture
def worker(
    tmp_path: Path, redis_settings: RedisSettings, redis_client: redis.Redis
) -> Iterator[Worker]:
    """`verdict serve` with a token, on a broker of its own and the test Redis."""
    broker, kafka = start_test_broker(tmp_path / "broker")
    ensure_topics(kafka, topics.ALL_TOPICS)
    process = ServeProcess(
        kafka,
        redis_settings.url,
        unique_topic("console"),
        tmp_path / "worker",
        tmp_path / "worker.log",
        env={"VERDICT_API__TOKEN": TOKEN, "VERDICT_API__PSEUDONYM_KEY": "console-test-key"},
    )
    try:
        yield Worker(process.start(), kafka)
    finally:
        process.stop()
        broker.stop()
        redis_client.flushdb()


def _row(driver: WebDriver, tx_id: str) -> Any:
    rows = driver.find_elements(By.CSS_SELECTOR, f'tr[data-tx="{tx_id}"]')
    return rows[0] if rows else False


def test_an_analyst_sees_alerts_live_and_their_verdict_teaches_the_model(
    worker: Worker, browser: WebDriver, tmp_path: Path
) -> None:
    serve, base = worker.process, _night_base()
    api = Api(serve.port)
    wait_until(api.up, 60, f"the worker's API to answer\n{serve.log()}")
    _warm_up(api, base)
    wait_until(lambda: _learnt(api) >= WARM, 90, f"the warm-up labels\n{serve.log()}")

    browser.get(api.base + "/console")
    wait = WebDriverWait(browser, 30, ignored_exceptions=(StaleElementReferenceException,))
    token = wait.until(
        lambda d: d.find_element(By.ID, "token").is_displayed() and d.find_element(By.ID, "token")
    )
    token.send_keys(TOKEN + "\n")
    wait.until(lambda d: d.find_element(By.ID, "conn").text == "Live")

    _live(api, base)
    x_c = api.decide(_look_alike("C", "x-C", base + 2400, 950.0))
    x_d = api.decide(_look_alike("D", "x-D", base + 2400, 950.0))
    later_d = api.decide(_look_alike("D", "l-D", base + 2700, 960.0))
    assert x_c["outcome"] != "approve", x_c  # an alert is raised
    assert abs(x_c["fraud_score"] - x_d["fraud_score"]) < 0.1  # twins score alike
    row = wait.until(lambda d: _row(d, "x-C"))
    assert wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tr")) >= 10)

    row.find_element(By.CSS_SELECTOR, "button.open").click()
    activity = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".activity tbody tr"))
    assert len(activity) == 4  # the twin's history and this payment
    detail = browser.find_element(By.ID, "detail").text
    assert "x-C" in detail and "twin-C" not in browser.page_source
    browser.find_element(By.ID, "mark-fraud").click()
    wait.until(
        lambda d: _row(d, "x-C").find_element(By.CSS_SELECTOR, ".status").text.lower() == "fraud"
    )

    labels = read_topic(
        worker.kafka, topics.LABELS, lambda ms: any(m["tx_id"] == "x-C" for m in ms)
    )
    [label] = [m for m in labels if m["tx_id"] == "x-C"]
    assert label["is_fraud"] is True and label["source"] == "analyst"
    assert label["customer_id"] == "twin-C"  # server-side only: the page never had it
    wait_until(lambda: _learnt(api) >= WARM + 1, 60, "the analyst's label to be learnt")

    later_c = api.decide(_look_alike("C", "l-C", base + 2700, 960.0))
    # In log-odds (scores near 1 move little in probability): the same look-alike without a
    # label differs by 0.1-0.25 between the twins (the anomaly trees learn meanwhile).
    lift = _logit(later_c["fraud_score"]) - _logit(later_d["fraud_score"])
    assert lift > 0.8, (later_c, later_d)
    wait.until(lambda d: _row(d, "l-C"))
    time.sleep(3.5)  # the "just arrived" highlight fades before the picture
    shot = tmp_path / "console.png"
    assert browser.save_screenshot(str(shot))
    shutil.copyfile(shot, ROOT / "docs" / "console.png")


SEVERITY_OUTCOMES: Final = (("critical", "decline"), ("high", "decline"), ("medium", "review"),
                            ("low", "challenge"))  # fmt: skip


def _sign_in(browser: WebDriver, base: str) -> WebDriverWait[WebDriver]:
    browser.get(base + "/console")
    wait = WebDriverWait(browser, 60, ignored_exceptions=(StaleElementReferenceException,))
    token = wait.until(
        lambda d: d.find_element(By.ID, "token").is_displayed() and d.find_element(By.ID, "token")
    )
    token.send_keys(TOKEN + "\n")
    wait.until(lambda d: d.find_element(By.ID, "conn").text == "Live")
    return wait


def test_thousands_of_alerts_keep_the_page_small_filterable_and_keyboard_driven(
    worker: Worker, browser: WebDriver
) -> None:
    from kafka import KafkaProducer

    api = Api(worker.process.port)
    wait_until(api.up, 60, f"the worker's API to answer\n{worker.process.log()}")
    wait = _sign_in(browser, api.base)
    producer = KafkaProducer(bootstrap_servers=worker.kafka.bootstrap_servers, linger_ms=20)
    now = time.time()
    for i in range(3000):
        severity, outcome = SEVERITY_OUTCOMES[i % 4]
        ref = f"cr_{i % 97:024x}"
        alert = {"alert_id": f"al_flood{i:04d}", "tx_id": f"flood{i:04d}",
                 "customer_ref": ref, "ts": now - 3000 + i, "severity": severity,
                 "outcome": outcome, "fraud_score": (i % 100) / 100,
                 "reasons": [{"code": "velocity_1h", "detail": f"{i % 20} transactions in 1 h"}],
                 "features": {"amount": float(i)}}  # fmt: skip
        for _ in range(2):  # at-least-once delivery: every alert twice
            producer.send(topics.ALERTS, key=ref.encode(), value=orjson.dumps(alert))
    producer.flush()
    producer.close()

    def shown(driver: WebDriver) -> str:
        return str(driver.find_element(By.ID, "shown").text)

    wait.until(lambda d: shown(d) == "Showing 200 of 3000 matching · 3000 kept")
    rows = browser.find_elements(By.CSS_SELECTOR, "#rows tr")
    assert len(rows) == 200  # the page draws a page of rows, not thousands
    assert rows[0].get_attribute("data-tx") == "flood2999"  # newest first
    browser.find_element(By.ID, "more").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tr")) == 400)

    browser.find_element(By.CSS_SELECTOR, "input[name=severity][value=low]").click()
    wait.until(lambda d: shown(d) == "Showing 200 of 2250 matching · 3000 kept")
    browser.find_element(By.CSS_SELECTOR, "#outcome option[value=review]").click()
    wait.until(lambda d: shown(d) == "Showing 200 of 750 matching · 3000 kept")
    assert {r.text for r in browser.find_elements(By.CSS_SELECTOR, "#rows .badge")} == {"Medium"}

    first = browser.find_element(By.CSS_SELECTOR, "#rows tr .open")
    first.send_keys("j")  # from the first alert of the list to the second: focused and open
    focused = browser.switch_to.active_element
    assert focused.find_element(By.XPATH, "ancestor::tr").get_attribute("data-tx") == "flood2994"
    wait.until(lambda d: "flood2994" in d.find_element(By.ID, "detail").text)
    ActionChains(browser).send_keys("l").perform()  # legitimate, from the keyboard
    wait.until(
        lambda d: (
            d.find_element(By.CSS_SELECTOR, 'tr[data-tx="flood2994"] .status').text.lower()
            == "legitimate"
        )
    )
    said = browser.find_element(By.ID, "said")  # a polite live region, read out once
    assert said.get_attribute("role") == "status"
    assert said.text == "Marked legitimate: label sent, the models learn from it."
