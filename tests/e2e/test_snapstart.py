"""SnapStart through boto3: the settings, their states and AWS's errors.

Texts are AWS's as LocalStack's parity snapshots record them
(tests/aws/services/lambda_/test_lambda_api.snapshot.json, TestLambdaSnapStart)
and its parity work quotes them (localstack/localstack#12458).
"""

from __future__ import annotations

import base64
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdalite.runtimes.lookup import python_interpreters
from lambdalite.sandbox import detect
from tests.conftest import ROLE, Server, zip_files
from tests.e2e import test_network_isolation as isolation

TRIVIAL = {"app.py": "def handler(event, context):\n    return 'ok'\n"}
ON = {"ApplyOn": "PublishedVersions"}


def create(
    lam: Any, name: str, runtime: str = "python3.12", files: dict[str, str | bytes] = TRIVIAL, **kwargs: Any
) -> dict[str, Any]:
    response: dict[str, Any] = lam.create_function(
        **{"Handler": "app.handler", **kwargs},
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE,
        Code={"ZipFile": zip_files(files)},
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


# -- restoring environments from a snapshot ---------------------------------------------------

SNAPSHOTTED = """
import os, random, time
from snapshot_restore_py import register_after_restore, register_before_snapshot

INIT_PID = os.getpid()
time.sleep(1.0)  # a slow init: restored environments must not pay it
hooks = {"before": 0, "after": 0}


@register_before_snapshot
def before():
    hooks["before"] += 1


@register_after_restore
def after():
    hooks["after"] += 1


def handler(event, context):
    time.sleep(event.get("hold", 0))
    return {
        "type": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"],
        "hooks": hooks,
        "init_pid": INIT_PID,
        "pid": os.getpid(),
        "random": random.random(),
        "stream": context.log_stream_name,
    }
"""
needs_312 = pytest.mark.skipif(
    (3, 12) not in python_interpreters(),
    reason="SnapStart restores need a Python 3.12+ interpreter on the host",
)


def invoke(lam: Any, name: str, qualifier: str, payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    response = lam.invoke(FunctionName=name, Qualifier=qualifier, Payload=json.dumps(payload), LogType="Tail")
    return json.loads(response["Payload"].read()), base64.b64decode(response["LogResult"]).decode()


@needs_312
def test_environments_of_a_published_version_are_restored_from_one_init(lam: Any, server: Server) -> None:
    create(lam, "snap-run", files={"app.py": SNAPSHOTTED}, SnapStart=ON)
    version = lam.publish_version(FunctionName="snap-run")["Version"]

    # Three at once: three environments, all forked from the version's one init.
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: invoke(lam, "snap-run", version, {"hold": 0.5}), range(3)))
    bodies = [body for body, _ in results]
    assert {body["type"] for body in bodies} == {"snap-start"}
    assert len({body["init_pid"] for body in bodies}) == 1  # one init ...
    assert len({body["pid"] for body in bodies}) == 3  # ... three environments
    assert all(body["hooks"] == {"before": 1, "after": 1} for body in bodies)
    assert len({body["random"] for body in bodies}) == 3  # re-seeded after the restore
    for _, tail in results:
        assert "Init Duration" not in tail
    restores = [float(m) for _, tail in results for m in re.findall(r"Restore Duration: ([\d.]+) ms", tail)]
    assert restores and max(restores) < 1000  # never the 1 s init
    stream = bodies[0]["stream"]
    events = server.client("logs").get_log_events(logGroupName="/aws/lambda/snap-run", logStreamName=stream)
    assert events["events"][0]["message"].startswith("RESTORE_START Runtime Version: python:3.12")

    # $LATEST is never restored: it initialises as usual.
    latest, tail = invoke(lam, "snap-run", "$LATEST", {})
    assert latest["type"] == "on-demand" and latest["hooks"] == {"before": 0, "after": 0}
    assert "Init Duration" in tail


ENVIRON = {
    "app.py": "import os\n\n\ndef handler(event, context):\n    return sorted(os.environ)\n",
}


@needs_312
def test_a_restored_environment_shows_the_function_the_same_variables_as_a_fresh_one(lam: Any) -> None:
    """The platform's own variables (``_LAMBDALITE_*``: log framing, the SDK's path,
    the channel) are the runtime's business: a function sees AWS's variables and its
    own, whether its environment started fresh or was restored from a snapshot."""
    create(lam, "snap-env", files=ENVIRON, SnapStart=ON, Environment={"Variables": {"MINE": "1"}})
    version = lam.publish_version(FunctionName="snap-env")["Version"]
    fresh, _ = invoke(lam, "snap-env", "$LATEST", {})
    restored, _ = invoke(lam, "snap-env", version, {})
    for names in (fresh, restored):
        assert [name for name in names if "LAMBDALITE" in name] == []
        assert {"MINE", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "_HANDLER"} <= set(names)
    # Less LC_CTYPE: a fresh interpreter sets it itself when it coerces a C locale (PEP 538).
    assert restored == [name for name in fresh if name != "LC_CTYPE"]


