"""Request parsing: AWS's exact error codes and texts for every refusal."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from lambdalite.control import service_model
from lambdalite.control.validation import (
    FunctionSettings,
    parse_create_function,
    parse_update_function_code,
    parse_update_function_configuration,
    validate_function_name,
    validate_list_functions,
)
from lambdalite.errors import InvalidParameterValue, InvalidRequestContent, LambdaError, Validation

ZIP = b"PK\x05\x06" + b"\0" * 18  # an empty zip; the code store judges the content
ROLE = "arn:aws:iam::123456789012:role/lambda-role"
ROLE_PATTERN = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
NAME_PATTERN = service_model.shape("FunctionName").pattern
ENV_KEYS = "[Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]"


def create_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "FunctionName": "hello",
        "Runtime": "python3.12",
        "Role": ROLE,
        "Handler": "index.handler",
        "Code": {"ZipFile": base64.b64encode(ZIP).decode()},
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


def refusal(kind: type[LambdaError], call: Any, *args: Any) -> str:
    with pytest.raises(kind) as err:
        call(*args)
    assert type(err.value) is kind
    return err.value.message


def one(path: str, value: str | None, constraint: str) -> str:
    shown = "Value null" if value is None else f"Value '{value}'"
    return f"1 validation error detected: {shown} at '{path}' failed to satisfy constraint: {constraint}"


# --- success -------------------------------------------------------------------------------------


def test_a_full_create_request_becomes_typed_values() -> None:
    parsed = parse_create_function(
        create_body(
            FunctionName="arn:aws:lambda:us-east-1:123456789012:function:hello",
            Description="greets",
            Timeout=900,
            MemorySize=10240,
            Environment={"Variables": {"GREETING": "hi"}},
            EphemeralStorage={"Size": 10240},
            Architectures=["arm64"],
            Publish=True,
            PackageType="Zip",
        )
    )
    assert parsed.name == "hello"
    assert parsed.zip_bytes == ZIP
    assert parsed.publish is True
    assert parsed.settings == FunctionSettings(
        runtime="python3.12",
        role=ROLE,
        handler="index.handler",
        description="greets",
        timeout_s=900,
        memory_mb=10240,
        environment={"GREETING": "hi"},
        ephemeral_storage_mb=10240,
        architectures=("arm64",),
    )
    assert parsed.ignored_members == ()


def test_unknown_members_are_ignored_and_unimplemented_ones_reported() -> None:
    parsed = parse_create_function(
        create_body(
            NotAMember={"anything": [1]},
            Layers=["arn:aws:lambda:us-east-1:123456789012:layer:deps:1"],
            KMSKeyArn="",
            Code={"ZipFile": base64.b64encode(ZIP).decode(), "SourceKMSKeyArn": ""},
        )
    )
    assert parsed.ignored_members == ("Code.SourceKMSKeyArn",)  # KMSKeyArn is stored as given
    assert parsed.layer_arns == ("arn:aws:lambda:us-east-1:123456789012:layer:deps:1",)


def test_json_null_reads_as_absent() -> None:
    parsed = parse_update_function_configuration({"Timeout": None, "Description": "d"})
    assert parsed.settings == FunctionSettings(description="d")


def test_update_configuration_with_nothing_changes_nothing() -> None:
    parsed = parse_update_function_configuration({"RevisionId": "r1"})
    assert parsed.settings == FunctionSettings()
    assert parsed.revision_id == "r1"


def test_update_configuration_environment_can_be_emptied() -> None:
    assert parse_update_function_configuration({"Environment": {}}).settings.environment == {}


def test_update_code_is_parsed() -> None:
    parsed = parse_update_function_code(
        {
            "ZipFile": base64.b64encode(ZIP).decode(),
            "Publish": True,
            "RevisionId": "r",
            "Architectures": ["arm64"],
        }
    )
    assert (parsed.zip_bytes, parsed.publish, parsed.revision_id, parsed.architectures) == (
        ZIP,
        True,
        "r",
        ("arm64",),
    )


@pytest.mark.parametrize(
    "runtime", ["python3.9", "python3.14", "nodejs18.x", "nodejs22.x", "provided.al2023"]
)
def test_runnable_runtimes_are_accepted(runtime: str) -> None:
    assert parse_create_function(create_body(Runtime=runtime)).settings.runtime == runtime


# --- ValidationException: the model's constraints ------------------------------------------------


@pytest.mark.parametrize(
    ("member", "value", "path", "constraint"),
    [
        ("Timeout", 0, "timeout", "Member must have value greater than or equal to 1"),
        ("Timeout", 901, "timeout", "Member must have value less than or equal to 900"),
        ("MemorySize", 127, "memorySize", "Member must have value greater than or equal to 128"),
        ("MemorySize", 10241, "memorySize", "Member must have value less than or equal to 10240"),
        ("Description", "d" * 257, "description", "Member must have length less than or equal to 256"),
        ("Handler", "h" * 129, "handler", "Member must have length less than or equal to 128"),
        ("Handler", "index handler", "handler", r"Member must satisfy regular expression pattern: [^\s]+"),
        ("Role", "not-a-role", "role", f"Member must satisfy regular expression pattern: {ROLE_PATTERN}"),
        ("PackageType", "Jar", "packageType", "Member must satisfy enum value set: [Zip, Image]"),
    ],
)
def test_one_constraint_violation(member: str, value: Any, path: str, constraint: str) -> None:
    message = refusal(Validation, parse_create_function, create_body(**{member: value}))
    assert message == one(path, str(value), constraint)


def test_several_violations_are_reported_together_in_model_order() -> None:
    message = refusal(Validation, parse_create_function, create_body(MemorySize=64, Timeout=0, Role="r"))
    assert message == (
        "3 validation errors detected: "
        f"Value 'r' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: "
        f"{ROLE_PATTERN}; "
        "Value '0' at 'timeout' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1; "
        "Value '64' at 'memorySize' failed to satisfy constraint: "
        "Member must have value greater than or equal to 128"
    )


def test_missing_required_members_are_null() -> None:
    message = refusal(Validation, parse_create_function, {"FunctionName": "f"})
    assert message == (
        "2 validation errors detected: "
        "Value null at 'role' failed to satisfy constraint: Member must not be null; "
        "Value null at 'code' failed to satisfy constraint: Member must not be null"
    )


def test_function_name_pattern() -> None:
    message = refusal(Validation, parse_create_function, create_body(FunctionName="my function"))
    assert message == one(
        "functionName", "my function", f"Member must satisfy regular expression pattern: {NAME_PATTERN}"
    )


def test_function_name_longer_than_64() -> None:
    # AWS words it as a validation error but answers InvalidParameterValueException.
    name = "f" * 65
    message = refusal(InvalidParameterValue, parse_create_function, create_body(FunctionName=name))
    assert message == one("functionName", name, "Member must have length less than or equal to 64")


def test_function_name_longer_than_the_models_140() -> None:
    name = "f" * 141
    message = refusal(Validation, parse_create_function, create_body(FunctionName=name))
    assert message == one("functionName", name, "Member must have length less than or equal to 140")


def test_environment_variable_names_follow_the_model_pattern_and_hide_values() -> None:
    body = create_body(Environment={"Variables": {"1BAD": "secret"}})
    message = refusal(Validation, parse_create_function, body)
    assert message == (
        "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: "
        f"Map keys must satisfy constraint: {ENV_KEYS}"
    )
    assert "secret" not in message


@pytest.mark.parametrize(
    ("storage", "value", "constraint"),
    [
        ({"Size": 511}, "511", "Member must have value greater than or equal to 512"),
        ({"Size": 10241}, "10241", "Member must have value less than or equal to 10240"),
        ({}, None, "Member must not be null"),
    ],
)
def test_ephemeral_storage_range(storage: dict[str, int], value: str | None, constraint: str) -> None:
    message = refusal(Validation, parse_create_function, create_body(EphemeralStorage=storage))
    assert message == one("ephemeralStorage.size", value, constraint)


def test_only_one_architecture() -> None:
    message = refusal(Validation, parse_create_function, create_body(Architectures=["x86_64", "arm64"]))
    assert message == one(
        "architectures", "[x86_64, arm64]", "Member must have length less than or equal to 1"
    )


def test_architecture_enum() -> None:
    message = refusal(Validation, parse_create_function, create_body(Architectures=["x86"]))
    assert message == one(
        "architectures",
        "[x86]",
        "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], "
        "Member must not be null]",  # as AWS words it
    )


def test_update_configuration_checks_the_same_constraints() -> None:
    message = refusal(Validation, parse_update_function_configuration, {"MemorySize": 20000})
    assert message == one("memorySize", "20000", "Member must have value less than or equal to 10240")


# --- InvalidParameterValueException: Lambda's own rules ------------------------------------------


def test_runtime_outside_the_enum() -> None:
    message = refusal(InvalidParameterValue, parse_create_function, create_body(Runtime="python2.8"))
    # AWS lists its own set, in its own order (as recorded), not the model's enum.
    assert message == (
        "Value python2.8 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
        "[nodejs20.x, python3.14, provided.al2023, python3.12, python3.13, nodejs24.x, nodejs22.x, java25, "
        "python3.10, python3.11, java21, ruby3.3, ruby3.4, ruby3.2, python3.8, python3.9, java17, "
        "nodejs16.x, dotnet10, dotnet8, java11, dotnet6, nodejs18.x, provided.al2, java8.al2] "
        "or be a valid ARN"
    )


@pytest.mark.parametrize("runtime", ["python2.7", "nodejs12.x", "python3.8", "go1.x"])
def test_runtime_aws_no_longer_supports(runtime: str) -> None:
    message = refusal(InvalidParameterValue, parse_update_function_configuration, {"Runtime": runtime})
    assert message == (
        f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
        "functions. We recommend you use a supported runtime while creating or updating functions."
    )


def test_runtime_lambdalite_cannot_run() -> None:
    message = refusal(InvalidParameterValue, parse_create_function, create_body(Runtime="java21"))
    assert message.startswith("The runtime parameter of java21 is not supported by lambdalite.")
    assert "python3.9, python3.10" in message


@pytest.mark.parametrize("missing", ["Runtime", "Handler"])
def test_runtime_and_handler_are_mandatory_for_zip(missing: str) -> None:
    message = refusal(InvalidParameterValue, parse_create_function, create_body(**{missing: ...}))
    assert (
        message
        == "Runtime and Handler are mandatory parameters for functions created with deployment packages."
    )


def test_code_without_a_source() -> None:
    message = refusal(InvalidParameterValue, parse_create_function, create_body(Code={}))
    assert message == "Please provide a source for function code."
    message = refusal(InvalidParameterValue, parse_update_function_code, {"Publish": True})
    assert message == "Please provide a source for function code."


def test_code_from_s3_is_not_supported() -> None:
    body = create_body(Code={"S3Bucket": "my-bucket", "S3Key": "k.zip"})
    assert "S3Bucket/S3Key" in refusal(InvalidParameterValue, parse_create_function, body)


def test_image_packages_are_not_supported() -> None:
    body = create_body(PackageType="Image", Code={"ImageUri": "x"})
    assert "PackageType Image" in refusal(InvalidParameterValue, parse_create_function, body)


def test_reserved_environment_keys() -> None:
    body = create_body(Environment={"Variables": {"OK": "1", "AWS_REGION": "x", "AWS_ACCESS_KEY_ID": "y"}})
    message = refusal(InvalidParameterValue, parse_create_function, body)
    assert message == (
        "Lambda was unable to configure your environment variables because the environment variables "
        "you have provided contains reserved keys that are currently not supported for modification. "
        "Reserved keys used in this request: AWS_REGION, AWS_ACCESS_KEY_ID"
    )


def test_environment_over_4_kb() -> None:
    variables = {"AA": "x" * 2000, "BB": "é" * 1100}
    message = refusal(
        InvalidParameterValue, parse_update_function_configuration, {"Environment": {"Variables": variables}}
    )
    assert message == (
        "Lambda was unable to configure your environment variables because the environment variables "
        "you have provided exceeded the 4KB limit. String measured: "
        f'{{"AA":"{"x" * 2000}","BB":"{"é" * 1100}"}}'
    )


def test_environment_of_exactly_4_kb_is_accepted() -> None:
    value = "x" * (4096 - len('{"AA":""}'))
    assert parse_update_function_configuration(
        {"Environment": {"Variables": {"AA": value}}}
    ).settings.environment


def test_single_letter_environment_names_fail_the_models_pattern() -> None:
    # The model's pattern needs two characters or more, and AWS enforces it.
    with pytest.raises(Validation):
        parse_update_function_configuration({"Environment": {"Variables": {"A": "1"}}})


# --- InvalidRequestContentException: the body does not bind --------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (create_body(Timeout="3"), "Value at 'timeout' must be an integer, not a string"),
        (create_body(Timeout=True), "Value at 'timeout' must be an integer, not a boolean"),
        (create_body(Timeout=3.5), "Value at 'timeout' must be an integer, not a number"),
        (create_body(Publish="yes"), "Value at 'publish' must be a boolean, not a string"),
        (create_body(Code="UEsFBg=="), "Value at 'code' must be an object, not a string"),
        (create_body(Architectures="arm64"), "Value at 'architectures' must be an array, not a string"),
        (
            create_body(Architectures=[1]),
            "Value at 'architectures.1.member' must be a string, not an integer",
        ),
        (
            create_body(Environment={"Variables": {"AA": 1}}),
            "Value at 'environment.variables' must be a string, not an integer",
        ),
        (create_body(Code={"ZipFile": "not base64!"}), "Value at 'code.zipFile' is not valid base64"),
    ],
)
def test_wrong_json_types_are_a_400_not_a_500(body: dict[str, Any], message: str) -> None:
    assert refusal(InvalidRequestContent, parse_create_function, body) == (
        f"Could not parse request body into json: {message}"
    )


def test_a_body_that_is_not_an_object() -> None:
    message = refusal(InvalidRequestContent, parse_update_function_configuration, ["Timeout"])
    assert (
        message
        == "Could not parse request body into json: the request body must be a JSON object, not an array"
    )


def test_update_code_bad_base64() -> None:
    message = refusal(InvalidRequestContent, parse_update_function_code, {"ZipFile": "%%%"})
    assert message == "Could not parse request body into json: Value at 'zipFile' is not valid base64"


# --- path and query parameters --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "hello",
        "hello:live",
        "hello:$LATEST",
        "123456789012:function:hello",
        "arn:aws:lambda:us-east-1:123456789012:function:hello",
        "arn:aws:lambda:us-east-1:123456789012:function:hello:7",
    ],
)
def test_function_names_in_every_form(name: str) -> None:
    validate_function_name(name)


def test_function_name_path_parameter_pattern() -> None:
    message = refusal(Validation, validate_function_name, "bad/name")
    assert message == one(
        "functionName", "bad/name", f"Member must satisfy regular expression pattern: {NAME_PATTERN}"
    )


def test_function_name_path_parameter_name_part_length_is_left_to_the_lookup() -> None:
    # AWS answers "Function not found" for a name longer than 64 in a path, not a validation error.
    validate_function_name("arn:aws:lambda:us-east-1:123456789012:function:" + "f" * 65)


def test_namespaced_function_names_allow_dots() -> None:
    validate_function_name("my.function", "NamespacedFunctionName")
    with pytest.raises(Validation):
        validate_function_name("my.function")


def test_list_functions_pages_at_most_50() -> None:
    assert validate_list_functions(None, None) == (50, None)
    assert validate_list_functions("10", "m") == (10, "m")
    assert validate_list_functions("10000", None) == (50, None)


@pytest.mark.parametrize(
    ("raw", "constraint"),
    [
        ("0", "Member must have value greater than or equal to 1"),
        ("10001", "Member must have value less than or equal to 10000"),
        ("ten", "Member must be an integer"),
    ],
)
def test_list_functions_max_items(raw: str, constraint: str) -> None:
    assert refusal(Validation, validate_list_functions, raw, None) == one("maxItems", raw, constraint)


# --- the service model ----------------------------------------------------------------------------


def test_service_limits_tighten_the_model() -> None:
    assert (service_model.shape("Timeout").min, service_model.shape("Timeout").max) == (1, 900)
    assert (service_model.shape("MemorySize").min, service_model.shape("MemorySize").max) == (128, 10240)
    assert service_model.shape("EphemeralStorageSize").max == 10240
    assert service_model.shape("Description").max == 256


def test_path_members_are_not_body_members() -> None:
    request = service_model.input_shape("UpdateFunctionCode")
    assert "FunctionName" in request.members
    assert "FunctionName" not in request.body_members()
