"""The ``lambdalite`` command line.

``serve`` runs the server; the other commands are clients of a running server,
over the same AWS APIs boto3 uses (so they double as a smoke test of them):

    lambdalite serve [--port 9001] [--data-dir data]
    lambdalite deploy ./src --name hello --runtime python3.11 --handler app.handler
    lambdalite invoke hello --payload '{"name": "you"}' --tail
    lambdalite ls | rm NAME | logs NAME [--follow] [--since 10m]
    lambdalite signing create-profile NAME --key-out KEY | sign PKG.zip ... (``signing_cli``)

Clients find the server through ``--endpoint`` or ``LAMBDALITE_ENDPOINT``; without
either, through the record a running ``serve`` leaves (see ``discovery``), else at
http://127.0.0.1:9001. They sign with ``LAMBDALITE_ACCESS_KEY_ID`` /
``LAMBDALITE_SECRET_ACCESS_KEY``, else the administrator key a server under
``--auth sigv4`` wrote to its data directory (``$LAMBDALITE_DATA_DIR``, else ./data),
else ``AWS_ACCESS_KEY_ID``'s credentials, else dummy ones (``test``/``test``); region
us-east-1 unless ``AWS_REGION`` says otherwise.

Every failure is one red line on stderr and exit code 1, never a traceback.
boto3 and the server are imported inside the commands that need them, so
``--help`` and ``serve`` start without paying for the other.
"""

from __future__ import annotations

import base64
import io
import os
import re
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.table import Table

from lambdalite import __version__
from lambdalite.signing_cli import signing_app

DEFAULT_ENDPOINT = "http://127.0.0.1:9001"
DEFAULT_ROLE = "arn:aws:iam::000000000000:role/lambda-role"
FOLLOW_INTERVAL_S = 0.5

app = typer.Typer(
    name="lambdalite",
    help="A self-hosted AWS Lambda: run `lambdalite serve`, then deploy and invoke functions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Piped output keeps long lines whole instead of wrapping them at 80 columns.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)

Endpoint = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        envvar="LAMBDALITE_ENDPOINT",
        help="URL of a running lambdalite server [default: the local server `lambdalite serve` "
        f"recorded, else {DEFAULT_ENDPOINT}].",
        show_default=False,
    ),
]


def resolve_endpoint(given: str | None) -> str:
    """``--endpoint``/LAMBDALITE_ENDPOINT when given, else a live local server's record,
    else the default."""
    if given:
        return given
    from lambdalite import discovery

    return discovery.find() or DEFAULT_ENDPOINT


SIGNATURE_REFUSALS = {
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "MissingAuthenticationTokenException",
    "IncompleteSignatureException",
    "ExpiredTokenException",
}
KEY_HINT = (
    "the server checks signatures: set LAMBDALITE_ACCESS_KEY_ID and LAMBDALITE_SECRET_ACCESS_KEY, "
    "or LAMBDALITE_DATA_DIR to the server's data directory for its admin key"
)


class CliError(Exception):
    """A failure we explain in one line."""


def fail(message: str) -> NoReturn:
    raise CliError(message)


@contextmanager
def reporting(endpoint: str | None = None) -> Iterator[None]:
    """Turn every failure inside into one red line on stderr and exit code 1."""
    try:
        yield
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:  # never a traceback: one line says what went wrong
        _die(describe(exc, endpoint))


