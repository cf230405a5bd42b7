"""Tags and resource policies through boto3, with AWS's exact errors.

Texts are AWS's as LocalStack's parity snapshots record them
(tests/aws/services/lambda_/test_lambda_api.snapshot.json, for example
TestLambdaRevisions::test_function_revisions_permissions) and its
parity-tested provider reproduces them (services/lambda_/provider.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import ARN_PREFIX, create_function, error_of, start_server, stop_server, zip_files

TRIVIAL = {"app.py": "def handler(event, context):\n    return 1\n"}
REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)
S3_INVOKE = {"Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com"}


def policy_of(lam: Any, name: str, **kwargs: Any) -> tuple[dict[str, Any], str]:
    response = lam.get_policy(FunctionName=name, **kwargs)
    return json.loads(response["Policy"]), response["RevisionId"]


# --- tags ------------------------------------------------------------------------------------------


def test_tags_on_create_are_listed_merged_and_removed(lam: Any) -> None:
    create_function(lam, "tg-life", TRIVIAL, Tags={"team": "core", "env": "dev"})
    arn = f"{ARN_PREFIX}tg-life"
    assert lam.get_function(FunctionName="tg-life")["Tags"] == {"team": "core", "env": "dev"}
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "core", "env": "dev"}

    response = lam.tag_resource(Resource=arn, Tags={"env": "prod", "cost": "42"})
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "core", "env": "prod", "cost": "42"}

    response = lam.untag_resource(Resource=arn, TagKeys=["team", "not-there"])
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_tags(Resource=arn)["Tags"] == {"env": "prod", "cost": "42"}
    lam.untag_resource(Resource=arn, TagKeys=["env", "cost"])
    assert lam.list_tags(Resource=arn)["Tags"] == {}
    assert "Tags" not in lam.get_function(FunctionName="tg-life")


def test_tagging_gives_the_function_a_new_revision(lam: Any) -> None:
    # AWS's recorded answers (TestLambdaTags::test_tag_lifecycle): a new RevisionId after each
    # TagResource and UntagResource, and nothing else of the configuration changes.
    create_function(lam, "tg-rev", TRIVIAL)
    lam.get_waiter("function_active_v2").wait(FunctionName="tg-rev")
    created = lam.get_function_configuration(FunctionName="tg-rev")  # Active, settled
    seen = [created["RevisionId"]]
    lam.tag_resource(Resource=f"{ARN_PREFIX}tg-rev", Tags={"a": "b"})
    seen.append(lam.get_function(FunctionName="tg-rev")["Configuration"]["RevisionId"])
    lam.untag_resource(Resource=f"{ARN_PREFIX}tg-rev", TagKeys=["a"])
    after = lam.get_function(FunctionName="tg-rev")["Configuration"]
    seen.append(after["RevisionId"])
    assert len(set(seen)) == 3
    assert after["LastModified"] == created["LastModified"]
    # The new revision is the one a conditional update must name.
    assert (
        error_of(
            "PreconditionFailedException",
            lambda: lam.update_function_configuration(FunctionName="tg-rev", Timeout=5, RevisionId=seen[0]),
        )[0]
        == 412
    )
    lam.update_function_configuration(FunctionName="tg-rev", Timeout=5, RevisionId=seen[-1])


def test_a_new_revision_without_a_change_keeps_the_warm_environment(lam: Any) -> None:
    # Tagging and publishing give $LATEST a new RevisionId, but neither its code nor its
    # configuration changes: the warm environment goes on serving (no cold start).
    create_function(
        lam,
        "tg-warm",
        {
            "app.py": "import uuid\nTOKEN = str(uuid.uuid4())\n"
            "def handler(event, context):\n    return TOKEN\n"
        },
    )
    lam.get_waiter("function_active_v2").wait(FunctionName="tg-warm")

    def pid() -> str:
        """The token the environment drew at init (pids repeat across PID namespaces)."""
        return str(json.loads(lam.invoke(FunctionName="tg-warm")["Payload"].read()))

    first = pid()
    lam.tag_resource(Resource=f"{ARN_PREFIX}tg-warm", Tags={"a": "b"})
    assert pid() == first
    lam.publish_version(FunctionName="tg-warm")
    assert pid() == first
    lam.update_function_configuration(FunctionName="tg-warm", Timeout=7)
    lam.get_waiter("function_updated_v2").wait(FunctionName="tg-warm")
    assert pid() != first  # a configuration change does start a new environment


def test_tags_are_not_taken_on_versions_and_aliases(lam: Any) -> None:
    create_function(lam, "tg-qual", TRIVIAL, Publish=True)
    lam.create_alias(FunctionName="tg-qual", Name="live", FunctionVersion="1")
    message = "Tags on function aliases and versions are not supported. Please specify a function ARN."
    for resource in (f"{ARN_PREFIX}tg-qual:1", f"{ARN_PREFIX}tg-qual:live", f"{ARN_PREFIX}tg-qual:$LATEST"):
        assert error_of(
            "InvalidParameterValueException", lambda r=resource: lam.tag_resource(Resource=r, Tags={"a": "b"})
        ) == (400, message)
        assert error_of(
            "InvalidParameterValueException", lambda r=resource: lam.untag_resource(Resource=r, TagKeys=["a"])
        ) == (400, message)
        assert error_of("InvalidParameterValueException", lambda r=resource: lam.list_tags(Resource=r)) == (
            400,
            message,
        )
    assert lam.list_tags(Resource=f"{ARN_PREFIX}tg-qual")["Tags"] == {}


def test_tag_errors_use_awss_words(lam: Any) -> None:
    missing = f"{ARN_PREFIX}tg-missing"
    not_found = (404, f"Function not found: {missing}")
    assert error_of("ResourceNotFoundException", lambda: lam.list_tags(Resource=missing)) == not_found
    assert (
        error_of("ResourceNotFoundException", lambda: lam.tag_resource(Resource=missing, Tags={"a": "b"}))
        == not_found
    )
    assert (
        error_of("ResourceNotFoundException", lambda: lam.untag_resource(Resource=missing, TagKeys=["a"]))
        == not_found
    )
    other_region = "arn:aws:lambda:eu-west-1:000000000000:function:tg-missing"
    assert error_of("ResourceNotFoundException", lambda: lam.list_tags(Resource=other_region)) == not_found

    # AWS's pattern, as its recorded answers word it (not botocore's TaggableResource).
    for bad in ("tg-missing", "arn:aws:something", f"{ARN_PREFIX.replace(':function:', ':foobar:')}x"):
        assert error_of("ValidationException", lambda b=bad: lam.list_tags(Resource=b)) == (
            400,
            f"1 validation error detected: Value '{bad}' at 'resource' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}"
            "((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:(function:[a-zA-Z0-9-_]+(:(\\$LATEST|"
            "[a-zA-Z0-9-_]+))?|layer:([a-zA-Z0-9-_]+)|code-signing-config:csc-[a-z0-9]{17}|"
            "event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
            "[0-9a-fA-F]{12}|capacity-provider:[a-zA-Z0-9-_]+)",
        )
    # Other kinds of taggable resource, with AWS's not-found text for each.
    base = ARN_PREFIX.removesuffix("function:")
    mapping = f"{base}event-source-mapping:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    provider = f"{base}capacity-provider:cp-none"
    for resource, text in (
        (mapping, f"Event source mapping not found: {mapping}"),
        (provider, f"Capacity provider not found: {provider}"),
    ):
        for call in (
            lambda r=resource: lam.tag_resource(Resource=r, Tags={"a": "b"}),
            lambda r=resource: lam.untag_resource(Resource=r, TagKeys=["a"]),
            lambda r=resource: lam.list_tags(Resource=r),
        ):
            assert error_of("ResourceNotFoundException", call) == (404, text)

    create_function(lam, "tg-err", TRIVIAL)
    arn = f"{ARN_PREFIX}tg-err"
    assert error_of("InvalidParameterValueException", lambda: lam.tag_resource(Resource=arn, Tags={})) == (
        400,
        "An error occurred and the request cannot be processed.",
    )
    assert error_of("ValidationException", lambda: lam.untag_resource(Resource=arn, TagKeys=[])) == (
        400,
        "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: "
        "Member must not be null",
    )
    status, message = error_of(
        "ValidationException", lambda: lam.tag_resource(Resource=arn, Tags={"k": "v" * 257})
    )
    assert (status, message) == (
        400,
        f"1 validation error detected: Value '{{k={'v' * 257}}}' at 'tags' failed to satisfy constraint: "
        "Map value must satisfy constraint: [Member must have length less than or equal to 256]",
    )

    lam.tag_resource(Resource=arn, Tags={f"k{i}": "v" for i in range(50)})
    assert error_of(
        "InvalidParameterValueException", lambda: lam.tag_resource(Resource=arn, Tags={"one-more": "v"})
    ) == (400, "Number of tags exceeds resource tag limit.")
    assert len(lam.list_tags(Resource=arn)["Tags"]) == 50


def test_create_function_with_too_many_tags_creates_nothing(lam: Any) -> None:
    status, message = error_of(
        "InvalidParameterValueException",
        lambda: lam.create_function(
            FunctionName="tg-many",
            Runtime="python3.11",
            Role="arn:aws:iam::000000000000:role/r",
            Handler="app.handler",
            Code={"ZipFile": zip_files(TRIVIAL)},
            Tags={f"k{i}": "v" for i in range(51)},
        ),
    )
    assert (status, message) == (400, "Number of tags exceeds resource tag limit.")
    assert error_of("ResourceNotFoundException", lambda: lam.get_function(FunctionName="tg-many"))[0] == 404


# --- permissions -----------------------------------------------------------------------------------


def test_add_permission_builds_awss_statement_and_policy(lam: Any) -> None:
    create_function(lam, "pm-doc", TRIVIAL)
    created = lam.get_function_configuration(FunctionName="pm-doc")  # Active, settled
    response = lam.add_permission(FunctionName="pm-doc", StatementId="s3", **S3_INVOKE)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 201
    s3 = {
        "Sid": "s3",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": f"{ARN_PREFIX}pm-doc",
    }
    assert json.loads(response["Statement"]) == s3
    assert list(json.loads(response["Statement"])) == ["Sid", "Effect", "Principal", "Action", "Resource"]

    conditioned = lam.add_permission(
        FunctionName="pm-doc",
        StatementId="conditioned",
        Action="lambda:GetFunction",
        Principal="123456789012",
        SourceArn="arn:aws:s3:::bucket",
        SourceAccount="123456789012",
        PrincipalOrgID="o-abcdefghij",
        EventSourceToken="token.1",
    )
    assert json.loads(conditioned["Statement"]) == {
        "Sid": "conditioned",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "lambda:GetFunction",
        "Resource": f"{ARN_PREFIX}pm-doc",
        "Condition": {
            "StringEquals": {
                "aws:PrincipalOrgID": "o-abcdefghij",
                "AWS:SourceAccount": "123456789012",
                "lambda:EventSourceToken": "token.1",
            },
            "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"},
        },
    }
    url = lam.add_permission(
        FunctionName=f"{ARN_PREFIX}pm-doc",
        StatementId="url",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
    )
    assert json.loads(url["Statement"])["Principal"] == "*"
    assert json.loads(url["Statement"])["Condition"] == {
        "StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}
    }
    # Every optional condition at once, in the order of AWS's recorded statement.
    full = lam.add_permission(
        FunctionName="pm-doc",
        StatementId="url-full",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        SourceArn="arn:aws:s3:::test-bucket",
        SourceAccount="123456789012",
        PrincipalOrgID="o-1234567890",
        FunctionUrlAuthType="NONE",
    )
    condition = json.loads(full["Statement"])["Condition"]
    assert list(condition) == ["StringEquals", "ArnLike"]
    assert list(condition["StringEquals"].items()) == [
        ("AWS:SourceAccount", "123456789012"),
        ("lambda:FunctionUrlAuthType", "NONE"),
        ("aws:PrincipalOrgID", "o-1234567890"),
    ]
    lam.remove_permission(FunctionName="pm-doc", StatementId="url-full")
    role = lam.add_permission(
        FunctionName="pm-doc",
        StatementId="role",
        Action="lambda:*",
        Principal="arn:aws:iam::123456789012:role/x",
    )
    assert json.loads(role["Statement"])["Principal"] == {"AWS": "arn:aws:iam::123456789012:role/x"}

    policy, revision = policy_of(lam, "pm-doc")
    assert policy["Version"] == "2012-10-17"
    assert policy["Id"] == "default"
    assert [s["Sid"] for s in policy["Statement"]] == ["s3", "conditioned", "url", "role"]
    assert policy["Statement"][0] == s3
    assert revision
    # A permission is not a code or configuration change.
    assert lam.get_function(FunctionName="pm-doc")["Configuration"]["RevisionId"] == created["RevisionId"]


def test_versions_and_aliases_have_their_own_policies(lam: Any) -> None:
    create_function(lam, "pm-qual", TRIVIAL, Publish=True)
    lam.create_alias(FunctionName="pm-qual", Name="live", FunctionVersion="1")
    lam.add_permission(FunctionName="pm-qual", StatementId="same", **S3_INVOKE)
    version = lam.add_permission(FunctionName="pm-qual", Qualifier="1", StatementId="same", **S3_INVOKE)
    alias = lam.add_permission(FunctionName="pm-qual:live", StatementId="same", **S3_INVOKE)
    assert json.loads(version["Statement"])["Resource"] == f"{ARN_PREFIX}pm-qual:1"
    assert json.loads(alias["Statement"])["Resource"] == f"{ARN_PREFIX}pm-qual:live"
    assert [s["Resource"] for s in policy_of(lam, "pm-qual")[0]["Statement"]] == [f"{ARN_PREFIX}pm-qual"]
    assert [s["Resource"] for s in policy_of(lam, "pm-qual", Qualifier="1")[0]["Statement"]] == [
        f"{ARN_PREFIX}pm-qual:1"
    ]
    assert [s["Resource"] for s in policy_of(lam, "pm-qual:live")[0]["Statement"]] == [
        f"{ARN_PREFIX}pm-qual:live"
    ]

    lam.remove_permission(FunctionName="pm-qual", Qualifier="1", StatementId="same")
    missing = (404, "The resource you requested does not exist.")
    assert error_of(
        "ResourceNotFoundException", lambda: lam.get_policy(FunctionName="pm-qual", Qualifier="1")
    ) == (missing)
    assert policy_of(lam, "pm-qual")[0]["Statement"][0]["Sid"] == "same"

    # An alias's policy goes with the alias: a new alias of that name starts without one.
    lam.delete_alias(FunctionName="pm-qual", Name="live")
    lam.create_alias(FunctionName="pm-qual", Name="live", FunctionVersion="1")
    assert (
        error_of("ResourceNotFoundException", lambda: lam.get_policy(FunctionName="pm-qual:live")) == missing
    )


def test_permission_errors_use_awss_words(lam: Any) -> None:
    create_function(lam, "pm-err", TRIVIAL, Publish=True)
    arn = f"{ARN_PREFIX}pm-err"
    assert error_of(
        "InvalidParameterValueException",
        lambda: lam.add_permission(FunctionName="pm-err", Qualifier="$LATEST", StatementId="a", **S3_INVOKE),
    ) == (400, "We currently do not support adding policies for $LATEST.")
    assert error_of(
        "ResourceNotFoundException",
        lambda: lam.add_permission(FunctionName="pm-err", Qualifier="7", StatementId="a", **S3_INVOKE),
    ) == (404, f"Function not found: {arn}:7")
    assert error_of(
        "ResourceNotFoundException",
        lambda: lam.add_permission(FunctionName="pm-err", Qualifier="nope", StatementId="a", **S3_INVOKE),
    ) == (404, f"Cannot find alias arn: {arn}:nope")
    # A qualifier the pattern lets through but no alias can have: AWS's "Function not found".
    assert error_of(
        "ResourceNotFoundException",
        lambda: lam.add_permission(
            FunctionName="pm-err", Qualifier="with-$-sign", StatementId="a", **S3_INVOKE
        ),
    ) == (404, f"Function not found: {arn}:with-$-sign")
    assert error_of(
        "ResourceNotFoundException",
        lambda: lam.add_permission(FunctionName="pm-gone", StatementId="a", **S3_INVOKE),
    ) == (404, f"Function not found: {ARN_PREFIX}pm-gone")
    assert error_of(
        "InvalidParameterValueException",
        lambda: lam.add_permission(
            FunctionName="pm-err", StatementId="a", Action="lambda:InvokeFunction", Principal="someone"
        ),
    ) == (400, "The provided principal was invalid. Please check the principal and try again.")
    assert error_of(
        "ValidationException",
        lambda: lam.add_permission(FunctionName="pm-err", StatementId="a.b", **S3_INVOKE),
    ) == (
        400,
        "1 validation error detected: Value 'a.b' at 'statementId' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)",
    )
    assert error_of("ResourceNotFoundException", lambda: lam.get_policy(FunctionName="pm-err")) == (
        404,
        "The resource you requested does not exist.",
    )
    assert error_of(
        "ResourceNotFoundException", lambda: lam.remove_permission(FunctionName="pm-err", StatementId="a")
    ) == (404, "No policy is associated with the given resource.")
    assert error_of("ResourceNotFoundException", lambda: lam.get_policy(FunctionName="pm-gone")) == (
        404,
        f"Function not found: {ARN_PREFIX}pm-gone",
    )
    assert error_of(
        "ResourceNotFoundException", lambda: lam.remove_permission(FunctionName="pm-gone", StatementId="a")
    ) == (404, f"No policy found for: {ARN_PREFIX}pm-gone")

    lam.add_permission(FunctionName="pm-err", StatementId="a", **S3_INVOKE)
    assert error_of(
        "ResourceConflictException",
        lambda: lam.add_permission(FunctionName="pm-err", StatementId="a", **S3_INVOKE),
    ) == (
        409,
        "The statement id (a) provided already exists. "
        "Please provide a new statement id, or remove the existing statement.",
    )
    assert error_of(
        "ResourceNotFoundException", lambda: lam.remove_permission(FunctionName="pm-err", StatementId="b")
    ) == (404, "Statement b is not found in resource policy.")
    assert [s["Sid"] for s in policy_of(lam, "pm-err")[0]["Statement"]] == ["a"]


def test_revision_ids_guard_policy_changes(lam: Any) -> None:
    create_function(lam, "pm-rev", TRIVIAL)
    created = lam.get_function_configuration(FunctionName="pm-rev")  # Active, settled
    assert error_of(
        "PreconditionFailedException",
        lambda: lam.add_permission(FunctionName="pm-rev", StatementId="s3", RevisionId="wrong", **S3_INVOKE),
    ) == (412, REVISION_MISMATCH)
    # Without a policy yet, the function's RevisionId is the one to match.
    lam.add_permission(FunctionName="pm-rev", StatementId="s3", RevisionId=created["RevisionId"], **S3_INVOKE)
    _, revision = policy_of(lam, "pm-rev")
    lam.add_permission(FunctionName="pm-rev", StatementId="sns", RevisionId=revision, **S3_INVOKE)
    _, newer = policy_of(lam, "pm-rev")
    assert newer != revision
    assert error_of(
        "PreconditionFailedException",
        lambda: lam.remove_permission(FunctionName="pm-rev", StatementId="s3", RevisionId=revision),
    ) == (412, REVISION_MISMATCH)
    response = lam.remove_permission(FunctionName="pm-rev", StatementId="s3", RevisionId=newer)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    lam.remove_permission(FunctionName="pm-rev", StatementId="sns")
    assert error_of("ResourceNotFoundException", lambda: lam.get_policy(FunctionName="pm-rev"))[0] == 404


# --- persistence and deletion -----------------------------------------------------------------------


def test_tags_and_policies_survive_a_restart_and_go_with_their_function(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    try:
        lam = server.client()
        create_function(lam, "keep", TRIVIAL, Publish=True, Tags={"team": "core"})
        lam.add_permission(FunctionName="keep", StatementId="s3", **S3_INVOKE)
        lam.add_permission(FunctionName="keep", Qualifier="1", StatementId="v1", **S3_INVOKE)
        before = policy_of(lam, "keep")
    finally:
        stop_server(server)
    server = start_server(data_dir)
    try:
        lam = server.client()
        assert lam.list_tags(Resource=f"{ARN_PREFIX}keep")["Tags"] == {"team": "core"}
        assert policy_of(lam, "keep") == before
        assert policy_of(lam, "keep", Qualifier="1")[0]["Statement"][0]["Sid"] == "v1"

        lam.delete_function(FunctionName="keep")
        create_function(lam, "keep", TRIVIAL, Publish=True)
        assert lam.list_tags(Resource=f"{ARN_PREFIX}keep")["Tags"] == {}
        assert error_of("ResourceNotFoundException", lambda: lam.get_policy(FunctionName="keep"))[0] == 404
        assert error_of("ResourceNotFoundException", lambda: lam.get_policy(FunctionName="keep:1"))[0] == 404
    finally:
        stop_server(server)
