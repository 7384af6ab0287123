"""Unit tests get no server: asking for Redis or FerretDB fails them before anything starts."""

from __future__ import annotations

import pytest

INNER_TESTS = """
import pytest

pytestmark = pytest.mark.unit


def test_asks_for_redis_through_another_fixture(redis_url):
    pass


def test_asks_for_the_redis_cluster(redis_cluster):
    pass


def test_asks_for_ferretdb_at_run_time(request):
    request.getfixturevalue("mongo_server")


@pytest.mark.parametrize("name", ["key_prefix", "signer"])
def test_asks_for_what_needs_no_server(request, name):
    assert request.getfixturevalue(name)
"""


def test_a_unit_test_is_refused_the_servers(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\nmarkers =\n    unit: no server\n"
    )
    pytester.makepyfile(test_inner=INNER_TESTS)

    result = pytester.runpytest_inprocess("-p", "cardstream_testing.fixtures")

    result.assert_outcomes(passed=2, failed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_asks_for_redis_through_another_fixture*",
            "test_inner.py::test_asks_for_redis_through_another_fixture is a unit test *"
            "asks for redis_server: unit tests start no server.*",
            "*ERROR at setup of test_asks_for_the_redis_cluster*",
            "test_inner.py::test_asks_for_the_redis_cluster is a unit test *"
            "asks for redis_cluster: unit tests start no server.*",
            "*test_asks_for_ferretdb_at_run_time*",
            "test_inner.py::test_asks_for_ferretdb_at_run_time is a unit test *"
            "asks for mongo_server: unit tests start no server.*",
        ]
    )
