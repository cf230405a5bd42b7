"""SnapStart through boto3: the settings, their states and AWS's errors.

Texts are AWS's as LocalStack's parity snapshots record them
(tests/aws/services/lambda_/test_lambda_api.snapshot.json, TestLambdaSnapStart)
and its parity work quotes them (localstack/localstack#12458).
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, zip_files

TRIVIAL = {"app.py": "def handler(event, context):\n    return 'ok'\n"}
ON = {"ApplyOn": "PublishedVersions"}


def create(lam: Any, name: str, runtime: str = "python3.12", **kwargs: Any) -> dict[str, Any]:
    response: dict[str, Any] = lam.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": zip_files(TRIVIAL)},
        **kwargs,
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return response


def error_of(call: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return err.value.response["Error"]  # type: ignore[no-any-return]


def test_published_versions_are_optimised_and_latest_is_not(lam: Any) -> None:
    assert create(lam, "snap-api", SnapStart=ON)["SnapStart"] == {
        "ApplyOn": "PublishedVersions",
        "OptimizationStatus": "Off",
    }
    version = lam.publish_version(FunctionName="snap-api")
    assert version["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    latest = lam.get_function(FunctionName="snap-api")["Configuration"]
    assert latest["SnapStart"]["OptimizationStatus"] == "Off"
    got = lam.get_function_configuration(FunctionName="snap-api", Qualifier=version["Version"])
    assert got["SnapStart"]["OptimizationStatus"] == "On"

    plain = create(lam, "snap-off")
    assert plain["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    updated = lam.update_function_configuration(FunctionName="snap-off", SnapStart=ON)
    assert updated["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
    lam.get_waiter("function_updated_v2").wait(FunctionName="snap-off")
    off = lam.update_function_configuration(FunctionName="snap-off", SnapStart={"ApplyOn": "None"})
    assert off["SnapStart"]["ApplyOn"] == "None"


def test_runtimes_without_snapstart_and_bad_values_are_refused(lam: Any) -> None:
    error = error_of(
        lam.create_function,
        FunctionName="snap-old",
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": zip_files(TRIVIAL)},
        SnapStart=ON,
    )
    assert error == {
        "Code": "InvalidParameterValueException",
        "Message": "python3.11 is not supported for SnapStart enabled functions.",
    }
    create(lam, "snap-node", runtime="nodejs20.x")
    error = error_of(lam.update_function_configuration, FunctionName="snap-node", SnapStart=ON)
    assert error["Message"] == "nodejs20.x is not supported for SnapStart enabled functions."
    # A SnapStart function cannot move to a runtime without it either.
    create(lam, "snap-move", SnapStart=ON)
    error = error_of(lam.update_function_configuration, FunctionName="snap-move", Runtime="python3.11")
    assert error["Message"] == "python3.11 is not supported for SnapStart enabled functions."

    error = error_of(
        lam.create_function,
        FunctionName="snap-bad",
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": zip_files(TRIVIAL)},
        SnapStart={"ApplyOn": "invalidOption"},
    )
    assert error == {
        "Code": "ValidationException",
        "Message": "1 validation error detected: Value 'invalidOption' at 'snapStart.applyOn' failed to "
        "satisfy constraint: Member must satisfy enum value set: [PublishedVersions, None]",
    }
