"""The trace header an invocation's runtime receives: a new trace, or the caller's continued."""

from __future__ import annotations

import re

from lambdalite.observe.tracing import trace_header

REQUEST_ID = "5759e988-bd86-4e3f-a1be-46a994272793"
CALLER_ROOT = "1-67891233-abcdef012345678912345678"


def test_a_new_trace_takes_its_root_from_the_time_and_the_request_id() -> None:
    header = trace_header(REQUEST_ID, 0x5759E988, active=True)
    assert re.fullmatch(r"Root=1-5759e988-5759e988bd864e3fa1be46a9;Parent=[0-9a-f]{16};Sampled=1", header)
    assert trace_header(REQUEST_ID, 0, active=False, lineage="a87bd80c:1").endswith(
        ";Sampled=0;Lineage=a87bd80c:1"
    )


def test_the_callers_root_and_sampling_decision_are_kept_and_the_parent_is_new() -> None:
    caller = f"Root={CALLER_ROOT};Parent=53995c3f42cd8ad8;Sampled=1"
    header = trace_header(REQUEST_ID, 0, active=False, caller=caller, lineage="a87bd80c:2")
    fields = dict(field.split("=", 1) for field in header.split(";"))
    assert fields["Root"] == CALLER_ROOT and fields["Sampled"] == "1" and fields["Lineage"] == "a87bd80c:2"
    assert re.fullmatch(r"[0-9a-f]{16}", fields["Parent"]) and fields["Parent"] != "53995c3f42cd8ad8"
    # No decision (or a request for one): the function's own mode decides.
    assert trace_header(REQUEST_ID, 0, True, f"Root={CALLER_ROOT};Sampled=?").endswith(";Sampled=1")
    assert trace_header(REQUEST_ID, 0, False, f"Root={CALLER_ROOT}").startswith(f"Root={CALLER_ROOT};")


def test_a_malformed_caller_root_starts_a_new_trace() -> None:
    for caller in ("Root=1-abc", "Root=;Sampled=0", "Lineage=a87bd80c:3", "nonsense"):
        header = trace_header(REQUEST_ID, 0x5759E988, active=False, caller=caller)
        assert header.startswith("Root=1-5759e988-5759e988bd864e3fa1be46a9;"), caller
    assert trace_header(REQUEST_ID, 0, False, "Root=1-abc;Sampled=1").endswith(";Sampled=1")


def test_parents_stay_random_across_batches_and_roots_follow_the_time() -> None:
    # The Parent's digits come from batches of random bytes: a thousand headers span
    # several batches, and every Parent is 16 hex digits of its own.
    parents = {trace_header(REQUEST_ID, 7, active=False).split(";")[1] for _ in range(1000)}
    assert len(parents) == 1000 and all(re.fullmatch(r"Parent=[0-9a-f]{16}", p) for p in parents)
    # The epoch's digits are the second asked for, whichever came before.
    assert trace_header(REQUEST_ID, 1.9, active=False).startswith("Root=1-00000001-")
    assert trace_header(REQUEST_ID, 0x5759E988, active=False).startswith("Root=1-5759e988-")


def test_a_request_id_that_is_no_uuid_gives_its_first_24_characters_without_dashes() -> None:
    assert trace_header("a-b-c", 0, active=False).startswith("Root=1-00000000-abc;")
    long_id = "0123456789-abcdefghijklmnopqrstuvwxyz"
    assert trace_header(long_id, 0, active=False).startswith("Root=1-00000000-0123456789abcdefghijklmn;")