def describe(exc: Exception, endpoint: str | None) -> str:
    """One line for a failure. botocore is imported only now, so `serve` never pays for it."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
        WaiterError,
    )

    if isinstance(exc, CliError):
        return str(exc)
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        described = f"{error.get('Code', 'Error')}: {error.get('Message', str(exc))}"
        if error.get("Code") in SIGNATURE_REFUSALS:
            described += f" ({KEY_HINT})"
        return described
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ConnectionClosedError):
        return f"cannot reach lambdalite at {endpoint} — is `lambdalite serve` running?"
    if isinstance(exc, ReadTimeoutError):
        return f"lambdalite at {endpoint} did not answer in time"
    if isinstance(exc, WaiterError):
        return _waiter_message(exc)
    if isinstance(exc, BotoCoreError):
        return str(exc)
    return f"unexpected error: {type(exc).__name__}: {exc}"


def _die(message: str) -> NoReturn:
    err.print(f"error: {message}", style="red", markup=False, highlight=False)
    raise typer.Exit(1)


def _waiter_message(exc: Any) -> str:
    config = (exc.last_response or {}).get("Configuration", exc.last_response or {})
    reason = config.get("StateReason") or config.get("LastUpdateStatusReason")
    return f"the function did not become ready: {reason}" if reason else str(exc)


def client(service: str, endpoint: str, **config: Any) -> Any:
    """A boto3 client for the lambdalite at ``endpoint``. Fails fast (one attempt) so
    an unreachable server is reported at once, not after retries."""
    import boto3
    from botocore.config import Config

    key_id, secret, region = client_credentials()
    settings = {"retries": {"max_attempts": 1}, "connect_timeout": 3, **config}
    make: Any = boto3.client  # the service name is not a literal, so the stubs' overloads do not apply
    return make(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(**settings),
    )


def client_credentials() -> tuple[Any, Any, str]:
    """(key id, secret, region) to sign with: lambdalite's key (see the module docstring);
    else (None, None) when ``AWS_ACCESS_KEY_ID`` is set, for boto3's own chain; else
    dummy credentials, which a server under ``--auth none`` accepts (botocore refuses
    to send unsigned requests)."""
    from lambdalite.auth import client_credentials as found

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    key = found.find(os.environ)
    if key is not None:
        return key[0], key[1], region
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        return None, None, region
    return "test", "test", region


# ---- serve -------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [default: 9001].")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where functions, code and logs are kept [default: ./data].")
    ] = None,
    region: Annotated[str | None, typer.Option(help="Region in ARNs [default: us-east-1].")] = None,
    account_id: Annotated[
        str | None, typer.Option(help="Account id in ARNs [default: 000000000000].")
    ] = None,
    max_concurrency: Annotated[
        int | None, typer.Option(help="Concurrent invocations before 429 [default: 1000].")
    ] = None,
    keep_alive: Annotated[
        float | None, typer.Option(help="Seconds an idle warm environment lives [default: 300].")
    ] = None,
    strict_runtimes: Annotated[
        bool | None,
        typer.Option(
            "--strict-runtimes/--no-strict-runtimes",
            help="Refuse functions whose runtime's exact interpreter is missing.",
        ),
    ] = None,
    isolation: Annotated[
        str | None,
        typer.Option(help="Sandbox level: auto, namespace or process [default: auto]."),
    ] = None,
    warm_wait_ms: Annotated[
        float | None,
        typer.Option(
            help="When every environment of a short-running function is busy, wait up to this long "
            "for a warm one before starting another; 0 scales out at once, as AWS [default: 10]."
        ),
    ] = None,
    zygotes: Annotated[
        bool | None,
        typer.Option(
            "--zygotes/--no-zygotes",
            help="Fork Python environments from pre-initialised zygotes [default: on].",
        ),
    ] = None,
    http_head_timeout: Annotated[
        float | None,
        typer.Option(help="Seconds a request head may take to arrive before 408 [default: 10]."),
    ] = None,
    http_idle_timeout: Annotated[
        float | None,
        typer.Option(help="Seconds an idle keep-alive connection stays open [default: 60]."),
    ] = None,
    http_max_head_bytes: Annotated[
        int | None, typer.Option(help="Largest request head before 431 [default: 65536].")
    ] = None,
    http_max_header_lines: Annotated[
        int | None, typer.Option(help="Most header lines in a request before 431 [default: 500].")
    ] = None,
    http_max_connections: Annotated[
        int | None, typer.Option(help="Open connections before new ones get 503 [default: 10000].")
    ] = None,
    http_max_unsent_bytes: Annotated[
        int | None,
        typer.Option(help="Unsent response bytes before a connection is no longer read [default: 65536]."),
    ] = None,
    http_max_queued_requests: Annotated[
        int | None,
        typer.Option(help="Queued requests before a connection is no longer read [default: 100]."),
    ] = None,
    retry_delay_scale: Annotated[
        float | None,
        typer.Option(
            help="Scale Lambda's asynchronous retry delays and event-age limit by FACTOR "
            "(0.01: 60 s becomes 0.6 s) [default: 1].",
            metavar="FACTOR",
        ),
    ] = None,
    queue: Annotated[
        str | None,
        typer.Option(
            help="Keep accepted asynchronous events in NATS JetStream (nats://HOST:PORT[/STREAM]) "
            "instead of events.db in the data directory.",
        ),
    ] = None,
    url_base: Annotated[
        str | None,
        typer.Option(
            help="FunctionUrl form: auto (the *.localhost host form where the system resolver "
            "answers for it, else the path form), host, path, or SCHEME://DOMAIN[:PORT] for a "
            "wildcard domain you point here [default: auto]."
        ),
    ] = None,
    auth: Annotated[
        str | None,
        typer.Option(
            help="sigv4: verify every request's AWS signature against lambdalite's access keys; "
            "none: accept any credentials, allowed only on loopback addresses [default: none]."
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            help="Serve every surface over HTTPS with this PEM certificate (chain); needs --tls-key."
        ),
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="The PEM private key of --tls-cert.")] = None,
) -> None:
    """Run the Lambda API, the CloudWatch Logs API and the functions.

    Flags win over LAMBDALITE_* environment variables (LAMBDALITE_PORT, LAMBDALITE_DATA_DIR, ...),
    which win over the defaults."""
    from lambdalite.config import Settings

    settings = Settings.load(
        {
            "host": host,
            "port": port,
            "data_dir": data_dir,
            "region": region,
            "account_id": account_id,
            "max_concurrency": max_concurrency,
            "keep_alive_s": keep_alive,
            "strict_runtimes": strict_runtimes,
            "warm_wait_ms": warm_wait_ms,
            "isolation": isolation,
            "zygotes": zygotes,
            "http_head_timeout_s": http_head_timeout,
            "http_idle_timeout_s": http_idle_timeout,
            "http_max_head_bytes": http_max_head_bytes,
            "http_max_header_lines": http_max_header_lines,
            "http_max_connections": http_max_connections,
            "http_max_unsent_bytes": http_max_unsent_bytes,
            "http_max_queued_requests": http_max_queued_requests,
            "retry_delay_scale": retry_delay_scale,
            "queue": queue,
            "url_base": url_base,
            "auth": auth,
            "tls_cert": None if tls_cert is None else str(tls_cert),
            "tls_key": None if tls_key is None else str(tls_key),
        }
    )
    with reporting():
        from lambdalite.api.url_base import UrlBaseError
        from lambdalite.app import serve as run_server

        try:
            run_server(settings)
        except UrlBaseError as exc:
            raise CliError(str(exc)) from exc


@app.command()
def doctor(
    isolation: Annotated[
        str | None,
        typer.Option(help="As for serve: auto, namespace or process [default: auto]."),
    ] = None,
) -> None:
    """Show which isolation level `serve` would use here, why, and what it protects against."""
    from lambdalite.config import Settings
    from lambdalite.runtimes import lookup
    from lambdalite.sandbox.detect import describe

    chosen = Settings.load({"isolation": isolation}).isolation
    if chosen not in {"auto", "namespace", "process"}:
        err.print(f"error: unknown isolation level {chosen!r}: use process, namespace or auto")
        raise typer.Exit(1)
    # Probed exactly as serve builds it: with the interpreter installs it shares into the sandbox.
    facts = describe(allow_namespace=chosen != "process", shared_paths=lookup.interpreter_prefixes())
    for line in facts.lines():
        out.print(line, highlight=False, markup=False)
    if chosen == "namespace" and facts.level != "namespace":
        err.print(f"error: namespace isolation is not available here: {facts.reason}")
        raise typer.Exit(1)

    from lambdalite.runtimes.inventory import sdk_lines

    for line in sdk_lines():
        out.print(line, highlight=False, markup=False)


runtimes_app = typer.Typer(
    help="List what each runtime runs on here; `install` adds what lambdalite provides itself.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(runtimes_app, name="runtimes")


@runtimes_app.callback()
def runtimes(
    ctx: typer.Context,
    strict: Annotated[
        bool, typer.Option("--strict-runtimes", help="As serve would with --strict-runtimes.")
    ] = False,
) -> None:
    """List each runtime with the interpreter that runs it, and the SDKs it gets."""
    if ctx.invoked_subcommand is not None:
        return
    from lambdalite.runtimes.inventory import runtime_rows, sdk_lines

    table = Table(box=None, show_edge=False)
    for column in ("runtime", "runs on", "note"):
        table.add_column(column, overflow="fold")
    for row in runtime_rows(strict):
        table.add_row(row.runtime, row.runs_on, row.note)
    out.print(table)
    for line in sdk_lines():
        out.print(line, highlight=False, markup=False)


@runtimes_app.command("install")
def runtimes_install(
    node: Annotated[
        bool, typer.Option("--node/--no-node", help="Also install Node.js majors the host lacks.")
    ] = True,
) -> None:
    """Install boto3 and the AWS SDK for JavaScript v3 (and missing Node.js majors) from the registries."""
    from lambdalite.runtimes.inventory import install_missing
    from lambdalite.runtimes.sdk import SdkInstallError

    try:
        done = install_missing(node_majors=node)
    except SdkInstallError as exc:
        fail(str(exc))
    for line in done or ["everything is installed already"]:
        out.print(line, highlight=False, markup=False)


# ---- deploy ------------------------------------------------------------------------


@app.command()
def deploy(
    path: Annotated[Path, typer.Argument(help="A directory to zip, or a .zip file.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Function name.")],
    runtime: Annotated[str, typer.Option(help="For example python3.11, nodejs20.x, provided.al2023.")],
    handler: Annotated[str, typer.Option(help="For example app.handler.")],
    memory: Annotated[int | None, typer.Option(help="Memory in MB (128-10240).")] = None,
    timeout: Annotated[int | None, typer.Option(help="Timeout in seconds (1-900).")] = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", "-e", help="Environment variable K=V (repeatable).")
    ] = None,
    role: Annotated[str, typer.Option(help="Execution role ARN.")] = DEFAULT_ROLE,
    description: Annotated[str | None, typer.Option(help="Function description.")] = None,
    endpoint: Endpoint = None,
) -> None:
    """Create a function, or update its code and configuration if it exists, and wait until it is ready.

    On update, options left out (memory, timeout, env, description) keep their current values."""
    endpoint = resolve_endpoint(endpoint)
    with reporting(endpoint):
        variables = parse_env(env or [])
        with err.status(f"packaging {path}"):
            code = package(path)
        lam = client("lambda", endpoint)
        config: dict[str, Any] = {"Runtime": runtime, "Handler": handler, "Role": role}
        if memory is not None:
            config["MemorySize"] = memory
        if timeout is not None:
            config["Timeout"] = timeout
        if env is not None:
            config["Environment"] = {"Variables": variables}
        if description is not None:
            config["Description"] = description
        waiter_config = {"Delay": 0.2, "MaxAttempts": 600}
        if _exists(lam, name):
            with err.status(f"updating code of {name}"):
                lam.update_function_code(FunctionName=name, ZipFile=code)
                lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=waiter_config)
            with err.status(f"updating configuration of {name}"):
                lam.update_function_configuration(FunctionName=name, **config)
                lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=waiter_config)
            action = "updated"
        else:
            with err.status(f"creating {name}"):
                lam.create_function(FunctionName=name, Code={"ZipFile": code}, **config)
                lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=waiter_config)
            action = "created"
        result = lam.get_function_configuration(FunctionName=name)
        out.print(_function_table(result, f"{action} {name}"))


def _exists(lam: Any, name: str) -> bool:
    try:
        lam.get_function_configuration(FunctionName=name)
    except lam.exceptions.ResourceNotFoundException:
        return False
    return True


def parse_env(pairs: list[str]) -> dict[str, str]:
    """``["K=V", ...]`` -> ``{"K": "V"}``; the value may itself contain ``=``."""
    variables = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--env expects KEY=VALUE, got {pair!r}")
        variables[key] = value
    return variables


def package(path: Path) -> bytes:
    """The bytes of a .zip file, or a zip of a directory: files keep their unix mode
    (a ``bootstrap`` must stay executable); ``__pycache__`` and ``*.pyc`` are left out
    because they are built for the packager's interpreter, not the function's."""
    if path.is_file():
        if path.suffix.lower() != ".zip":
            fail(f"{path} is not a directory or a .zip file")
        return path.read_bytes()
    if not path.is_dir():
        fail(f"{path} does not exist")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(path.rglob("*")):
            relative = file.relative_to(path)
            if "__pycache__" in relative.parts or file.suffix == ".pyc" or not file.is_file():
                continue
            # strict_timestamps=False: files dated before 1980 (some package caches) still zip.
            info = zipfile.ZipInfo.from_file(file, relative.as_posix(), strict_timestamps=False)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, file.read_bytes())
    return buffer.getvalue()


def _function_table(config: dict[str, Any], title: str) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    rows = [
        ("FunctionArn", config.get("FunctionArn")),
        ("Runtime", config.get("Runtime")),
        ("Handler", config.get("Handler")),
        ("MemorySize", f"{config.get('MemorySize')} MB"),
        ("Timeout", f"{config.get('Timeout')} s"),
        ("CodeSize", _size(config.get("CodeSize", 0))),
        ("CodeSha256", config.get("CodeSha256")),
        ("State", config.get("State")),
        ("LastUpdateStatus", config.get("LastUpdateStatus")),
        ("LastModified", config.get("LastModified")),
    ]
    variables = config.get("Environment", {}).get("Variables", {})
    if variables:
        rows.append(("Environment", ", ".join(f"{k}={v}" for k, v in sorted(variables.items()))))
    for key, value in rows:
        table.add_row(key, str(value))
    return table


def _size(size: int) -> str:
    for unit in ("B", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


# ---- invoke ------------------------------------------------------------------------


@app.command()
def invoke(
    name: Annotated[str, typer.Argument(help="Function name or ARN.")],
    payload: Annotated[str, typer.Option(help="JSON event, or @file to read it from a file.")] = "{}",
    tail: Annotated[
        bool, typer.Option("--tail", help="Also print the invocation's log (to stderr).")
    ] = False,
    qualifier: Annotated[str | None, typer.Option(help="Version or alias.")] = None,
    run_async: Annotated[
        bool,
        typer.Option(
            "--async", help="Queue the event (InvocationType Event) and print its request id; do not wait."
        ),
    ] = False,
    endpoint: Endpoint = None,
) -> None:
    """Invoke a function synchronously and print its response (pretty if JSON).

    A function error is shown in red and exits with code 1. With --async the event is
    queued durably, retried on failure and sent to the function's destinations."""
    endpoint = resolve_endpoint(endpoint)
    with reporting(endpoint):
        event = read_payload(payload)
        # Lambda allows up to 900 s per invocation; wait a little longer than that.
        lam = client("lambda", endpoint, read_timeout=960)
        params: dict[str, Any] = {"FunctionName": name, "Payload": event}
        if run_async:
            params["InvocationType"] = "Event"
            if qualifier:
                params["Qualifier"] = qualifier
            accepted = lam.invoke(**params)
            request_id = accepted["ResponseMetadata"]["RequestId"]
            out.print(f"queued {request_id} (status {accepted['StatusCode']})", markup=False)
            return
        if tail:
            params["LogType"] = "Tail"
        if qualifier:
            params["Qualifier"] = qualifier
        response = lam.invoke(**params)
        body: bytes = response["Payload"].read()
        if tail and response.get("LogResult"):
            log = base64.b64decode(response["LogResult"]).decode("utf-8", "replace")
            err.print(log.rstrip("\n"), style="dim", markup=False, highlight=False)
        if response.get("FunctionError"):
            _function_error(response["FunctionError"], body)
        print_payload(body)


