"""Time the North Star dashboard against DuckDB on the same rows.

The script generates a team product (persons in teams, 26 weeks of events),
bulk-inserts it into a temporary SQLite file and, when reachable, a fresh
PostgreSQL database, then times the dashboard through the metrics service
layer: weekly active teams, invite conversion, activation and team churn,
12 weekly periods, compare previous. DuckDB computes the same numbers from
the same rows, loaded from CSV, in the same run; the script checks that
every number agrees and prints the times as ratios to DuckDB.

Run from the repository root::

    python benchmarks/metrics.py                  # 1,000,000 events
    python benchmarks/metrics.py --events 100000  # a quick run

DuckDB comes with the ``bench`` extra. PostgreSQL is read from
``PUG_BENCH_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``);
``--no-postgres`` skips it.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

START = dt.datetime(2024, 1, 1)  # a Monday
WEEKS = 26
AT = (START + dt.timedelta(weeks=WEEKS - 1)).date().isoformat()
CHUNK_ROWS = 2000
EVENT_MIX = [
    ("Document Edited", 0.70),
    ("Document Created", 0.12),
    ("Invite Sent", 0.10),
    ("Invite Accepted", 0.08),
]
#: Share of events that name their team themselves; the rest are attributed
#: through the person's memberships.
OWN_TEAM_SHARE = 0.9
MEAN_LIFETIME_WEEKS = 6
METRICS = {
    "weekly_active_teams": {
        "period": "week",
        "measure": {
            "type": "unique_groups",
            "group_type": "team",
            "event": "Document Edited",
        },
    },
    "invite_conversion": {
        "period": "week",
        "measure": {
            "type": "ratio",
            "numerator": {"type": "unique_persons", "event": "Invite Accepted"},
            "denominator": {"type": "unique_persons", "event": "Invite Sent"},
        },
    },
    "activation_rate": {
        "period": "week",
        "measure": {
            "type": "activation",
            "start": "Signed Up",
            "action": "Document Created",
            "within": "7d",
            "unit": "person",
        },
    },
    "team_churn": {
        "period": "week",
        "measure": {"type": "churn", "event": "Document Edited", "unit": "group:team"},
    },
}


def generate(events: int, persons: int, teams: int, seed: int = 7) -> dict[str, list]:
    """Return the rows of every table, the same for every engine."""
    rng = random.Random(seed)
    span = WEEKS * 7 * 86400
    end = START + dt.timedelta(seconds=span)
    people = []
    lifetimes = {}
    for person in range(1, persons + 1):
        # Persons sign up over the whole range, more of them early on, and
        # stay active for a few weeks, so teams churn and some never activate.
        joined = START + dt.timedelta(seconds=int(span * rng.random() ** 1.5))
        team = rng.randrange(1, teams + 1)
        people.append((person, f"user-{person}", joined, f"team-{team}"))
        lifetimes[person] = rng.expovariate(1 / (MEAN_LIFETIME_WEEKS * 7 * 86400))
    names = [name for name, _ in EVENT_MIX]
    weights = [weight for _, weight in EVENT_MIX]
    unordered = [
        (joined, distinct_id, "Signed Up", team)
        for _, distinct_id, joined, team in people
    ]
    while len(unordered) < events:
        person, distinct_id, joined, team = people[rng.randrange(persons)]
        left = min((end - joined).total_seconds(), lifetimes[person])
        at = joined + dt.timedelta(seconds=int(left * rng.random()))
        own = team if rng.random() < OWN_TEAM_SHARE else None
        unordered.append((at, distinct_id, rng.choices(names, weights)[0], own))
    # Ids follow time, as they do when events arrive as they happen.
    unordered.sort(key=lambda row: row[0])
    rows = [
        (event_id, distinct_id, name, at, team)
        for event_id, (at, distinct_id, name, team) in enumerate(unordered, start=1)
    ]
    return {"persons": people, "events": rows, "teams": list(range(1, teams + 1))}


def _chunks(rows: list, size: int = CHUNK_ROWS):
    for index in range(0, len(rows), size):
        yield rows[index : index + size]


def load_pug(url: str, data: dict[str, list]) -> tuple[Any, float]:
    """Create the schema at *url*, insert *data*, return the project and seconds."""
    from pug_server import db
    from pug_server.config import load_config
    from pug_server.models import (
        Event,
        Group,
        GroupMembership,
        Person,
        PersonDistinctId,
        Project,
        create_schema,
    )

    database = db.init_database(load_config({"DATABASE_URL": url}))
    create_schema(database)
    began = time.perf_counter()
    with database.connection_context():
        project, _ = Project.create_with_keys("bench")
        with database.atomic():
            for chunk in _chunks(data["persons"]):
                Person.insert_many(
                    [
                        (person, project.id, joined, True)
                        for person, _, joined, _ in chunk
                    ],
                    fields=[
                        Person.id,
                        Person.project,
                        Person.created_at,
                        Person.identified,
                    ],
                ).execute()
                PersonDistinctId.insert_many(
                    [(project.id, key, person, True) for person, key, _, _ in chunk],
                    fields=[
                        PersonDistinctId.project,
                        PersonDistinctId.distinct_id,
                        PersonDistinctId.person,
                        PersonDistinctId.is_user_id,
                    ],
                ).execute()
            Group.insert_many(
                [(team, project.id, "team", f"team-{team}") for team in data["teams"]],
                fields=[Group.id, Group.project, Group.group_type, Group.group_key],
            ).execute()
            for chunk in _chunks(data["persons"]):
                GroupMembership.insert_many(
                    [
                        (
                            project.id,
                            person,
                            int(team.partition("-")[2]),
                            "team",
                            joined,
                        )
                        for person, _, joined, team in chunk
                    ],
                    fields=[
                        GroupMembership.project,
                        GroupMembership.person,
                        GroupMembership.group,
                        GroupMembership.group_type,
                        GroupMembership.timestamp,
                    ],
                ).execute()
            fields = [
                Event.id,
                Event.project,
                Event.message_id,
                Event.type,
                Event.event,
                Event.user_id,
                Event.distinct_id,
                Event.timestamp,
                Event.received_at,
                Event.groups,
            ]
            for chunk in _chunks(data["events"]):
                Event.insert_many(
                    [
                        (
                            event_id,
                            project.id,
                            f"m-{event_id}",
                            "track",
                            name,
                            distinct_id,
                            distinct_id,
                            at,
                            at,
                            {"team": team} if team else None,
                        )
                        for event_id, distinct_id, name, at, team in chunk
                    ],
                    fields=fields,
                ).execute()
        # Fresh planner statistics and, on SQLite, a checkpointed WAL, as a
        # long-running database would have.
        database.execute_sql("ANALYZE")
        if not db.is_postgres():
            database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return project, time.perf_counter() - began


def time_pug(project: Any, repeats: int) -> tuple[float, dict[str, list]]:
    """Return the median dashboard seconds and each tile's series."""
    from pug_server.db import database
    from pug_server.services.metrics import build_dashboard

    params = {"at": AT, "periods": 12, "compare": "previous", "timezone": "UTC"}
    timings = []
    tiles: list[dict[str, Any]] = []
    for _ in range(repeats):
        with database.connection_context():
            began = time.perf_counter()
            tiles = build_dashboard(list(METRICS), METRICS, params, project)
            timings.append(time.perf_counter() - began)
    values = {
        tile["metric"]: [period["value"] for period in tile["series"]] for tile in tiles
    }
    for tile in tiles:
        values[tile["metric"]].append(tile["previous"]["value"])
    return statistics.median(timings), values


