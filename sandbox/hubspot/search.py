"""CRM v3 search: filter groups, sorts, query text, 200 a page and the 10,000-result cap."""

from __future__ import annotations

from sandbox.hubspot import catalog
from sandbox.hubspot.errors import validation_error
from sandbox.hubspot.objects import ObjectsApi
from sandbox.hubspot.store import NAME, unique_expression
from sandbox.hubspot.values import ms_from_value

SEARCH_PAGE_MAX = 200
SEARCH_RESULTS_CAP = 10_000
MAX_FILTER_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 10, 25
# HubSpot's search answers these beside the properties asked for.
SEARCH_DEFAULTS = {
    "companies": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
    "contacts": ("createdate", "hs_object_id", "lastmodifieddate"),
}


class SearchApi:
    def __init__(self, objects: ObjectsApi) -> None:
        self.objects = objects
        self.store = objects.store

    def _search_expression(self, object_type: str, name: str) -> tuple[str, str]:
        """(SQL expression, comparison kind) for a property in a filter or sort."""
        definition = self.store.definition(object_type, name)
        if definition is None or not NAME.match(name):
            raise validation_error(f"Property '{name}' does not exist on {catalog.SINGULAR[object_type]}", context={"propertyName": [name]})
        if name == "hs_object_id":
            return "id", "number"
        if name == "createdate":
            return "created_ms", "column_time"
        if name in ("hs_lastmodifieddate", "lastmodifieddate"):
            return "updated_ms", "column_time"
        expression = unique_expression(name)
        if definition["type"] == "number":
            return f"CAST(NULLIF({expression}, '') AS REAL)", "number"
        if definition["type"] in ("date", "datetime"):
            return f"hs_ms({expression})", "time"
        return expression, "string"

    @staticmethod
    def _typed(kind: str, value):
        if kind == "number":
            try:
                return float(value)
            except (TypeError, ValueError):
                raise validation_error(f"{value} is not a valid number for this filter") from None
        if kind in ("time", "column_time"):
            ms = ms_from_value(value)
            if ms is None:
                raise validation_error(f"{value} is not a valid date or timestamp for this filter")
            return ms
        return str(value).lower()

    def _filter_sql(self, object_type: str, spec: dict) -> tuple[str, list]:
        operator = spec.get("operator", "EQ")
        expression, kind = self._search_expression(object_type, spec.get("propertyName", ""))
        compared = f"lower({expression})" if kind == "string" else expression
        present = f"({expression} IS NOT NULL AND {expression} != '')"
        comparisons = {"EQ": "=", "LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}
        if operator in comparisons:
            return f"{compared} {comparisons[operator]} ?", [self._typed(kind, spec.get("value"))]
        if operator == "NEQ":
            return f"(NOT {present} OR {compared} != ?)", [self._typed(kind, spec.get("value"))]
        if operator == "BETWEEN":
            return f"{compared} BETWEEN ? AND ?", [self._typed(kind, spec.get("value")), self._typed(kind, spec.get("highValue"))]
        if operator in ("IN", "NOT_IN"):
            values = [self._typed(kind, value) for value in spec.get("values") or []]
            if not values:
                raise validation_error(f"{operator} needs a non-empty 'values' list")
            marks = ",".join("?" * len(values))
            if operator == "IN":
                return f"{compared} IN ({marks})", values
            return f"(NOT {present} OR {compared} NOT IN ({marks}))", values
        if operator == "HAS_PROPERTY":
            return present, []
        if operator == "NOT_HAS_PROPERTY":
            return f"NOT {present}", []
        if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            clause = f"hs_has_token({expression}, ?)"
            return (clause if operator == "CONTAINS_TOKEN" else f"NOT {clause}"), [spec.get("value")]
        raise validation_error(f"Unsupported operator {operator}")

    def search(self, object_type: str, body: dict) -> dict:
        limit = int(body.get("limit") or 10)
        if limit > SEARCH_PAGE_MAX or limit < 0:
            raise validation_error(f"limit must be between 0 and {SEARCH_PAGE_MAX}", context={"limit": [str(limit)]})
        offset = int(body.get("after") or 0)
        if offset >= SEARCH_RESULTS_CAP or offset + limit > SEARCH_RESULTS_CAP:
            raise validation_error(
                f"Cannot page beyond {SEARCH_RESULTS_CAP} results. Narrow the search with filters instead.",
                context={"after": [str(offset)]},
            )
        groups = body.get("filterGroups") or []
        total_filters = sum(len(group.get("filters") or []) for group in groups)
        if len(groups) > MAX_FILTER_GROUPS or total_filters > MAX_FILTERS or any(
            len(group.get("filters") or []) > MAX_FILTERS_PER_GROUP for group in groups
        ):
            raise validation_error(
                f"Too many filters: at most {MAX_FILTER_GROUPS} filterGroups, {MAX_FILTERS_PER_GROUP} filters "
                f"per group and {MAX_FILTERS} filters in total"
            )
        clauses, params = [], []
        for group in groups:
            parts = [self._filter_sql(object_type, spec) for spec in group.get("filters") or []]
            if parts:
                clauses.append("(" + " AND ".join(sql for sql, _ in parts) + ")")
                params.extend(value for _, values in parts for value in values)
        where = " OR ".join(clauses) or "1"
        if body.get("query"):
            searched = [unique_expression(name) for name in catalog.QUERY_SEARCHED[object_type]]
            where = f"({where}) AND (" + " OR ".join(f"lower({expr}) LIKE ?" for expr in searched) + ")"
            params.extend([f"%{str(body['query']).lower()}%"] * len(searched))
        order = "id ASC"
        sorts = body.get("sorts") or []
        if sorts:
            sort = sorts[0]
            if isinstance(sort, str):
                name, descending = sort.lstrip("-"), sort.startswith("-")
            else:
                name, descending = sort.get("propertyName", ""), str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
            expression, _ = self._search_expression(object_type, name)
            order = f"{expression} {'DESC' if descending else 'ASC'}, id ASC"
        asked = body.get("properties") or []
        properties = list(dict.fromkeys([*asked, *SEARCH_DEFAULTS[object_type]])) if asked else []
        total, rows = self.store.search(object_type, where=where, params=params, order=order, offset=offset, limit=limit)
        response = {
            "total": total,
            "results": [self.objects.wire_object(object_type, row, properties=properties) for row in rows],
        }
        if offset + limit < total and rows:
            response["paging"] = {"next": {"after": str(offset + limit), "link": None}}
        return response
