"""Chaos (issue 12): writers and WebSocket subscribers on many boards while SIGKILL hits boards,
projector, auth, FerretDB and Redis at random and each comes back; then every acknowledged
command must be in the log exactly once, versions gapless, every read model equal to a rebuild
and every subscriber's board equal to the read model (docs/chaos.md). `python -m
cardstream_testing.chaos` (`make chaos`) runs it and prints the report."""

from cardstream_testing.chaos.run import ChaosOptions, run_chaos

__all__ = ["ChaosOptions", "run_chaos"]
