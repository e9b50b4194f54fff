"""``python -m benchmarks``: the side-by-side benchmark (benchmarks/side_by_side.py)."""

from benchmarks.side_by_side import main

raise SystemExit(main())
