"""The query-protocol names of SQS's members, which botocore's awsJson model of SQS
no longer carries (AWS's query API of 2012-11-05: ``SendMessageBatchRequestEntry.1.Id``,
``Attribute.1.Name``, ``<ReceiveMessageResult><Message>``...)."""

from __future__ import annotations

from lambdalite.protocol.model import QueryTraits

_ENTRY_LISTS = {
    "SendMessageBatchRequestEntryList": "SendMessageBatchRequestEntry",
    "SendMessageBatchResultEntryList": "SendMessageBatchResultEntry",
    "DeleteMessageBatchRequestEntryList": "DeleteMessageBatchRequestEntry",
    "DeleteMessageBatchResultEntryList": "DeleteMessageBatchResultEntry",
    "ChangeMessageVisibilityBatchRequestEntryList": "ChangeMessageVisibilityBatchRequestEntry",
    "ChangeMessageVisibilityBatchResultEntryList": "ChangeMessageVisibilityBatchResultEntry",
    "BatchResultErrorEntryList": "BatchResultErrorEntry",
    "AttributeNameList": "AttributeName",
    "MessageAttributeNameList": "MessageAttributeName",
    "MessageSystemAttributeList": "MessageSystemAttributeName",
    "MessageList": "Message",
    "QueueUrlList": "QueueUrl",
    "TagKeyList": "TagKey",
    "AWSAccountIdList": "AWSAccountId",
    "ActionNameList": "ActionName",
}
_MAPS = {
    "QueueAttributeMap": ("Name", "Value"),
    "MessageSystemAttributeMap": ("Name", "Value"),
    "MessageBodyAttributeMap": ("Name", "Value"),
    "MessageBodySystemAttributeMap": ("Name", "Value"),
    "TagMap": ("Key", "Value"),
}
_MEMBERS = {
    "CreateQueueRequest.Attributes": "Attribute",
    "CreateQueueRequest.tags": "Tag",
    "SetQueueAttributesRequest.Attributes": "Attribute",
    "GetQueueAttributesResult.Attributes": "Attribute",
    "TagQueueRequest.Tags": "Tag",
    "ListQueueTagsResult.Tags": "Tag",
    "SendMessageRequest.MessageAttributes": "MessageAttribute",
    "SendMessageRequest.MessageSystemAttributes": "MessageSystemAttribute",
    "SendMessageBatchRequestEntry.MessageAttributes": "MessageAttribute",
    "SendMessageBatchRequestEntry.MessageSystemAttributes": "MessageSystemAttribute",
    "Message.Attributes": "Attribute",
    "Message.MessageAttributes": "MessageAttribute",
    "ListQueuesResult.QueueUrls": "QueueUrl",
    "ListDeadLetterSourceQueuesResult.queueUrls": "QueueUrl",
    "ReceiveMessageResult.Messages": "Message",
    "SendMessageBatchResult.Successful": "SendMessageBatchResultEntry",
    "SendMessageBatchResult.Failed": "BatchResultErrorEntry",
    "DeleteMessageBatchResult.Successful": "DeleteMessageBatchResultEntry",
    "DeleteMessageBatchResult.Failed": "BatchResultErrorEntry",
    "ChangeMessageVisibilityBatchResult.Successful": "ChangeMessageVisibilityBatchResultEntry",
    "ChangeMessageVisibilityBatchResult.Failed": "BatchResultErrorEntry",
}

SQS_QUERY_TRAITS = QueryTraits(
    xml_namespace="http://queue.amazonaws.com/doc/2012-11-05/",
    names=(
        *((f"{shape}.member", name) for shape, name in _ENTRY_LISTS.items()),
        *((f"{shape}.key", names[0]) for shape, names in _MAPS.items()),
        *((f"{shape}.value", names[1]) for shape, names in _MAPS.items()),
        *_MEMBERS.items(),
    ),
)
