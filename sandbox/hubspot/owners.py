"""CRM v3 owners: list (by e-mail, paged) and get."""

from __future__ import annotations

import re

from sandbox.hubspot.errors import not_found
from sandbox.hubspot.store import HubSpotStore
from sandbox.hubspot.values import iso_from_ms


class OwnersApi:
    def __init__(self, store: HubSpotStore) -> None:
        self.store = store

    @staticmethod
    def wire_owner(owner: dict) -> dict:
        created = iso_from_ms(owner["created_ms"])
        return {
            "id": str(owner["id"]),
            "email": owner["email"],
            "firstName": owner["first_name"],
            "lastName": owner["last_name"],
            "userId": owner["user_id"],
            "userIdIncludingInactive": owner["user_id"],
            "type": "PERSON",
            "createdAt": created,
            "updatedAt": created,
            "archived": bool(owner["archived"]),
            "teams": [],
        }

    def list_owners(self, query) -> dict:
        limit = min(int(query.get("limit", 100)), 500)
        owners = self.store.owners(
            email=query.get("email"),
            after=int(query.get("after") or 0),
            limit=limit + 1,
            archived=query.get("archived", "false").lower() == "true",
        )
        body = {"results": [self.wire_owner(owner) for owner in owners[:limit]]}
        if len(owners) > limit:
            body["paging"] = {"next": {"after": str(owners[limit - 1]["id"]), "link": None}}
        return body

    def get_owner(self, owner_id: str, query) -> dict:
        owner = self.store.owner(owner_id) if re.fullmatch(r"\d+", owner_id) else None
        if owner is None or (query.get("idProperty", "id") == "id" and str(owner["id"]) != owner_id):
            raise not_found(f"Owner {owner_id} not found")
        return self.wire_owner(owner)
