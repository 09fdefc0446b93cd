"""Each fault, observed from the client side (the real SDK, or requests with a timeout)."""

from __future__ import annotations

import re
import time

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

from workbench.emulator import Emulator, Fault
from workbench.emulator import testing as emt
from workbench.errors import ConfigError


def _left(emu: Emulator) -> list:
    return [f["left"] for f in emu.state()["faults"]]


def test_429_is_retried_by_the_sdk_then_raised(emulator: Emulator, trading_client) -> None:
    emulator.set_faults(Fault.error(429, path="/v2/account", times=10))
    with pytest.raises(APIError) as exc:
        trading_client.get_account()
    assert (exc.value.status_code, exc.value.code) == (429, 42910000)
    assert _left(emulator) == [6]  # one try and three retries
    headers = exc.value.response.headers
    assert headers["X-RateLimit-Remaining"] == "0" and headers["Retry-After"] == "1"
    assert int(headers["X-RateLimit-Reset"]) >= int(time.time())


def test_429_twice_then_the_sdk_gets_through(emulator: Emulator, trading_client) -> None:
    emulator.set_faults("429,path=/v2/account,times=2")
    assert trading_client.get_account().cash == "100000"
    assert emulator.state()["faults"] == []  # spent


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_not_retried_by_the_sdk(emulator: Emulator, trading_client, status: int) -> None:
    emulator.set_faults(Fault.error(status, method="GET", path="/v2/*", times=1))
    with pytest.raises(APIError) as exc:
        trading_client.get_clock()
    assert (exc.value.status_code, exc.value.code) == (status, status * 100_000 + 10_000)
    # the fault spent, the clock answers: 2009-12-31's day over (New York), market closed
    assert not trading_client.get_clock().is_open


def test_ambiguous_504_creates_the_order_then_fails(emulator: Emulator, trading_client) -> None:
    emulator.set_faults(Fault.error(504, method="POST", path="/v2/orders", ambiguous=True, times=1))
    trading_client._retry = 0  # as the project's broker adapter: no SDK retries
    req = MarketOrderRequest(
        symbol="SPX", qty=1, side="buy", time_in_force="day", client_order_id="idem-1"
    )
    with pytest.raises(APIError) as exc:
        trading_client.submit_order(req)
    assert exc.value.status_code == 504
    found = trading_client.get_order_by_client_id("idem-1")  # the client must look it up
    assert found.status.value == "new"
    assert len(emulator.state()["orders"]) == 1


def test_the_sdks_own_retry_after_an_ambiguous_504_meets_the_duplicate_rule(
    emulator: Emulator, trading_client
) -> None:
    emulator.set_faults(Fault.error(504, method="POST", path="/v2/orders", ambiguous=True, times=1))
    req = MarketOrderRequest(
        symbol="SPX", qty=1, side="buy", time_in_force="day", client_order_id="idem-2"
    )
    with pytest.raises(APIError) as exc:  # 504 is retried: the retry is a duplicate
        trading_client.submit_order(req)
    assert (exc.value.status_code, exc.value.code) == (422, 40010001)
    assert len(emulator.state()["orders"]) == 1


def test_slow_response_times_the_client_out_after_the_order_exists(emulator: Emulator) -> None:
    emulator.set_faults(Fault.slow(1.0, method="POST", path="/v2/orders", times=1))
    body = {
        "symbol": "SPX",
        "side": "buy",
        "type": "market",
        "time_in_force": "day",
        "qty": 1,
        "client_order_id": "slow-1",
    }
    with pytest.raises(requests.Timeout):
        requests.post(
            f"{emulator.base_url}/v2/orders", json=body, headers=emt.headers(emulator), timeout=0.3
        )
    r = requests.get(
        f"{emulator.base_url}/v2/orders:by_client_order_id",
        params={"client_order_id": "slow-1"},
        headers=emt.headers(emulator),
        timeout=5,
    )
    assert r.status_code == 200 and r.json()["client_order_id"] == "slow-1"


def test_slow_before_delays_without_acting(emulator: Emulator) -> None:
    emulator.set_faults(Fault.slow(0.4, path="/v2/clock", when="before"))
    started = time.monotonic()
    r = requests.get(f"{emulator.base_url}/v2/clock", headers=emt.headers(emulator), timeout=5)
    assert r.status_code == 200 and time.monotonic() - started >= 0.4
    with pytest.raises(requests.Timeout):
        requests.get(f"{emulator.base_url}/v2/clock", headers=emt.headers(emulator), timeout=0.1)


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        (40310000, 403, "insufficient buying power"),
        (42210000, 422, "potential wash trade detected. use complex orders"),
        (40010001, 422, "invalid order request"),
    ],
)
def test_reject_fault_uses_alpacas_codes(
    emulator: Emulator, trading_client, code: int, status: int, message: str
) -> None:
    emulator.set_faults(Fault.reject(code=code, times=1))
    req = LimitOrderRequest(symbol="SPX", qty=1, side="buy", time_in_force="gtc", limit_price=900)
    with pytest.raises(APIError) as exc:
        trading_client.submit_order(req)
    assert (exc.value.status_code, exc.value.code, exc.value.message) == (status, code, message)
    assert emulator.state()["orders"] == []
    assert trading_client.submit_order(req).status.value == "accepted"  # only once