def read_payload(payload: str) -> bytes:
    """The event bytes from ``--payload``: inline JSON or ``@path``; must be JSON, as Lambda requires."""
    if payload.startswith("@"):
        try:
            data = Path(payload[1:]).read_bytes()
        except OSError as exc:
            fail(f"cannot read payload file {payload[1:]}: {exc.strerror}")
    else:
        data = payload.encode("utf-8")
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        from lambdalite.api.json_errors import describe

        fail(f"payload is not valid JSON: {describe(data).replace(chr(10), ' ')}")
    return data


def print_payload(body: bytes) -> None:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        out.print(body.decode("utf-8", "replace"), markup=False, highlight=False)
        return
    out.print_json(data=value)


def _function_error(kind: str, body: bytes) -> NoReturn:
    try:
        error = orjson.loads(body)
    except orjson.JSONDecodeError:
        error = None
    if isinstance(error, dict) and "errorMessage" in error:
        for line in error.get("stackTrace") or []:
            err.print(str(line).rstrip("\n"), style="dim", markup=False, highlight=False)
        fail(f"function error ({kind}): {error.get('errorType', 'Error')}: {error['errorMessage']}")
    fail(f"function error ({kind}): {body.decode('utf-8', 'replace')}")


# ---- backlog ----------------------------------------------------------------------

