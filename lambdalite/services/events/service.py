"""The EventBridge operations: typed handlers on the JSON protocol, over a ``BusStore``.

Every bus keeps a ``PatternIndex`` of its enabled pattern rules, so PutEvents finds
the rules an event matches without testing each. Each matched rule's targets get
the event (or its ``Input``/``InputPath``/``InputTransformer`` form) before
PutEvents answers: a function through the durable async-invocation queue, a queue
and a topic through their services, another bus by putting the event on it. A
delivery that fails for a passing reason (throttling, a timeout, a 5xx) is retried
as the target's RetryPolicy says (services/events/retries.py), the retry stored in
the bus store before it waits so a restart does not lose it; when the policy runs
out, or at once when no retry could help (the target is gone, a policy denies
EventBridge, the target refuses the event), the event goes to the target's
DeadLetterConfig queue with AWS's attributes (``RULE_ARN``, ``TARGET_ARN``,
``ERROR_CODE``, ``ERROR_MESSAGE``; ``EXHAUSTED_RETRY_CONDITION`` and
``RETRY_ATTEMPTS`` when retries ran out).

Rules with a ScheduleExpression (default bus only) are fired by the schedule timer
(events/schedule_timer.py): AWS's scheduled event (``source`` ``aws.events``,
``detail-type`` ``Scheduled Event``, ``resources`` the rule's ARN, ``detail`` ``{}``,
``time`` the scheduled time) goes to the rule's targets.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from lambdalite.auth.authorize_context import invoking_as_service
from lambdalite.clock import Clock
from lambdalite.events.cron import ScheduleError, parse_schedule
from lambdalite.events.patterns import Dialect, PatternError, PatternIndex, compile_pattern
from lambdalite.events.periodic import Periodic
from lambdalite.events.schedule_timer import ScheduleTimer
from lambdalite.events.service_targets import QueueTarget, Siblings, message_target
from lambdalite.events.targets import DeliveryError
from lambdalite.protocol.errors import ServiceFault
from lambdalite.services.events import errors
from lambdalite.services.events.retries import POLL_S, Failure, RetryPolicy, backoff, failure_of
from lambdalite.services.events.transform import MISSING, PathError, extract, fill_template, parse_path
from lambdalite.store.buses import BusRecord, BusStore, RetryRecord, RuleRecord
from lambdalite.store.schedules import Firing, ScheduleStore

log = logging.getLogger("lambdalite.events")

Request = dict[str, Any]
Result = dict[str, Any]

DEFAULT_BUS = "default"
SCHEDULE_KEY = "rule/"
MAX_ENTRIES = 10
MAX_PUT_EVENTS_BYTES = 262_144
MAX_TARGETS = 5
MAX_RULES_PER_BUS = 300
MAX_BUS_HOPS = 5
_RULE_NAME = re.compile(r"^[\.\-_A-Za-z0-9]{1,64}$")
_BUS_NAME = re.compile(r"^[/\.\-_A-Za-z0-9]{1,256}$")
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((\S+ \S+ \S+ \S+ \S+ \S+)\)$")
_STATES = ("ENABLED", "DISABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")
_EVENT_FIELDS = ("id", "account", "source", "time", "region", "detail-type")
_PREDEFINED = (
    "aws.events.rule-arn",
    "aws.events.rule-name",
    "aws.events.event",
    "aws.events.event.ingestion-time",
)


@dataclass(slots=True)
class Bus:
    record: BusRecord
    rules: dict[str, RuleRecord] = field(default_factory=dict)
    index: PatternIndex[str] = field(default_factory=PatternIndex)


class EventsService:
    """Every EventBridge operation lambdalite serves. Runs on the event loop's thread."""

    def __init__(
        self,
        store: BusStore,
        clock: Clock,
        siblings: Siblings,
        schedules: ScheduleStore | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """``rng``: the retries' jitter (a seeded one in tests)."""
        self._store = store
        self._rng = rng or random.Random()
        self.retries = Periodic(clock, self.retry_due, "events retries")
        self._clock = clock
        self._siblings = siblings
        self._region = siblings.region
        self._account = siblings.account
        self._buses: dict[str, Bus] = {record.name: Bus(record) for record in store.buses()}
        if DEFAULT_BUS not in self._buses:
            now = clock.now()
            default = BusRecord(DEFAULT_BUS, now, now)
            store.put_bus(default)
            self._buses[DEFAULT_BUS] = Bus(default)
        self.timer = (
            None
            if schedules is None
            else ScheduleTimer(schedules, clock, self._fire_schedule, prefix=SCHEDULE_KEY)
        )
        for rule in store.rules():
            bus = self._buses.get(rule.bus)
            if bus is not None:
                bus.rules[rule.name] = rule
                self._index(bus, rule)
                self._time(rule)

    # -- schedules -----------------------------------------------------------

    def _time(self, rule: RuleRecord) -> None:
        """Start, keep or stop the rule's schedule to match its state."""
        if self.timer is None:
            return
        key = SCHEDULE_KEY + rule.name
        if rule.schedule and rule.state != "DISABLED" and rule.bus == DEFAULT_BUS:
            self.timer.set(key, rule.schedule)
        else:
            self.timer.remove(key)

    async def _fire_schedule(self, firing: Firing) -> None:
        name = firing.key.removeprefix(SCHEDULE_KEY)
        rule = self._buses[DEFAULT_BUS].rules.get(name)
        if rule is None or not firing.key.startswith(SCHEDULE_KEY):
            return
        event = self.new_event("aws.events", "Scheduled Event", [self.rule_arn(rule)], {})
        event["id"] = firing.id
        event["time"] = _event_time(firing.scheduled_at)
        outbox = _Outbox()
        for target in rule.targets:
            if ":event-bus/" in target["Arn"] and self.has_bus(target["Arn"]):
                self._route(self._bus(target["Arn"]), event, 1, outbox)
            else:
                outbox.add(rule, target, event)
        await self._flush(outbox)

    # -- naming --------------------------------------------------------------

    def bus_arn(self, name: str) -> str:
        return f"arn:aws:events:{self._region}:{self._account}:event-bus/{name}"

    def rule_arn(self, rule: RuleRecord) -> str:
        path = rule.name if rule.bus == DEFAULT_BUS else f"{rule.bus}/{rule.name}"
        return f"arn:aws:events:{self._region}:{self._account}:rule/{path}"

    def _bus_name(self, name_or_arn: str | None) -> str:
        if not name_or_arn:
            return DEFAULT_BUS
        marker = ":event-bus/"
        return name_or_arn.split(marker, 1)[1] if marker in name_or_arn else name_or_arn

    def _bus(self, name_or_arn: str | None) -> Bus:
        name = self._bus_name(name_or_arn)
        bus = self._buses.get(name)
        if bus is None:
            raise errors.bus_not_found(name)
        return bus

    def has_bus(self, arn: str) -> bool:
        return arn.startswith(self.bus_arn("")) and self._bus_name(arn) in self._buses

    def _rule(self, bus: Bus, name: str) -> RuleRecord:
        rule = bus.rules.get(name)
        if rule is None:
            raise errors.rule_not_found(name, bus.record.name)
        return rule

    @staticmethod
    def _index(bus: Bus, rule: RuleRecord) -> None:
        if rule.event_pattern and rule.state != "DISABLED":
            bus.index.put(rule.name, compile_pattern(rule.event_pattern))
        else:
            bus.index.remove(rule.name)

    # -- buses ---------------------------------------------------------------

    async def create_event_bus(self, request: Request) -> Result:
        name: str = request["Name"]
        if not _BUS_NAME.match(name) or name.startswith("aws."):
            raise errors.validation(f"Event bus name {name} is not valid.")
        if name in self._buses:
            raise errors.already_exists(f"Event bus {name} already exists.")
        if request.get("EventSourceName"):
            raise errors.not_found(f"Event source {request['EventSourceName']} does not exist.")
        now = self._clock.now()
        record = BusRecord(name, now, now, request.get("Description") or "", _tags(request.get("Tags") or []))
        self._store.put_bus(record)
        self._buses[name] = Bus(record)
        result: Result = {"EventBusArn": self.bus_arn(name)}
        if record.description:
            result["Description"] = record.description
        return result

    async def describe_event_bus(self, request: Request) -> Result:
        bus = self._bus(request.get("Name"))
        return self._bus_view(bus.record)

    def _bus_view(self, record: BusRecord) -> Result:
        view: Result = {
            "Name": record.name,
            "Arn": self.bus_arn(record.name),
            "CreationTime": record.created,
            "LastModifiedTime": record.modified,
        }
        if record.description:
            view["Description"] = record.description
        return view

    async def list_event_buses(self, request: Request) -> Result:
        prefix = request.get("NamePrefix") or ""
        names = sorted(name for name in self._buses if name.startswith(prefix))
        page, token = _page(names, request.get("NextToken"), request.get("Limit"))
        result: Result = {"EventBuses": [self._bus_view(self._buses[name].record) for name in page]}
        if token:
            result["NextToken"] = token
        return result

    async def delete_event_bus(self, request: Request) -> Result:
        name = request["Name"]
        if name == DEFAULT_BUS:
            raise errors.validation("Cannot delete event bus default.")
        if name in self._buses:
            self._store.delete_bus(name)
            del self._buses[name]
        return {}

    # -- rules ---------------------------------------------------------------

    async def put_rule(self, request: Request) -> Result:
        name: str = request["Name"]
        if not _RULE_NAME.match(name):
            raise errors.validation(
                f"1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: "
                "Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"
            )
        bus = self._bus(request.get("EventBusName"))
        pattern = request.get("EventPattern")
        schedule = request.get("ScheduleExpression")
        if not pattern and not schedule:
            raise errors.validation("Parameter(s) EventPattern or ScheduleExpression must be specified.")
        if pattern:
            try:
                compile_pattern(pattern, Dialect.EVENTS)
            except PatternError as exc:
                raise errors.invalid_pattern(exc.reason) from exc
        if schedule:
            if bus.record.name != DEFAULT_BUS:
                raise errors.validation("ScheduleExpression is supported only on the default event bus.")
            check_schedule(schedule)
        state = request.get("State") or "ENABLED"
        if state not in _STATES:
            raise errors.validation(f"Parameter State is not valid. Value: {state}")
        existing = bus.rules.get(name)
        if existing is None and len(bus.rules) >= MAX_RULES_PER_BUS:
            raise errors.limit_exceeded("The requested resource exceeds the maximum number allowed.")
        rule = RuleRecord(
            name,
            bus.record.name,
            existing.created if existing else self._clock.now(),
            state,
            pattern or None,
            schedule or None,
            request.get("Description"),
            request.get("RoleArn"),
            existing.targets if existing else [],
            (existing.tags if existing else {}) | _tags(request.get("Tags") or []),
        )
        self._store.put_rule(rule)
        bus.rules[name] = rule
        self._index(bus, rule)
        self._time(rule)
        return {"RuleArn": self.rule_arn(rule)}

    def _rule_view(self, rule: RuleRecord) -> Result:
        view: Result = {
            "Name": rule.name,
            "Arn": self.rule_arn(rule),
            "State": rule.state,
            "EventBusName": rule.bus,
        }
        for key, value in (
            ("EventPattern", rule.event_pattern),
            ("ScheduleExpression", rule.schedule),
            ("Description", rule.description),
            ("RoleArn", rule.role_arn),
        ):
            if value is not None:
                view[key] = value
        return view

    async def describe_rule(self, request: Request) -> Result:
        bus = self._bus(request.get("EventBusName"))
        view = self._rule_view(self._rule(bus, request["Name"]))
        view["CreatedBy"] = self._account
        return view

    async def list_rules(self, request: Request) -> Result:
        bus = self._bus(request.get("EventBusName"))
        prefix = request.get("NamePrefix") or ""
        names = sorted(name for name in bus.rules if name.startswith(prefix))
        page, token = _page(names, request.get("NextToken"), request.get("Limit"))
        result: Result = {"Rules": [self._rule_view(bus.rules[name]) for name in page]}
        if token:
            result["NextToken"] = token
        return result

    async def list_rule_names_by_target(self, request: Request) -> Result:
        bus = self._bus(request.get("EventBusName"))
        arn = request["TargetArn"]
        names = sorted(name for name, rule in bus.rules.items() if any(t["Arn"] == arn for t in rule.targets))
        page, token = _page(names, request.get("NextToken"), request.get("Limit"))
        result: Result = {"RuleNames": page}
        if token:
            result["NextToken"] = token
        return result

    async def enable_rule(self, request: Request) -> Result:
        return self._set_state(request, "ENABLED")

    async def disable_rule(self, request: Request) -> Result:
        return self._set_state(request, "DISABLED")

    def _set_state(self, request: Request, state: str) -> Result:
        bus = self._bus(request.get("EventBusName"))
        rule = self._rule(bus, request["Name"])
        rule.state = state
        self._store.put_rule(rule)
        self._index(bus, rule)
        self._time(rule)
        return {}

    async def delete_rule(self, request: Request) -> Result:
        bus = self._bus(request.get("EventBusName"))
        rule = bus.rules.get(request["Name"])
        if rule is None:
            return {}
        if rule.targets and not request.get("Force"):
            raise errors.validation("Rule can't be deleted since it has targets.")
        self._store.delete_rule(bus.record.name, rule.name)
        del bus.rules[rule.name]
        bus.index.remove(rule.name)
        rule.schedule = None
        self._time(rule)
        return {}

    async def test_event_pattern(self, request: Request) -> Result:
        try:
            pattern = compile_pattern(request["EventPattern"], Dialect.EVENTS)
        except PatternError as exc:
            raise errors.invalid_pattern(exc.reason) from exc
        try:
            event = orjson.loads(request["Event"])
        except orjson.JSONDecodeError as exc:
            raise errors.validation("Parameter Event is not valid.") from exc
        if not isinstance(event, dict) or any(name not in event for name in _EVENT_FIELDS):
            raise errors.validation("Parameter Event is not valid.")
        return {"Result": pattern.matches(event)}

    # -- targets -------------------------------------------------------------

    async def put_targets(self, request: Request) -> Result:
        bus = self._bus(request.get("EventBusName"))
        rule = self._rule(bus, request["Rule"])
        targets: list[dict[str, Any]] = request["Targets"]
        merged = {target["Id"]: target for target in rule.targets}
        failed: list[Result] = []
        for target in targets:
            problem = self._target_problem(target)
            if problem is not None:
                failed.append(
                    {
                        "TargetId": target["Id"],
                        "ErrorCode": problem.fault_code,
                        "ErrorMessage": problem.message,
                    }
                )
                continue
            merged[target["Id"]] = target
        if len(merged) > MAX_TARGETS:
            raise errors.limit_exceeded("The requested resource exceeds the maximum number allowed.")
        rule.targets = list(merged.values())
        self._store.put_rule(rule)
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    def _target_problem(self, target: Mapping[str, Any]) -> ServiceFault | None:
        given = [key for key in ("Input", "InputPath", "InputTransformer") if target.get(key) is not None]
        if len(given) > 1:
            raise errors.validation("Only one of Input, InputPath, or InputTransformer must be provided.")
        if target.get("Input") is not None:
            try:
                orjson.loads(target["Input"])
            except orjson.JSONDecodeError as exc:
                raise errors.validation("Target Input is not a valid JSON text.") from exc
        if target.get("InputPath") is not None:
            try:
                parse_path(target["InputPath"])
            except PathError as exc:
                raise errors.validation(
                    f"Target InputPath {target['InputPath']} is not a valid JSON path."
                ) from exc
        transformer = target.get("InputTransformer")
        if transformer is not None:
            for key, path in (transformer.get("InputPathsMap") or {}).items():
                if key.startswith("aws.events."):
                    raise errors.validation(f"Input path key {key} is reserved.")
                try:
                    parse_path(path)
                except PathError as exc:
                    raise errors.validation(f"Input path {path} is not a valid JSON path.") from exc
        arn = target["Arn"]
        service = arn.split(":")[2] if arn.count(":") >= 5 else ""
        if service not in ("lambda", "sqs", "sns", "events"):
            return errors.validation(
                f"Parameter {arn} is not valid. Reason: lambdalite does not deliver to {service or arn}."
            )
        return None

    async def remove_targets(self, request: Request) -> Result:
        bus = self._bus(request.get("EventBusName"))
        rule = self._rule(bus, request["Rule"])
        ids = set(request["Ids"])
        known = {target["Id"] for target in rule.targets}
        rule.targets = [target for target in rule.targets if target["Id"] not in ids]
        self._store.put_rule(rule)
        failed = [
            {
                "TargetId": target_id,
                "ErrorCode": "ResourceNotFoundException",
                "ErrorMessage": f"Target {target_id} not found.",
            }
            for target_id in request["Ids"]
            if target_id not in known
        ]
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    async def list_targets_by_rule(self, request: Request) -> Result:
        bus = self._bus(request.get("EventBusName"))
        rule = self._rule(bus, request["Rule"])
        by_id = {target["Id"]: target for target in rule.targets}
        page, token = _page(list(by_id), request.get("NextToken"), request.get("Limit"))
        result: Result = {"Targets": [by_id[target_id] for target_id in page]}
        if token:
            result["NextToken"] = token
        return result

    # -- tags ----------------------------------------------------------------

    def _tagged(self, arn: str) -> BusRecord | RuleRecord:
        for bus in self._buses.values():
            if self.bus_arn(bus.record.name) == arn:
                return bus.record
            for rule in bus.rules.values():
                if self.rule_arn(rule) == arn:
                    return rule
        name = arn.rsplit("/", 1)[-1]
        kind = "Rule" if ":rule/" in arn else "Event bus"
        raise errors.not_found(f"{kind} {name} does not exist.")

    def _save(self, item: BusRecord | RuleRecord) -> None:
        if isinstance(item, BusRecord):
            self._store.put_bus(item)
        else:
            self._store.put_rule(item)

    async def tag_resource(self, request: Request) -> Result:
        item = self._tagged(request["ResourceARN"])
        item.tags = item.tags | _tags(request["Tags"])
        self._save(item)
        return {}

    async def untag_resource(self, request: Request) -> Result:
        item = self._tagged(request["ResourceARN"])
        item.tags = {k: v for k, v in item.tags.items() if k not in set(request["TagKeys"])}
        self._save(item)
        return {}

    async def list_tags_for_resource(self, request: Request) -> Result:
        item = self._tagged(request["ResourceARN"])
        return {"Tags": [{"Key": key, "Value": value} for key, value in item.tags.items()]}

    # -- events --------------------------------------------------------------

    def new_event(self, source: str, detail_type: str, resources: list[str], detail: Any) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": source,
            "account": self._account,
            "time": _event_time(self._clock.now()),
            "region": self._region,
            "resources": resources,
            "detail": detail,
        }

    async def put_events(self, request: Request) -> Result:
        entries: list[dict[str, Any]] = request["Entries"]
        if not entries or len(entries) > MAX_ENTRIES:
            bound = "greater than or equal to 1" if not entries else "less than or equal to 10"
            raise errors.validation(
                "1 validation error detected: Value at 'entries' failed to satisfy constraint: "
                f"Member must have length {bound}"
            )
        if sum(_entry_size(entry) for entry in entries) > MAX_PUT_EVENTS_BYTES:
            raise errors.validation("Total size of the entries in the request is over the limit.")
        results: list[Result] = []
        failed = 0
        outbox = _Outbox()
        for entry in entries:
            event_or_error = self._event_of(entry)
            if isinstance(event_or_error, dict):
                results.append(event_or_error)
                failed += 1
                continue
            bus, event = event_or_error
            self._route(bus, event, 0, outbox)
            results.append({"EventId": event["id"]})
        await self._flush(outbox)
        return {"FailedEntryCount": failed, "Entries": results}

    def _event_of(self, entry: Mapping[str, Any]) -> Any:
        for member in ("Source", "DetailType", "Detail"):
            if not entry.get(member):
                return _entry_error(
                    "InvalidArgument",
                    f"Parameter {member} is not valid. Reason: {member} is a required argument.",
                )
        try:
            detail = orjson.loads(entry["Detail"])
        except orjson.JSONDecodeError:
            return _entry_error("MalformedDetail", "Detail is malformed.")
        if not isinstance(detail, dict):
            return _entry_error("MalformedDetail", "Detail is malformed.")
        name = self._bus_name(entry.get("EventBusName"))
        bus = self._buses.get(name)
        if bus is None:
            return _entry_error("InvalidArgument", f"Event bus {name} does not exist.")
        event = self.new_event(
            entry["Source"], entry["DetailType"], list(entry.get("Resources") or []), detail
        )
        if entry.get("Time") is not None:
            event["time"] = _event_time(
                entry["Time"].timestamp() if isinstance(entry["Time"], datetime) else float(entry["Time"])
            )
        return bus, event

    async def put_internal(self, bus_arn: str, event: dict[str, Any]) -> None:
        outbox = _Outbox()
        self._route(self._bus(bus_arn), event, 0, outbox)
        await self._flush(outbox)

    def _route(self, bus: Bus, event: dict[str, Any], hops: int, outbox: _Outbox) -> None:
        """Put what ``event`` owes each target of each rule it matches in ``outbox``."""
        if not len(bus.index):
            return
        for name in bus.index.matching(event):
            rule = bus.rules.get(name)
            if rule is None:
                continue
            for target in rule.targets:
                arn: str = target["Arn"]
                if ":event-bus/" not in arn:
                    outbox.add(rule, target, event)
                elif hops >= MAX_BUS_HOPS or not self.has_bus(arn):
                    failure = (
                        Failure(
                            "INVALID_PARAMETER", f"the event crossed {MAX_BUS_HOPS} buses", retriable=False
                        )
                        if self.has_bus(arn)
                        else Failure("NO_RESOURCE", f"no event bus {arn} exists", retriable=False)
                    )
                    outbox.failed.append((rule, target, event, failure))
                else:
                    self._route(self._bus(arn), event, hops + 1, outbox)

    async def _flush(self, outbox: _Outbox) -> None:
        """Deliver the outbox: a queue's messages in batches of 10 (one durable write
        each), every other target one by one; what fails goes to its dead-letter queue."""
        sends = [self._send_batch(items) for items in outbox.batches()]
        sends.extend(self._send_one(rule, target, event) for rule, target, event in outbox.single)
        if sends:
            await asyncio.gather(*sends)
        for rule, target, event, failure in outbox.failed:
            await self._dead_letter(rule, target, event, failure)

    async def _send_batch(self, items: list[tuple[RuleRecord, Mapping[str, Any], dict[str, Any]]]) -> None:
        rule, target, _ = items[0]
        group = (target.get("SqsParameters") or {}).get("MessageGroupId")
        try:
            bodies = [self._input(r, t, e) for r, t, e in items]
            # Under sigv4 the queue's policy must allow events.amazonaws.com for this rule.
            with invoking_as_service("events.amazonaws.com", self.rule_arn(rule), self._account):
                await QueueTarget(target["Arn"], self._siblings, group).send_batch(bodies)
        except DeliveryError:
            for item in items:
                await self._send_one(*item)

    async def _send_one(self, rule: RuleRecord, target: Mapping[str, Any], event: dict[str, Any]) -> None:
        try:
            await self._deliver(rule, target, event)
        except DeliveryError as exc:
            await self._failed(rule, target, event, failure_of(exc), 0, self._clock.now(), None)

    async def _deliver(self, rule: RuleRecord, target: Mapping[str, Any], event: dict[str, Any]) -> None:
        # Under sigv4 a function target's policy must allow events.amazonaws.com for this rule.
        with invoking_as_service("events.amazonaws.com", self.rule_arn(rule), self._account):
            await message_target(target, self._siblings).send(self._input(rule, target, event), {})

    async def _failed(
        self,
        rule: RuleRecord,
        target: Mapping[str, Any],
        event: dict[str, Any],
        failure: Failure,
        retries: int,
        first_failed_at: float,
        retry_id: str | None,
    ) -> None:
        """A delivery failed after ``retries`` retries: store the next retry, or (the
        failure is not retriable, or the RetryPolicy ran out) send the event to the
        dead-letter queue."""
        if not failure.retriable:
            if retry_id is not None:
                self._store.delete_retry(retry_id)
            await self._dead_letter(rule, target, event, failure)
            return
        why = failure.message
        policy = RetryPolicy.of(target)
        due = self._clock.now() + backoff(retries, self._rng)
        condition = policy.exhausted(retries, first_failed_at, due)
        if condition is None:
            record = RetryRecord(
                retry_id or str(uuid.uuid4()),
                rule.bus,
                rule.name,
                str(target["Id"]),
                event,
                retries,
                first_failed_at,
                due,
                why,
            )
            self._store.put_retry(record)
            log.info(
                "events: rule %s will retry %s in %.1fs: %s",
                rule.name,
                target["Arn"],
                due - self._clock.now(),
                why,
            )
            return
        if retry_id is not None:
            self._store.delete_retry(retry_id)
        await self._dead_letter(rule, target, event, failure, (condition, retries))

    async def retry_due(self) -> float:
        """Make every retry due now; returns how long to sleep before the next pass."""
        while due := self._store.due_retries(self._clock.now(), 100):
            for retry in due:
                await self._retry(retry)
        following = self._store.next_retry_at()
        if following is None:
            return POLL_S
        return max(0.0, min(POLL_S, following - self._clock.now()))

    async def _retry(self, retry: RetryRecord) -> None:
        bus = self._buses.get(retry.bus)
        rule = None if bus is None else bus.rules.get(retry.rule)
        target = None if rule is None else next((t for t in rule.targets if t["Id"] == retry.target_id), None)
        if rule is None or target is None:
            # The rule or target was removed while the event waited: nothing owes it a delivery.
            log.warning("events: dropping a retry for %s/%s: the target is gone", retry.rule, retry.target_id)
            self._store.delete_retry(retry.id)
            return
        try:
            await self._deliver(rule, target, retry.event)
        except DeliveryError as exc:
            await self._failed(
                rule, target, retry.event, failure_of(exc), retry.retries + 1, retry.first_failed_at, retry.id
            )
            return
        self._store.delete_retry(retry.id)

    def _input(self, rule: RuleRecord, target: Mapping[str, Any], event: dict[str, Any]) -> bytes:
        if target.get("Input") is not None:
            return str(target["Input"]).encode()
        if target.get("InputPath") is not None:
            value = extract(event, parse_path(target["InputPath"]))
            return orjson.dumps(None if value is MISSING else value)
        transformer = target.get("InputTransformer")
        if transformer is None:
            return orjson.dumps(event)
        values: dict[str, Any] = {
            name: extract(event, parse_path(path))
            for name, path in (transformer.get("InputPathsMap") or {}).items()
        }
        values["aws.events.rule-arn"] = self.rule_arn(rule)
        values["aws.events.rule-name"] = rule.name
        values["aws.events.event.ingestion-time"] = event["time"]
        values["aws.events.event"] = event
        values["aws.events.event.json"] = event
        return fill_template(transformer["InputTemplate"], values).encode()

    async def _dead_letter(
        self,
        rule: RuleRecord,
        target: Mapping[str, Any],
        event: dict[str, Any],
        failure: Failure,
        exhausted: tuple[str, int] | None = None,
    ) -> None:
        """``exhausted``: the RetryPolicy limit that ran out and the retries made (None:
        the failure was not retried)."""
        dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
        log.warning(
            "events: rule %s could not deliver to %s (%s): %s",
            rule.name,
            target["Arn"],
            failure.code,
            failure.message,
        )
        if not dlq:
            return
        attributes = {
            "RULE_ARN": ("String", self.rule_arn(rule)),
            "TARGET_ARN": ("String", str(target["Arn"])),
            "ERROR_CODE": ("String", failure.code),
            "ERROR_MESSAGE": ("String", failure.message[:1024]),
        }
        if exhausted is not None:
            attributes["EXHAUSTED_RETRY_CONDITION"] = ("String", exhausted[0])
            attributes["RETRY_ATTEMPTS"] = ("Number", str(exhausted[1]))
        try:
            # The dead-letter queue's policy, too, must allow events.amazonaws.com for this rule.
            with invoking_as_service("events.amazonaws.com", self.rule_arn(rule), self._account):
                await QueueTarget(dlq, self._siblings).send(orjson.dumps(event), attributes)
        except DeliveryError as exc:
            log.warning("events: dead-letter queue %s of rule %s refused the event: %s", dlq, rule.name, exc)


