"""Two server processes on one PostgreSQL database merging the same ids at once."""

from __future__ import annotations

import random
import threading
import time
import uuid

import pytest

from tests.helpers.live import start_server
from tests.server.test_identity import T0, T1, T2, alias, identify, person, track

USERS = [f"u-{n}" for n in range(4)]
DEVICES_PER_USER = 6
THREADS = 4
BATCHES_PER_THREAD = 8
MAX_ATTEMPTS = 20


def _devices(user: str) -> list[str]:
    return [f"{user}-device-{n}" for n in range(DEVICES_PER_USER)]


def _link_messages(rng: random.Random) -> list[dict]:
    """Return identify, alias and two-id track messages tying devices to users."""
    messages = []
    for user in USERS:
        for device in _devices(user):
            kind = rng.choice(["identify", "alias", "track"])
            if kind == "identify":
                messages.append(identify(user, anonymous_id=device, at=T1))
            elif kind == "alias":
                messages.append(alias(device, user, at=T1))
            else:
                messages.append(track(user, anonymous_id=device, at=T2))
    rng.shuffle(messages)
    for message in messages:
        message["messageId"] = str(uuid.uuid4())
    return messages[: len(messages) // 2]


def _send_until_stored(session, url: str, write_key: str, messages: list[dict]) -> int:
    """Post a batch, retrying 503 answers a bounded number of times."""
    for attempt in range(MAX_ATTEMPTS):
        response = session.post(
            url + "/v1/batch",
            json={"batch": messages},
            auth=(write_key, ""),
            timeout=60,
        )
        if response.status_code != 503:
            return response.status_code
        time.sleep(0.05 * (attempt + 1))
    return 503


def _database_rows(database_url: str, project_id: int, sql: str) -> list[tuple]:
    import psycopg2

    connection = psycopg2.connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, {"project": project_id})
            return cursor.fetchall()
    finally:
        connection.close()


def test_concurrent_merges_leave_one_person_per_user(api, tmp_path):
    if api.server.backend != "postgresql":
        pytest.skip("two processes merging at once is a PostgreSQL case")
    second = start_server(api.server.database_url, "postgresql", tmp_path)
    try:
        # Half the devices browse first, so they are stored persons to merge;
        # the other half are new ids that both servers may create at once.
        api.send(
            [
                track(anonymous_id=device, at=T0)
                for user in USERS
                for device in _devices(user)[::2]
            ]
        )
        statuses = _run_conflicting_batches(api, [api.server.url, second.url])
    finally:
        second.stop()

    assert set(statuses) == {200}
    _check_final_grouping(api)
    _check_no_orphans(api)


def _run_conflicting_batches(api, urls: list[str]) -> list[int]:
    statuses: list[int] = []
    lock = threading.Lock()

    def worker(number: int) -> None:
        rng = random.Random(number)
        import requests

        with requests.Session() as session:
            for batch in range(BATCHES_PER_THREAD):
                url = urls[(number + batch) % len(urls)]
                status = _send_until_stored(
                    session, url, api.project.write_key, _link_messages(rng)
                )
                with lock:
                    statuses.append(status)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    return statuses


def _check_final_grouping(api) -> None:
    # A final pass links every device, so the expected grouping is exact
    # whichever batches won the races.
    api.send(
        [
            identify(user, anonymous_id=d, at=T1)
            for user in USERS
            for d in _devices(user)
        ]
    )
    person_ids = set()
    for user in USERS:
        found = person(api, user)
        person_ids.add(found["id"])
        assert sorted(found["distinct_ids"]) == sorted([user, *_devices(user)])
        assert [m for m in found["merges"] if m["refused"]] == []
    assert len(person_ids) == len(USERS)


def _check_no_orphans(api) -> None:
    url, project_id = api.server.database_url, api.project.id
    persons = _database_rows(
        url, project_id, "SELECT id FROM person WHERE project_id = %(project)s"
    )
    assert len(persons) == len(USERS)
    orphan_ids = _database_rows(
        url,
        project_id,
        "SELECT d.distinct_id FROM person_distinct_id d LEFT JOIN person p "
        "ON p.id = d.person_id WHERE d.project_id = %(project)s AND p.id IS NULL",
    )
    assert orphan_ids == []
    empty_persons = _database_rows(
        url,
        project_id,
        "SELECT p.id FROM person p LEFT JOIN person_distinct_id d ON d.person_id = p.id "
        "WHERE p.project_id = %(project)s AND d.id IS NULL",
    )
    assert empty_persons == []
    moved_memberships = _database_rows(
        url,
        project_id,
        "SELECT m.id FROM group_membership m LEFT JOIN person p ON p.id = m.person_id "
        "WHERE m.project_id = %(project)s AND p.id IS NULL",
    )
    assert moved_memberships == []
