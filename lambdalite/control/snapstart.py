"""SnapStart settings: which runtimes may use it, and what a version reports.

``SnapStart.ApplyOn: PublishedVersions`` snapshots a version's initialised
environment when the version is published; ``$LATEST`` never uses it, so its
``OptimizationStatus`` stays ``Off`` and a published version's is ``On``.
AWS accepts it for Java 11+, Python 3.12+ and .NET 8+ and answers any other
runtime with the InvalidParameterValueException below (AWS's text, as
LocalStack's parity work recorded it, localstack/localstack#12458).
"""

from __future__ import annotations

import re

from lambdalite.errors import InvalidParameterValue
from lambdalite.models import LATEST, FunctionConfig

PUBLISHED_VERSIONS = "PublishedVersions"
NONE = "None"
_SUPPORTED = {"java": 11, "python3.": 12, "dotnet": 8}
"""Runtime family -> the first (minor, for Python) version AWS supports SnapStart on."""
_RUNTIME = re.compile(r"^(java|python3\.|dotnet)(\d+)")


def supported(runtime: str) -> bool:
    match = _RUNTIME.match(runtime)
    return match is not None and int(match[2]) >= _SUPPORTED[match[1]]


def check(runtime: str, apply_on: str) -> None:
    """InvalidParameterValue when ``apply_on`` asks for SnapStart on a runtime without it."""
    if apply_on == PUBLISHED_VERSIONS and not supported(runtime):
        raise InvalidParameterValue(f"{runtime} is not supported for SnapStart enabled functions.")


def restores_from_snapshot(function: FunctionConfig) -> bool:
    """Are ``function``'s environments restored from a snapshot? (A published
    version with ``PublishedVersions``; ``$LATEST`` never is.)"""
    return function.snap_start == PUBLISHED_VERSIONS and function.version != LATEST
