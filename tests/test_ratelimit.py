"""Rate limits (app/ratelimit.py): the setting, the budgets through the app, the shared counts, and a
real gunicorn with one worker or four letting exactly the budget through."""

from __future__ import annotations

import http.client
import json
import logging
import multiprocessing
import os
import re
import shlex
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app import StartupError, create_app, openapi, ratelimit
from app.ratelimit import Limiter, SharedCounts, budgets, client_key
from app.settings import SettingsError, from_environ
from tests.support.canvas import drawn_digit
from tests.support.server import Server, configured, gunicorn

MINUTE, HOUR, DAY = 60, 3600, 86400
# A start aligned to every window (minute, hour, day), for the tests that step a clock.
EPOCH = 10**5 * DAY


class Clock:
    """A clock a test steps by hand: ``SharedCounts(clock=...)``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def limits_of(configured: dict) -> dict[str, list[tuple[int, int]]]:
    """Each budget's limits as (requests, window seconds)."""
    return {name: [(item.amount, item.get_expiry()) for item in items] for name, items in configured.items()}


DEFAULTS = {
    "predict": [(120, MINUTE), (2400, HOUR)],
    "explain": [(120, MINUTE), (2400, HOUR)],
    "feedback": [(30, MINUTE), (500, HOUR)],
    "sign_in": [(5, MINUTE), (30, HOUR)],
}


# -- the setting ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "changed"),
    [
        (ratelimit.DEFAULT_SETTING, {}),
        ("off", {name: [] for name in DEFAULTS}),
        (" OFF ", {name: [] for name in DEFAULTS}),
        ("predict=5/minute", {"predict": [(5, MINUTE)]}),
        ("predict=off", {"predict": []}),
        ("explain=10/hour;1/second", {"explain": [(1, 1), (10, HOUR)]}),  # shortest window first
        ("sign_in = 1/second ; 10/hour , feedback=2/day", {"sign_in": [(1, 1), (10, HOUR)], "feedback": [(2, DAY)]}),
        ("predict=3 per 2 minutes", {"predict": [(3, 2 * MINUTE)]}),
        ("feedback=7|day", None),  # not a limit: no period after the bar
    ],
)
def test_the_setting_gives_each_budget_its_limits(setting, changed):
    if changed is None:
        with pytest.raises(ValueError, match="is not one"):
            budgets(setting)
        return
    assert limits_of(budgets(setting)) == {**DEFAULTS, **changed}


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ("predict=60/minute,1000/hour", "has '1000/hour', which names no budget: write name=LIMITS, and join several"),
        ("predcit=1/minute", "names no budget 'predcit': the budgets are predict, explain, feedback, sign_in"),
        ("predict=lots", "gives predict the limit 'lots', which is not one"),
        ("predict=60/fortnight", "gives predict the limit '60/fortnight', which is not one"),
        ("feedback=", "gives feedback the limit '', which is not one"),
        ("sign_in=0/minute", "gives sign_in the limit '0/minute', which lets no request through"),
        ("predict=1/minute,predict=2/minute", "gives the budget 'predict' twice"),
        ("predict=1/minute,", "has '', which names no budget"),
    ],
)
def test_a_setting_that_cannot_be_read_stops_start_up_with_one_line(monkeypatch, tmp_path, setting, says):
    with pytest.raises(ValueError) as raised:
        budgets(setting)
    assert str(raised.value).startswith(says)
    with pytest.raises(SettingsError) as from_env:
        from_environ({"DIGITS_RATE_LIMITS": setting})
    assert str(from_env.value) == f"DIGITS_RATE_LIMITS={setting!r} {raised.value}"

    monkeypatch.setenv("DIGITS_RATE_LIMITS", setting)
    with pytest.raises(StartupError) as startup:
        create_app({"TESTING": True, "FEEDBACK_DB": str(tmp_path / "f.sqlite")})
    assert "DIGITS_RATE_LIMITS" in str(startup.value) and says in str(startup.value)
    assert "\n" not in str(startup.value)


def test_a_test_config_that_cannot_be_read_stops_start_up_too(tmp_path):
    with pytest.raises(StartupError, match="names no budget 'everything'"):
        create_app({"TESTING": True, "FEEDBACK_DB": str(tmp_path / "f.sqlite"), "RATE_LIMITS": "everything=1/day"})