BACKLOG_COLUMNS = (
    "Waiting",
    "Retrying",
    "Running",
    "Delivered",
    "Failed",
    "DeadLettered",
    "DestinationErrors",
)


@app.command()
def backlog(
    name: Annotated[str | None, typer.Argument(help="Only this function.")] = None,
    endpoint: Endpoint = None,
) -> None:
    """Show the asynchronous invocation backlog per function: events waiting, retrying,
    running, delivered and failed (and destination deliveries that failed)."""
    endpoint = resolve_endpoint(endpoint)
    with reporting(endpoint):
        from lambdalite.auth.keys_cli import own_api_call  # signed: works under --auth sigv4 too

        functions = own_api_call(endpoint, "GET", "/_lambdalite/async" + (f"/{name}" if name else ""))[
            "Functions"
        ]
        if not functions:
            err.print("no asynchronous invocations yet", markup=False)
            return
        table = Table()
        table.add_column("function")
        for column in BACKLOG_COLUMNS:
            table.add_column(column.lower(), justify="right")
        table.add_column("last error")
        for function, counts in sorted(functions.items()):
            table.add_row(function, *(str(counts[c]) for c in BACKLOG_COLUMNS), counts["LastError"] or "-")
        out.print(table)


# ---- ls, rm ------------------------------------------------------------------------


