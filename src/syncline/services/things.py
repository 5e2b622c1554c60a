"""Things as the Profiles API serves them: attributes, device summary, and owners."""

from __future__ import annotations

from typing import Any

from syncline.domain.associations import AssociationState
from syncline.domain.profiles import iso
from syncline.domain.things import ThingState
from syncline.errors import NotFound
from syncline.storage.interface import Reader

_ATTRIBUTES = {"model": "model", "firmware_version": "firmwareVersion", "user_id": "userId"}


def get(reader: Reader, space: str, thing_id: str) -> dict[str, Any]:
    state = reader.thing(space, thing_id)
    if state is None:
        raise NotFound(f"no thing {thing_id!r}")
    return document(state, _owners(reader, space, reader.associations_of_thing(space, thing_id)))


def of_profile(reader: Reader, space: str, profile_id: str) -> list[dict[str, Any]]:
    if reader.profile(space, profile_id) is None:
        raise NotFound(f"no profile {profile_id!r}")
    out = []
    for link in reader.associations_of_user(space, profile_id):
        state = reader.thing(space, link.thing_id) if link.associated else None
        if state is not None:
            doc = document(state, None)
            doc["associatedSince"] = iso(link.since)
            out.append(doc)
    return out


def document(state: ThingState, owners: list[dict[str, Any]] | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": state.thing_id}
    for name, register in sorted(state.fields.items()):
        if register[0] is not None:
            doc[_ATTRIBUTES.get(name, name)] = register[0]
    custom = {k: r[0] for k, r in sorted(state.custom.items()) if r[0] is not None}
    doc["properties"] = custom
    doc["status"] = {
        key: {"value": r[0]["value"], "date": iso(r[0]["date"])}
        for key, r in sorted(state.status.items())
    }
    doc["lastConnectedAt"] = iso(state.last_connected[0]) if state.last_connected else None
    doc["firmwareUpgrade"] = state.firmware_upgrade[0] if state.firmware_upgrade else None
    doc["counters"] = dict(sorted(state.counters.items()))
    if owners is not None:
        doc["owners"] = owners
        doc["owner"] = owners[0]["profileId"] if owners else None
    created = state.created_on[0] if state.created_on is not None else state.first_seen
    doc["_createdOn"] = iso(created)
    return doc


def _owners(reader: Reader, space: str, links: list[AssociationState]) -> list[dict[str, Any]]:
    """Visible profiles linked to the thing, the most recent association first."""
    owners: list[tuple[int, str]] = []
    for link in links:
        if link.associated and reader.profile(space, link.user_id) is not None:
            owners.append((link.since or 0, link.user_id))
    owners.sort(reverse=True)
    return [{"profileId": user_id, "since": iso(since)} for since, user_id in owners]