@pytest.mark.parametrize(("raw", "parsed"), [("0", 0), ("1", 1), ("3", 3)])
def test_trusted_proxies_is_a_count(raw, parsed):
    assert from_environ({"DIGITS_TRUSTED_PROXIES": raw}) == {"TRUSTED_PROXIES": parsed}


@pytest.mark.parametrize(
    ("raw", "says"), [("-1", "must be zero or more"), ("one", "is not a valid int"), ("1.5", "is not a valid int")]
)
def test_trusted_proxies_that_are_not_a_count_stop_start_up(raw, says):
    with pytest.raises(SettingsError, match=f"^DIGITS_TRUSTED_PROXIES={raw!r} {says}"):
        from_environ({"DIGITS_TRUSTED_PROXIES": raw})


def test_a_view_can_only_be_held_to_a_budget_that_exists():
    with pytest.raises(ValueError, match="no budget 'sign-in'"):
        ratelimit.limit("sign-in")
    assert callable(ratelimit.limit("sign_in"))  # the review page's
    with pytest.raises(ValueError, match="no budget 'sign-in'"):
        ratelimit.spend("sign-in")


def test_each_budget_is_declared_once_with_its_default_limits_and_what_a_429_says():
    assert list(ratelimit.BUDGETS) == list(DEFAULTS)
    for name, budget in ratelimit.BUDGETS.items():
        assert limits_of(budgets(f"{name}={budget.limits}"))[name] == DEFAULTS[name]
        assert budget.refusal.strip() == budget.refusal != ""


# -- through the app ---------------------------------------------------------------------------------------------


@pytest.fixture
def make(tmp_path):
    """``make(rate_limits, **config)``: an app with those rate limits and a database of its own."""

    def make_app(rate_limits: str, **config):
        return create_app(
            {"TESTING": True, "FEEDBACK_DB": str(tmp_path / "f.sqlite"), "RATE_LIMITS": rate_limits, **config}
        )

    return make_app


def knock(client, address: str | None = None, forwarded: str | None = None) -> int:
    """POST an empty JSON object to /api/feedback (400 ``missing_field`` once past the limit, which comes
    first): the cheapest limited request. Returns the status."""
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    environ = {"REMOTE_ADDR": address} if address else {}
    return client.post("/api/feedback", json={}, headers=headers, environ_base=environ).status_code


def read(client, url: str = "/predict"):
    return client.post(url, data=drawn_digit("7"), content_type="image/png")


def test_over_the_budget_a_request_is_answered_429_with_retry_after_and_the_json_error(make, caplog):
    client = make("predict=3/minute").test_client()
    assert [read(client).status_code for _ in range(3)] == [200, 200, 200]
    caplog.set_level(logging.DEBUG)
    answers = [read(client) for _ in range(2)]
    assert [a.status_code for a in answers] == [429, 429]
    for refused in answers:
        assert refused.mimetype == "application/json"
        seconds = int(refused.headers["Retry-After"])
        assert 1 <= seconds <= MINUTE
        assert refused.get_json() == {
            "error": {"code": "rate_limited", "message": f"too many readings: try again in {seconds} s"}
        }
    assert caplog.records == []  # nothing at all logged of a refusal


def test_each_route_has_its_own_budget(make):
    app = make("predict=3/year,explain=2/year,feedback=1/year")
    client = app.test_client()
    tokens = [read(client).get_json()["sample"] for _ in range(3)]
    assert read(client).status_code == 429
    assert [read(client, "/api/explain").status_code for _ in range(3)] == [200, 200, 429]
    feedback = [client.post("/api/feedback", json={"sample": token, "label": 7}) for token in tokens[:2]]
    assert [f.status_code for f in feedback] == [201, 429]
    assert feedback[1].get_json()["error"]["message"].startswith("too much feedback at once: try again in ")
    assert all(client.get("/healthz").status_code == 200 for _ in range(10))  # not limited


def test_a_budget_turned_off_lets_everything_through_and_off_turns_them_all_off(make):
    client = make("predict=off,explain=1/year").test_client()
    assert [read(client).status_code for _ in range(4)] == [200] * 4
    assert [read(client, "/api/explain").status_code for _ in range(2)] == [200, 429]
    everything_off = make("off")
    assert everything_off.extensions[ratelimit.EXTENSION] is None  # no table made
    client = everything_off.test_client()
    assert [knock(client) for _ in range(40)] == [400] * 40


def wait_for_a_fresh_minute(margin: float = 5.0) -> None:
    """Sleep past the next minute's boundary if it is less than ``margin`` seconds away: the sliding window
    counter carries a little of the last minute's count into the next, so a burst across the boundary may
    get one more request than the budget."""
    left = MINUTE - time.time() % MINUTE
    if left < margin:
        time.sleep(left + 0.05)


