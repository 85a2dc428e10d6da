"""Entry point: `python -m bench run --scenario identify` or `python -m bench report` (see bench/cli.py)."""

from bench.cli import main

raise SystemExit(main())
