"""The start-up reconciliation's message says which side holds what the other lacks."""

from __future__ import annotations

from workbench.live.holdings import FIX, Difference, HoldingsCheck


def test_a_position_only_the_state_holds_is_not_said_to_be_held_by_the_broker() -> None:
    """A flat broker against the state's position (a simulated venue started anew)."""
    check = HoldingsCheck((Difference("position", "SPX", 0.0, 84.4067),), 0, 0)
    text = check.message("s.sqlite")
    assert text.startswith("the broker and s.sqlite disagree on 1 position(s) or open order(s):")
    assert "position SPX: broker 0, state 84.4067" in text
    assert "the state holds 84.4067 more, that the broker does not have" in text
    assert "the broker holds" not in text and "does not explain" not in text


def test_a_position_only_the_broker_holds_is_one_the_state_does_not_explain() -> None:
    check = HoldingsCheck(
        (
            Difference("position", "SPX", 5.0, 0.0),
            Difference("order", "SPX", -5.0, 0.0, "o-1", "manual"),
        ),
        1,
        1,
    )
    text = check.message("s.sqlite")
    assert "disagree on 2 position(s) or open order(s)" in text
    assert "the broker holds 5 more, that the state does not explain" in text
    assert "client order id manual (not sent by this runner)" in text


def test_the_fix_says_what_adopting_does_to_the_state() -> None:
    assert "--adopt-positions" in FIX and "the state then takes the broker's quantities" in FIX
    assert "close them at the broker" in FIX