class _Outbox:
    """What one PutEvents owes its targets, gathered before anything is sent."""

    def __init__(self) -> None:
        self.queued: dict[
            tuple[str, str, str, str], list[tuple[RuleRecord, Mapping[str, Any], dict[str, Any]]]
        ] = {}
        """By queue, message group and rule (bus and name): a batch is sent as one rule's."""
        self.single: list[tuple[RuleRecord, Mapping[str, Any], dict[str, Any]]] = []
        self.failed: list[tuple[RuleRecord, Mapping[str, Any], dict[str, Any], Failure]] = []

    def add(self, rule: RuleRecord, target: Mapping[str, Any], event: dict[str, Any]) -> None:
        arn: str = target["Arn"]
        if arn.startswith("arn:aws:sqs:") and not target.get("DeadLetterConfig"):
            group = str((target.get("SqsParameters") or {}).get("MessageGroupId") or "")
            self.queued.setdefault((arn, group, rule.bus, rule.name), []).append((rule, target, event))
        else:
            self.single.append((rule, target, event))

    def batches(self) -> list[list[tuple[RuleRecord, Mapping[str, Any], dict[str, Any]]]]:
        return [
            items[start : start + 10] for items in self.queued.values() for start in range(0, len(items), 10)
        ]


def check_schedule(expression: str) -> None:
    """Refuse, with AWS's error, what is not a ``rate(...)`` or ``cron(...)`` AWS takes."""
    try:
        parse_schedule(expression)
    except ScheduleError as exc:
        raise errors.validation("Parameter ScheduleExpression is not valid.") from exc


def _entry_error(code: str, message: str) -> Result:
    return {"ErrorCode": code, "ErrorMessage": message}


def _entry_size(entry: Mapping[str, Any]) -> int:
    """AWS's accounting of an entry's size: Time (14 bytes when set), the UTF-8 lengths
    of Source, DetailType and Detail, and of each resource."""
    size = 14 if entry.get("Time") is not None else 0
    for member in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(member) or "").encode())
    size += sum(len(str(resource).encode()) for resource in entry.get("Resources") or [])
    return size


def _event_time(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tags(tags: list[dict[str, str]]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tags}


def _page(items: list[str], token: str | None, limit: int | None) -> tuple[list[str], str | None]:
    start = 0
    if token:
        try:
            start = int(token)
        except ValueError as exc:
            raise errors.validation("The NextToken provided is invalid.") from exc
    size = limit or 100
    page = items[start : start + size]
    return page, str(start + size) if start + size < len(items) else None