MADE_AHEAD = """
import os, random, time
from snapshot_restore_py import register_after_restore

restored = {"count": 0}


@register_after_restore
def after():
    restored["count"] += 1
    restored["at"] = time.time()
    restored["stream"] = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]


def process_age():
    fields = open("/proc/self/stat").read().rpartition(")")[2].split()
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time, in ticks since boot
    return float(open("/proc/uptime").read().split()[0]) - started


def handler(event, context):
    time.sleep(event.get("hold", 0))
    return {
        "restored": restored,
        "age": process_age(),
        "pid": os.getpid(),
        "random": random.random(),
        "stream": context.log_stream_name,
    }
"""


@needs_312
def test_an_environment_made_ahead_of_its_restore_is_restored_when_it_is_used(lam: Any) -> None:
    """A restore may go to a process forked before it was asked for (it saves the
    fork): its after-restore hooks still run at the restore, with the environment's
    own variables, and it draws random numbers of its own."""
    create(lam, "snap-ahead", files={"app.py": MADE_AHEAD}, SnapStart=ON)
    version = lam.publish_version(FunctionName="snap-ahead")["Version"]  # one environment, restored now
    time.sleep(2.0)  # the snapshot is quiet: it forks an environment ahead of need
    asked_at = time.time()
    # Two at once: the environment the publication made, and a restored one.
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: invoke(lam, "snap-ahead", version, {"hold": 0.5}), range(2)))
    bodies = [body for body, _ in results]
    assert len({body["pid"] for body in bodies}) == 2
    assert len({body["random"] for body in bodies}) == 2
    for body in bodies:
        assert body["restored"]["count"] == 1
        assert body["restored"]["stream"] == body["stream"]  # the hook saw the environment's variables
    # One was restored (its hook run) only once asked for, by a process made well before.
    restored_now = [body for body in bodies if body["restored"]["at"] >= asked_at]
    assert len(restored_now) == 1
    assert restored_now[0]["age"] > 0.5


@needs_312
def test_a_version_whose_snapshot_fails_reports_its_init_error(lam: Any) -> None:
    broken = "raise ValueError('no config')\ndef handler(event, context):\n    return 1\n"
    create(lam, "snap-broken", files={"app.py": broken}, SnapStart=ON)
    version = lam.publish_version(FunctionName="snap-broken")["Version"]
    body, _ = invoke(lam, "snap-broken", version, {})
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "no config"


@needs_312
def test_a_failing_before_snapshot_hook_leaves_the_version_on_ordinary_environments(lam: Any) -> None:
    source = (
        "import os\n"
        "from snapshot_restore_py import register_before_snapshot\n"
        "@register_before_snapshot\n"
        "def refuse():\n"
        "    raise RuntimeError('cannot be snapshotted')\n"
        "def handler(event, context):\n"
        "    return {'type': os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']}\n"
    )
    create(lam, "snap-hookfail", files={"app.py": source}, SnapStart=ON)
    version = lam.publish_version(FunctionName="snap-hookfail")["Version"]
    body, tail = invoke(lam, "snap-hookfail", version, {})
    assert body == {"type": "on-demand"}
    assert "Init Duration" in tail and "Restore Duration" not in tail


PROBE = {
    "app.py": isolation.PROBE,
    "restored.py": (
        "import os, time\n"
        "from app import handler as probe\n"
        "def handler(event, context):\n"
        "    time.sleep(event.get('hold', 0))\n"
        "    return {**probe(event, context), 'type': os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']}\n"
    ),
}
"""The network probe of tests/e2e/test_network_isolation.py, saying how it was initialised
(handler ``restored.handler``; ``hold``: seconds it keeps its environment busy)."""


@needs_312
def test_a_version_without_network_is_restored_into_a_namespace_with_only_its_loopback(
    lam: Any, server: Server
) -> None:
    if detect.describe().level != "namespace":
        pytest.skip("only the namespace level can take the network away")
    create(
        lam,
        "snap-offline",
        files=PROBE,
        SnapStart=ON,
        Handler="restored.handler",
        Environment={"Variables": {"LAMBDALITE_NETWORK": "none"}},
    )
    version = lam.publish_version(FunctionName="snap-offline")["Version"]
    event = {"hold": 0.3, "targets": [("127.0.0.1", server.port), ("10.213.0.1", server.port)]}
    with ThreadPoolExecutor(2) as pool:  # two environments, each with its own Runtime API in there
        bodies = [
            body for body, _ in pool.map(lambda _: invoke(lam, "snap-offline", version, event), range(2))
        ]
    for body in bodies:
        assert body["type"] == "snap-start"
        assert body["reach"] == {
            f"127.0.0.1:{server.port}": "ConnectionRefusedError",
            f"10.213.0.1:{server.port}": "OSError",
        }
    assert len({body["runtime_api"] for body in bodies}) == 2
