"""free_port: a port servers can bind, chosen below the kernel's ephemeral range so that no
outgoing connection takes it before the server binds it."""

from __future__ import annotations

import socket

import pytest
from cardstream_devstack import free_port, processes
from cardstream_devstack.processes import _below_ephemeral


def test_the_port_is_below_the_ephemeral_range_and_bindable() -> None:
    span = _below_ephemeral()
    port = free_port()

    if span is not None:
        assert span[0] <= port <= span[1]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_a_port_in_use_is_not_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", free_port()))
        held.listen()
        taken = held.getsockname()[1]
        # Two ports to choose from, one of them held: only the other one may come back (once:
        # then it is handed out, and the fallback gives ports from elsewhere).
        monkeypatch.setattr(processes, "_LISTEN_PORTS", (taken, taken + 1))
        monkeypatch.setattr(processes, "_below_ephemeral", lambda: (taken, taken + 1))

        assert free_port() == taken + 1
        assert taken not in {free_port() for _ in range(20)}


def test_a_port_handed_out_is_not_handed_out_again_while_unbound() -> None:
    # Nothing binds these: every call must still get a port of its own.
    ports = [free_port() for _ in range(2000)]

    assert len(set(ports)) == len(ports)


@pytest.mark.parametrize("workers", [2, 3, 7])
def test_test_workers_choose_from_slices_that_do_not_overlap(
    monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(workers))
    slices = []
    for worker in range(workers):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", f"gw{worker}")
        slices.append(processes.worker_slice(20000, 32767))

    ports = [set(range(first, last + 1)) for first, last in slices]
    assert all(len(own) >= (32767 - 20000 + 1) // workers for own in ports)
    assert sum(len(own) for own in ports) == len(set().union(*ports))


def test_one_process_chooses_from_the_whole_span(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)

    assert processes.worker_slice(20000, 32767) == (20000, 32767)