def test_random_faults_are_reproducible_with_a_seed(spx_bars) -> None:
    def pattern() -> list[int]:
        with Emulator(spx_bars, replay_from="2010-01-04") as emu:
            emu.set_faults(Fault.error(500, path="/v2/clock", probability=0.5, seed=3))
            return [
                requests.get(
                    f"{emu.base_url}/v2/clock", headers=emt.headers(emu), timeout=5
                ).status_code
                for _ in range(16)
            ]

    first = pattern()
    assert first == pattern()
    assert 0 < first.count(500) < 16


def test_rate_limit_refuses_past_the_limit(spx_bars) -> None:
    with Emulator(spx_bars, rate_limit=3) as emu:
        statuses = [
            requests.get(f"{emu.base_url}/v2/clock", headers=emt.headers(emu), timeout=5)
            for _ in range(4)
        ]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in statuses] == ["2", "1", "0", "0"]
    assert int(statuses[-1].headers["Retry-After"]) >= 1


def test_a_negative_rate_limit_is_refused(spx_bars) -> None:
    with pytest.raises(ConfigError) as info:  # refused every request with a 429, before
        Emulator(spx_bars, rate_limit=-1)
    assert str(info.value) == (
        "rate_limit must be 0 or more requests a minute, got -1 (e.g. --rate-limit 200 "
        "(Alpaca's), or none for no limit)"
    )


def test_faults_through_the_control_api(emulator: Emulator) -> None:
    base = f"{emulator.base_url}/_emulator"
    r = requests.post(
        f"{base}/faults", json=[{"spec": "429,times=2"}, {"kind": "partial", "qty": 3}]
    )
    assert [f["kind"] for f in r.json()] == ["error", "partial"]
    assert (
        requests.get(f"{emulator.base_url}/v2/clock", headers=emt.headers(emulator)).status_code
        == 429
    )
    assert requests.get(f"{base}/faults").json()[0]["left"] == 1
    bad = requests.post(f"{base}/faults", json={"kind": "explode"})
    assert bad.status_code == 422 and "fault kind 'explode' is not known" in bad.json()["message"]
    assert requests.delete(f"{base}/faults").json() == []
    assert (
        requests.get(f"{emulator.base_url}/v2/clock", headers=emt.headers(emulator)).status_code
        == 200
    )


def test_control_step_state_and_reset(emulator: Emulator, trading_client) -> None:
    base = f"{emulator.base_url}/_emulator"
    trading_client.submit_order(
        MarketOrderRequest(symbol="SPX", qty=2, side="buy", time_in_force="day")
    )
    r = requests.post(f"{base}/step", params={"n": 3}).json()
    assert (r["stepped"], r["finished"]) == (3, False)
    state = requests.get(f"{base}/state").json()
    assert state["positions"][0]["qty"] == "2" and state["fills"] == 1
    assert requests.post(f"{base}/step", params={"n": 0}).status_code == 422
    fresh = requests.post(f"{base}/reset").json()
    assert (fresh["positions"], fresh["orders"], fresh["account"]["cash"]) == ([], [], "100000")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("429", Fault("error", status=429)),
        ("504,method=post,path=/v2/orders,ambiguous=true,times=1",
         Fault("error", status=504, method="POST", path="/v2/orders", ambiguous=True, times=1)),
        ("slow,delay=2.5,probability=0.1,seed=4",
         Fault("slow", delay=2.5, probability=0.1, seed=4)),
        ("reject,code=40310000", Fault("reject", code=40310000)),
        ("partial,fraction=0.5", Fault("partial", fraction=0.5)),
        ("drop,stream=data,every=50,abrupt=no",
         Fault("drop", stream="data", every=50, abrupt=False)),
        ("silent,stream=both,pings=false", Fault("silent", stream="both", pings=False)),
        ("refuse,stream=trading,times=2", Fault("refuse", stream="trading", times=2)),
    ],
)  # fmt: skip
def test_fault_specs(spec: str, expected: Fault) -> None:
    assert Fault.parse(spec) == expected
    assert Fault.from_dict(expected.to_dict()) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("explode", "fault kind 'explode' is not known"),
        ("error", "error fault needs an HTTP status 400-599"),
        ("302", "error fault needs an HTTP status 400-599"),
        ("slow", "slow fault needs delay > 0 seconds"),
        ("partial", "partial fault needs exactly one of qty or fraction"),
        ("drop", "drop fault needs stream=trading, data or both"),
        ("429,times=0", "fault times must be at least 1"),
        ("429,probability=2", "fault probability must be in [0, 1]"),
        ("429,colour=red", "fault: unknown field(s) colour"),
        ("429,times=many", "fault times: 'many' is not a number"),
        ("drop,stream=data,abrupt=maybe", "fault abrupt: 'maybe' is not true or false"),
        ("429,oops", "cannot read 'oops'"),
    ],
)
def test_bad_fault_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Fault.parse(spec)


def test_emulator_faults_from_strings_apply_from_the_start(spx_bars) -> None:
    with Emulator(spx_bars, faults=["500,path=/v2/account,times=1"]) as emu:
        client = emt.trading_client(emu)
        with pytest.raises(APIError):
            client.get_account()
        assert client.get_account().status.value == "ACTIVE"
