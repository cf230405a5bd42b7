"""How the authorization hooks name a request's action and resource."""

from __future__ import annotations

from lambdalite.auth.authorize_routes import (
    _operation_and_params,
    _rest_operation,
    _service_resource,
    lambda_action,
    split_function,
)
from lambdalite.http.message import HttpRequest

R, A = "us-east-1", "123456789012"


def request(method: str, path: str, query: bytes = b"", body: bytes = b"", **headers: bytes) -> HttpRequest:
    lowered = {name.replace("_", "-").encode(): value for name, value in headers.items()}
    return HttpRequest(method, path, query, lowered, body, len(body))


def test_lambda_actions_and_function_names() -> None:
    assert lambda_action("Invoke") == "lambda:InvokeFunction"
    assert lambda_action("DeleteFunction") == "lambda:DeleteFunction"
    assert split_function("f") == ("f", None)
    assert split_function("f:live") == ("f", "live")
    assert split_function(f"{A}:function:f:3") == ("f", "3")
    assert split_function(f"arn:aws:lambda:{R}:{A}:function:f") == ("f", None)
    assert split_function(f"arn:aws:lambda:{R}:{A}:function:f:live") == ("f", "live")


def test_query_and_json_operations_and_their_resources() -> None:
    form = request("POST", "/", body=b"Action=SendMessage&QueueUrl=http%3A%2F%2Fh%2F123%2Fjobs&MessageBody=x")
    operation, params = _operation_and_params(form)
    assert operation == "SendMessage"
    assert _service_resource("sqs", operation, params, R, A) == f"arn:aws:sqs:{R}:{A}:jobs"
    json = request("POST", "/", body=b'{"QueueName": "q"}', x_amz_target=b"AmazonSQS.CreateQueue")
    operation, params = _operation_and_params(json)
    assert (operation, _service_resource("sqs", operation, params, R, A)) == (
        "CreateQueue",
        f"arn:aws:sqs:{R}:{A}:q",
    )
    topic = f"arn:aws:sns:{R}:{A}:t"
    assert _service_resource("sns", "Publish", {"TopicArn": topic}, R, A) == topic
    assert _service_resource("sns", "CreateTopic", {"Name": "t"}, R, A) == topic
    assert _service_resource("iam", "PutRolePolicy", {"RoleName": "r"}, R, A) == f"arn:aws:iam::{A}:role/r"
    assert _service_resource("logs", "PutLogEvents", {}, R, A) == "*"
    assert _operation_and_params(
        request("POST", "/", body=b"\xff", content_type=b"application/x-www-form-urlencoded")
    ) == ("", {})


def test_rest_operations_come_from_the_model() -> None:
    schedule = f"arn:aws:scheduler:{R}:{A}:schedule/night/s"
    assert _rest_operation("scheduler", request("GET", "/schedules/s", b"groupName=night"), R, A) == (
        "GetSchedule",
        schedule,
    )
    assert _rest_operation("scheduler", request("GET", "/schedules"), R, A) == ("ListSchedules", "*")
    assert _rest_operation("scheduler", request("GET", f"/tags/{schedule}"), R, A) == (
        "ListTagsForResource",
        "*",
    )
    assert _rest_operation("scheduler", request("PATCH", "/nowhere"), R, A) == ("", "")
