"""CRM v4 associations: create (labelled or default), archive, page, and the batch endpoints."""

from __future__ import annotations

from sandbox.hubspot import catalog
from sandbox.hubspot.errors import API_SOURCE, batch_body, inputs_of, iso_now, not_found, object_type_of, standard_error, validation_error
from sandbox.hubspot.store import HubSpotStore


def check_type_ids(from_type: str, to_type: str, type_ids: list) -> None:
    allowed = {catalog.PRIMARY.get((from_type, to_type)), catalog.UNLABELED.get((from_type, to_type))} - {None}
    bad = [type_id for type_id in type_ids if type_id not in allowed]
    if bad or not type_ids:
        raise validation_error(
            f"association type ids {bad or type_ids} are not valid between {from_type} and {to_type}",
            context={"associationTypeId": [str(type_id) for type_id in bad]},
        )


class AssociationsApi:
    def __init__(self, store: HubSpotStore) -> None:
        self.store = store

    def _pair(self, from_name: str, to_name: str) -> tuple[str, str]:
        from_type, to_type = object_type_of(from_name), object_type_of(to_name)
        if from_type == to_type:
            raise validation_error(f"Associations between {from_type} and {to_type} are not supported by the sandbox")
        return from_type, to_type

    def _existing(self, object_type: str, object_id) -> int:
        obj = self.store.get(object_type, object_id)
        if obj is None:
            raise not_found(f"No {catalog.SINGULAR[object_type]} with ID {object_id} exists")
        return obj["id"]

    def _labels_pair(self, from_type: str, from_id: int, to_type: str, to_id: int, type_ids: list[int]) -> dict:
        return {
            "fromObjectTypeId": catalog.OBJECT_TYPE_IDS[from_type],
            "fromObjectId": from_id,
            "toObjectTypeId": catalog.OBJECT_TYPE_IDS[to_type],
            "toObjectId": to_id,
            "labels": [catalog.TYPE_LABELS[type_id] for type_id in type_ids if catalog.TYPE_LABELS[type_id]],
        }

    def association_create(self, from_name, from_id, to_name, to_id, specs) -> dict:
        from_type, to_type = self._pair(from_name, to_name)
        if not isinstance(specs, list):
            raise validation_error("Body must be a list of association types")
        type_ids = [spec.get("associationTypeId") for spec in specs]
        check_type_ids(from_type, to_type, type_ids)
        from_id, to_id = self._existing(from_type, from_id), self._existing(to_type, to_id)
        all_types = self.store.associate(from_type, from_id, to_type, to_id, type_ids, source=API_SOURCE)
        return self._labels_pair(from_type, from_id, to_type, to_id, all_types)

    def _default_types(self, from_type: str, from_id: int, to_type: str, to_id: int) -> list[int]:
        # The first company a contact is associated with becomes its primary company.
        contact_id = from_id if from_type == "contacts" else to_id
        types = [catalog.UNLABELED[(from_type, to_type)]]
        if not self.store.has_primary_company(contact_id):
            types.append(catalog.PRIMARY[(from_type, to_type)])
        return types

    def _default_results(self, from_type, from_id, to_type, to_id, type_ids) -> list[dict]:
        results = []
        for type_id in type_ids:
            for a_id, b_id, tid in ((from_id, to_id, type_id), (to_id, from_id, catalog.INVERSE_TYPE[type_id])):
                results.append(
                    {
                        "from": {"id": str(a_id)},
                        "to": {"id": str(b_id)},
                        "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": tid},
                    }
                )
        return results

    def association_create_default(self, from_name, from_id, to_name, to_id) -> dict:
        started = iso_now()
        from_type, to_type = self._pair(from_name, to_name)
        from_id, to_id = self._existing(from_type, from_id), self._existing(to_type, to_id)
        type_ids = self._default_types(from_type, from_id, to_type, to_id)
        self.store.associate(from_type, from_id, to_type, to_id, type_ids, source=API_SOURCE)
        return batch_body(self._default_results(from_type, from_id, to_type, to_id, type_ids), [], started)

    def association_archive(self, from_name, from_id, to_name, to_id) -> None:
        from_type, to_type = self._pair(from_name, to_name)
        try:
            self.store.dissociate(from_type, int(from_id), to_type, int(to_id), source=API_SOURCE)
        except ValueError:
            raise validation_error("Object IDs must be numbers") from None

    def _wire_associated(self, to_id: int, type_ids: list[int]) -> dict:
        return {
            "toObjectId": to_id,
            "associationTypes": [
                {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": catalog.TYPE_LABELS[type_id]} for type_id in type_ids
            ],
        }

    def association_page(self, from_name, from_id, to_name, query) -> dict:
        from_type, to_type = self._pair(from_name, to_name)
        from_id = self._existing(from_type, from_id)
        limit = min(int(query.get("limit", 500)), 500)
        rows = self.store.associations_of(from_type, from_id, to_type, after=int(query.get("after") or 0), limit=limit + 1)
        body = {"results": [self._wire_associated(to_id, type_ids) for to_id, type_ids in rows[:limit]]}
        if len(rows) > limit:
            body["paging"] = {"next": {"after": str(rows[limit - 1][0]), "link": None}}
        return body

    def association_batch_create(self, from_name, to_name, body) -> tuple[int, dict]:
        started = iso_now()
        from_type, to_type = self._pair(from_name, to_name)
        results, errors = [], []
        for item in inputs_of(body, limit=2000):
            type_ids = [spec.get("associationTypeId") for spec in item.get("types") or []]
            check_type_ids(from_type, to_type, type_ids)
            from_id, to_id = item.get("from", {}).get("id"), item.get("to", {}).get("id")
            if not (self.store.get(from_type, from_id) and self.store.get(to_type, to_id)):
                errors.append(
                    standard_error(
                        "VALIDATION_ERROR",
                        f"One or more objects do not exist: {catalog.SINGULAR[from_type]} {from_id}, {catalog.SINGULAR[to_type]} {to_id}",
                        {"fromObjectId": [str(from_id)], "toObjectId": [str(to_id)]},
                    )
                )
                continue
            all_types = self.store.associate(from_type, int(from_id), to_type, int(to_id), type_ids, source=API_SOURCE)
            results.append(self._labels_pair(from_type, int(from_id), to_type, int(to_id), all_types))
        return (207 if errors else 201), batch_body(results, errors, started)

    def association_batch_default(self, from_name, to_name, body) -> dict:
        started = iso_now()
        from_type, to_type = self._pair(from_name, to_name)
        results = []
        for item in inputs_of(body, limit=2000):
            from_id = self._existing(from_type, item.get("from", {}).get("id"))
            to_id = self._existing(to_type, item.get("to", {}).get("id"))
            type_ids = self._default_types(from_type, from_id, to_type, to_id)
            self.store.associate(from_type, from_id, to_type, to_id, type_ids, source=API_SOURCE)
            results.extend(self._default_results(from_type, from_id, to_type, to_id, type_ids))
        return batch_body(results, [], started)

    def association_batch_read(self, from_name, to_name, body) -> tuple[int, dict]:
        started = iso_now()
        from_type, to_type = self._pair(from_name, to_name)
        results, missing = [], []
        for item in inputs_of(body, limit=1000):
            object_id = item.get("id")
            rows = self.store.associations_of(from_type, int(object_id), to_type) if str(object_id).isdigit() else []
            if not rows:
                missing.append(str(object_id))
                continue
            results.append({"from": {"id": str(object_id)}, "to": [self._wire_associated(to_id, types) for to_id, types in rows]})
        errors = [
            standard_error(
                "OBJECT_NOT_FOUND",
                f"No {catalog.SINGULAR[to_type]} is associated with {catalog.SINGULAR[from_type]} {object_id}.",
                {"fromObjectId": [object_id]},
            )
            for object_id in missing
        ]
        return (207 if errors else 200), batch_body(results, errors, started)

    def association_batch_archive(self, from_name, to_name, body) -> None:
        from_type, to_type = self._pair(from_name, to_name)
        for item in inputs_of(body, limit=2000):
            for target in item.get("to") or []:
                self.association_archive(from_type, item.get("from", {}).get("id"), to_type, target.get("id"))

    def association_batch_archive_labels(self, from_name, to_name, body) -> None:
        from_type, to_type = self._pair(from_name, to_name)
        for item in inputs_of(body, limit=2000):
            from_id, to_id = int(item["from"]["id"]), int(item["to"]["id"])
            remove = {spec.get("associationTypeId") for spec in item.get("types") or []}
            keep = [type_id for type_id in self.store.association_types(from_type, from_id, to_type, to_id) if type_id not in remove]
            self.store.dissociate(from_type, from_id, to_type, to_id, source=API_SOURCE)
            if keep:
                self.store.associate(from_type, from_id, to_type, to_id, keep, source=API_SOURCE)