@app.command("ls")
def list_functions(endpoint: Endpoint = None) -> None:
    """List functions."""
    endpoint = resolve_endpoint(endpoint)
    with reporting(endpoint):
        lam = client("lambda", endpoint)
        functions = [f for page in lam.get_paginator("list_functions").paginate() for f in page["Functions"]]
        if not functions:
            err.print("no functions yet: deploy one with `lambdalite deploy`", markup=False)
            return
        table = Table()
        for column in ("name", "runtime", "memory", "timeout", "last modified", "code size"):
            table.add_column(
                column, justify="right" if column in {"memory", "timeout", "code size"} else "left"
            )
        for f in sorted(functions, key=lambda f: f["FunctionName"]):
            table.add_row(
                f["FunctionName"],
                f.get("Runtime", "-"),
                f"{f.get('MemorySize')} MB",
                f"{f.get('Timeout')} s",
                f.get("LastModified", "-"),
                _size(f.get("CodeSize", 0)),
            )
        out.print(table)


@app.command("rm")
def remove(
    name: Annotated[str, typer.Argument(help="Function name or ARN.")],
    endpoint: Endpoint = None,
) -> None:
    """Delete a function (its logs are kept, as on AWS)."""
    endpoint = resolve_endpoint(endpoint)
    with reporting(endpoint):
        client("lambda", endpoint).delete_function(FunctionName=name)
        out.print(f"deleted {name}", markup=False, highlight=False)