DUCKDB_SQL = """
WITH b AS (SELECT * FROM buckets),
ev AS (
    SELECT e.id, e.ts, e.name, pd.person_id,
           COALESCE(e.own_team,
                    (SELECT arg_max(m.team, m.ts) FROM gm m
                     WHERE m.person_id = pd.person_id AND m.ts <= e.ts),
                    (SELECT arg_min(m.team, m.ts) FROM gm m
                     WHERE m.person_id = pd.person_id)) AS team
    FROM events e JOIN pdi pd ON pd.distinct_id = e.distinct_id
),
wat AS (
    SELECT b.idx, COUNT(DISTINCT ev.team) AS v FROM b JOIN ev
      ON ev.ts >= b.s AND ev.ts < b.e WHERE ev.name = 'Document Edited' GROUP BY b.idx
),
sent AS (
    SELECT b.idx, COUNT(DISTINCT ev.person_id) AS v FROM b JOIN ev
      ON ev.ts >= b.s AND ev.ts < b.e WHERE ev.name = 'Invite Sent' GROUP BY b.idx
),
accepted AS (
    SELECT b.idx, COUNT(DISTINCT ev.person_id) AS v FROM b JOIN ev
      ON ev.ts >= b.s AND ev.ts < b.e WHERE ev.name = 'Invite Accepted' GROUP BY b.idx
),
firsts AS (
    SELECT person_id, MIN(ts) AS t0 FROM ev WHERE name = 'Signed Up' GROUP BY person_id
),
cohort AS (
    SELECT b.idx, f.person_id, f.t0 FROM b JOIN firsts f ON f.t0 >= b.s AND f.t0 < b.e
),
activated AS (
    SELECT c.idx, COUNT(DISTINCT c.person_id) AS cohort,
           COUNT(DISTINCT a.person_id) AS done
    FROM cohort c LEFT JOIN ev a ON a.person_id = c.person_id
      AND a.name = 'Document Created' AND a.ts >= c.t0
      AND a.ts < c.t0 + INTERVAL 7 DAY
    GROUP BY c.idx
),
act AS (
    SELECT DISTINCT b.idx, ev.team FROM b JOIN ev ON ev.ts >= b.s AND ev.ts < b.e
    WHERE ev.name = 'Document Edited' AND ev.team IS NOT NULL
),
churn AS (
    SELECT a.idx + 1 AS idx, COUNT(*) AS base, COUNT(c.team) AS kept
    FROM act a LEFT JOIN act c ON c.idx = a.idx + 1 AND c.team = a.team
    GROUP BY a.idx
)
SELECT b.idx, wat.v, accepted.v, sent.v, activated.cohort, activated.done,
       churn.base, churn.kept
FROM b LEFT JOIN wat USING (idx) LEFT JOIN sent USING (idx)
LEFT JOIN accepted USING (idx) LEFT JOIN activated USING (idx)
LEFT JOIN churn USING (idx)
ORDER BY b.idx
"""


