"""One typed, synchronous event subscription for everything the control plane changes.

A publisher (a registry) calls ``publish(event)`` after the change is durable
and visible; a subscriber says which event type it wants with
``subscribe(EventType, listener)``. Events are frozen dataclasses (see
``control.changes``), so every subscriber sees the same value.

Contract:

- Listeners are called synchronously, inside ``publish``, in the order they
  subscribed; a listener that wants to do slow work schedules it itself.
- A listener subscribed to a type hears events of that exact type (no
  subclass matching: an event type is a name, not a hierarchy).
- One listener's exception does not stop the others, nor the publisher: it is
  logged with its traceback and the next listener is called. A change that
  was made stays made.
- A listener may publish in turn; that event is delivered completely before
  the outer ``publish`` goes on to its next listener (depth first).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger("lambdalite.bus")

_E = TypeVar("_E")


class EventBus:
    """Listeners by event type; see the module docstring for the contract."""

    def __init__(self) -> None:
        self._listeners: dict[type[Any], list[Callable[[Any], None]]] = {}

    def subscribe(self, event_type: type[_E], listener: Callable[[_E], None]) -> None:
        """``listener`` hears every ``event_type`` event published from now on."""
        self._listeners.setdefault(event_type, []).append(listener)

    def publish(self, event: object) -> None:
        """Call every listener of ``type(event)`` in order; see the module docstring."""
        for listener in tuple(self._listeners.get(type(event), ())):
            try:
                listener(event)
            except Exception:
                # The change is already made and visible: a failing subscriber must not
                # deprive the others of it, nor turn a done change into an error response.
                log.exception("listener %r failed on %r", listener, event)
