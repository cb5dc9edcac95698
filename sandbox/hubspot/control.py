"""Python client of the HubSpot sandbox's control API (``/__sandbox__/``, bearer control token).

    control = HubSpotControl(details["control_url"], details["control_token"])
    control.reset()                                   # empty state, no faults, stats zeroed
    control.seed(companies=50, contacts=20, owners=3, seed=7, associate=True)
        # ints make deterministic fake records (same seed, same data); lists of property dicts
        # are stored as given; returns {"companies": [ids], "contacts": [ids], "owners": [ids]}
    control.add_fault(kind="error_503", endpoint="/crm/v3/objects/companies/batch/*", count=2)
        # kinds: error_503, rate_limit (429), expired_session (401), slow (delay_seconds),
        # drop_connection; endpoint is an fnmatch pattern on the path; count and/or share (0..1)
    control.clear_faults()
    control.stats()                                   # {"total": n, "by_endpoint": {"POST /crm/...": n}}
    control.reset_stats()
    control.set_rate_limit(max_per_10s=100, search_per_second=4, daily=1_000_000)
    control.set_webhook(target_url="http://127.0.0.1:9000/hooks/hubspot", enabled=True,
                        max_attempts=10, retry_base_seconds=1.0, subscriptions=[...])
    control.webhook_status()                          # settings, queue counts, recent deliveries
    control.wait_for_webhook_delivery(timeout=10)     # blocks until no event is pending
    control.create_record("companies", {"name": "Acme"})         # as a HubSpot user: fires webhooks
    control.update_record("companies", "10000000001", {"industry": "RETAIL"})
    control.delete_record("companies", "10000000001")
    control.get_record("companies", "10000000001")   # wire object + {"associations": {...: [ids]}}
    control.associate(contact_id, company_id, primary=True)
    control.add_owner(email="jo@example.com", first_name="Jo", last_name="Doe")
    control.count("companies")

    control.create_property("companies", {"name": "region", "label": "Region", "type": "enumeration",
                            "fieldType": "select", "groupName": "companyinformation", "options": [...]})
    control.change_property("companies", "region", options=[...], read_only=True, type=..., fieldType=...)
    control.delete_property("companies", "region")        # archived, even a HubSpot-defined one
    control.set_token_scopes([...])                       # the private app's scopes (reset: all of them);
        # a call needing a missing one answers 403 MISSING_SCOPES; GET /oauth/v1/access-tokens/{token} lists them

Changes made through ``create_record``/``update_record`` carry ``changeSource`` "CRM_UI" in their
webhook events and history; changes through the CRM API carry "INTEGRATION".
"""

from __future__ import annotations

from sandbox.control_client import ControlClient, ControlError


class HubSpotControlError(ControlError):
    pass


class HubSpotControl(ControlClient):
    error = HubSpotControlError

    def __init__(self, control_url: str, control_token: str, *, timeout: float = 30) -> None:
        super().__init__(control_url, control_token, timeout=timeout)

    def seed(self, *, companies=0, contacts=0, owners=0, seed: int = 1, associate: bool = False) -> dict:
        return self._call(
            "POST",
            "seed",
            {"companies": companies, "contacts": contacts, "owners": owners, "seed": seed, "associate": associate},
            timeout=max(self.timeout, 600),
        )

    def set_rate_limit(self, max_per_10s: int | None = None, *, search_per_second: int | None = None,
                       daily: int | None = None) -> dict:
        body = {key: value for key, value in
                (("max_per_10s", max_per_10s), ("search_per_second", search_per_second), ("daily", daily))
                if value is not None}
        return self._call("POST", "rate_limit", body)

    def set_webhook(self, *, target_url: str | None = None, enabled: bool | None = None, **options) -> dict:
        body = {key: value for key, value in
                {"target_url": target_url, "enabled": enabled, **options}.items() if value is not None}
        return self._call("POST", "webhook", body)

    def webhook_status(self) -> dict:
        return self._call("GET", "webhook")

    def wait_for_webhook_delivery(self, timeout: float = 10) -> dict:
        result = self._call("POST", "webhook/flush", {"timeout": timeout}, timeout=timeout + 5)
        if not result["done"]:
            raise HubSpotControlError(f"webhook events still pending after {timeout}s: {result}")
        return result

    flush_webhooks = wait_for_webhook_delivery

    def create_record(self, object_type: str, properties: dict) -> dict:
        return self._call("POST", f"records/{object_type}", {"properties": properties})

    def update_record(self, object_type: str, object_id, properties: dict) -> dict:
        return self._call("PATCH", f"records/{object_type}/{object_id}", {"properties": properties})

    def delete_record(self, object_type: str, object_id) -> None:
        self._call("DELETE", f"records/{object_type}/{object_id}")

    def get_record(self, object_type: str, object_id) -> dict:
        return self._call("GET", f"records/{object_type}/{object_id}")

    def associate(self, contact_id, company_id, *, primary: bool = True) -> list[int]:
        body = {"contact_id": contact_id, "company_id": company_id, "primary": primary}
        return self._call("POST", "associate", body)["type_ids"]

    def add_owner(self, *, email: str, first_name: str = "", last_name: str = "") -> dict:
        return self._call("POST", "owners", {"email": email, "firstName": first_name, "lastName": last_name})

    def count(self, object_type: str) -> int:
        return self._call("GET", f"count/{object_type}")["count"]

    def create_property(self, object_type: str, definition: dict) -> dict:
        return self._call("POST", f"properties/{object_type}", definition)

    def change_property(self, object_type: str, name: str, **changes) -> dict:
        return self._call("PATCH", f"properties/{object_type}/{name}", changes)

    def delete_property(self, object_type: str, name: str) -> None:
        self._call("DELETE", f"properties/{object_type}/{name}")

    def set_token_scopes(self, scopes: list[str]) -> list[str]:
        return self._call("POST", "token_scopes", {"scopes": scopes})["scopes"]
