"""A short sustained load: every batch gets 200, memory bounded.

The figures of the full run are in ``docs/reliability.md``; they come from
``benchmarks/load.py``. Here the run only has to stay correct: no error
responses, every acknowledged event stored, and the server's resident memory
at the end under three times what it was at the start.
"""

from __future__ import annotations

from benchmarks.load import BATCH_SIZE, run_load
from tests.helpers.live import create_project
from tests.reliability.conftest import stored_counts

MEMORY_GROWTH_LIMIT = 3


def test_sustained_load_all_acknowledged(database_url, servers, sizes):
    server = servers(database_url)
    project = create_project(database_url)
    figures = run_load(
        server, project.write_key, sizes["load_seconds"], sizes["load_processes"]
    )
    print(f"load: {figures}")
    rows, distinct = stored_counts(database_url, project.id)
    assert figures["statuses"] == {200: figures["batches"]}
    assert figures["batches"] > 0
    assert rows == figures["batches"] * BATCH_SIZE
    assert distinct == rows
    assert figures["rss_end_mib"] < figures["rss_start_mib"] * MEMORY_GROWTH_LIMIT
