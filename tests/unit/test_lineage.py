"""Recursive-loop lineage: parsing the trace header's Lineage field, counting a
function once more per hop, stopping the 17th under Terminate, and SQS's
AWSTraceHeader taken from the caller's header."""

from __future__ import annotations

import pytest

from lambdalite.events import lineage
from lambdalite.models import FunctionConfig


def _function(name: str = "f", recursive_loop: str = "Terminate") -> FunctionConfig:
    return FunctionConfig(name, "python3.11", "r", "h", "0" * 64, 1, recursive_loop=recursive_loop)


def test_counts_reads_every_entry_and_skips_malformed_ones() -> None:
    header = (
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;"
        "Lineage=a87bd80c:1|68fd508a:5|bad|x:y"
    )
    assert lineage.counts(header) == {"a87bd80c": 1, "68fd508a": 5}
    assert lineage.counts("Root=1-5759e988-bd862e3fe1be46a994272793") == {}
    assert lineage.counts(None) == {}


def test_a_hop_counts_the_function_once_more_and_keeps_the_others() -> None:
    function = _function()
    first = lineage.next_hop(function, None)
    assert first == lineage.Hop(1, f"{lineage.tag(function)}:1")
    second = lineage.next_hop(function, f"Root=x;Lineage=0badf00d:3|{first.lineage}")
    assert second.count == 2
    assert lineage.counts(f"Lineage={second.lineage}") == {"0badf00d": 3, lineage.tag(function): 2}


def test_the_17th_invocation_is_stopped_unless_allowed() -> None:
    function = _function()
    header = f"Lineage={lineage.tag(function)}:{lineage.MAX_INVOCATIONS}"
    with pytest.raises(lineage.RecursiveLoopDetected) as stopped:
        lineage.next_hop(function, header)
    assert stopped.value.count == 17 and str(stopped.value) == lineage.MESSAGE
    assert lineage.next_hop(_function(recursive_loop="Allow"), header).count == 17
    # Another function's count does not stop this one.
    assert lineage.next_hop(_function("g"), header).count == 1


def test_sqs_takes_the_callers_header_only_when_it_carries_a_lineage() -> None:
    given = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=mine"}}
    with lineage.carried(b"Root=1-a-b;Lineage=a87bd80c:2"):
        assert lineage.with_trace_header({}) == {
            "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-a-b;Lineage=a87bd80c:2"}
        }
        assert lineage.with_trace_header(given) == given  # the sender's own wins
    with lineage.carried(b"Root=1-a-b"):
        assert lineage.with_trace_header({}) == {}
    assert lineage.incoming.get() is None  # reset after the request


def test_a_batch_continues_the_chain_that_invoked_the_function_most() -> None:
    function = _function()
    own = lineage.tag(function)
    headers = [None, f"Root=a;Lineage={own}:3", f"Root=b;Lineage=0badf00d:9|{own}:12", "Root=c"]
    assert lineage.batch_header(function, headers) == headers[2]
    assert lineage.batch_header(function, [None, None]) is None
    assert lineage.batch_header(function, ["Root=c"]) == "Root=c"
