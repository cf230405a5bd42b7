"""LoggingConfig/TracingConfig members into FunctionConfig fields, and Lambda's rule on levels."""

from __future__ import annotations

import dataclasses

import pytest

from lambdalite.control.logging_config import LEVEL_WITH_TEXT, check_logging, logging_fields, tracing_mode
from lambdalite.errors import InvalidParameterValue
from lambdalite.models import FunctionConfig


def test_a_partial_config_sets_only_what_it_names() -> None:
    assert logging_fields(None) == {}
    assert logging_fields({"LogGroup": "cool_lambda"}) == {"log_group_name": "cool_lambda"}
    assert logging_fields({"LogFormat": "JSON", "SystemLogLevel": "DEBUG"}) == {
        "log_format": "JSON",
        "system_log_level": "DEBUG",
    }


def test_text_clears_the_levels_and_refuses_new_ones() -> None:
    assert logging_fields({"LogFormat": "Text"}) == {
        "log_format": "Text",
        "application_log_level": "",
        "system_log_level": "",
    }
    with pytest.raises(InvalidParameterValue) as err:
        logging_fields({"LogFormat": "Text", "ApplicationLogLevel": "INFO"})
    assert err.value.message == LEVEL_WITH_TEXT


def test_the_merged_config_may_not_keep_a_level_with_text() -> None:
    base = FunctionConfig(
        name="f", runtime="python3.12", role="r", handler="a.h", code_sha256="0", code_size=1
    )
    check_logging(base)
    with pytest.raises(InvalidParameterValue):
        check_logging(dataclasses.replace(base, system_log_level="WARN"))
    check_logging(dataclasses.replace(base, log_format="JSON", system_log_level="WARN"))


def test_tracing_mode_is_read_as_given() -> None:
    assert tracing_mode({"Mode": "Active"}) == "Active"
    assert tracing_mode(None) is None and tracing_mode({}) is None