def _rate(numerator: Any, denominator: Any) -> float | None:
    if not denominator:
        return None
    return round(float(numerator or 0) / float(denominator), 6)


def load_duckdb(data: dict[str, list], workdir: Path) -> Any:
    import duckdb

    events_csv = workdir / "events.csv"
    with events_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        for event_id, distinct_id, name, at, team in data["events"]:
            writer.writerow(
                [event_id, distinct_id, name, at.isoformat(sep=" "), team or ""]
            )
    people_csv = workdir / "persons.csv"
    with people_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        for person, distinct_id, joined, team in data["persons"]:
            writer.writerow([person, distinct_id, joined.isoformat(sep=" "), team])
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE events AS SELECT * FROM read_csv(?, header = false, columns = "
        "{'id': 'BIGINT', 'distinct_id': 'VARCHAR', 'name': 'VARCHAR', "
        "'ts': 'TIMESTAMP', 'own_team': 'VARCHAR'})",
        [str(events_csv)],
    )
    connection.execute(
        "CREATE TABLE people AS SELECT * FROM read_csv(?, header = false, columns = "
        "{'person_id': 'BIGINT', 'distinct_id': 'VARCHAR', 'ts': 'TIMESTAMP', "
        "'team': 'VARCHAR'})",
        [str(people_csv)],
    )
    connection.execute("UPDATE events SET own_team = NULL WHERE own_team = ''")
    connection.execute("CREATE TABLE pdi AS SELECT person_id, distinct_id FROM people")
    connection.execute("CREATE TABLE gm AS SELECT person_id, team, ts FROM people")
    # 13 weekly ranges: the 12 of the series and the one before, for churn.
    first = START + dt.timedelta(weeks=WEEKS - 13)
    connection.execute("CREATE TABLE buckets (idx INTEGER, s TIMESTAMP, e TIMESTAMP)")
    connection.executemany(
        "INSERT INTO buckets VALUES (?, ?, ?)",
        [
            (
                index,
                first + dt.timedelta(weeks=index),
                first + dt.timedelta(weeks=index + 1),
            )
            for index in range(13)
        ],
    )
    return connection


