"""The EventBridge Scheduler operations (rest-json), over a ``BusStore``-like
document store (``SchedulerStore``) and the shared schedule timer.

A schedule fires its target at the times of its ``at()``, ``rate()`` or ``cron()``
expression in ``ScheduleExpressionTimezone`` (daylight-saving changes follow the
zone), between ``StartDate`` and ``EndDate``; with a FLEXIBLE FlexibleTimeWindow
each firing is delivered at a random time within ``MaximumWindowInMinutes`` after
its scheduled time, as AWS does (drawn from an injected ``random.Random``, so tests
are deterministic; the drawn time is stored with the firing, so a restart keeps it). The target gets
``Input`` (``{}`` when none): a function through the durable async queue, a queue
(FIFO: ``SqsParameters.MessageGroupId``), a topic, or a bus (an event with
``EventBridgeParameters``' source and detail-type). A target that refuses the
firing is retried as its ``RetryPolicy`` says (the backoff and limits of
services/events/retries.py; each pending retry is a ``retry`` document in the
store, holding the target, so it survives a restart and the schedule's deletion),
then the firing goes to ``DeadLetterConfig``'s queue. A schedule with no more firings
(an ``at()`` that fired, an ``EndDate`` passed) is deleted when its
``ActionAfterCompletion`` is ``DELETE``.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from lambdalite.auth.authorize_context import invoking_as_service
from lambdalite.clock import Clock
from lambdalite.events.cron import ScheduleError, parse_schedule
from lambdalite.events.periodic import Periodic
from lambdalite.events.schedule_timer import ScheduleTimer
from lambdalite.events.service_targets import QueueTarget, Siblings, message_target
from lambdalite.events.targets import DeliveryError, Target
from lambdalite.protocol.errors import ServiceFault
from lambdalite.services.events.retries import POLL_S, RetryPolicy, backoff
from lambdalite.store.scheduler_docs import SchedulerStore
from lambdalite.store.schedules import Firing, ScheduleStore

log = logging.getLogger("lambdalite.scheduler")

Request = dict[str, Any]
Result = dict[str, Any]

DEFAULT_GROUP = "default"
TIMER_PREFIX = "scheduler/"
_NAME = re.compile(r"^[0-9a-zA-Z\-_.]{1,64}$")
_SERVICES = ("lambda", "sqs", "sns", "events")


def _validation(message: str) -> ServiceFault:
    return ServiceFault("ValidationException", message)


def _conflict(message: str) -> ServiceFault:
    return ServiceFault("ConflictException", message, 409)


def _not_found(message: str) -> ServiceFault:
    return ServiceFault("ResourceNotFoundException", message, 404)


class SchedulerService:
    def __init__(
        self,
        store: SchedulerStore,
        clock: Clock,
        siblings: Siblings,
        timers: ScheduleStore | None,
        rng: random.Random | None = None,
    ) -> None:
        """``rng``: where a flexible window's delays come from (a seeded one in tests)."""
        self._store = store
        self._rng = rng or random.Random()
        self.retries = Periodic(clock, self.retry_due, "scheduler retries")
        self._pending: dict[str, dict[str, Any]] = {r["Id"]: r for r in store.documents("retry")}
        self._clock = clock
        self._siblings = siblings
        self._region = siblings.region
        self._account = siblings.account
        self._groups: dict[str, dict[str, Any]] = {g["Name"]: g for g in store.documents("group")}
        self._schedules: dict[tuple[str, str], dict[str, Any]] = {
            (s["GroupName"], s["Name"]): s for s in store.documents("schedule")
        }
        if DEFAULT_GROUP not in self._groups:
            now = clock.now()
            self._put_group(
                {"Name": DEFAULT_GROUP, "CreationDate": now, "LastModificationDate": now, "Tags": []}
            )
        self.timer = (
            None
            if timers is None
            else ScheduleTimer(timers, clock, self._fire, prefix=TIMER_PREFIX, delay=self._window_delay)
        )
        for schedule in self._schedules.values():
            self._time(schedule)

    # -- naming --------------------------------------------------------------

    def group_arn(self, name: str) -> str:
        return f"arn:aws:scheduler:{self._region}:{self._account}:schedule-group/{name}"

    def schedule_arn(self, group: str, name: str) -> str:
        return f"arn:aws:scheduler:{self._region}:{self._account}:schedule/{group}/{name}"

    @staticmethod
    def _key(group: str, name: str) -> str:
        return f"{TIMER_PREFIX}{group}/{name}"

    # -- groups --------------------------------------------------------------

    def _put_group(self, group: dict[str, Any]) -> None:
        self._store.put("group", group["Name"], group)
        self._groups[group["Name"]] = group

    def _group(self, name: str | None) -> dict[str, Any]:
        group = self._groups.get(name or DEFAULT_GROUP)
        if group is None:
            raise _not_found(f"Schedule group {name} does not exist.")
        return group

    async def create_schedule_group(self, request: Request) -> Result:
        name = request["Name"]
        if not _NAME.match(name):
            raise _validation(f"Invalid schedule group name {name}.")
        if name in self._groups:
            raise _conflict(f"Schedule group {name} already exists.")
        now = self._clock.now()
        self._put_group(
            {
                "Name": name,
                "CreationDate": now,
                "LastModificationDate": now,
                "Tags": request.get("Tags") or [],
            }
        )
        return {"ScheduleGroupArn": self.group_arn(name)}

    def _group_view(self, group: Mapping[str, Any]) -> Result:
        return {
            "Arn": self.group_arn(group["Name"]),
            "Name": group["Name"],
            "State": "ACTIVE",
            "CreationDate": group["CreationDate"],
            "LastModificationDate": group["LastModificationDate"],
        }

    async def get_schedule_group(self, request: Request) -> Result:
        return self._group_view(self._group(request["Name"]))

    async def list_schedule_groups(self, request: Request) -> Result:
        prefix = request.get("NamePrefix") or ""
        return {
            "ScheduleGroups": [
                self._group_view(g) for n, g in sorted(self._groups.items()) if n.startswith(prefix)
            ]
        }

    async def delete_schedule_group(self, request: Request) -> Result:
        name = request["Name"]
        if name == DEFAULT_GROUP:
            raise _validation("Cannot delete the default schedule group.")
        self._group(name)
        for group, schedule in [key for key in self._schedules if key[0] == name]:
            self._delete(group, schedule)
        self._store.delete("group", name)
        del self._groups[name]
        return {}

    # -- schedules -----------------------------------------------------------

    def _checked(self, request: Request) -> dict[str, Any]:
        name = request["Name"]
        if not _NAME.match(name):
            raise _validation(f"Invalid schedule name {name}.")
        group = self._group(request.get("GroupName"))["Name"]
        expression = request["ScheduleExpression"]
        zone = request.get("ScheduleExpressionTimezone") or "UTC"
        try:
            parse_schedule(expression, zone, one_time=True)
        except ScheduleError as exc:
            if str(exc) == zone:
                raise _validation(f"Invalid time zone {zone}.") from exc
            raise _validation(f"Invalid Schedule Expression {expression}.") from exc
        window = request["FlexibleTimeWindow"]
        if window.get("Mode") not in ("OFF", "FLEXIBLE"):
            raise _validation(f"Invalid FlexibleTimeWindow Mode {window.get('Mode')}.")
        if window["Mode"] == "FLEXIBLE" and not 1 <= int(window.get("MaximumWindowInMinutes") or 0) <= 1440:
            raise _validation("MaximumWindowInMinutes must be between 1 and 1440 when Mode is FLEXIBLE.")
        if window["Mode"] == "OFF" and window.get("MaximumWindowInMinutes") is not None:
            raise _validation("MaximumWindowInMinutes must not be set when Mode is OFF.")
        target = request["Target"]
        service = target["Arn"].split(":")[2] if target["Arn"].count(":") >= 5 else ""
        if service not in _SERVICES:
            raise _validation(
                f"Invalid target {target['Arn']}: lambdalite delivers to Lambda, SQS, SNS and EventBridge."
            )
        start, end = request.get("StartDate"), request.get("EndDate")
        if start is not None and end is not None and _epoch(end) <= _epoch(start):
            raise _validation("The EndDate must be after the StartDate.")
        state = request.get("State") or "ENABLED"
        if state not in ("ENABLED", "DISABLED"):
            raise _validation(f"Invalid State {state}.")
        action = request.get("ActionAfterCompletion") or "NONE"
        if action not in ("NONE", "DELETE"):
            raise _validation(f"Invalid ActionAfterCompletion {action}.")
        schedule: dict[str, Any] = {
            "Name": name,
            "GroupName": group,
            "ScheduleExpression": expression,
            "ScheduleExpressionTimezone": zone,
            "State": state,
            "Target": target,
            "FlexibleTimeWindow": window,
            "ActionAfterCompletion": action,
        }
        for member in ("Description", "KmsKeyArn"):
            if request.get(member) is not None:
                schedule[member] = request[member]
        for member in ("StartDate", "EndDate"):
            if request.get(member) is not None:
                schedule[member] = _epoch(request[member])
        return schedule

    async def create_schedule(self, request: Request) -> Result:
        schedule = self._checked(request)
        key = (schedule["GroupName"], schedule["Name"])
        if key in self._schedules:
            raise _conflict(f"Schedule {schedule['Name']} already exists.")
        now = self._clock.now()
        schedule["CreationDate"] = schedule["LastModificationDate"] = now
        self._save(schedule)
        return {"ScheduleArn": self.schedule_arn(*key)}

    async def update_schedule(self, request: Request) -> Result:
        schedule = self._checked(request)
        key = (schedule["GroupName"], schedule["Name"])
        existing = self._schedules.get(key)
        if existing is None:
            raise _not_found(f"Schedule {schedule['Name']} does not exist.")
        schedule["CreationDate"] = existing["CreationDate"]
        schedule["LastModificationDate"] = self._clock.now()
        if self.timer is not None:
            self.timer.remove(self._key(*key))
        self._save(schedule)
        return {"ScheduleArn": self.schedule_arn(*key)}

    def _save(self, schedule: dict[str, Any]) -> None:
        key = (schedule["GroupName"], schedule["Name"])
        self._store.put("schedule", "/".join(key), schedule)
        self._schedules[key] = schedule
        self._time(schedule)

    def _time(self, schedule: Mapping[str, Any]) -> None:
        if self.timer is None:
            return
        key = self._key(schedule["GroupName"], schedule["Name"])
        if schedule["State"] == "ENABLED":
            self.timer.set(key, schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"])
        else:
            self.timer.remove(key)

    def _schedule(self, group: str | None, name: str) -> dict[str, Any]:
        group_name = self._group(group)["Name"]
        schedule = self._schedules.get((group_name, name))
        if schedule is None:
            raise _not_found(f"Schedule {name} does not exist.")
        return schedule

    async def get_schedule(self, request: Request) -> Result:
        schedule = self._schedule(request.get("GroupName"), request["Name"])
        return {"Arn": self.schedule_arn(schedule["GroupName"], schedule["Name"]), **schedule}

    async def list_schedules(self, request: Request) -> Result:
        group = request.get("GroupName")
        prefix = request.get("NamePrefix") or ""
        state = request.get("State")
        found = [
            {
                "Arn": self.schedule_arn(s["GroupName"], s["Name"]),
                "Name": s["Name"],
                "GroupName": s["GroupName"],
                "State": s["State"],
                "CreationDate": s["CreationDate"],
                "LastModificationDate": s["LastModificationDate"],
                "Target": {"Arn": s["Target"]["Arn"]},
            }
            for key, s in sorted(self._schedules.items())
            if (group is None or key[0] == group)
            and key[1].startswith(prefix)
            and (state is None or s["State"] == state)
        ]
        return {"Schedules": found}

    async def delete_schedule(self, request: Request) -> Result:
        schedule = self._schedule(request.get("GroupName"), request["Name"])
        self._delete(schedule["GroupName"], schedule["Name"])
        return {}

    def _delete(self, group: str, name: str) -> None:
        self._store.delete("schedule", f"{group}/{name}")
        self._schedules.pop((group, name), None)
        if self.timer is not None:
            self.timer.remove(self._key(group, name))

    # -- tags ----------------------------------------------------------------

    def _tagged(self, arn: str) -> dict[str, Any]:
        for name, group in self._groups.items():
            if self.group_arn(name) == arn:
                return group
        raise _not_found(f"Schedule group {arn.rsplit('/', 1)[-1]} does not exist.")

    async def tag_resource(self, request: Request) -> Result:
        group = self._tagged(request["ResourceArn"])
        tags = {t["Key"]: t["Value"] for t in group.get("Tags") or []} | {
            t["Key"]: t["Value"] for t in request["Tags"]
        }
        group["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        self._put_group(group)
        return {}

    async def untag_resource(self, request: Request) -> Result:
        group = self._tagged(request["ResourceArn"])
        removed = set(request["TagKeys"])
        group["Tags"] = [t for t in group.get("Tags") or [] if t["Key"] not in removed]
        self._put_group(group)
        return {}

    async def list_tags_for_resource(self, request: Request) -> Result:
        return {"Tags": self._tagged(request["ResourceArn"]).get("Tags") or []}

    # -- firing --------------------------------------------------------------

    def _window_delay(self, key: str) -> float:
        """Seconds after its scheduled time at which a firing of ``key`` is delivered:
        uniform within a FLEXIBLE window, none when the window is OFF."""
        group, _, name = key.removeprefix(TIMER_PREFIX).partition("/")
        schedule = self._schedules.get((group, name))
        window = (schedule or {}).get("FlexibleTimeWindow") or {}
        if window.get("Mode") != "FLEXIBLE":
            return 0.0
        return self._rng.uniform(0.0, float(window["MaximumWindowInMinutes"]) * 60.0)

    async def _fire(self, firing: Firing) -> None:
        group, _, name = firing.key.removeprefix(TIMER_PREFIX).partition("/")
        schedule = self._schedules.get((group, name))
        if schedule is None:
            return
        start, end = schedule.get("StartDate"), schedule.get("EndDate")
        if (start is None or firing.scheduled_at >= start) and (end is None or firing.scheduled_at <= end):
            await self._deliver(schedule, firing)
        if self._finished(schedule, firing.scheduled_at) and schedule["ActionAfterCompletion"] == "DELETE":
            log.warning("schedule %s/%s completed: deleted (ActionAfterCompletion DELETE)", group, name)
            self._delete(group, name)

    @staticmethod
    def _finished(schedule: Mapping[str, Any], after: float) -> bool:
        parsed = parse_schedule(
            schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"], one_time=True
        )
        following = parsed.next_after(after, after)
        end = schedule.get("EndDate")
        return following is None or (end is not None and following > end)

    async def _deliver(self, schedule: Mapping[str, Any], firing: Firing) -> None:
        retry = {
            "Id": firing.id,
            "ScheduleArn": self.schedule_arn(schedule["GroupName"], schedule["Name"]),
            "Target": schedule["Target"],
            "Key": firing.key,
            "ScheduledAt": firing.scheduled_at,
            "Retries": 0,
            "FirstFailedAt": None,
        }
        await self._attempt(retry)

    async def _attempt(self, retry: dict[str, Any]) -> None:
        """Send the firing ``retry`` describes to its target; on failure store its next
        retry or, its RetryPolicy run out, send it to the dead-letter queue."""
        target: Mapping[str, Any] = retry["Target"]
        arn = retry["ScheduleArn"]
        payload = str(target.get("Input") or "{}").encode()
        firing = Firing(retry["Id"], retry["Key"], retry["ScheduledAt"])
        try:
            # Under sigv4 a function target is invoked when its policy allows scheduler.amazonaws.com
            # for this schedule, or the schedule's RoleArn allows lambda:InvokeFunction.
            with invoking_as_service(
                "scheduler.amazonaws.com", arn, arn.split(":")[4], target.get("RoleArn")
            ):
                await self._target(target, firing).send(payload, {})
        except DeliveryError as exc:
            now = self._clock.now()
            first = now if retry["FirstFailedAt"] is None else retry["FirstFailedAt"]
            due = now + backoff(retry["Retries"], self._rng)
            condition = RetryPolicy.of(target).exhausted(retry["Retries"], first, due)
            if condition is None:
                log.info("schedule %s will retry in %.1fs: %s", arn, due - now, exc)
                self._remember({**retry, "FirstFailedAt": first, "DueAt": due, "Error": str(exc)})
                return
            self._forget(retry["Id"])
            log.warning("schedule %s could not deliver: %s", arn, exc)
            await self._dead_letter(retry, payload, str(exc), condition)
            return
        self._forget(retry["Id"])

    def _remember(self, retry: dict[str, Any]) -> None:
        self._store.put("retry", retry["Id"], retry)
        self._pending[retry["Id"]] = retry

    def _forget(self, retry_id: str) -> None:
        if self._pending.pop(retry_id, None) is not None:
            self._store.delete("retry", retry_id)

    async def retry_due(self) -> float:
        """Make every retry due now; returns how long to sleep before the next pass."""
        now = self._clock.now()
        for retry in sorted(self._pending.values(), key=lambda r: float(r["DueAt"])):
            if retry["DueAt"] <= now:
                await self._attempt({**retry, "Retries": retry["Retries"] + 1})
        soonest = min((float(r["DueAt"]) for r in self._pending.values()), default=now + POLL_S)
        return max(0.0, min(POLL_S, soonest - self._clock.now()))

    async def _dead_letter(self, retry: Mapping[str, Any], payload: bytes, why: str, condition: str) -> None:
        target: Mapping[str, Any] = retry["Target"]
        dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
        if not dlq:
            return
        attributes = {
            "ERROR_CODE": ("String", "TargetNotFound"),
            "ERROR_MESSAGE": ("String", why[:1024]),
            "SCHEDULE_ARN": ("String", str(retry["ScheduleArn"])),
            "TARGET_ARN": ("String", str(target["Arn"])),
            "EXHAUSTED_RETRY_CONDITION": ("String", condition),
            "RETRY_ATTEMPTS": ("Number", str(retry["Retries"])),
        }
        try:
            await QueueTarget(dlq, self._siblings).send(payload, attributes)
        except DeliveryError as dead:
            log.warning(
                "schedule %s: its dead-letter queue refused the firing: %s", retry["ScheduleArn"], dead
            )

    def _target(self, target: Mapping[str, Any], firing: Firing) -> Target:
        if ":event-bus/" in target["Arn"]:
            return _BusTarget(
                target["Arn"], self._siblings, target.get("EventBridgeParameters") or {}, firing
            )
        return message_target(target, self._siblings)


class _BusTarget:
    """A bus as a schedule's target: one event with EventBridgeParameters' source and detail-type."""

    def __init__(self, arn: str, siblings: Siblings, parameters: Mapping[str, Any], firing: Firing) -> None:
        self.arn = arn
        self._siblings = siblings
        self._parameters = parameters
        self._firing = firing

    async def send(self, body: bytes, attributes: Any) -> None:
        del attributes
        buses = self._siblings.buses()
        if buses is None or not buses.has_bus(self.arn):
            raise DeliveryError(f"no event bus {self.arn} exists")
        try:
            detail = orjson.loads(body)
        except orjson.JSONDecodeError:
            detail = {}
        source = str(self._parameters.get("Source") or "aws.scheduler")
        detail_type = str(self._parameters.get("DetailType") or "Scheduled Event")
        event = buses.new_event(source, detail_type, [], detail if isinstance(detail, dict) else {})
        event["time"] = datetime.fromtimestamp(self._firing.scheduled_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        await buses.put_internal(self.arn, event)


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)
