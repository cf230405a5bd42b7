"""Signed code links (GetFunction's Code.Location): valid for ten minutes, refused with
S3's presigned-URL errors when missing, expired, altered or signed with another key."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from lambdalite.api.code_links import CODE_PATH, LIFETIME_S, CodeLinks, LinkRefused
from lambdalite.auth.secrets import SecretBox
from lambdalite.clock import ManualClock

SHA = "ab" * 32
OTHER = "cd" * 32
BASE = "http://127.0.0.1:9000"


def signed(links: CodeLinks, sha: str = SHA) -> dict[str, str]:
    url = urlsplit(links.url(BASE, sha))
    assert url.path == f"{CODE_PATH}{sha}.zip"
    return dict(parse_qsl(url.query))


def refusal(links: CodeLinks, query: dict[str, str], sha: str = SHA) -> tuple[int, str, str]:
    with pytest.raises(LinkRefused) as refused:
        links.check(sha, query)
    return refused.value.fault_status, refused.value.fault_code, refused.value.message


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000.0)


@pytest.fixture
def links(clock: ManualClock) -> CodeLinks:
    return CodeLinks(SecretBox(b"k" * 32), required=True, clock=clock)


def test_a_link_works_for_ten_minutes_then_has_expired(links: CodeLinks, clock: ManualClock) -> None:
    query = signed(links)
    assert query["X-Amz-Date"] == "20231114T221320Z" and query["X-Amz-Expires"] == str(LIFETIME_S)
    links.check(SHA, query)
    clock.advance(LIFETIME_S)
    links.check(SHA, query)
    clock.advance(1)
    with pytest.raises(LinkRefused) as refused:
        links.check(SHA, query)
    assert (refused.value.fault_code, refused.value.message) == ("AccessDenied", "Request has expired")
    assert dict(refused.value.details) == {
        "X-Amz-Expires": "600",
        "Expires": "2023-11-14T22:23:20Z",
        "ServerTime": "2023-11-14T22:23:21Z",
    }


def test_an_unsigned_or_altered_link_is_refused(links: CodeLinks) -> None:
    query = signed(links)
    assert refusal(links, {}) == (403, "AccessDenied", "Access Denied")
    mismatch = "SignatureDoesNotMatch"
    assert refusal(links, query, OTHER)[:2] == (403, mismatch)  # another package
    assert refusal(links, {**query, "X-Amz-Expires": "6000"})[:2] == (403, mismatch)  # a longer life
    assert refusal(links, {**query, "X-Amz-Date": "20991114T221320Z"})[:2] == (403, mismatch)
    assert refusal(links, {**query, "X-Amz-Signature": query["X-Amz-Signature"][:-2] + "AA"})[:2] == (
        403,
        mismatch,
    )
    assert refusal(links, {**query, "X-Amz-Signature": "%%%"})[:2] == (403, mismatch)
    assert refusal(links, {**query, "X-Amz-Date": "yesterday"})[:2] == (
        400,
        "AuthorizationQueryParametersError",
    )
    assert refusal(links, {**query, "X-Amz-Expires": "ten"})[:2] == (400, "AuthorizationQueryParametersError")


def test_only_the_same_key_verifies(clock: ManualClock) -> None:
    ours = CodeLinks(SecretBox(b"k" * 32), required=True, clock=clock)
    theirs = CodeLinks(SecretBox(b"x" * 32), required=True, clock=clock)
    assert refusal(ours, signed(theirs))[1] == "SignatureDoesNotMatch"
    # Another node with the same key (a cluster sharing its data key) verifies it.
    CodeLinks(SecretBox(b"k" * 32), required=True, clock=clock).check(SHA, signed(ours))


def test_unless_required_downloads_are_not_checked_and_without_a_key_links_are_plain() -> None:
    CodeLinks(SecretBox(b"k" * 32)).check(SHA, {})
    assert CodeLinks(None).url(BASE, SHA) == f"{BASE}{CODE_PATH}{SHA}.zip"
    with pytest.raises(ValueError, match="need a key"):
        CodeLinks(None, required=True)