def test_the_limits_are_on_by_default(tmp_path):
    client = create_app({"TESTING": True, "FEEDBACK_DB": str(tmp_path / "f.sqlite")}).test_client()
    wait_for_a_fresh_minute()
    statuses = [knock(client) for _ in range(31)]  # the feedback budget: 30 a minute
    assert statuses == [400] * 30 + [429]


def test_clients_have_budgets_of_their_own_and_an_ipv6_client_is_its_64(make):
    client = make("feedback=2/year").test_client()
    assert [knock(client, "192.0.2.1") for _ in range(3)] == [400, 400, 429]
    assert [knock(client, "192.0.2.2") for _ in range(3)] == [400, 400, 429]
    assert knock(client, "::ffff:192.0.2.1") == 429  # the same IPv4 client, mapped
    assert [knock(client, "2001:db8:1:2::1"), knock(client, "2001:db8:1:2:ffff::9")] == [400, 400]
    assert knock(client, "2001:db8:1:2:abcd::5") == 429  # the same /64
    assert knock(client, "2001:db8:1:3::1") == 400  # the next /64


@pytest.mark.parametrize("proxies", [None, 0])
def test_a_spoofed_x_forwarded_for_changes_nothing_without_trusted_proxies(make, proxies):
    config = {} if proxies is None else {"TRUSTED_PROXIES": proxies}
    client = make("feedback=2/year", **config).test_client()
    statuses = [knock(client, forwarded=f"198.51.100.{k}") for k in range(4)]
    assert statuses == [400, 400, 429, 429]


@pytest.mark.parametrize("proxies", [1, 2])
def test_behind_trusted_proxies_the_address_they_report_is_the_client(make, proxies):
    client = make("feedback=2/year", TRUSTED_PROXIES=proxies).test_client()
    # What the client itself claims comes first; each proxy appends the address it saw, the last one
    # the proxy's next to the server, whose own address is REMOTE_ADDR.
    hops = ", ".join(["10.0.0.9"] * (proxies - 1))

    def forwarded(claim: str, client_address: str) -> str:
        return ", ".join(part for part in (claim, client_address, hops) if part)

    assert [knock(client, forwarded=forwarded(f"203.0.113.{k}", "192.0.2.7")) for k in range(3)] == [400, 400, 429]
    assert [knock(client, forwarded=forwarded("203.0.113.1", "192.0.2.8")) for _ in range(3)] == [400, 400, 429]


def test_the_counts_keep_no_address(make):
    app = make("feedback=2/year")
    client = app.test_client()
    for _ in range(3):
        knock(client, "203.0.113.77")
    storage = app.extensions[ratelimit.EXTENSION].storage
    assert int((storage.slots["count"] > 0).sum()) == 1  # the current window of the one limit
    table = storage.slots.tobytes()
    assert b"203.0.113.77" not in table and bytes([203, 0, 113, 77]) not in table


