"""``lambdalite audit``: the control-plane audit log of a running server, as a table
(through ``/_lambdalite/audit``, signed like every other request)."""

from __future__ import annotations

import datetime
import re
import time
from typing import Annotated
from urllib.parse import urlencode

import typer
from rich.table import Table

from lambdalite.auth.keys_cli import own_api_call
from lambdalite.cli import CliError, Endpoint, out, reporting, resolve_endpoint

AUDIT_PATH = "/_lambdalite/audit"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_OUTCOME_STYLE = {"allowed": "green", "denied": "red", "error": "yellow"}


def parse_since(text: str, now: float) -> float:
    """``15m``, ``2h``, ``7d``, ``30s`` ago, or an ISO 8601 moment (UTC unless it says):
    seconds since the epoch. Raises CliError for anything else."""
    relative = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if relative:
        return now - float(relative.group(1)) * _UNITS[relative.group(2)]
    try:
        moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"--since {text!r}: give 15m, 2h, 1d or an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def audit(
    operation: Annotated[
        str, typer.Option(help="Only this operation: CreateFunction, or lambda:CreateFunction.")
    ] = "",
    principal: Annotated[str, typer.Option(help="Only principals containing this text.")] = "",
    since: Annotated[str, typer.Option(help="Only since then: 15m, 2h, 1d, or an ISO 8601 time.")] = "",
    limit: Annotated[int, typer.Option(help="At most this many records, newest first.")] = 100,
    endpoint: Endpoint = None,
) -> None:
    """Show the audit log: who called which control-plane operation on what, allowed,
    denied or failed, and when (invocations are not recorded)."""
    endpoint = resolve_endpoint(endpoint)
    with reporting(endpoint):
        query = {"operation": operation, "principal": principal, "limit": str(limit)}
        if since:
            query["since"] = repr(parse_since(since, time.time()))
        events = own_api_call(endpoint, "GET", f"{AUDIT_PATH}?{urlencode(query)}")["Events"]
        table = Table()
        for column in ("time (UTC)", "principal", "operation", "resource", "outcome", "status", "source"):
            table.add_column(column)
        for event in events:
            moment = datetime.datetime.fromtimestamp(event["at"], datetime.UTC)
            outcome = event["outcome"]
            status = str(event["status"]) + (f" {event['error_code']}" if event["error_code"] else "")
            table.add_row(
                moment.strftime("%Y-%m-%d %H:%M:%S"),
                event["principal"],
                event["operation"],
                event["resource"],
                f"[{_OUTCOME_STYLE.get(outcome, 'white')}]{outcome}[/]",
                status,
                event["source_ip"],
            )
        out.print(table)
