"""Read models of users and things as the event log left them."""

from __future__ import annotations

from typing import Any

from syncline.errors import NotFound
from syncline.storage.interface import Reader


def user(reader: Reader, space: str, user_id: str) -> dict[str, Any]:
    state = reader.user(space, user_id)
    if state is None:
        raise NotFound(f"no user {user_id!r}")
    view = state.view()
    view["first_seen"] = state.first_seen
    view["things"] = [
        {"thing_id": link.thing_id, "since": link.since}
        for link in reader.associations_of_user(space, user_id)
        if link.associated
    ]
    return view


def thing(reader: Reader, space: str, thing_id: str) -> dict[str, Any]:
    state = reader.thing(space, thing_id)
    if state is None:
        raise NotFound(f"no thing {thing_id!r}")
    view = state.view()
    view["first_seen"] = state.first_seen
    owners = []
    for link in reader.associations_of_thing(space, thing_id):
        owner = reader.user(space, link.user_id) if link.associated else None
        if owner is not None and not owner.is_deleted:
            owners.append({"user_id": link.user_id, "since": link.since})
    view["owners"] = owners
    return view
