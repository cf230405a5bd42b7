"""LoggingConfig and TracingConfig as a request gives them, turned into FunctionConfig fields.

The service model has already checked types and enums (``validation`` gate 1
and 2); what is left are Lambda's own rules:

- A partial LoggingConfig changes only the members it names; the rest keep
  their values (a ``{"LogGroup": ...}`` update leaves the format alone).
- ``LogFormat: Text`` drops the levels: they mean something only with JSON,
  and switching back to JSON later starts again from AWS's default (INFO).
- A level on a function whose format is (or stays) Text is refused with AWS's
  message. This needs the merged configuration, so ``check_logging`` runs on
  the FunctionConfig a create or an update would store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambdalite.errors import InvalidParameterValue
from lambdalite.models import FunctionConfig

LEVEL_WITH_TEXT = (
    'LogLevel is not supported when LogFormat is set to "Text". '
    'Remove LogLevel from your request or change the LogFormat to "Json" and try again.'
)
"""AWS's InvalidParameterValueException text for a level set on a Text-format function."""


def logging_fields(logging: Mapping[str, Any] | None) -> dict[str, str]:
    """The FunctionConfig fields a request's LoggingConfig sets (none when absent).
    Raises InvalidParameterValue for levels given together with ``LogFormat: Text``."""
    if not logging:
        return {}
    fields: dict[str, str] = {}
    log_format = logging.get("LogFormat")
    application = logging.get("ApplicationLogLevel")
    system = logging.get("SystemLogLevel")
    if log_format == "Text":
        if application or system:
            raise InvalidParameterValue(LEVEL_WITH_TEXT)
        fields.update(log_format="Text", application_log_level="", system_log_level="")
    elif log_format is not None:
        fields["log_format"] = log_format
    if application:
        fields["application_log_level"] = application
    if system:
        fields["system_log_level"] = system
    group = logging.get("LogGroup")
    if group:
        fields["log_group_name"] = group
    return fields


def tracing_mode(tracing: Mapping[str, Any] | None) -> str | None:
    """TracingConfig.Mode as given, or None when the request does not set it."""
    if not tracing:
        return None
    mode = tracing.get("Mode")
    return None if mode is None else str(mode)


def check_logging(config: FunctionConfig) -> None:
    """Refuse a configuration that would keep a level with the Text format."""
    if config.log_format != "JSON" and (config.application_log_level or config.system_log_level):
        raise InvalidParameterValue(LEVEL_WITH_TEXT)