def test_the_document_gives_429_and_the_servers_limits(make):
    for setting, words in [
        ("predict=7/minute;100/hour", "on this server: 7 per minute and 100 per hour"),
        ("predict=off", "on this server: no limit"),
    ]:
        doc = openapi.document(make(setting))
        refused = doc["paths"]["/predict"]["post"]["responses"]["429"]
        assert words in refused["description"]
        assert refused["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
        for path in ("/api/explain", "/api/feedback"):
            assert "Retry-After" in doc["paths"][path]["post"]["responses"]["429"]["headers"]
    assert "3 per 2 minutes" in ratelimit.describe(budgets("feedback=3/2 minutes")["feedback"])


def test_client_keys_are_keyed_hashes():
    salt, other = b"k" * 16, b"j" * 16
    key = client_key("192.0.2.1", salt)
    assert re.fullmatch(r"[0-9a-f]{32}", key) and "192" not in key
    assert client_key("192.0.2.1", salt) == key != client_key("192.0.2.1", other)
    assert client_key("192.0.2.2", salt) != key
    assert client_key("2001:db8::1", salt) == client_key("2001:db8::ffff:1", salt) != client_key("2001:db9::1", salt)
    assert client_key(None, salt) == client_key("", salt) != key


# -- the shared counts --------------------------------------------------------------------------------------------


def test_counts_add_up_and_expire():
    clock = Clock(EPOCH)
    counts = SharedCounts(sets=4, ways=4, clock=clock)
    assert [counts.incr("a", 10) for _ in range(3)] == [1, 2, 3]
    assert counts.incr("b", 10, amount=5) == 5
    assert (counts.get("a"), counts.get("b"), counts.get("c")) == (3, 5, 0)
    assert counts.get_expiry("a") == EPOCH + 10
    clock.advance(9.9)
    assert counts.get("a") == 3
    clock.advance(0.2)
    assert (counts.get("a"), counts.get_expiry("a")) == (0, clock.now)
    assert counts.incr("a", 10) == 1  # a fresh count, with a fresh expiry
    assert counts.get_expiry("a") == clock.now + 10
    counts.clear("b")
    assert counts.get("b") == 0
    assert counts.reset() == 1 and counts.get("a") == 0


def test_a_full_set_reuses_an_expired_slot_else_the_soonest_expiring():
    clock = Clock(EPOCH)
    counts = SharedCounts(sets=1, ways=4, clock=clock)  # every key in one set of four slots
    for k, seconds in enumerate([40, 10, 30, 20]):
        counts.incr(f"k{k}", seconds, amount=k + 1)
    counts.incr("new", 100)
    assert [counts.get(f"k{k}") for k in range(4)] == [1, 0, 3, 4]  # k1 expired soonest: evicted
    clock.advance(25)  # k3 (20 s) has expired; k0 and k2 have not
    counts.incr("newer", 100)
    assert [counts.get(f"k{k}") for k in (0, 2)] == [1, 3]
    assert (counts.get("new"), counts.get("newer")) == (1, 1)


def hammer(counts: SharedCounts, attempts: int, limit: int, done: multiprocessing.Queue) -> None:
    """In a forked process: try ``attempts`` times to take a place of ``limit``; report how many were taken."""
    taken = sum(counts.acquire_sliding_window_entry("shared", limit, 365 * DAY) for _ in range(attempts))
    done.put(taken)


def test_forked_processes_share_one_count():
    counts = SharedCounts(sets=16)
    fork = multiprocessing.get_context("fork")
    done = fork.Queue()
    processes = [fork.Process(target=hammer, args=(counts, 40, 100, done)) for _ in range(4)]
    for p in processes:
        p.start()
    taken = [done.get(timeout=60) for _ in processes]
    for p in processes:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sum(taken) == 100  # of 160 attempts in four processes at once: exactly the limit
    assert counts.get_sliding_window("shared", 365 * DAY)[2] == 100  # and the parent sees the count


def test_a_process_killed_while_counting_leaves_the_counts_usable():
    counts = SharedCounts(sets=16)
    pid = os.fork()
    if pid == 0:  # the child counts until it is killed, most of the time holding the lock
        try:
            while True:
                counts.incr("busy", 60)
        finally:
            os._exit(1)
    try:
        deadline = time.monotonic() + 10
        while counts.get("busy") < 1000 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    seen = counts.get("busy")
    assert seen >= 1000  # the child's counts are the parent's
    counted = threading.Event()
    threading.Thread(target=lambda: counts.incr("busy", 60) and counted.set(), daemon=True).start()
    assert counted.wait(5)  # the dead child's lock was let go
    assert counts.get("busy") == seen + 1


def test_a_client_gets_at_most_twice_the_budget_in_any_window_and_the_budget_per_window_over_time():
    limit, window = 10, MINUTE
    clock = Clock(EPOCH)
    limiter = Limiter(budgets(f"feedback={limit}/minute"), SharedCounts(sets=16, clock=clock))
    client = limiter.client("192.0.2.1")
    let_in: list[float] = []
    # Quiet for most of each odd minute, then every 0.1 s: a burst at a window's end, then a steady knock.
    for step in range(10 * window * 10):
        now = EPOCH + step / 10
        clock.now = now
        knocks = int(now // window) % 2 == 0 or now % window > window - 2
        if knocks and limiter.spend("feedback", client) is None:
            let_in.append(now)
    most = max(sum(1 for t in let_in if start <= t < start + window) for start in let_in)
    assert limit < most <= 2 * limit  # the burst and the next window's share
    assert len(let_in) <= limit * (10 + 1)


@pytest.mark.parametrize(
    ("setting", "offset", "spent"),
    [
        # Times a quarter second off the whole: a wait that is a whole number of seconds leaves the check a
        # second early on the very boundary, where rounding decides.
        ("feedback=3/minute", 0.25, 3),  # the budget spent at a minute's start
        ("feedback=3/minute", 59.75, 3),  # at its end
        ("feedback=3/minute", 30.25, 3),
        ("feedback=100/minute;5/hour", 1234.25, 5),  # the hour's limit is the one that refuses
    ],
)
def test_retry_after_is_when_the_next_request_gets_through(setting, offset, spent):
    clock = Clock(EPOCH + offset)
    limiter = Limiter(budgets(setting), SharedCounts(sets=16, clock=clock))
    client = limiter.client("192.0.2.1")
    assert [limiter.spend("feedback", client) for _ in range(spent)] == [None] * spent
    for _ in range(3):  # then again after each wait, the previous window's weight included
        wait = limiter.spend("feedback", client)
        assert wait is not None and wait >= 1
        clock.advance(wait - 1)
        assert limiter.spend("feedback", client) is not None  # a second early: still refused, and not counted
        clock.advance(1)
        assert limiter.spend("feedback", client) is None


# -- a real gunicorn ---------------------------------------------------------------------------------------------------


def post_from(address: str, server: Server, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """POST ``body`` to /predict on a new connection whose source is the loopback ``address``."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30, source_address=(address, 0))
    try:
        connection.request("POST", "/predict", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("workers", [1, 4])
def test_a_real_server_lets_exactly_the_budget_through_whatever_its_workers(tmp_path: Path, workers: int):
    budget, tries, addresses = 5, 12, [f"127.0.0.{k}" for k in range(2, 5)]
    access_log = tmp_path / "access.log"
    # The configured access log, with the worker's pid in front: which workers served the requests.
    access = ["--access-logfile", str(access_log), "--access-logformat", "%(p)s " + configured()["access_log_format"]]
    # A year's window: the count is exact within a window (the next one carries part of it over).
    env = {"DIGITS_RATE_LIMITS": f"predict={budget}/year", "GUNICORN_CMD_ARGS": shlex.join(access)}
    png = drawn_digit("7")
    jobs = [(address, k) for address in addresses for k in range(tries)]

    def send(job: tuple[str, int]) -> tuple[str, tuple[int, dict[str, str], bytes]]:
        address, k = job
        # Each claims to be forwarded for someone else: without trusted proxies that changes nothing.
        headers = {"Content-Type": "image/png", "X-Forwarded-For": f"198.51.100.{k}"}
        return address, post_from(address, server, png, headers)

    with gunicorn(env=env, workers=workers) as server, ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(send, jobs))
        error_log = server.log()
    by_address = {address: Counter(status for a, (status, _, _) in answers if a == address) for address in addresses}
    assert by_address == {address: Counter({200: budget, 429: tries - budget}) for address in addresses}
    for _, (status, headers, body) in answers:
        if status == 429:
            assert int(headers["Retry-After"]) >= 1
            assert json.loads(body)["error"]["code"] == "rate_limited"
    lines = [line for line in access_log.read_text().splitlines() if "/predict" in line]
    assert len(lines) == len(jobs)
    pids = {re.match(r"<(\d+)> ", line).group(1) for line in lines}
    assert len(pids) == 1 if workers == 1 else len(pids) > 1  # several workers served, sharing the count
    for log in (error_log, access_log.read_text()):
        assert not any(address in log for address in addresses) and "198.51.100." not in log


# -- the page ------------------------------------------------------------------------------------------------------


def test_the_page_says_when_there_were_too_many_readings():
    from playwright.sync_api import expect, sync_playwright

    from scripts.browser import CHROMIUM, DESKTOP, launch

    if not os.access(CHROMIUM, os.X_OK):
        message = f"{CHROMIUM} not found (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with gunicorn(env={"DIGITS_RATE_LIMITS": "predict=1/year"}, workers=1) as server, sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_context(**DESKTOP).new_page()
            page.goto(server.url + "/", wait_until="load")
            expect(page.locator("html")).to_have_class(re.compile(r"\bjs\b"))
            statuses = []
            for _ in range(2):  # a blank pad: the first is read (no digit), the second is over the budget
                with page.expect_response(lambda r: r.url.split("?")[0].endswith("/predict")) as answer:
                    page.click("#predict")
                statuses.append(answer.value.status)
            assert statuses == [422, 429]
            message = page.locator("#message")
            expect(message).to_have_attribute("data-kind", "error")
            expect(message).to_have_text(re.compile(r"^Too many readings: try again in \d+ (s|min|h|days)\.$"))
        finally:
            browser.close()
