"""`python -m projector`: see `projector.cli` (or `python -m projector --help`)."""

from projector.cli import main

if __name__ == "__main__":
    main()
