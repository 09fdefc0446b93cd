"""``GET /v2/account/activities`` paging, as Alpaca documents it: "If date is not
specified, the default and maximum value [of page_size] is 100. If date is specified,
the default behavior is to return all results, and there is no maximum page size";
``after`` and ``until`` "Cannot be used with date"."""

from __future__ import annotations

import pandas as pd
import pytest
import requests

from workbench.emulator import Emulator
from workbench.emulator import testing as emt

FILLS = 101  # one more than a page


@pytest.fixture
def filled(bars_emulator: Emulator) -> Emulator:
    """101 one-share buys of AAA, all filled on the first bar (one day)."""
    emu = bars_emulator
    for k in range(FILLS):
        answer = requests.post(
            f"{emu.base_url}/v2/orders",
            json={"symbol": "AAA", "qty": "1", "side": "buy", "type": "market",
                  "time_in_force": "day", "client_order_id": f"buy-{k}"},
            headers=emt.headers(emu),
            timeout=10,
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
    emu.step()
    return emu


def _activities(emu: Emulator, **query: str) -> requests.Response:
    return requests.get(
        f"{emu.base_url}/v2/account/activities/FILL",
        params=query,
        headers=emt.headers(emu),
        timeout=10,
    )


def test_a_page_is_100_without_a_date_and_all_of_the_day_with_one(filled: Emulator) -> None:
    first = _activities(filled).json()
    assert len(first) == 100
    assert len(_activities(filled, page_token=first[-1]["id"]).json()) == FILLS - 100
    day = str(pd.Timestamp(first[0]["transaction_time"]).date())
    assert len(_activities(filled, date=day).json()) == FILLS
    assert len(_activities(filled, date=day, page_size="101").json()) == FILLS
    assert len(_activities(filled, date=day, page_size="7").json()) == 7
    refused = _activities(filled, page_size="500")  # as Alpaca's paper API answers it
    assert (refused.status_code, refused.json()) == (422, {
        "code": 40010001, "message": "tried to set the page size to 500, but the maximum is 100"
    })  # fmt: skip


@pytest.mark.parametrize("bound", ["after", "until"])
def test_date_cannot_be_used_with_after_or_until(filled: Emulator, bound: str) -> None:
    answer = _activities(filled, date="2024-01-01", **{bound: "2024-01-01T00:00:00Z"})
    assert answer.status_code == 422 and answer.json()["code"] == 40010001


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v2/account/activities/FFFFF", {}),
        ("/v2/account/activities", {"activity_types": "FILL,FFFFF"}),
    ],
)
def test_an_unknown_activity_type_is_422(bars_emulator: Emulator, path, query) -> None:
    """Alpaca answers ``GET /v2/account/activities/FFFFF`` 422 ``{"code":40010001,
    "message":"invalid activity type: FFFFF"}`` (a recorded answer, jrusso1020/alpaca_elixir);
    a type no emulated account has (DIV) lists nothing."""
    url, headers = bars_emulator.base_url, emt.headers(bars_emulator)
    answer = requests.get(url + path, params=query, headers=headers, timeout=10)
    assert answer.status_code == 422
    assert answer.json() == {"code": 40010001, "message": "invalid activity type: FFFFF"}
    known = requests.get(url + "/v2/account/activities/DIV", headers=headers, timeout=10)
    assert (known.status_code, known.json()) == (200, [])