# ---- logs --------------------------------------------------------------------------


@app.command()
def logs(
    name: Annotated[str, typer.Argument(help="Function name.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until Ctrl-C.")
    ] = False,
    since: Annotated[str, typer.Option(help="How far back: 30s, 10m, 1h, 2d, or an ISO 8601 time.")] = "10m",
    filter_pattern: Annotated[
        str | None,
        typer.Option(
            "--filter",
            help='Only events matching this CloudWatch Logs filter pattern: ERROR, { $.level = "ERROR" }, '
            "[ip, ..., status = 5*].",
        ),
    ] = None,
    endpoint: Endpoint = None,
) -> None:
    """Print a function's log events (from its log group /aws/lambda/NAME)."""
    endpoint = resolve_endpoint(endpoint)
    with reporting(endpoint):
        start_ms = parse_since(since)
        logs_client = client("logs", endpoint)
        group = f"/aws/lambda/{name}"
        tailer = Tailer(logs_client, group, start_ms, filter_pattern)
        try:
            tailer.poll(missing_ok=follow)
            while follow:
                time.sleep(FOLLOW_INTERVAL_S)
                tailer.poll(missing_ok=True)
        except KeyboardInterrupt:
            return


class Tailer:
    """Prints each event of a log group once. Each poll asks for events from the
    newest timestamp seen so far (inclusive, since more events can arrive with that
    same millisecond) and drops the ones already printed, by eventId."""

    def __init__(self, logs_client: Any, group: str, start_ms: int, pattern: str | None = None) -> None:
        self.client = logs_client
        self.group = group
        self.start_ms = start_ms
        self.pattern = {"filterPattern": pattern} if pattern else {}
        self.seen: set[str] = set()

    def poll(self, missing_ok: bool) -> None:
        paginator = self.client.get_paginator("filter_log_events")
        try:
            events = [
                event
                for page in paginator.paginate(
                    logGroupName=self.group, startTime=self.start_ms, **self.pattern
                )
                for event in page["events"]
            ]
        except self.client.exceptions.ResourceNotFoundException:
            if missing_ok:
                return  # no invocation has logged yet; keep waiting
            fail(f"no logs yet: the log group {self.group} does not exist")
        newest = self.start_ms
        for event in events:
            if event["eventId"] in self.seen:
                continue
            self.seen.add(event["eventId"])
            newest = max(newest, event["timestamp"])
            print_event(event)
        if newest > self.start_ms:
            # Only ids at the new start time can be returned again.
            self.seen = {e["eventId"] for e in events if e["timestamp"] >= newest}
            self.start_ms = newest


