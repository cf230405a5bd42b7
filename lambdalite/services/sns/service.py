"""The SNS operations: typed handlers on the protocol layer, over a ``TopicStore``.

Publish fans a message out to the topic's confirmed subscriptions whose filter
policy matches it (events/patterns.py, SNS dialects). Lambda and SQS deliveries are
durable before Publish answers (the function's event is in the async queue, the
queue's message in its store); HTTP(S) deliveries are sent in the background.
FIFO topics need a MessageGroupId, drop a deduplication id seen in the last 5
minutes (kept in memory: a restart forgets them) and number their messages.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from lambdalite.auth.authorize_context import invoking_as_service
from lambdalite.clock import Clock
from lambdalite.events.patterns import Dialect, Pattern, PatternError, compile_pattern, sns_attribute_document
from lambdalite.protocol.errors import ServiceFault
from lambdalite.protocol.front import current_call
from lambdalite.services.access import LabelExists, LabelMissing, with_statement, without_statement
from lambdalite.services.sns import errors
from lambdalite.services.sns.delivery import (
    Deliverer,
    Notification,
    envelope,
    iso_time,
    lambda_record,
    sqs_attributes,
)
from lambdalite.services.sns.permissions import GRANTABLE, TopicGate
from lambdalite.store.topics import SubscriptionRecord, TopicRecord, TopicStore

Request = dict[str, Any]
Result = dict[str, Any]

MAX_MESSAGE_BYTES = 262_144
MAX_BATCH = 10
MAX_TAGS = 50
PAGE = 100
DEDUP_INTERVAL_S = 300.0
PENDING = "pending confirmation"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_FIFO_NAME = re.compile(r"^[A-Za-z0-9_-]{1,251}\.fifo$")
_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_FIFO_NAME_MESSAGE = (
    "Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII "
    "letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long."
)
TOPIC_ATTRIBUTES = frozenset(
    {
        "DisplayName",
        "Policy",
        "DeliveryPolicy",
        "KmsMasterKeyId",
        "SignatureVersion",
        "TracingConfig",
        "FifoTopic",
        "ContentBasedDeduplication",
        "ArchivePolicy",
        "FifoThroughputScope",
        "DataProtectionPolicy",
    }
)
SUBSCRIPTION_ATTRIBUTES = frozenset(
    {
        "DeliveryPolicy",
        "FilterPolicy",
        "FilterPolicyScope",
        "RawMessageDelivery",
        "RedrivePolicy",
        "SubscriptionRoleArn",
        "ReplayPolicy",
    }
)
PROTOCOLS = frozenset(
    {"http", "https", "email", "email-json", "sms", "sqs", "application", "lambda", "firehose"}
)
DELIVERED = frozenset({"http", "https", "sqs", "lambda"})
RAW_PROTOCOLS = frozenset({"http", "https", "sqs", "firehose"})


@dataclass(slots=True)
class Subscription:
    record: SubscriptionRecord
    policy: Pattern | None
    body_scope: bool

    @property
    def raw(self) -> bool:
        return self.record.attributes.get("RawMessageDelivery", "false") == "true"

    def accepts(self, note: Notification) -> bool:
        if self.policy is None:
            return True
        if self.body_scope:
            try:
                document = orjson.loads(note.message)
            except orjson.JSONDecodeError:
                return False
            return isinstance(document, dict) and self.policy.matches(document)
        return self.policy.matches(sns_attribute_document(note.attributes))


class SnsService:
    """Every SNS operation lambdalite serves. Runs on the event loop's thread."""

    def __init__(
        self, store: TopicStore, clock: Clock, region: str, account_id: str, deliverer: Deliverer
    ) -> None:
        self._store = store
        self._clock = clock
        self._region = region
        self._account = account_id
        self._deliver = deliverer
        self._topics: dict[str, TopicRecord] = {topic.arn: topic for topic in store.topics()}
        self._subscriptions: dict[str, Subscription] = {}
        self._by_topic: dict[str, dict[str, Subscription]] = {}
        """Topic ARN -> its subscriptions by ARN: a publish looks at its own topic's only."""
        for record in store.subscriptions():
            self._keep(self._compiled(record))
        self._sequence = 0
        self.host = "localhost"
        self.gate: TopicGate | None = None
        """Under ``--auth sigv4``: checks the publishes of sibling services (``SnsFront`` sets it)."""

    def _keep(self, subscription: Subscription) -> None:
        arn = subscription.record.arn
        self._subscriptions[arn] = subscription
        self._by_topic.setdefault(subscription.record.topic_arn, {})[arn] = subscription

    def _drop(self, arn: str) -> None:
        subscription = self._subscriptions.pop(arn, None)
        if subscription is not None:
            self._by_topic.get(subscription.record.topic_arn, {}).pop(arn, None)

    def _of_topic(self, topic_arn: str) -> list[Subscription]:
        return list(self._by_topic.get(topic_arn, {}).values())

    # -- naming --------------------------------------------------------------

    def topic_arn(self, name: str) -> str:
        return f"arn:aws:sns:{self._region}:{self._account}:{name}"

    def signing_cert_url(self) -> str:
        return f"http://{self.host}/_lambdalite/sns/SimpleNotificationService.pem"

    def unsubscribe_url(self, subscription_arn: str) -> str:
        return f"http://{self.host}/?Action=Unsubscribe&SubscriptionArn={subscription_arn}"

    def _called(self) -> None:
        self.host = current_call().host

    def _topic(self, arn: str | None) -> TopicRecord:
        topic = self._topics.get(arn or "")
        if topic is None:
            raise errors.topic_not_found()
        return topic

    def has_topic(self, arn: str) -> bool:
        return arn in self._topics

    def topic_record(self, arn: str) -> TopicRecord | None:
        return self._topics.get(arn)

    def policy_in_effect(self, topic: TopicRecord) -> str:
        """The topic's Policy: the one set, or the default AWS gives a new topic."""
        return topic.attributes.get("Policy") or self._default_policy(topic.arn)

    @staticmethod
    def _fifo(topic: TopicRecord) -> bool:
        return topic.attributes.get("FifoTopic") == "true"

    # -- topics --------------------------------------------------------------

    async def create_topic(self, request: Request) -> Result:
        self._called()
        name: str = request["Name"]
        given = dict(request.get("Attributes") or {})
        if request.get("DataProtectionPolicy"):
            given["DataProtectionPolicy"] = request["DataProtectionPolicy"]
        fifo = given.get("FifoTopic", "false").lower() == "true"
        if fifo and not _FIFO_NAME.match(name):
            raise errors.invalid_parameter(_FIFO_NAME_MESSAGE)
        if not fifo and not _NAME.match(name):
            raise errors.invalid_parameter("Topic Name")
        attributes = self._checked_topic_attributes(given, fifo=fifo, creating=True)
        tags = self._tags(request.get("Tags") or [])
        arn = self.topic_arn(name)
        existing = self._topics.get(arn)
        if existing is not None:
            current = self._fifo_defaults(existing.attributes)
            if any(current.get(key) != value for key, value in self._fifo_defaults(attributes).items()):
                raise errors.invalid_parameter(
                    "Attributes Reason: Topic already exists with different attributes"
                )
            if tags and any(existing.tags.get(key) != value for key, value in tags.items()):
                raise errors.invalid_parameter("Tags Reason: Topic already exists with different tags")
            return {"TopicArn": arn}
        topic = TopicRecord(arn, name, self._clock.now(), attributes, tags)
        self._store.put_topic(topic)
        self._topics[arn] = topic
        return {"TopicArn": arn}

    @staticmethod
    def _fifo_defaults(attributes: Mapping[str, str]) -> dict[str, str]:
        values = dict(attributes)
        if values.get("FifoTopic") == "true":
            values.setdefault("ContentBasedDeduplication", "false")
        else:
            values.pop("FifoTopic", None)
        return values

    def _checked_topic_attributes(
        self, given: Mapping[str, str], *, fifo: bool, creating: bool
    ) -> dict[str, str]:
        values: dict[str, str] = {}
        for key, value in given.items():
            if key not in TOPIC_ATTRIBUTES or (key == "FifoTopic" and not creating):
                raise errors.invalid_parameter("AttributeName")
            if key in ("FifoTopic", "ContentBasedDeduplication"):
                if value.lower() not in ("true", "false"):
                    raise errors.invalid_parameter(f"Attributes Reason: {key}: Invalid value [{value}]")
                value = value.lower()
                if key == "ContentBasedDeduplication" and not fifo:
                    raise errors.invalid_parameter(
                        "Attributes Reason: Content-based deduplication can only be set for FIFO topics"
                    )
            if key in ("Policy", "DeliveryPolicy") and value:
                try:
                    orjson.loads(value)
                except orjson.JSONDecodeError as exc:
                    raise errors.invalid_parameter(f"Attributes Reason: {key}: failed to parse JSON") from exc
            values[key] = value
        if fifo:
            values["FifoTopic"] = "true"
        else:
            values.pop("FifoTopic", None)
        return values

    async def delete_topic(self, request: Request) -> Result:
        arn = request["TopicArn"]
        if arn in self._topics:
            self._store.delete_topic(arn)
            del self._topics[arn]
            for sub_arn in list(self._by_topic.get(arn, {})):
                self._drop(sub_arn)
        return {}

    async def list_topics(self, request: Request) -> Result:
        arns = sorted(self._topics)
        page, token = self._page(arns, request.get("NextToken"))
        result: Result = {"Topics": [{"TopicArn": arn} for arn in page]}
        if token:
            result["NextToken"] = token
        return result

    @staticmethod
    def _page(items: list[str], token: str | None) -> tuple[list[str], str | None]:
        start = 0
        if token:
            try:
                start = int(token)
            except ValueError as exc:
                raise errors.invalid_parameter("NextToken") from exc
        page = items[start : start + PAGE]
        return page, str(start + PAGE) if start + PAGE < len(items) else None

    async def get_topic_attributes(self, request: Request) -> Result:
        topic = self._topic(request["TopicArn"])
        subs = [s.record for s in self._of_topic(topic.arn)]
        attributes = {
            "TopicArn": topic.arn,
            "Owner": self._account,
            "Policy": self.policy_in_effect(topic),
            "DisplayName": topic.attributes.get("DisplayName", ""),
            "SubscriptionsConfirmed": str(sum(1 for s in subs if not s.pending)),
            "SubscriptionsPending": str(sum(1 for s in subs if s.pending)),
            "SubscriptionsDeleted": "0",
            "EffectiveDeliveryPolicy": _EFFECTIVE_DELIVERY_POLICY,
        }
        attributes.update({k: v for k, v in topic.attributes.items() if k not in ("Policy", "DisplayName")})
        if self._fifo(topic):
            attributes.setdefault("ContentBasedDeduplication", "false")
        return {"Attributes": attributes}

    def _default_policy(self, arn: str) -> str:
        actions = [
            "SNS:GetTopicAttributes",
            "SNS:SetTopicAttributes",
            "SNS:AddPermission",
            "SNS:RemovePermission",
            "SNS:DeleteTopic",
            "SNS:Subscribe",
            "SNS:ListSubscriptionsByTopic",
            "SNS:Publish",
        ]
        policy = {
            "Version": "2008-10-17",
            "Id": "__default_policy_ID",
            "Statement": [
                {
                    "Sid": "__default_statement_ID",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": actions,
                    "Resource": arn,
                    "Condition": {"StringEquals": {"AWS:SourceOwner": self._account}},
                }
            ],
        }
        return orjson.dumps(policy).decode()

    async def add_permission(self, request: Request) -> Result:
        """A statement in the topic's Policy (the default one when none was set):
        ``Label`` as its Sid, the accounts' roots allowed ``ActionName`` on the topic."""
        topic = self._topic(request["TopicArn"])
        label: str = request["Label"]
        actions: list[str] = request["ActionName"]
        accounts: list[str] = request["AWSAccountId"]
        if not actions or not accounts:
            raise errors.invalid_parameter("ActionName" if not actions else "AWSAccountId")
        if any(action not in GRANTABLE for action in actions):
            raise errors.invalid_parameter("Policy statement action out of service scope!")
        try:
            policy = with_statement(
                self.policy_in_effect(topic),
                label,
                accounts,
                [f"SNS:{action}" for action in actions],
                topic.arn,
                "__default_policy_ID",
            )
        except LabelExists as exc:
            raise errors.invalid_parameter("Statement already exists") from exc
        self._update_attributes(topic, {"Policy": policy})
        return {}

    async def remove_permission(self, request: Request) -> Result:
        """Drop the statement labelled ``Label``; a label the policy lacks is no error."""
        topic = self._topic(request["TopicArn"])
        try:
            policy = without_statement(self.policy_in_effect(topic), request["Label"])
        except LabelMissing:
            return {}
        self._update_attributes(topic, {"Policy": policy})
        return {}

    async def set_topic_attributes(self, request: Request) -> Result:
        topic = self._topic(request["TopicArn"])
        name = request["AttributeName"]
        values = self._checked_topic_attributes(
            {name: request.get("AttributeValue") or ""}, fifo=self._fifo(topic), creating=False
        )
        self._update_attributes(topic, values)
        return {}

    def _update_attributes(self, topic: TopicRecord, values: Mapping[str, str]) -> None:
        updated = TopicRecord(
            topic.arn, topic.name, topic.created, topic.attributes | dict(values), topic.tags
        )
        self._store.put_topic(updated)
        self._topics[topic.arn] = updated

    # -- tags ----------------------------------------------------------------

    def _tags(self, tags: list[dict[str, str]]) -> dict[str, str]:
        result: dict[str, str] = {}
        for tag in tags:
            key, value = tag.get("Key", ""), tag.get("Value", "")
            if not 1 <= len(key) <= 128 or key.startswith("aws:"):
                raise errors.invalid_parameter(f"Tags Reason: Invalid tag key {key}")
            if len(value) > 256:
                raise errors.invalid_parameter(f"Tags Reason: Invalid tag value {value}")
            result[key] = value
        if len(result) > MAX_TAGS:
            raise errors.tag_limit()
        return result

    def _tagged(self, arn: str) -> TopicRecord:
        topic = self._topics.get(arn)
        if topic is None:
            raise errors.resource_not_found()
        return topic

    async def tag_resource(self, request: Request) -> Result:
        topic = self._tagged(request["ResourceArn"])
        tags = topic.tags | self._tags(request["Tags"])
        if len(tags) > MAX_TAGS:
            raise errors.tag_limit()
        self._replace_tags(topic, tags)
        return {}

    async def untag_resource(self, request: Request) -> Result:
        topic = self._tagged(request["ResourceArn"])
        removed = set(request["TagKeys"])
        self._replace_tags(topic, {k: v for k, v in topic.tags.items() if k not in removed})
        return {}

    def _replace_tags(self, topic: TopicRecord, tags: dict[str, str]) -> None:
        updated = TopicRecord(topic.arn, topic.name, topic.created, topic.attributes, tags)
        self._store.put_topic(updated)
        self._topics[topic.arn] = updated

    async def list_tags_for_resource(self, request: Request) -> Result:
        topic = self._tagged(request["ResourceArn"])
        return {"Tags": [{"Key": key, "Value": value} for key, value in topic.tags.items()]}

    # -- subscriptions -------------------------------------------------------

    def _compiled(self, record: SubscriptionRecord) -> Subscription:
        text = record.attributes.get("FilterPolicy") or ""
        body = record.attributes.get("FilterPolicyScope") == "MessageBody"
        policy = None
        if text and text.strip() != "{}":
            policy = compile_pattern(text, Dialect.SNS_BODY if body else Dialect.SNS_ATTRIBUTES)
        return Subscription(record, policy, body)

    def _check_subscription_attributes(
        self, protocol: str, given: Mapping[str, str], current: Mapping[str, str]
    ) -> dict[str, str]:
        values: dict[str, str] = {}
        for key, value in given.items():
            if key not in SUBSCRIPTION_ATTRIBUTES:
                raise errors.invalid_parameter("AttributeName")
            if key == "RawMessageDelivery":
                if value.lower() not in ("true", "false"):
                    raise errors.invalid_parameter(
                        f"Attributes Reason: RawMessageDelivery: Invalid value [{value}]. "
                        "Must be true or false."
                    )
                if protocol not in RAW_PROTOCOLS:
                    raise errors.invalid_parameter(
                        f"Delivery protocol [{protocol}] does not support raw message delivery."
                    )
                value = value.lower()
            if key == "FilterPolicyScope" and value not in ("MessageAttributes", "MessageBody"):
                raise errors.invalid_parameter(
                    f"FilterPolicyScope: Invalid value [{value}]. "
                    "Please use either MessageBody or MessageAttributes"
                )
            values[key] = value
        merged = dict(current) | values
        policy = merged.get("FilterPolicy") or ""
        if policy and policy.strip() != "{}":
            scope = merged.get("FilterPolicyScope", "MessageAttributes")
            dialect = Dialect.SNS_BODY if scope == "MessageBody" else Dialect.SNS_ATTRIBUTES
            try:
                compile_pattern(policy, dialect)
            except PatternError as exc:
                raise errors.invalid_parameter(f"FilterPolicy: {exc.reason}") from exc
            merged.setdefault("FilterPolicyScope", "MessageAttributes")
        return merged

    def _check_endpoint(self, protocol: str, endpoint: str) -> None:
        if protocol not in PROTOCOLS:
            raise errors.invalid_parameter(f"Amazon SNS does not support this protocol string: {protocol}")
        if protocol not in DELIVERED:
            raise errors.invalid_parameter(
                f"Protocol Reason: lambdalite does not deliver to {protocol} endpoints"
            )
        if protocol == "sqs" and not endpoint.startswith("arn:aws:sqs:"):
            raise errors.invalid_parameter("SQS endpoint ARN")
        if protocol == "lambda" and not endpoint.startswith("arn:aws:lambda:"):
            raise errors.invalid_parameter("Lambda endpoint ARN")
        if protocol in ("http", "https") and not endpoint.lower().startswith(f"{protocol}://"):
            raise errors.invalid_parameter("Endpoint must match the specified protocol")

    async def subscribe(self, request: Request) -> Result:
        self._called()
        topic = self._topic(request["TopicArn"])
        protocol: str = request["Protocol"]
        endpoint: str = request.get("Endpoint") or ""
        self._check_endpoint(protocol, endpoint)
        if protocol == "sqs" and endpoint.endswith(".fifo") and not self._fifo(topic):
            raise errors.invalid_parameter(
                "Invalid parameter: Endpoint Reason: "
                "FIFO SQS Queues can not be subscribed to standard SNS topics"
            )
        attributes = self._check_subscription_attributes(protocol, request.get("Attributes") or {}, {})
        for existing in self._of_topic(topic.arn):
            r = existing.record
            if (r.topic_arn, r.protocol, r.endpoint) == (topic.arn, protocol, endpoint):
                if r.attributes != attributes and attributes:
                    raise errors.invalid_parameter(
                        "Attributes Reason: Subscription already exists with different attributes"
                    )
                show = r.arn if not r.pending or request.get("ReturnSubscriptionArn") else PENDING
                return {"SubscriptionArn": show}
        arn = f"{topic.arn}:{uuid.uuid4()}"
        http = protocol in ("http", "https")
        token = secrets.token_hex(64) if http else None
        record = SubscriptionRecord(arn, topic.arn, protocol, endpoint, attributes, token, self._clock.now())
        self._store.put_subscription(record)
        self._keep(self._compiled(record))
        if token is not None:
            confirmation = orjson.dumps(self._confirmation(record, token))
            self._deliver.to_http(
                endpoint, confirmation, self._headers("SubscriptionConfirmation", record, None)
            )
            return {"SubscriptionArn": arn if request.get("ReturnSubscriptionArn") else PENDING}
        return {"SubscriptionArn": arn}

    def _confirmation(self, record: SubscriptionRecord, token: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "Type": "SubscriptionConfirmation",
            "MessageId": str(uuid.uuid4()),
            "Token": token,
            "TopicArn": record.topic_arn,
            "Message": (
                f"You have chosen to subscribe to the topic {record.topic_arn}.\n"
                "To confirm the subscription, visit the SubscribeURL included in this message."
            ),
            "SubscribeURL": (
                f"http://{self.host}/?Action=ConfirmSubscription&TopicArn={record.topic_arn}&Token={token}"
            ),
            "Timestamp": iso_time(self._clock.now()),
            "SignatureVersion": "1",
        }
        body["Signature"] = hashlib.sha256(orjson.dumps(body)).hexdigest()
        body["SigningCertURL"] = self.signing_cert_url()
        return body

    @staticmethod
    def _headers(kind: str, record: SubscriptionRecord, message_id: str | None) -> dict[str, str]:
        headers = {
            "x-amz-sns-message-type": kind,
            "x-amz-sns-topic-arn": record.topic_arn,
            "User-Agent": "Amazon Simple Notification Service Agent",
        }
        if message_id is not None:
            headers["x-amz-sns-message-id"] = message_id
        if kind != "SubscriptionConfirmation":
            headers["x-amz-sns-subscription-arn"] = record.arn
        if record.attributes.get("RawMessageDelivery") == "true":
            headers["x-amz-sns-rawdelivery"] = "true"
        return headers

    async def confirm_subscription(self, request: Request) -> Result:
        topic = self._topic(request["TopicArn"])
        token = request["Token"]
        for subscription in self._of_topic(topic.arn):
            record = subscription.record
            if record.token == token:
                record.token = None
                self._store.put_subscription(record)
                return {"SubscriptionArn": record.arn}
        raise errors.invalid_parameter("Token")

    async def unsubscribe(self, request: Request) -> Result:
        arn = request["SubscriptionArn"]
        self._check_subscription_arn(arn)
        if arn in self._subscriptions:
            self._store.delete_subscription(arn)
            self._drop(arn)
        return {}

    @staticmethod
    def _check_subscription_arn(arn: str) -> None:
        parts = arn.split(":")
        if len(parts) < 6 or parts[0] != "arn":
            raise errors.invalid_parameter(
                f"SubscriptionArn Reason: An ARN must have at least 6 elements, not {len(parts)}"
            )

    def _subscription(self, arn: str) -> Subscription:
        self._check_subscription_arn(arn)
        subscription = self._subscriptions.get(arn)
        if subscription is None:
            raise errors.subscription_not_found()
        return subscription

    async def get_subscription_attributes(self, request: Request) -> Result:
        record = self._subscription(request["SubscriptionArn"]).record
        attributes = {
            "SubscriptionArn": record.arn,
            "TopicArn": record.topic_arn,
            "Owner": self._account,
            "Protocol": record.protocol,
            "Endpoint": record.endpoint,
            "PendingConfirmation": "true" if record.pending else "false",
            "ConfirmationWasAuthenticated": "false" if record.protocol in ("http", "https") else "true",
            "RawMessageDelivery": "false",
            "SubscriptionPrincipal": f"arn:aws:iam::{self._account}:root",
        }
        attributes.update(record.attributes)
        return {"Attributes": attributes}

    async def set_subscription_attributes(self, request: Request) -> Result:
        subscription = self._subscription(request["SubscriptionArn"])
        record = subscription.record
        given = {request["AttributeName"]: request.get("AttributeValue") or ""}
        attributes = self._check_subscription_attributes(record.protocol, given, record.attributes)
        if not attributes.get("FilterPolicy") or attributes.get("FilterPolicy", "").strip() == "{}":
            attributes.pop("FilterPolicy", None)
        updated = SubscriptionRecord(
            record.arn,
            record.topic_arn,
            record.protocol,
            record.endpoint,
            attributes,
            record.token,
            record.created,
        )
        self._store.put_subscription(updated)
        self._keep(self._compiled(updated))
        return {}

    def _listing(self, records: list[SubscriptionRecord], token: str | None) -> Result:
        by_arn = {r.arn: r for r in records}
        page, next_token = self._page(list(by_arn), token)
        result: Result = {
            "Subscriptions": [
                {
                    "SubscriptionArn": PENDING if by_arn[arn].pending else arn,
                    "Owner": self._account,
                    "Protocol": by_arn[arn].protocol,
                    "Endpoint": by_arn[arn].endpoint,
                    "TopicArn": by_arn[arn].topic_arn,
                }
                for arn in page
            ]
        }
        if next_token:
            result["NextToken"] = next_token
        return result

    async def list_subscriptions(self, request: Request) -> Result:
        return self._listing([s.record for s in self._subscriptions.values()], request.get("NextToken"))

    async def list_subscriptions_by_topic(self, request: Request) -> Result:
        topic = self._topic(request["TopicArn"])
        records = [s.record for s in self._of_topic(topic.arn)]
        return self._listing(records, request.get("NextToken"))

    # -- publishing ----------------------------------------------------------

    async def publish(self, request: Request) -> Result:
        self._called()
        arn = request.get("TopicArn") or request.get("TargetArn")
        if not arn:
            if request.get("PhoneNumber"):
                raise errors.invalid_parameter("PhoneNumber Reason: lambdalite does not send SMS")
            raise errors.invalid_parameter("TopicArn or TargetArn Reason: no value for required parameter")
        topic = self._topic(arn)
        note, duplicate = self._prepare(topic, request)
        if not duplicate:
            await self._fan_out(topic, note, request.get("MessageStructure"))
        result: Result = {"MessageId": note.message_id}
        if note.sequence_number is not None:
            result["SequenceNumber"] = note.sequence_number
        return result

    async def publish_batch(self, request: Request) -> Result:
        self._called()
        topic = self._topic(request["TopicArn"])
        entries: list[dict[str, Any]] = request.get("PublishBatchRequestEntries") or []
        if not entries:
            raise errors.empty_batch()
        if len(entries) > MAX_BATCH:
            raise errors.too_many_entries()
        ids = [entry.get("Id", "") for entry in entries]
        if len(set(ids)) != len(ids):
            raise errors.ids_not_distinct()
        if any(not _BATCH_ID.match(entry_id) for entry_id in ids):
            raise errors.invalid_batch_id()
        if sum(_size(entry) for entry in entries) > MAX_MESSAGE_BYTES:
            raise errors.batch_too_long()
        successful: list[Result] = []
        failed: list[Result] = []
        for entry in entries:
            try:
                note, duplicate = self._prepare(topic, entry)
            except ServiceFault as fault:
                failed.append(
                    {
                        "Id": entry["Id"],
                        "Code": fault.query_code,
                        "Message": fault.message,
                        "SenderFault": True,
                    }
                )
                continue
            if not duplicate:
                await self._fan_out(topic, note, entry.get("MessageStructure"))
            item: Result = {"Id": entry["Id"], "MessageId": note.message_id}
            if note.sequence_number is not None:
                item["SequenceNumber"] = note.sequence_number
            successful.append(item)
        return {"Successful": successful, "Failed": failed}

    def _prepare(self, topic: TopicRecord, request: Mapping[str, Any]) -> tuple[Notification, bool]:
        """Validate one message; the Notification and whether it is a FIFO duplicate."""
        message = request.get("Message")
        if message is None:
            raise errors.invalid_parameter("Message Reason: no value for required parameter")
        if message == "":
            raise errors.invalid_parameter("Empty message")
        if _size(request) > MAX_MESSAGE_BYTES:
            raise errors.invalid_parameter("Message too long")
        subject = request.get("Subject")
        if subject is not None and (
            not subject or len(subject) > 100 or "\n" in subject or not subject.isascii()
        ):
            raise errors.invalid_parameter("Subject")
        if request.get("MessageStructure") is not None:
            self._structured(message, request["MessageStructure"])
        attributes = _checked_attributes(request.get("MessageAttributes") or {})
        now = self._clock.now()
        group = request.get("MessageGroupId")
        dedup = request.get("MessageDeduplicationId")
        if not self._fifo(topic):
            if dedup is not None:
                raise errors.invalid_parameter(
                    "MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter "
                    "that is not valid for this topic type"
                )
            return Notification(str(uuid.uuid4()), topic.arn, message, subject, attributes, now, group), False
        if not group:
            raise errors.invalid_parameter("The MessageGroupId parameter is required for FIFO topics")
        if dedup is None:
            if topic.attributes.get("ContentBasedDeduplication") != "true":
                raise errors.invalid_parameter(
                    "The topic should either have ContentBasedDeduplication enabled or "
                    "MessageDeduplicationId provided explicitly"
                )
            dedup = hashlib.sha256(message.encode()).hexdigest()
        # The ids live in the store, not in memory: a publisher retrying after a restart is deduplicated.
        seen = self._store.seen_dedup(topic.arn, dedup, now)
        if seen is not None:
            note = Notification(seen[0], topic.arn, message, subject, attributes, now, group, dedup, seen[1])
            return note, True
        self._sequence = max(self._sequence + 1, int(now * 1_000_000))
        sequence = f"{self._sequence:020d}"
        note = Notification(
            str(uuid.uuid4()), topic.arn, message, subject, attributes, now, group, dedup, sequence
        )
        self._store.remember_dedup(topic.arn, dedup, now + DEDUP_INTERVAL_S, note.message_id, sequence, now)
        return note, False

    @staticmethod
    def _structured(message: str, structure: str) -> dict[str, Any]:
        if structure != "json":
            raise errors.invalid_parameter("MessageStructure")
        try:
            parsed = orjson.loads(message)
        except orjson.JSONDecodeError as exc:
            raise errors.invalid_parameter("Message Structure - JSON message body failed to parse") from exc
        if not isinstance(parsed, dict) or "default" not in parsed:
            raise errors.invalid_parameter("Message Structure - No default entry in JSON message body")
        return parsed

    async def _fan_out(self, topic: TopicRecord, note: Notification, structure: str | None) -> None:
        per_protocol = self._structured(note.message, structure) if structure else None
        sends = []
        for subscription in self._of_topic(topic.arn):
            record = subscription.record
            if record.pending:
                continue
            message = note.message
            if per_protocol is not None:
                message = str(per_protocol.get(record.protocol, per_protocol["default"]))
            view = note if message == note.message else _with_message(note, message)
            if not subscription.accepts(view):
                continue
            sends.append(self._send(subscription, view))
        if sends:
            await asyncio.gather(*sends)

    async def _send(self, subscription: Subscription, note: Notification) -> None:
        record = subscription.record
        if record.protocol == "lambda":
            topic_arn = record.arn.rsplit(":", 1)[0]
            # Under sigv4 the function's policy must allow sns.amazonaws.com for this topic.
            with invoking_as_service("sns.amazonaws.com", topic_arn, topic_arn.split(":")[4]):
                await self._deliver.to_lambda(record.endpoint, lambda_record(note, record.arn, self))
        elif record.protocol == "sqs":
            request: dict[str, Any] = {}
            if subscription.raw:
                request["MessageBody"] = note.message
                if note.attributes:
                    request["MessageAttributes"] = sqs_attributes(note.attributes)
            else:
                request["MessageBody"] = orjson.dumps(envelope(note, record.arn, self)).decode()
            if record.endpoint.endswith(".fifo"):
                request["MessageGroupId"] = note.group_id or "default"
                request["MessageDeduplicationId"] = note.dedup_id or note.message_id
            topic_arn = record.topic_arn
            # Under sigv4 the queue's policy must allow sns.amazonaws.com for this topic.
            with invoking_as_service("sns.amazonaws.com", topic_arn, topic_arn.split(":")[4]):
                await self._deliver.to_queue(record.endpoint, request)
        else:
            body = (
                note.message.encode() if subscription.raw else orjson.dumps(envelope(note, record.arn, self))
            )
            self._deliver.to_http(
                record.endpoint, body, self._headers("Notification", record, note.message_id)
            )

    async def publish_internal(
        self, topic_arn: str, message: str, attributes: Mapping[str, tuple[str, str]]
    ) -> None:
        """Publish as a destination or a rule target does (no caller to answer);
        raises ServiceFault when the topic is gone or refuses the message."""
        topic = self._topic(topic_arn)
        if self.gate is not None:
            self.gate.check_sibling(topic)
        request: dict[str, Any] = {"Message": message}
        if attributes:
            request["MessageAttributes"] = {
                name: {"DataType": data_type, "StringValue": value}
                for name, (data_type, value) in attributes.items()
            }
        if self._fifo(topic):
            request["MessageGroupId"] = "default"
            request["MessageDeduplicationId"] = hashlib.sha256(message.encode()).hexdigest()
        note, duplicate = self._prepare(topic, request)
        if not duplicate:
            await self._fan_out(topic, note, None)


