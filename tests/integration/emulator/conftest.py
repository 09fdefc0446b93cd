"""Fixtures for tests against the Alpaca emulator (reusable by the broker contract tests).

- ``emulator``: a started :class:`~workbench.emulator.Emulator` on 127.0.0.1 over the
  sample S&P 500 daily bars (symbol ``SPX``), replay starting 2010-01-04 (1999-2009 is
  history), 100,000 cash, no costs; its keys are ``emulator.key`` / ``emulator.secret``
  (``test-key-id`` / ``test-secret-value``).
- ``bars_emulator``: the same over the small hand-made series ``hand_frames`` (symbol
  ``AAA``, 8 daily bars from 2024-01-01) whose fills are computed by hand.
- ``streaming_broker``: ``bars_emulator`` and a :class:`~workbench.brokers.alpaca.AlpacaBroker`
  on it whose trade stream listens already, closed after the test.
- ``trading_client`` / ``data_client``: alpaca-py clients for ``emulator`` (no 3 s
  retry sleeps); ``trading_stream()`` / ``data_stream(*symbols)``: started SDK streams
  (:class:`workbench.emulator.testing.StreamThread`), stopped after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest

from workbench.emulator import Emulator
from workbench.emulator import testing as emt

KEY = "test-key-id"
SECRET = "test-secret-value"
#: Hand-made daily bars of symbol AAA: (open, high, low, close, volume).
HAND_BARS = [
    (100.0, 101.0, 99.0, 100.0, 1000.0),  # 2024-01-01 Mon
    (101.0, 103.0, 100.0, 102.0, 1000.0),  # 2024-01-02
    (102.0, 104.0, 98.0, 99.0, 1000.0),  # 2024-01-03
    (99.0, 100.0, 95.0, 96.0, 1000.0),  # 2024-01-04
    (96.0, 99.0, 94.0, 98.0, 1000.0),  # 2024-01-05
    (98.0, 105.0, 97.0, 104.0, 1000.0),  # 2024-01-08
    (104.0, 106.0, 103.0, 105.0, 1000.0),  # 2024-01-09
    (105.0, 107.0, 104.0, 106.0, 1000.0),  # 2024-01-10
]


@pytest.fixture
def hand_frames() -> dict[str, pd.DataFrame]:
    index = pd.bdate_range("2024-01-01", periods=len(HAND_BARS), tz="UTC", name="time")
    columns = ["open", "high", "low", "close", "volume"]
    return {"AAA": pd.DataFrame(HAND_BARS, index=index, columns=columns)}


@pytest.fixture(scope="session")
def spx_bars() -> dict[str, pd.DataFrame]:
    from workbench.data.sources import load_symbols

    return load_symbols("sample:SPX")


@pytest.fixture
def emulator(spx_bars: dict[str, pd.DataFrame]) -> Iterator[Emulator]:
    with Emulator(spx_bars, key=KEY, secret=SECRET, replay_from="2010-01-04") as emu:
        yield emu


@pytest.fixture
def bars_emulator(hand_frames: dict[str, pd.DataFrame]) -> Iterator[Emulator]:
    with Emulator(hand_frames, key=KEY, secret=SECRET) as emu:
        yield emu


@pytest.fixture
def streaming_broker(bars_emulator: Emulator) -> Iterator[tuple[Emulator, Any]]:
    from workbench.brokers.alpaca import AlpacaBroker

    emu = bars_emulator
    broker = AlpacaBroker(KEY, SECRET, url=emu.base_url, stream_url=emu.trading_stream_url)
    broker.start_stream()
    try:
        emt.wait_until(
            lambda: emu.state()["connections"]["trading_ready"] >= 1,
            timeout=30,
            what="the trade stream listening",
        )
        yield emu, broker
    finally:
        broker.close()


@pytest.fixture
def trading_client(emulator: Emulator) -> Any:
    return emt.trading_client(emulator)


@pytest.fixture
def data_client(emulator: Emulator) -> Any:
    return emt.data_client(emulator)


@pytest.fixture
def trading_stream(emulator: Emulator) -> Iterator[Callable[..., emt.StreamThread]]:
    made: list[emt.StreamThread] = []

    def make(ready: bool = True, **kwargs: Any) -> emt.StreamThread:
        made.append(emt.trading_stream(emulator, ready=False, **kwargs))
        if ready:
            made[-1].wait_ready()
        return made[-1]

    yield make
    for runner in made:
        runner.stop()


@pytest.fixture
def data_stream(emulator: Emulator) -> Iterator[Callable[..., emt.StreamThread]]:
    made: list[emt.StreamThread] = []

    def make(*symbols: str, ready: bool = True, **kwargs: Any) -> emt.StreamThread:
        made.append(emt.data_stream(emulator, *symbols, ready=False, **kwargs))
        if ready:
            made[-1].wait_ready()
        return made[-1]

    yield make
    for runner in made:
        runner.stop()
