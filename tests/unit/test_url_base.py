"""The FunctionUrl base chosen at start-up (``--url-base``), with a fake resolver."""

from __future__ import annotations

import time

import pytest

from lambdalite.api.url_base import UrlBaseError, choose, resolves

ID = "abcdefghijklmnopqrstuvwxyz012345"


def never(_name: str) -> bool:
    return False


def always(_name: str) -> bool:
    return True


def test_auto_uses_the_localhost_host_form_only_where_the_resolver_answers() -> None:
    asked: list[str] = []

    def resolver(name: str) -> bool:
        asked.append(name)
        return True

    assert choose("auto", "127.0.0.1", 9001, "eu-west-1", resolver).url(ID) == (
        f"http://{ID}.lambda-url.eu-west-1.localhost:9001/"
    )
    assert asked == ["lambdalite-probe.lambda-url.eu-west-1.localhost"]
    assert choose("auto", "127.0.0.1", 9001, "eu-west-1", never).url(ID) == (
        f"http://127.0.0.1:9001/_lambdalite/url/{ID}/"
    )
    assert choose("", "127.0.0.1", 9001, "eu-west-1", never).url(ID).startswith("http://127.0.0.1:9001/")


def test_host_and_path_are_forced_without_asking_the_resolver() -> None:
    def refuse(_name: str) -> bool:
        raise AssertionError("the resolver must not be asked")

    assert choose("host", "127.0.0.1", 8000, "us-east-1", refuse).url(ID) == (
        f"http://{ID}.lambda-url.us-east-1.localhost:8000/"
    )
    assert choose("path", "10.1.2.3", 8000, "us-east-1", refuse).url(ID) == (
        f"http://10.1.2.3:8000/_lambdalite/url/{ID}/"
    )


@pytest.mark.parametrize(("host", "shown"), [("0.0.0.0", "127.0.0.1"), ("::", "127.0.0.1"), ("::1", "[::1]")])
def test_the_path_form_names_an_address_a_client_can_reach(host: str, shown: str) -> None:
    assert choose("path", host, 9001, "us-east-1").url(ID) == f"http://{shown}:9001/_lambdalite/url/{ID}/"


def test_an_operators_domain_is_a_wildcard_base_and_routes_by_host() -> None:
    base = choose("https://fn.example.test:8443/", "127.0.0.1", 9001, "us-east-1", never)
    assert base.url(ID) == f"https://{ID}.fn.example.test:8443/"
    assert base.host_mark == b".fn.example.test"
    assert choose("http://Fn.Example.Test", "127.0.0.1", 9001, "us-east-1").url(ID) == (
        f"http://{ID}.fn.example.test/"
    )
    assert choose("path", "127.0.0.1", 9001, "us-east-1").host_mark is None


@pytest.mark.parametrize(
    "setting",
    [
        "ftp://fn.example.test",
        "fn.example.test",
        "http://fn.example.test/base",
        "http://h:port",
        "http://u@h",
    ],
)
def test_a_base_of_no_known_form_is_refused_with_a_clear_message(setting: str) -> None:
    with pytest.raises(UrlBaseError, match="--url-base"):
        choose(setting, "127.0.0.1", 9001, "us-east-1", never)


def test_resolves_is_false_for_a_name_nobody_answers_for() -> None:
    assert resolves("127.0.0.1")
    assert not resolves("no-such-host.invalid")


def test_a_resolver_that_does_not_answer_in_time_counts_as_not_resolving() -> None:
    def slow(_name: str) -> object:
        time.sleep(5)
        return [("addr",)]

    started = time.monotonic()
    assert not resolves("x.lambda-url.us-east-1.localhost", timeout_s=0.05, lookup=slow)
    assert time.monotonic() - started < 1


def test_a_resolver_error_counts_as_not_resolving() -> None:
    def failing(_name: str) -> object:
        raise OSError("no")

    assert not resolves("x.localhost", lookup=failing)
    assert resolves("x.localhost", lookup=lambda _name: [("addr",)])
