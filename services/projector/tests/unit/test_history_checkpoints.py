"""History pages walked from checkpoints are exactly the pages walked from version 1, read fewer
events, and leave the checkpoints as they were."""

from __future__ import annotations

from uuid import UUID

import pytest
from cardstream_testing.feeds import ListedEvents, no_events
from cardstream_testing.golden import story_envelopes
from projector.events import BoardEvents
from projector.read.audit import HistoryFilter, history_page
from projector.read.audit.history import HistoryCheckpoints

BOARD = UUID("0b0a4d00-0000-4000-8000-0000000000e2")
# Every event type, with named members (one later removed), comments edited and deleted, and
# checklists: what a sentence needs from before a checkpoint is all in it.
EVENTS = story_envelopes(BOARD)
N = len(EVENTS)


class _Log(ListedEvents):
    def board_events(self) -> BoardEvents:
        return BoardEvents(no_events, self, page_size=7)


# (after_version, filter, limit): pages backwards and forwards from the end, as the activity
# panel asks for them, and version windows, as a card's history or an auditor does.
ASKS = [
    *((after, HistoryFilter(), 3) for after in range(N, -1, -4)),
    *((after, HistoryFilter(), 5) for after in range(0, N, 3)),
    *((0, HistoryFilter(from_version=v, to_version=min(N, v + 4)), 100) for v in range(N, 0, -2)),
    *((v, HistoryFilter(actor="bob"), 2) for v in range(0, N, 6)),
]


@pytest.mark.parametrize("every", [1, 3, 7])
async def test_every_page_is_the_page_walked_from_version_1(every: int) -> None:
    log = _Log(EVENTS)
    checkpoints = HistoryCheckpoints(every=every, max_cards=1_000)
    for after, history_filter, limit in ASKS:
        plain = await history_page(
            log.board_events(), BOARD, history_filter, after_version=after, limit=limit
        )
        stepped = await history_page(
            log.board_events(),
            BOARD,
            history_filter,
            after_version=after,
            limit=limit,
            checkpoints=checkpoints,
        )

        assert stepped == plain, f"after {after}, {history_filter}"
    assert checkpoints.versions(BOARD) == list(range(every, N + 1, every))


async def test_a_page_near_the_end_reads_from_the_nearest_checkpoint() -> None:
    log = _Log(EVENTS)
    checkpoints = HistoryCheckpoints(every=10, max_cards=1_000)
    await history_page(log.board_events(), BOARD, HistoryFilter(), checkpoints=checkpoints)
    log.served = 0

    page = await history_page(
        log.board_events(),
        BOARD,
        HistoryFilter(from_version=N - 2),
        checkpoints=checkpoints,
    )

    assert [e.version for e in page.entries] == [N - 2, N - 1, N]
    nearest = max(v for v in checkpoints.versions(BOARD) if v <= N - 3)
    assert log.served == N - nearest
    assert log.served < N
