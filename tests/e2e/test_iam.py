"""IAM, STS and IAM-style authorization on a server under ``--auth sigv4``, driven by
boto3: users, keys, roles, inline and managed policies with AWS's errors; GetCallerIdentity;
AssumeRole's credentials working, then expiring; explicit deny over allow, wildcards,
conditions, a function's resource policy letting another principal invoke; CreateFunction's
role check; other services' actions (SQS)."""

from __future__ import annotations

import datetime as dt
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT, REGION, ROLE, Server, create_function, start_server, stop_server
from tests.e2e.test_function_urls import url_id_of

ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
HANDLER = "def handler(event, context):\n    return {'echo': event}\n"
SCALE = 0.002
"""Temporary credentials live 0.2% of what they say: AssumeRole's 900 s last 1.8 s."""


def document(*statements: dict[str, Any], version: str = "2012-10-17") -> str:
    return orjson.dumps({"Version": version, "Statement": list(statements)}).decode()


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


TRUST_LAMBDA = document(
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
)
TRUST_ACCOUNT = document(
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("iam") / "data"
    server = start_server(data_dir, "--auth", "sigv4", env={"LAMBDALITE_SESSION_DURATION_SCALE": str(SCALE)})
    admin(server, "iam").create_role(RoleName="lambda-role", AssumeRolePolicyDocument=TRUST_LAMBDA)
    yield server
    stop_server(server)


def client(server: Server, service: str, key: tuple[str, ...]) -> Any:
    return boto3.client(
        service,
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        aws_session_token=key[2] if len(key) > 2 else None,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def admin(server: Server, service: str) -> Any:
    key = orjson.loads((server.data_dir / "admin-key.json").read_bytes())
    return client(server, service, (key["AccessKeyId"], key["SecretAccessKey"]))


def new_user(server: Server, name: str, *statements: dict[str, Any]) -> tuple[str, str]:
    iam = admin(server, "iam")
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="rights", PolicyDocument=document(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def refused(call: Any, **kwargs: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


def not_allowed(user: str, action: str, resource: str) -> str:
    return (
        f"User: {user} is not authorized to perform: {action} on resource: {resource} "
        f"because no identity-based policy allows the {action} action"
    )


def test_users_access_keys_and_their_errors(server: Server) -> None:
    iam = admin(server, "iam")
    user = iam.create_user(UserName="carol", Path="/team/")["User"]
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/team/carol" and user["UserId"].startswith("AIDA")
    assert refused(iam.create_user, UserName="carol") == (
        409,
        "EntityAlreadyExists",
        "User with name carol already exists.",
    )
    assert refused(iam.get_user, UserName="nobody") == (
        404,
        "NoSuchEntity",
        "The user with name nobody cannot be found.",
    )
    assert "carol" in [u["UserName"] for u in iam.list_users()["Users"]]
    first = iam.create_access_key(UserName="carol")["AccessKey"]
    iam.create_access_key(UserName="carol")
    assert refused(iam.create_access_key, UserName="carol") == (
        409,
        "LimitExceeded",
        "Cannot exceed quota for AccessKeysPerUser: 2",
    )
    assert refused(iam.delete_user, UserName="carol")[1:] == (
        "DeleteConflict",
        "Cannot delete entity, must delete access keys first.",
    )
    ids = [k["AccessKeyId"] for k in iam.list_access_keys(UserName="carol")["AccessKeyMetadata"]]
    assert first["AccessKeyId"] in ids and len(ids) == 2
    carol = client(server, "sts", (first["AccessKeyId"], first["SecretAccessKey"]))
    assert carol.get_caller_identity()["Arn"] == user["Arn"]
    for key_id in ids:
        iam.delete_access_key(UserName="carol", AccessKeyId=key_id)
    assert refused(iam.delete_access_key, UserName="carol", AccessKeyId=ids[0])[1:] == (
        "NoSuchEntity",
        f"The Access Key with id {ids[0]} cannot be found.",
    )
    assert refused(carol.get_caller_identity)[1] == "InvalidClientTokenId"
    iam.delete_user(UserName="carol")


def test_roles_inline_and_managed_policies(server: Server) -> None:
    iam = admin(server, "iam")
    role = iam.create_role(RoleName="worker", AssumeRolePolicyDocument=TRUST_LAMBDA, Description="d")["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/worker" and role["RoleId"].startswith("AROA")
    assert iam.get_role(RoleName="worker")["Role"]["AssumeRolePolicyDocument"] == orjson.loads(TRUST_LAMBDA)
    assert refused(iam.create_role, RoleName="worker", AssumeRolePolicyDocument=TRUST_LAMBDA)[1:] == (
        "EntityAlreadyExists",
        "Role with name worker already exists.",
    )
    assert refused(iam.get_role, RoleName="nope")[1:] == (
        "NoSuchEntity",
        "The role with name nope cannot be found.",
    )
    assert refused(iam.put_role_policy, RoleName="worker", PolicyName="p", PolicyDocument="{oops")[1:] == (
        "MalformedPolicyDocument",
        "This policy contains invalid Json",
    )
    missing_resource = document({"Effect": "Allow", "Action": "lambda:*"})
    assert refused(iam.put_role_policy, RoleName="worker", PolicyName="p", PolicyDocument=missing_resource)[
        1:
    ] == (
        "MalformedPolicyDocument",
        "Policy statement must contain resources.",
    )
    with_resource = document(
        {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole", "Resource": "*"}
    )
    assert refused(iam.create_role, RoleName="bad", AssumeRolePolicyDocument=with_resource)[1:] == (
        "MalformedPolicyDocument",
        "Has prohibited field Resource",
    )
    without_principal = document({"Effect": "Allow", "Action": "sts:AssumeRole"})
    assert refused(iam.update_assume_role_policy, RoleName="worker", PolicyDocument=without_principal)[
        1:
    ] == (
        "MalformedPolicyDocument",
        "Missing required field Principal",
    )
    inline = document(allow("lambda:InvokeFunction"))
    iam.put_role_policy(RoleName="worker", PolicyName="invoke", PolicyDocument=inline)
    assert iam.get_role_policy(RoleName="worker", PolicyName="invoke")["PolicyDocument"] == orjson.loads(
        inline
    )
    assert iam.list_role_policies(RoleName="worker")["PolicyNames"] == ["invoke"]
    assert refused(iam.get_role_policy, RoleName="worker", PolicyName="other")[1:] == (
        "NoSuchEntity",
        "The role policy with name other cannot be found.",
    )
    huge = document(*[allow(f"lambda:GetFunction{n:04}") for n in range(400)])
    assert refused(iam.put_role_policy, RoleName="worker", PolicyName="huge", PolicyDocument=huge)[1:] == (
        "LimitExceeded",
        "Maximum policy size of 10240 bytes exceeded for role worker",
    )
    assert refused(iam.create_policy, PolicyName="huge", PolicyDocument=huge)[1:] == (
        "LimitExceeded",
        "Cannot exceed quota for PolicySize: 6144",
    )
    basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    iam.attach_role_policy(RoleName="worker", PolicyArn=basic)
    custom = iam.create_policy(PolicyName="queues", PolicyDocument=document(allow("sqs:*")))["Policy"]
    assert custom["Arn"] == f"arn:aws:iam::{ACCOUNT}:policy/queues"
    assert refused(iam.create_policy, PolicyName="queues", PolicyDocument=document(allow("sqs:*")))[1:] == (
        "EntityAlreadyExists",
        "A policy called queues already exists. Duplicate names are not allowed.",
    )
    iam.attach_role_policy(RoleName="worker", PolicyArn=custom["Arn"])
    attached = iam.list_attached_role_policies(RoleName="worker")["AttachedPolicies"]
    assert {p["PolicyArn"] for p in attached} == {basic, custom["Arn"]}
    assert iam.get_policy(PolicyArn=custom["Arn"])["Policy"]["AttachmentCount"] == 1
    version = iam.get_policy_version(PolicyArn=basic, VersionId="v1")["PolicyVersion"]
    assert "logs:PutLogEvents" in version["Document"]["Statement"][0]["Action"]
    nowhere = f"arn:aws:iam::{ACCOUNT}:policy/nowhere"
    assert refused(iam.attach_role_policy, RoleName="worker", PolicyArn=nowhere)[1:] == (
        "NoSuchEntity",
        f"Policy {nowhere} does not exist or is not attachable.",
    )
    assert refused(iam.delete_role, RoleName="worker")[1:] == (
        "DeleteConflict",
        "Cannot delete entity, must delete policies first.",
    )
    iam.delete_role_policy(RoleName="worker", PolicyName="invoke")
    assert refused(iam.delete_role, RoleName="worker")[1:] == (
        "DeleteConflict",
        "Cannot delete entity, must detach all policies first.",
    )
    iam.detach_role_policy(RoleName="worker", PolicyArn=basic)
    iam.detach_role_policy(RoleName="worker", PolicyArn=custom["Arn"])
    iam.delete_policy(PolicyArn=custom["Arn"])
    iam.delete_role(RoleName="worker")
    assert refused(iam.get_role, RoleName="worker")[1] == "NoSuchEntity"


def test_assume_role_credentials_work_then_expire(server: Server) -> None:
    iam = admin(server, "iam")
    iam.create_role(RoleName="reader", AssumeRolePolicyDocument=TRUST_ACCOUNT)
    iam.put_role_policy(RoleName="reader", PolicyName="list", PolicyDocument=document(allow("lambda:List*")))
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/reader"
    dave = new_user(server, "dave")
    dave_arn = f"arn:aws:iam::{ACCOUNT}:user/dave"
    # Trusted only through the account: dave's own policies must allow it too.
    assert refused(client(server, "sts", dave).assume_role, RoleArn=role_arn, RoleSessionName="sess") == (
        403,
        "AccessDenied",
        not_allowed(dave_arn, "sts:AssumeRole", role_arn),
    )
    iam.put_user_policy(
        UserName="dave", PolicyName="assume", PolicyDocument=document(allow("sts:AssumeRole", role_arn))
    )
    assert refused(
        admin(server, "sts").assume_role, RoleArn=role_arn, RoleSessionName="sess", DurationSeconds=7200
    )[2] == ("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    answer = client(server, "sts", dave).assume_role(
        RoleArn=role_arn, RoleSessionName="nightly", DurationSeconds=900
    )
    credentials = answer["Credentials"]
    session = (credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"])
    assert answer["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/reader/nightly"
    assert client(server, "sts", session).get_caller_identity()["Arn"] == answer["AssumedRoleUser"]["Arn"]
    lam = client(server, "lambda", session)
    assert "Functions" in lam.list_functions()
    session_arn = answer["AssumedRoleUser"]["Arn"]
    assert refused(lam.get_account_settings) == (
        403,
        "AccessDeniedException",
        not_allowed(session_arn, "lambda:GetAccountSettings", "*"),
    )
    # Without its token, or with another, the key is not recognised.
    assert refused(client(server, "lambda", session[:2]).list_functions)[1] == "UnrecognizedClientException"
    assert (
        refused(client(server, "lambda", (*session[:2], "forged")).list_functions)[1]
        == "UnrecognizedClientException"
    )
    time.sleep(900 * SCALE + 0.2)
    assert refused(lam.list_functions) == (
        403,
        "ExpiredTokenException",
        "The security token included in the request is expired",
    )
    assert refused(client(server, "sts", session).get_caller_identity)[1] == "ExpiredToken"


def test_remembered_decisions_follow_every_policy_and_permission_change(server: Server) -> None:
    """Decisions are remembered between requests: a change to the policies behind one
    (identity policy, its removal, a resource policy's statement) is seen by the next call."""
    create_function(admin(server, "lambda"), "remembered", {"app.py": HANDLER})
    iam = admin(server, "iam")
    gale = new_user(server, "gale", allow("lambda:InvokeFunction"))
    gale_arn = f"arn:aws:iam::{ACCOUNT}:user/gale"
    lam = client(server, "lambda", gale)
    for _ in range(3):
        assert lam.invoke(FunctionName="remembered", Payload=b"1")["StatusCode"] == 200
    iam.put_user_policy(
        UserName="gale",
        PolicyName="stop",
        PolicyDocument=document({"Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": "*"}),
    )
    assert refused(lam.invoke, FunctionName="remembered")[1] == "AccessDeniedException"
    iam.delete_user_policy(UserName="gale", PolicyName="stop")
    iam.delete_user_policy(UserName="gale", PolicyName="rights")
    assert refused(lam.invoke, FunctionName="remembered") == (
        403,
        "AccessDeniedException",
        not_allowed(gale_arn, "lambda:InvokeFunction", f"{ARN}remembered"),
    )
    # The function's own policy may allow him instead, until its statement is removed.
    admin(server, "lambda").add_permission(
        FunctionName="remembered", StatementId="gale", Action="lambda:InvokeFunction", Principal=gale_arn
    )
    assert lam.invoke(FunctionName="remembered", Payload=b"1")["StatusCode"] == 200
    admin(server, "lambda").remove_permission(FunctionName="remembered", StatementId="gale")
    assert refused(lam.invoke, FunctionName="remembered")[1] == "AccessDeniedException"


def test_an_explicit_deny_wins_over_an_allow_and_wildcards_match(server: Server) -> None:
    admin_lambda = admin(server, "lambda")
    create_function(admin_lambda, "app-one", {"app.py": HANDLER})
    create_function(admin_lambda, "other", {"app.py": HANDLER})
    erin = new_user(
        server,
        "erin",
        allow("lambda:*", f"{ARN}app-*"),
        allow("lambda:ListFunctions"),
        {"Effect": "Deny", "Action": "lambda:Delete*", "Resource": "*"},
    )
    lam = client(server, "lambda", erin)
    erin_arn = f"arn:aws:iam::{ACCOUNT}:user/erin"
    assert orjson.loads(lam.invoke(FunctionName="app-one", Payload=b"1")["Payload"].read()) == {"echo": 1}
    assert refused(lam.invoke, FunctionName="other") == (
        403,
        "AccessDeniedException",
        not_allowed(erin_arn, "lambda:InvokeFunction", f"{ARN}other"),
    )
    assert refused(lam.delete_function, FunctionName="app-one") == (
        403,
        "AccessDeniedException",
        f"User: {erin_arn} is not authorized to perform: lambda:DeleteFunction on resource: {ARN}app-one "
        "with an explicit deny in an identity-based policy",
    )
    # A qualified invoke acts on the qualified ARN, which app-* also matches.
    assert lam.invoke(FunctionName="app-one", Qualifier="$LATEST")["StatusCode"] == 200
    assert {f["FunctionName"] for f in lam.list_functions()["Functions"]} >= {"app-one", "other"}
    assert refused(lam.list_event_source_mappings)[2] == not_allowed(
        erin_arn, "lambda:ListEventSourceMappings", "*"
    )


def test_conditions_decide(server: Server) -> None:
    past = allow(
        "lambda:GetFunction", Condition={"DateLessThan": {"aws:CurrentTime": "2001-01-01T00:00:00Z"}}
    )
    mine = allow("lambda:GetAccountSettings", Condition={"StringEquals": {"aws:username": "frank"}})
    by_role = allow(
        "lambda:ListFunctions", Condition={"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}
    )
    lam = client(server, "lambda", new_user(server, "frank", past, mine, by_role))
    assert refused(lam.get_function, FunctionName="app-one")[1] == "AccessDeniedException"
    assert "AccountLimit" in lam.get_account_settings()
    assert refused(lam.list_functions)[1] == "AccessDeniedException"


def test_a_functions_resource_policy_lets_another_principal_invoke(server: Server) -> None:
    admin_lambda = admin(server, "lambda")
    create_function(admin_lambda, "shared", {"app.py": HANDLER})
    grace = client(server, "lambda", new_user(server, "grace"))
    grace_arn = f"arn:aws:iam::{ACCOUNT}:user/grace"
    assert refused(grace.invoke, FunctionName="shared")[2] == not_allowed(
        grace_arn, "lambda:InvokeFunction", f"{ARN}shared"
    )
    admin_lambda.add_permission(
        FunctionName="shared", StatementId="grace", Action="lambda:InvokeFunction", Principal=grace_arn
    )
    assert orjson.loads(grace.invoke(FunctionName="shared", Payload=b"2")["Payload"].read()) == {"echo": 2}
    # The resource policy grants invoking, nothing else.
    assert refused(grace.get_function_concurrency, FunctionName="shared")[1] == "AccessDeniedException"
    # A grant conditioned on a source ARN does not let a user (who has none) in.
    henry_arn = f"arn:aws:iam::{ACCOUNT}:user/henry"
    henry = client(server, "lambda", new_user(server, "henry"))
    admin_lambda.add_permission(
        FunctionName="shared",
        StatementId="henry",
        Action="lambda:InvokeFunction",
        Principal=henry_arn,
        SourceArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:topic",
    )
    assert refused(henry.invoke, FunctionName="shared")[1] == "AccessDeniedException"


def test_create_function_checks_the_role_exists_and_may_be_passed(server: Server) -> None:
    lam = admin(server, "lambda")
    with pytest.raises(ClientError) as caught:
        create_function(lam, "roleless", {"app.py": HANDLER}, Role=f"arn:aws:iam::{ACCOUNT}:role/missing")
    error = caught.value.response["Error"]
    assert (error["Code"], error["Message"]) == (
        "InvalidParameterValueException",
        "The role defined for the function cannot be assumed by Lambda.",
    )
    ivan = client(server, "lambda", new_user(server, "ivan", allow("lambda:CreateFunction")))
    with pytest.raises(ClientError) as caught:
        create_function(ivan, "ivans", {"app.py": HANDLER})
    assert caught.value.response["Error"]["Message"] == not_allowed(
        f"arn:aws:iam::{ACCOUNT}:user/ivan", "iam:PassRole", ROLE
    )


def test_other_services_check_their_actions(server: Server) -> None:
    queue_url = admin(server, "sqs").create_queue(QueueName="jobs")["QueueUrl"]
    judy = new_user(server, "judy", allow("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs"))
    sqs = client(server, "sqs", judy)
    sqs.send_message(QueueUrl=queue_url, MessageBody="hi")
    status, code, message = refused(sqs.receive_message, QueueUrl=queue_url)
    assert (status, code) == (403, "AccessDenied")
    # SQS names the action in lower case.
    assert message == not_allowed(
        f"arn:aws:iam::{ACCOUNT}:user/judy", "sqs:receivemessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs"
    )
    iam = client(server, "iam", judy)
    assert refused(iam.create_user, UserName="mallory")[1] == "AccessDenied"
    scheduler = client(server, "scheduler", judy)
    assert refused(scheduler.get_schedule, Name="nightly") == (
        403,
        "AccessDeniedException",
        not_allowed(
            f"arn:aws:iam::{ACCOUNT}:user/judy",
            "scheduler:GetSchedule",
            f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/nightly",
        ),
    )
    arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/nightly"
    assert refused(scheduler.list_tags_for_resource, ResourceArn=arn)[2] == not_allowed(
        f"arn:aws:iam::{ACCOUNT}:user/judy", "scheduler:ListTagsForResource", "*"
    )
    assert client(server, "sts", judy).get_caller_identity()["Account"] == ACCOUNT


CALLER = """
import json
import os

import boto3
from botocore.exceptions import ClientError


def handler(event, context):
    lam = boto3.client("lambda")
    out = {"endpoint": os.environ.get("AWS_ENDPOINT_URL")}
    out["identity"] = boto3.client("sts").get_caller_identity()["Arn"]
    answer = lam.invoke(FunctionName=event["target"], Payload=b'{"from": "caller"}')
    out["invoke"] = json.loads(answer["Payload"].read())
    try:
        lam.delete_function(FunctionName=event["target"])
        out["delete"] = "deleted"
    except ClientError as error:
        out["delete"] = [error.response["Error"]["Code"], error.response["Error"]["Message"]]
    try:
        boto3.client("dynamodb").list_tables()
    except ClientError as error:
        out["dynamodb"] = [error.response["Error"]["Code"], error.response["Error"]["Message"]]
    return out
"""


def test_a_function_acts_with_its_execution_role(server: Server) -> None:
    iam, lam = admin(server, "iam"), admin(server, "lambda")
    role = iam.create_role(RoleName="caller-role", AssumeRolePolicyDocument=TRUST_LAMBDA)["Role"]["Arn"]
    iam.put_role_policy(
        RoleName="caller-role",
        PolicyName="invoke-target",
        PolicyDocument=document(allow("lambda:InvokeFunction", f"{ARN}target")),
    )
    create_function(lam, "target", {"app.py": HANDLER})
    create_function(lam, "caller", {"app.py": CALLER}, Role=role, Timeout=30)
    answer = lam.invoke(FunctionName="caller", Payload=orjson.dumps({"target": "target"}))
    out = orjson.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, out
    # lambdalite as the environment reaches it: the server's port, from its own network
    # namespace (the host's address there) or from the host's.
    assert out["endpoint"].endswith(f":{server.port}")
    assert out["identity"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/caller-role/caller"
    assert out["invoke"] == {"echo": {"from": "caller"}}
    assert out["delete"] == [
        "AccessDeniedException",
        not_allowed(
            f"arn:aws:sts::{ACCOUNT}:assumed-role/caller-role/caller", "lambda:DeleteFunction", f"{ARN}target"
        ),
    ]
    assert lam.get_function(FunctionName="target")["Configuration"]["FunctionName"] == "target"
    # A service lambdalite does not serve says so, naming it.
    assert out["dynamodb"] == ["UnknownOperationException", "Unknown service: dynamodb"]


def url_get(target: str, key: tuple[str, str]) -> tuple[int, bytes]:
    request = AWSRequest(method="GET", url=target)
    SigV4Auth(Credentials(*key), "lambda", REGION).add_auth(request)
    prepared = request.prepare()
    try:
        with urllib.request.urlopen(
            urllib.request.Request(prepared.url, headers=dict(prepared.headers)), timeout=30
        ) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_an_aws_iam_function_url_needs_a_policy_that_allows_the_signer(server: Server) -> None:
    lam = admin(server, "lambda")
    create_function(lam, "iam-url", {"app.py": "def handler(event, context):\n    return 'hello'\n"})
    url = lam.create_function_url_config(FunctionName="iam-url", AuthType="AWS_IAM")["FunctionUrl"]
    target = f"{server.endpoint}/_lambdalite/url/{url_id_of(url)}/"
    kate = new_user(server, "kate")
    status, body = url_get(target, kate)
    assert status == 403 and orjson.loads(body)["Message"].startswith("Forbidden.")
    with_condition = allow(
        "lambda:InvokeFunctionUrl",
        f"{ARN}iam-url",
        Condition={"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}},
    )
    admin(server, "iam").put_user_policy(
        UserName="kate", PolicyName="url", PolicyDocument=document(with_condition)
    )
    assert url_get(target, kate) == (200, b'"hello"')
    # The function's own policy may let another principal in instead.
    leo = new_user(server, "leo")
    assert url_get(target, leo)[0] == 403
    lam.add_permission(
        FunctionName="iam-url",
        StatementId="leo",
        Action="lambda:InvokeFunctionUrl",
        Principal=f"arn:aws:iam::{ACCOUNT}:user/leo",
        FunctionUrlAuthType="AWS_IAM",
    )
    assert url_get(target, leo) == (200, b'"hello"')


PRINTER = """
import json


def handler(event, context):
    if "Records" in event:
        print("got", event["Records"][0]["Sns"]["Message"])
    else:
        print("got", event["detail"]["note"])
"""


def logged(server: Server, function: str, text: str, timeout_s: float = 15) -> bool:
    logs = admin(server, "logs")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}")["events"]
        except ClientError:
            events = []
        if any(text in event["message"] for event in events):
            return True
        time.sleep(0.1)
    return False


def test_services_invoke_only_when_the_functions_policy_allows_their_principal(server: Server) -> None:
    lam = admin(server, "lambda")
    create_function(lam, "printer", {"app.py": PRINTER})
    sns, events = admin(server, "sns"), admin(server, "events")
    # Two topics and two rules reach the function; its policy names one of each only
    # (deliveries are judged when they happen, so the refused ones use their own sources).
    topics = {name: sns.create_topic(Name=name)["TopicArn"] for name in ("alerts", "alerts-unpermitted")}
    for topic in topics.values():
        sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=f"{ARN}printer")
    for rule, source in (("notes", "app"), ("notes-unpermitted", "other")):
        events.put_rule(Name=rule, EventPattern=orjson.dumps({"source": [source]}).decode())
        events.put_targets(Rule=rule, Targets=[{"Id": "printer", "Arn": f"{ARN}printer"}])
    lam.add_permission(
        FunctionName="printer",
        StatementId="sns",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
        SourceArn=topics["alerts"],
    )
    lam.add_permission(
        FunctionName="printer",
        StatementId="rule",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=f"arn:aws:events:{REGION}:{ACCOUNT}:rule/notes",
    )
    sns.publish(TopicArn=topics["alerts-unpermitted"], Message="unpermitted-sns")
    events.put_events(
        Entries=[{"Source": "other", "DetailType": "note", "Detail": '{"note": "unpermitted-rule"}'}]
    )
    sns.publish(TopicArn=topics["alerts"], Message="permitted-sns")
    events.put_events(
        Entries=[{"Source": "app", "DetailType": "note", "Detail": '{"note": "permitted-rule"}'}]
    )
    assert logged(server, "printer", "got permitted-sns") and logged(server, "printer", "got permitted-rule")
    assert not logged(server, "printer", "unpermitted", timeout_s=1.0)


def test_schedules_invoke_with_their_role_or_the_functions_policy(server: Server) -> None:
    lam, iam = admin(server, "lambda"), admin(server, "iam")
    create_function(
        lam, "scheduled", {"app.py": "def handler(event, context):\n    print('got', event['n'])\n"}
    )
    trust = document(
        {"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole"}
    )
    idle = iam.create_role(RoleName="idle-scheduler", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    able = iam.create_role(RoleName="invoking-scheduler", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(
        RoleName="invoking-scheduler",
        PolicyName="invoke",
        PolicyDocument=document(allow("lambda:InvokeFunction", f"{ARN}scheduled")),
    )
    scheduler = admin(server, "scheduler")
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S")
    for name, role, n in (("without-rights", idle, "denied"), ("with-rights", able, "allowed")):
        scheduler.create_schedule(
            Name=name,
            ScheduleExpression=f"at({soon})",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": f"{ARN}scheduled", "RoleArn": role, "Input": orjson.dumps({"n": n}).decode()},
        )
    assert logged(server, "scheduled", "got allowed")
    assert not logged(server, "scheduled", "got denied", timeout_s=0.5)


def test_s3_checks_its_actions_on_buckets_and_objects(server: Server) -> None:
    admin(server, "s3").create_bucket(Bucket="reports")
    admin(server, "s3").put_object(Bucket="reports", Key="2026/q4.csv", Body=b"numbers")
    mia = new_user(
        server,
        "mia",
        allow("s3:GetObject", "arn:aws:s3:::reports/2026/*"),
        allow("s3:ListBucket", "arn:aws:s3:::reports"),
    )
    s3 = client(server, "s3", mia)
    assert s3.get_object(Bucket="reports", Key="2026/q4.csv")["Body"].read() == b"numbers"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="reports")["Contents"]] == ["2026/q4.csv"]
    status, code, message = refused(s3.put_object, Bucket="reports", Key="2026/q1.csv", Body=b"x")
    assert (status, code) == (403, "AccessDenied")
    assert message == not_allowed(
        f"arn:aws:iam::{ACCOUNT}:user/mia", "s3:PutObject", "arn:aws:s3:::reports/2026/q1.csv"
    )
    assert refused(s3.list_buckets)[1] == "AccessDenied"