def print_event(event: dict[str, Any]) -> None:
    moment = datetime.fromtimestamp(event["timestamp"] / 1000, UTC).astimezone()
    stamp = moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    message = event["message"].rstrip("\n")
    out.print(f"[dim]{stamp}[/dim] ", end="")
    out.print(message, markup=False, highlight=False)


_SINCE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(since: str, now: datetime | None = None) -> int:
    """``10m`` / ``1h`` / ``2d`` ago, or an ISO 8601 time (local time if no offset), as epoch ms."""
    now = now or datetime.now(UTC)
    match = _SINCE.match(since.strip())
    if match:
        moment = now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    else:
        try:
            moment = datetime.fromisoformat(since.strip())
        except ValueError:
            fail(f"--since expects 30s, 10m, 1h, 2d or an ISO 8601 time, got {since!r}")
        if moment.tzinfo is None:
            moment = moment.astimezone()  # naive means local time, as a person typing it means
    return int(moment.timestamp() * 1000)


# ---- entry point -------------------------------------------------------------------

app.add_typer(signing_app)


def _version(value: bool) -> None:
    if value:
        out.print(f"lambdalite {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """A self-hosted AWS Lambda: run `lambdalite serve`, then deploy and invoke functions."""


def _add_key_commands() -> None:
    # Registered after everything above exists: the keys commands use this module's helpers.
    from lambdalite.auth.keys_cli import keys_app

    app.add_typer(keys_app, name="keys")
    from lambdalite.observe.audit_cli import audit

    app.command("audit")(audit)


_add_key_commands()


def main() -> None:
    """The console script ``lambdalite`` and ``python -m lambdalite``."""
    app(prog_name="lambdalite")
