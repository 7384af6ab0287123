"""A session's absolute end, and what is capped by it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from auth.domain.sessions import SessionRecord, capped

START = datetime(2026, 1, 1, tzinfo=UTC)
DAY = 24 * 3600


def _session() -> SessionRecord:
    return SessionRecord(
        sid="s", user_id="u", created_at=START, revoked_at=None, revoked_reason=None
    )


class TestAbsoluteEnd:
    def test_the_end_is_the_start_plus_the_maximum(self):
        assert _session().ends_at(30 * DAY) == START + timedelta(days=30)

    def test_a_lifetime_that_fits_before_the_end_is_kept(self):
        now = START + timedelta(days=1)

        assert capped(now, 600, START + timedelta(days=30)) == now + timedelta(seconds=600)

    def test_a_lifetime_that_would_pass_the_end_stops_at_it(self):
        end = _session().ends_at(30 * DAY)
        now = end - timedelta(seconds=100)

        assert capped(now, 600, end) == end
