"""`python -m cardstream_testing.chaos --seconds 600 --seed 12`: the JSON report on stdout,
exit 1 when an invariant failed or too few kills happened."""

from __future__ import annotations

import argparse
import json
import shutil
import sys

from cardstream_testing.chaos.run import ChaosOptions, run_chaos

# The acceptance's figure for ten minutes, scaled to shorter runs (at least one per component).
KILLS_PER_600_S = 20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cardstream_testing.chaos")
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--min-kills", type=int, default=None)
    args = parser.parse_args(argv)
    min_kills = args.min_kills
    if min_kills is None:
        min_kills = max(5, round(KILLS_PER_600_S * args.seconds / 600))
    print(f"chaos: seed {args.seed}, {args.seconds:g} s of faults", file=sys.stderr, flush=True)
    report = run_chaos(ChaosOptions(seconds=args.seconds, seed=args.seed, min_kills=min_kills))
    print(json.dumps(report, indent=2))
    if report["ok"]:
        shutil.rmtree(report["data_dir"], ignore_errors=True)  # kept, with its logs, on failure
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
