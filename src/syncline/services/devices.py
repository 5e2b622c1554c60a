"""profile.devicesUpdated: when the things linked to a profile change, a revision says so.

Checked once per flush (per request), not per event: it needs the user's whole set of links
and the model and firmware of each linked thing, read in bulk. A thing's model or firmware
changing counts for every profile linked to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syncline.domain import profiles
from syncline.domain.ordering import PREEXISTING
from syncline.domain.things import ThingState

if TYPE_CHECKING:
    from syncline.services.apply import Applier


def summary(thing: ThingState | None) -> tuple[Any, Any]:
    if thing is None:
        return (None, None)
    fields = thing.fields
    return (fields.get("model", [None])[0], fields.get("firmware_version", [None])[0])


def refresh(a: Applier) -> None:
    changed_links = [link for link in a.links.values() if link.changed]
    moved = [
        t for t in a.things.values() if t.changed and a.device_basis.get(t.thing_id) != summary(t)
    ]
    for thing in moved:
        a.device_basis[thing.thing_id] = summary(thing)
    users = {link.user_id for link in changed_links}
    if moved:
        users |= a.uow.owners_of_things(a.space, [t.thing_id for t in moved])
    if not users:
        return
    missing = [u for u in users if u not in a.users]
    if missing:
        a.users.update(a.uow.load_users(a.space, missing))
    links = a.uow.links_of_users(a.space, users)
    links.update({k: v for k, v in a.links.items() if k[0] in users})
    linked = {t for (_, t), link in links.items() if link.associated}
    unknown = [t for t in linked if t not in a.things]
    if unknown:
        loaded = a.uow.load_things(a.space, unknown)
        a.things.update(loaded)
        a.device_basis.update((k, summary(v)) for k, v in loaded.items())
    preexisting = {
        link.user_id
        for link in changed_links
        if link.register is not None and link.register[1] == PREEXISTING
    }
    linked_to: dict[str, list[str]] = {}
    for (u, t), link in sorted(links.items()):
        if link.associated:
            linked_to.setdefault(u, []).append(t)
    for user_id in sorted(users):
        user = a.users.get(user_id)
        if user is None:
            continue
        devices = [
            profiles.device(t, *summary(a.things.get(t))) for t in linked_to.get(user_id, ())
        ]
        if devices == (user.profile.devices or []):
            continue
        user.changed = True
        change = profiles.observe_devices(user.profile, devices, a.now)
        if change is not None:
            kind = "preexisting_devices" if user_id in preexisting else "devices"
            a.record(user, change, {"type": kind})
