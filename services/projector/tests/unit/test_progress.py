"""Long operations report progress: a bar redrawn on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

from projector.ops.progress import Progress


class TestProgress:
    def test_writes_plain_lines_and_no_bar_when_not_on_a_terminal(self) -> None:
        out = io.StringIO()
        progress = Progress(out, "rebuild", interactive=False)
        progress.events = 1_500

        progress.advance(3, 16, "partitions")
        progress.say("folded partition 2")
        progress.close()

        lines = out.getvalue().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("rebuild [")
        assert "folded partition 2 (1,500 events," in lines[0]
        assert "\r" not in out.getvalue()

    def test_draws_a_bar_on_a_terminal_and_clears_it_for_a_line(self) -> None:
        out = io.StringIO()
        progress = Progress(out, "compact", interactive=True)

        progress.advance(8, 16, "boards")
        drawn = out.getvalue()
        progress.say("trimmed 10 entries")
        progress.close()

        assert "[###############---------------] 8/16 boards" in drawn
        assert drawn.startswith("\r\x1b[2K")
        assert out.getvalue().endswith("entries (0 events, 0 events/s)\n")

    def test_is_a_terminal_only_when_its_stream_is_one(self) -> None:
        out = io.StringIO()
        Progress(out, "replay").advance(1, 2, "versions")
        assert out.getvalue() == ""