_EFFECTIVE_DELIVERY_POLICY = (
    '{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,'
    '"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},'
    '"disableSubscriptionOverrides":false,'
    '"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}'
)


def _with_message(note: Notification, message: str) -> Notification:
    return Notification(
        note.message_id,
        note.topic_arn,
        message,
        note.subject,
        note.attributes,
        note.timestamp,
        note.group_id,
        note.dedup_id,
        note.sequence_number,
    )


def _size(entry: Mapping[str, Any]) -> int:
    size = len(str(entry.get("Message") or "").encode())
    for name, attribute in (entry.get("MessageAttributes") or {}).items():
        size += len(name.encode()) + len(str(attribute.get("DataType", "")).encode())
        value = (
            attribute.get("BinaryValue")
            if attribute.get("BinaryValue") is not None
            else attribute.get("StringValue")
        )
        size += len(value) if isinstance(value, bytes) else len(str(value or "").encode())
    return size


def _checked_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    for name, attribute in attributes.items():
        data_type = str(attribute.get("DataType") or "")
        base = data_type.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            raise errors.invalid_parameter_value(
                f"The message attribute '{name}' has an invalid message attribute type, the set of supported "
                "type prefixes is Binary, Number, and String."
            )
        if base == "Binary":
            if attribute.get("BinaryValue") is None:
                raise errors.invalid_parameter_value(
                    f"The message attribute '{name}' with type 'Binary' must use field 'Binary'."
                )
            continue
        value = attribute.get("StringValue")
        if value is None or value == "":
            raise errors.invalid_parameter_value(
                f"The message attribute '{name}' must contain non-empty message attribute value for message "
                f"attribute type '{base}'."
            )
        if base == "Number":
            try:
                float(value)
            except ValueError as exc:
                raise errors.invalid_parameter_value(
                    f"Could not cast message attribute '{name}' value to number."
                ) from exc
    return dict(attributes)
