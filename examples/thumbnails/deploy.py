"""Deploy the thumbnails example with boto3, as one would on AWS:
``python deploy.py`` with AWS_ENDPOINT_URL pointing at lambdalite (started with
``--auth sigv4``) and the administrator key in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.

It makes the uploads and thumbnails buckets, the topic and the queue subscribed to
it, the execution role (allowed to read uploads, write thumbnails and publish to the
topic, nothing else), the Pillow layer (``build_layer.py``), the function, S3's
permission to invoke it, and the uploads bucket's notification configuration. Running
it again updates what exists."""

from __future__ import annotations

import json
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from build_layer import build_layer, runtime  # noqa: E402

Client = Callable[[str], Any]


@dataclass(frozen=True)
class Names:
    uploads: str = "thumbnails-uploads"
    thumbnails: str = "thumbnails-output"
    topic: str = "thumbnail-ready"
    queue: str = "thumbnail-ready"
    role: str = "thumbnails-role"
    layer: str = "pillow"
    function: str = "make-thumbnail"


@dataclass(frozen=True)
class Deployed:
    topic_arn: str
    queue_url: str
    function_arn: str


TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def _function_zip() -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(HERE / "function" / "app.py", "app.py")
    return buffer.getvalue()


def _role(iam: Any, names: Names, topic_arn: str) -> str:
    try:
        arn = iam.create_role(RoleName=names.role, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "EntityAlreadyExists":
            raise
        arn = iam.get_role(RoleName=names.role)["Role"]["Arn"]
    rights = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{names.uploads}/*"},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{names.thumbnails}/*"},
            {"Effect": "Allow", "Action": "sns:Publish", "Resource": topic_arn},
        ],
    }
    iam.put_role_policy(RoleName=names.role, PolicyName="thumbnails", PolicyDocument=json.dumps(rights))
    return str(arn)


def _function(lam: Any, names: Names, role: str, layer: str, topic_arn: str) -> str:
    settings: dict[str, Any] = {
        "FunctionName": names.function,
        "Runtime": runtime(),
        "Handler": "app.handler",
        "Role": role,
        "Layers": [layer],
        "Timeout": 30,
        "MemorySize": 256,
        "Environment": {"Variables": {"THUMBNAIL_BUCKET": names.thumbnails, "TOPIC_ARN": topic_arn}},
    }
    try:
        arn = lam.create_function(**settings, Code={"ZipFile": _function_zip()})["FunctionArn"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceConflictException":
            raise
        lam.update_function_code(FunctionName=names.function, ZipFile=_function_zip())
        lam.get_waiter("function_updated_v2").wait(FunctionName=names.function)
        arn = lam.update_function_configuration(**settings)["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName=names.function)
    lam.get_waiter("function_updated_v2").wait(FunctionName=names.function)
    return str(arn)


def deploy(client: Client = boto3.client, names: Names = Names(), layer_zip: Path | None = None) -> Deployed:
    """Create (or update) every part of the example; ``client(service)`` makes the clients."""
    s3, sns, sqs, lam = client("s3"), client("sns"), client("sqs"), client("lambda")
    for bucket in (names.uploads, names.thumbnails):
        s3.create_bucket(Bucket=bucket)
    topic_arn = sns.create_topic(Name=names.topic)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=names.queue)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    # The queue's policy lets the topic deliver to it (as on AWS: SNS is a service principal).
    delivery = {
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [delivery]})
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": policy})
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    role = _role(client("iam"), names, topic_arn)
    zipped = (layer_zip or build_layer()).read_bytes()
    layer = lam.publish_layer_version(
        LayerName=names.layer, Content={"ZipFile": zipped}, CompatibleRuntimes=[runtime()]
    )["LayerVersionArn"]
    function_arn = _function(lam, names, role, layer, topic_arn)
    try:
        lam.add_permission(
            FunctionName=names.function,
            StatementId="s3-uploads",
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
            SourceArn=f"arn:aws:s3:::{names.uploads}",
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceConflictException":
            raise
    s3.put_bucket_notification_configuration(
        Bucket=names.uploads,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"Id": "make-thumbnail", "LambdaFunctionArn": function_arn, "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    return Deployed(topic_arn, queue_url, function_arn)


if __name__ == "__main__":
    started = time.monotonic()
    deployed = deploy()
    print(f"deployed in {time.monotonic() - started:.1f} s")
    print(f"function: {deployed.function_arn}")
    print(f"topic:    {deployed.topic_arn}")
    print(f"queue:    {deployed.queue_url}")
