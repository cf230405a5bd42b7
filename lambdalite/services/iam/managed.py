"""The AWS managed policies people attach to Lambda functions' roles, by ARN.

Their documents are lambdalite's rendering of what each grants for the services
lambdalite serves (AWS's own documents list many services lambdalite does not have);
``ReadOnlyAccess`` grants every service's Get*/List*/Describe* actions.
"""

from __future__ import annotations

from typing import Any

AWS_POLICY_PREFIX = "arn:aws:iam::aws:policy/"


def _allow(*actions: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
    }


_LOGS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")

MANAGED: dict[str, dict[str, Any]] = {
    "AdministratorAccess": _allow("*"),
    "ReadOnlyAccess": _allow("*:Get*", "*:List*", "*:Describe*", "sqs:ReceiveMessage"),
    "service-role/AWSLambdaBasicExecutionRole": _allow(*_LOGS),
    "service-role/AWSLambdaRole": _allow("lambda:InvokeFunction"),
    "service-role/AWSLambdaSQSQueueExecutionRole": _allow(
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", *_LOGS
    ),
    "AWSLambdaExecute": _allow("logs:*", "s3:GetObject", "s3:PutObject"),
    "AWSLambda_FullAccess": _allow("lambda:*", "logs:*", "iam:GetRole", "iam:ListRoles", "iam:PassRole"),
    "AWSLambda_ReadOnlyAccess": _allow("lambda:Get*", "lambda:List*", "logs:Describe*", "logs:Get*"),
    "AmazonSQSFullAccess": _allow("sqs:*"),
    "AmazonSNSFullAccess": _allow("sns:*"),
    "AmazonEventBridgeFullAccess": _allow("events:*", "scheduler:*"),
    "IAMFullAccess": _allow("iam:*"),
}
"""Path and name after ``arn:aws:iam::aws:policy/`` -> document."""


def managed_arn(path_and_name: str) -> str:
    return AWS_POLICY_PREFIX + path_and_name


def managed_document(arn: str) -> dict[str, Any] | None:
    """The document of the AWS managed policy ``arn``, or None when it is not one."""
    if not arn.startswith(AWS_POLICY_PREFIX):
        return None
    return MANAGED.get(arn[len(AWS_POLICY_PREFIX) :])
