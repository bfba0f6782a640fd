"""Identity resolution: ids to persons."""

from __future__ import annotations

from typing import Any

from pug_server.models import Person, PersonDistinctId, Project


def apply_messages(project: Project, items: list[tuple[int, dict, dict]]) -> list[dict]:
    """Create a person for every id not seen before.

    :param items: ``(index, message, event row)`` for each newly stored message.
    :returns: warnings to report in the batch response.
    """
    ids: dict[str, bool] = {}
    for _, message, _row in items:
        for key, is_user in (("user_id", True), ("anonymous_id", False)):
            value = message.get(key)
            if value:
                ids[value] = ids.get(value, False) or is_user
    if not ids:
        return []
    known = {
        row.distinct_id
        for row in PersonDistinctId.select(PersonDistinctId.distinct_id).where(
            PersonDistinctId.project == project.id,
            PersonDistinctId.distinct_id.in_(list(ids)),
        )
    }
    for distinct_id, is_user in ids.items():
        if distinct_id in known:
            continue
        person = Person.create(project=project.id, identified=is_user)
        PersonDistinctId.create(
            project=project.id, distinct_id=distinct_id, person=person, is_user_id=is_user
        )
    warnings: list[dict[str, Any]] = []
    return warnings
