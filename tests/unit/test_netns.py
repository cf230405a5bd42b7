"""The network pool's pure parts: its nft rules, whose addresses are environments'.

The pool itself (namespaces, veth links, NAT) is driven end to end by
tests/e2e/test_network_isolation.py."""

from __future__ import annotations

from lambdalite.sandbox import netns
from lambdalite.sandbox.interpreters import MIRROR_ROOT, loader_argv, mirror_path


def test_the_rules_translate_the_endpoint_and_reject_the_host_and_private_ranges() -> None:
    pool = netns.NetnsPool(("127.0.0.1", 9000), block=7)
    rules = pool.ruleset()
    assert 'iifname "llv7x*" ip daddr 10.213.0.1 tcp dport 9000 dnat to 127.0.0.1:9000' in rules
    assert "iifname . tcp dport @host_ports dnat to 127.0.0.1" in rules
    assert 'ip saddr 10.213.7.0/24 oifname != "llv*" masquerade' in rules
    assert 'iifname "llv7x*" ct status dnat accept\n    iifname "llv7x*" reject' in rules
    assert "10.0.0.0/8" in rules and "127.0.0.0/8" in rules and "192.168.0.0/16" in rules
    # Replaced atomically when a dead server left the table behind.
    assert rules.index("delete table ip lambdalite_b7") < rules.index("table ip lambdalite_b7 {")


def test_without_an_endpoint_no_translation_to_it() -> None:
    assert "dport 9000" not in netns.NetnsPool(None, block=3).ruleset()


def test_only_environments_addresses_are_environments() -> None:
    assert netns.is_environment_address("10.213.7.12")
    assert not netns.is_environment_address(netns.GATEWAY)
    assert not netns.is_environment_address("127.0.0.1")
    assert not netns.is_environment_address("not an address")


def test_a_lease_is_opened_through_the_servers_descriptor() -> None:
    lease = netns.NetnsLease("lambdalite-7-2", "llv7x2", "10.213.7.2", 42)
    assert lease.path.startswith(b"/proc/") and lease.path.endswith(b"/fd/42")


def test_mirrored_interpreters_start_through_the_loader_with_their_own_libraries() -> None:
    mirrored = mirror_path(MIRROR_ROOT.parent / "pyenv" / "3.12.1")
    argv = loader_argv(str(mirrored / "bin" / "python3.12"))
    if argv:  # a host without a glibc loader at the usual paths gets none
        assert argv[1:] == ("--library-path", str(mirrored / "lib"))
    assert loader_argv("/usr/bin/python3.11") == ()
