"""Who may use a topic under ``--auth sigv4``: each request's IAM action (``sns:Publish``
for Publish and PublishBatch alike) on the topic's ARN, decided over the caller's
identity policies and the topic's ``Policy`` (``services.access``); and a sibling
service's publishes (an EventBridge rule's target), which only the topic's policy can allow.

A refusal is SNS's AuthorizationError (403), worded as SNS words it
(``... not authorized to perform: SNS:Publish on resource: arn:aws:sns:...``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambdalite.protocol.errors import ServiceFault
from lambdalite.services.access import Refusal, ResourceAccess
from lambdalite.store.topics import TopicRecord

__all__ = ["GRANTABLE", "TopicGate", "action_of", "authorization_error"]

GRANTABLE = frozenset(
    {
        "AddPermission",
        "DeleteTopic",
        "GetDataProtectionPolicy",
        "GetTopicAttributes",
        "ListSubscriptionsByTopic",
        "ListTagsForResource",
        "Publish",
        "PutDataProtectionPolicy",
        "RemovePermission",
        "SetTopicAttributes",
        "Subscribe",
    }
)
"""The actions a topic policy (and AddPermission) can grant; for the others only the
caller's identity policies count."""


def action_of(operation: str) -> str:
    """The IAM action of an SNS operation (PublishBatch is authorized as Publish)."""
    return "sns:Publish" if operation == "PublishBatch" else f"sns:{operation}"


def authorization_error(refusal: Refusal, action: str) -> ServiceFault:
    # SNS spells its actions' service in capitals: SNS:Publish.
    return ServiceFault("AuthorizationError", refusal.message("SNS:" + action.partition(":")[2]), 403)


class TopicGate:
    """The authorization of one SNS service's requests and sibling publishes."""

    def __init__(
        self,
        access: ResourceAccess,
        topic_arn: Callable[[str], str],
        topics: Callable[[str], TopicRecord | None],
        policy_text: Callable[[TopicRecord], str],
    ) -> None:
        """``topic_arn(name)``: a topic's ARN; ``topics(arn)``: the topic, or None;
        ``policy_text(topic)``: its policy in effect (the default one when none was set)."""
        self._access = access
        self._topic_arn = topic_arn
        self._topics = topics
        self._policy_text = policy_text

    def authorize(self, operation: str, request: dict[str, Any]) -> None:
        """The ProtocolFront hook: raise AuthorizationError when the verified caller may not."""
        resource = self._resource(operation, request)
        action = action_of(operation)
        topic = self._topics(resource)
        document = self._policy_text(topic) if topic is not None and action[4:] in GRANTABLE else None
        refusal = self._access.check_caller(action, resource, document)
        if refusal is not None:
            raise authorization_error(refusal, action)

    def check_sibling(self, topic: TopicRecord) -> None:
        """Raise AuthorizationError when a service publishing on its own behalf
        (``current_service()``) is not allowed ``sns:Publish`` by the topic's policy."""
        refusal = self._access.check_service("sns:Publish", topic.arn, self._policy_text(topic))
        if refusal is not None:
            raise authorization_error(refusal, "sns:Publish")

    def _resource(self, operation: str, request: dict[str, Any]) -> str:
        arn = request.get("TopicArn") or request.get("TargetArn") or request.get("ResourceArn")
        if arn:
            return str(arn)
        if operation == "CreateTopic" and request.get("Name"):
            return self._topic_arn(str(request["Name"]))
        return "*"
