"""Run the ``crm`` command in this process and write its peak RSS to ``$PEERS_RSS_FILE``.

``wait4``'s ``ru_maxrss`` of a child counts the memory of the process it was started from
(the benchmark, holding pandas, DuckDB and the data sets), so the sweep's own figure is read
here, from ``/proc``: ``VmHWM`` of this process (its memory since exec) and the largest of the
processes it forks (the scoring and merge processes on PostgreSQL), sampled every 0.2 s.

    PEERS_RSS_FILE=/tmp/rss.json python bench/dedup/peers_cli.py dedup --org ... --json
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))

from run import _high_water_mb, _watch_children  # noqa: E402


def main() -> None:
    peaks: dict[int, int] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_children, args=(peaks, stop), daemon=True)

    def report() -> None:
        stop.set()
        target = os.environ.get("PEERS_RSS_FILE")
        if target:
            Path(target).write_text(
                json.dumps(
                    {
                        "self_mb": _high_water_mb("self"),
                        "children_mb": max(peaks.values(), default=0),
                    }
                )
            )

    atexit.register(report)
    watcher.start()
    from crm.cli import app

    app(prog_name="crm")


if __name__ == "__main__":
    main()
