"""The control plane's event subscription: typed, synchronous, in order, and one
listener's failure does not deprive the others."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lambdalite.control.bus import EventBus


@dataclass(frozen=True, slots=True)
class Happened:
    what: str


@dataclass(frozen=True, slots=True)
class Other:
    what: str


@dataclass(frozen=True, slots=True)
class SpecialHappened(Happened):
    pass


def test_listeners_hear_their_type_only_in_the_order_they_subscribed() -> None:
    bus = EventBus()
    heard: list[str] = []
    bus.subscribe(Happened, lambda event: heard.append(f"first {event.what}"))
    bus.subscribe(Other, lambda event: heard.append(f"other {event.what}"))
    bus.subscribe(Happened, lambda event: heard.append(f"second {event.what}"))
    bus.publish(Happened("a"))
    assert heard == ["first a", "second a"]
    bus.publish(Other("b"))
    bus.publish(SpecialHappened("c"))  # exact type: a subclass is an event type of its own
    assert heard == ["first a", "second a", "other b"]


def test_publishing_with_no_listener_is_fine() -> None:
    EventBus().publish(Happened("nobody listens"))


def test_a_failing_listener_is_logged_and_the_others_still_hear(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    heard: list[str] = []

    def broken(event: Happened) -> None:
        raise RuntimeError("listener bug")

    bus.subscribe(Happened, lambda event: heard.append(f"before {event.what}"))
    bus.subscribe(Happened, broken)
    bus.subscribe(Happened, lambda event: heard.append(f"after {event.what}"))
    with caplog.at_level("ERROR", logger="lambdalite.bus"):
        bus.publish(Happened("x"))  # does not raise
    assert heard == ["before x", "after x"]
    assert "listener bug" in caplog.text


def test_an_event_published_by_a_listener_is_delivered_before_the_next_listener() -> None:
    bus = EventBus()
    heard: list[str] = []
    bus.subscribe(Happened, lambda event: bus.publish(Other(f"from {event.what}")))
    bus.subscribe(Other, lambda event: heard.append(event.what))
    bus.subscribe(Happened, lambda event: heard.append(f"late {event.what}"))
    bus.publish(Happened("a"))
    assert heard == ["from a", "late a"]


def test_a_listener_subscribed_while_publishing_hears_the_next_event() -> None:
    bus = EventBus()
    heard: list[str] = []
    bus.subscribe(Happened, lambda event: bus.subscribe(Happened, lambda e: heard.append(e.what)))
    bus.publish(Happened("first"))
    assert heard == []
    bus.publish(Happened("second"))
    assert heard == ["second"]