def time_duckdb(connection: Any, repeats: int) -> tuple[float, dict[str, list]]:
    timings = []
    rows: list[tuple] = []
    for _ in range(repeats):
        began = time.perf_counter()
        rows = connection.execute(DUCKDB_SQL).fetchall()
        timings.append(time.perf_counter() - began)
    series = rows[1:]  # index 0 is the week before the series
    values: dict[str, list] = {
        "weekly_active_teams": [row[1] or 0 for row in series],
        "invite_conversion": [_rate(row[2], row[3]) for row in series],
        "activation_rate": [_rate(row[5], row[4]) for row in series],
        "team_churn": [_rate((row[6] or 0) - (row[7] or 0), row[6]) for row in series],
    }
    # compare=previous: the previous value is the series' second to last.
    for key in values:
        values[key].append(values[key][-2])
    return statistics.median(timings), values


def differences(expected: dict[str, list], actual: dict[str, list]) -> list[str]:
    found = []
    for key, values in expected.items():
        for index, (want, got) in enumerate(zip(values, actual[key], strict=True)):
            close = want == got or (
                want is not None and got is not None and abs(want - got) < 1e-6
            )
            if not close:
                found.append(f"{key}[{index}]: duckdb={want} pug={got}")
    return found


def _postgres_url(admin: str) -> str | None:
    import psycopg2

    name = "pug_bench_" + secrets.token_hex(4)
    try:
        connection = psycopg2.connect(admin, connect_timeout=3)
    except psycopg2.Error as exc:
        print(f"postgresql skipped: {exc}".strip(), file=sys.stderr)
        return None
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    return admin.rpartition("/")[0] + "/" + name


def _drop_postgres(admin: str, url: str) -> None:
    import psycopg2

    from pug_server.db import database

    database.close()
    if hasattr(database.obj, "close_all"):
        database.obj.close_all()
    connection = psycopg2.connect(admin)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(
            f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)'
        )
    connection.close()


def cpu_model() -> str:
    try:
        output = subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    for line in output.splitlines():
        if line.startswith("Model name:"):
            return line.partition(":")[2].strip()
    return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="events to generate"
    )
    parser.add_argument(
        "--persons", type=int, default=20_000, help="persons to generate"
    )
    parser.add_argument("--teams", type=int, default=2_000, help="teams to generate")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per engine")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--json", action="store_true", help="print the raw figures")
    args = parser.parse_args()
    if not 1 <= args.repeats <= 20 or args.events < args.persons:
        parser.error("use 1 to 20 repeats and at least as many events as persons")

    began = time.perf_counter()
    data = generate(args.events, args.persons, args.teams)
    print(
        f"generated {len(data['events'])} events in {time.perf_counter() - began:.1f} s"
    )
    results: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "engines": {},
    }
    with tempfile.TemporaryDirectory(prefix="pug-bench-") as workdir:
        connection = load_duckdb(data, Path(workdir))
        duck_seconds, expected = time_duckdb(connection, args.repeats)
        results["engines"]["duckdb"] = {"seconds": duck_seconds}
        print(f"duckdb: {duck_seconds * 1000:.0f} ms")
        backends = [("sqlite", f"sqlite:///{workdir}/pug.db")]
        admin = os.environ.get(
            "PUG_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        )
        postgres_url = None if args.no_postgres else _postgres_url(admin)
        if postgres_url:
            backends.append(("postgresql", postgres_url))
        failed = False
        try:
            for backend, url in backends:
                project, load_seconds = load_pug(url, data)
                seconds, values = time_pug(project, args.repeats)
                wrong = differences(expected, values)
                failed = failed or bool(wrong)
                results["engines"][backend] = {
                    "seconds": seconds,
                    "load_seconds": load_seconds,
                    "ratio_to_duckdb": seconds / duck_seconds,
                    "differences": wrong,
                }
                print(
                    f"{backend}: {seconds * 1000:.0f} ms, {seconds / duck_seconds:.2f}x duckdb "
                    f"(load {load_seconds:.0f} s), numbers "
                    + ("agree" if not wrong else f"DIFFER: {wrong[:5]}")
                )
        finally:
            if postgres_url:
                _drop_postgres(admin, postgres_url)
    results["current_week_values"] = {
        key: values[-2] for key, values in expected.items()
    }
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
