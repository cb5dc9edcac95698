"""The SOQL subset the sandbox understands, compiled to SQLite.

    SELECT Id, Name, Account.Name | COUNT()  FROM <sObject>
    [WHERE <condition>]  [ORDER BY <field> [ASC|DESC] [NULLS FIRST|LAST], ...]  [LIMIT n] [OFFSET n]

Conditions: ``= != < <= > >= LIKE IN NOT IN`` against strings, numbers, ``true``/``false``,
``null``, dates, datetimes and the date literals ``TODAY YESTERDAY TOMORROW LAST_N_DAYS:n
NEXT_N_DAYS:n THIS_MONTH``, joined by ``AND``/``OR``/``NOT`` with parentheses. Parent fields go
one level up a reference (``Account.Name``, ``Owner.Email``). As in Salesforce, text comparisons
ignore case, and the org's time zone for date literals is GMT.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from sandbox.salesforce import schema
from sandbox.salesforce.schema import TEXT_TYPES, Field, SObject
from sandbox.salesforce.store import SalesforceError
from sandbox.salesforce.values import BadValue, format_datetime, parse_datetime, to_csv, to_id18, to_wire

TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<datetime>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d))
    | (?P<date>\d{4}-\d\d-\d\d)
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<op>!=|<=|>=|=|<|>|\(|\)|,)
    | (?P<word>[A-Za-z_][A-Za-z0-9_.]*(?::\d+)?)
    )""",
    re.VERBOSE,
)
COMPARISONS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
KEYWORDS = {"select", "from", "where", "and", "or", "not", "order", "by", "limit", "offset", "in", "like",
            "asc", "desc", "nulls", "first", "last"}


def _compares_ignoring_case(field) -> bool:
    """Text compares (and sorts) ignoring case; IDs and external IDs exactly, so their indexes serve."""
    return field.type in TEXT_TYPES and field.type not in ("id", "reference") and not field.unique


@dataclass
class Token:
    kind: str
    text: str
    position: int

    @property
    def lower(self) -> str:
        return self.text.lower()


def _error(soql: str, position: int, code: str, message: str) -> SalesforceError:
    """Salesforce's query error: the query, a caret under the culprit, row and column, then why."""
    column = position + 1
    return SalesforceError(400, code, f"\n{soql}\n{' ' * position}^\nERROR at Row:1:Column:{column}\n{message}")


def tokenize(soql: str) -> list[Token]:
    tokens, position = [], 0
    while position < len(soql):
        if not soql[position:].strip():
            break
        match = TOKEN.match(soql, position)
        if not match or match.end() == position:
            start = position + len(soql[position:]) - len(soql[position:].lstrip())
            raise _error(soql, start, "MALFORMED_QUERY", f"unexpected token: '{soql[start:start + 1]}'")
        kind = match.lastgroup
        start = match.start(kind)
        tokens.append(Token(kind, match.group(kind), start))
        position = match.end()
    return tokens


@dataclass
class Query:
    soql: str
    sobject: SObject
    fields: list[tuple[str, Token]]  # select paths as written
    count_only: bool
    where: tuple | None
    order: list[tuple[str, bool, str | None, Token]]
    limit: int | None
    offset: int


class Parser:
    def __init__(self, soql: str) -> None:
        self.soql = soql.strip()
        self.tokens = tokenize(self.soql)
        self.index = 0

    def peek(self, offset: int = 0) -> Token | None:
        position = self.index + offset
        return self.tokens[position] if position < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise _error(self.soql, len(self.soql), "MALFORMED_QUERY", "unexpected token: <EOF>")
        self.index += 1
        return token

    def unexpected(self, token: Token | None) -> SalesforceError:
        if token is None:
            return _error(self.soql, len(self.soql), "MALFORMED_QUERY", "unexpected token: <EOF>")
        return _error(self.soql, token.position, "MALFORMED_QUERY", f"unexpected token: '{token.text}'")

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "word" and token.lower in words:
            self.index += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise self.unexpected(self.peek())

    def expect_op(self, op: str) -> Token:
        token = self.take()
        if token.kind != "op" or token.text != op:
            raise self.unexpected(token)
        return token

    def field_path(self) -> Token:
        token = self.take()
        if token.kind != "word" or token.lower in KEYWORDS:
            raise self.unexpected(token)
        return token

    def parse(self) -> Query:
        self.expect_keyword("select")
        fields: list[tuple[str, Token]] = []
        count_only = False
        if self.peek() and self.peek().lower == "count" and self.peek(1) and self.peek(1).text == "(":
            self.take(), self.take()
            self.expect_op(")")
            count_only = True
        else:
            while True:
                token = self.field_path()
                fields.append((token.text, token))
                if not (self.peek() and self.peek().text == ","):
                    break
                self.take()
        self.expect_keyword("from")
        object_token = self.field_path()
        sobject = schema.sobject(object_token.text)
        if sobject is None:
            raise _error(
                self.soql, object_token.position, "INVALID_TYPE",
                f"sObject type '{object_token.text}' is not supported. If you are attempting to use a custom object, "
                "be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call "
                "for the appropriate names.",
            )
        where = self.condition() if self.keyword("where") else None
        order = []
        if self.keyword("order"):
            self.expect_keyword("by")
            while True:
                token = self.field_path()
                descending = self.keyword("desc") or (self.keyword("asc") and False)
                nulls = None
                if self.keyword("nulls"):
                    nulls = "FIRST" if self.keyword("first") else "LAST" if self.keyword("last") else None
                    if nulls is None:
                        raise self.unexpected(self.peek())
                order.append((token.text, descending, nulls, token))
                if not (self.peek() and self.peek().text == ","):
                    break
                self.take()
        limit = self.integer() if self.keyword("limit") else None
        offset = self.integer() if self.keyword("offset") else 0
        if self.peek() is not None:
            raise self.unexpected(self.peek())
        return Query(self.soql, sobject, fields, count_only, where, order, limit, offset)

    def integer(self) -> int:
        token = self.take()
        if token.kind != "number" or not token.text.isdigit():
            raise self.unexpected(token)
        return int(token.text)

    def condition(self):
        terms = [self.conjunction()]
        while self.keyword("or"):
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else ("or", terms)

    def conjunction(self):
        terms = [self.negation()]
        while self.keyword("and"):
            terms.append(self.negation())
        return terms[0] if len(terms) == 1 else ("and", terms)

    def negation(self):
        if self.keyword("not"):
            return ("not", self.negation())
        if self.peek() and self.peek().text == "(":
            self.take()
            inner = self.condition()
            self.expect_op(")")
            return inner
        return self.comparison()

    def comparison(self):
        path = self.field_path()
        negated = self.keyword("not")
        if self.keyword("in"):
            self.expect_op("(")
            values = [self.value()]
            while self.peek() and self.peek().text == ",":
                self.take()
                values.append(self.value())
            self.expect_op(")")
            return ("in", path, negated, values)
        if self.keyword("like"):
            return ("like", path, negated, self.value())
        if negated:
            raise self.unexpected(self.peek())
        operator = self.take()
        if operator.kind != "op" or operator.text not in COMPARISONS:
            raise self.unexpected(operator)
        return ("cmp", path, operator.text, self.value())

    def value(self) -> Token:
        token = self.take()
        if token.kind == "op" or (token.kind == "word" and token.lower in KEYWORDS):
            raise self.unexpected(token)
        return token


def date_literal_range(token: Token, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """[start, end) of a date literal, or None when the word is not one."""
    name, _, count = token.text.upper().partition(":")
    day = dt.timedelta(days=1)
    if name == "TODAY":
        return today, today + day
    if name == "YESTERDAY":
        return today - day, today
    if name == "TOMORROW":
        return today + day, today + 2 * day
    if name == "THIS_MONTH":
        start = today.replace(day=1)
        return start, (start + 32 * day).replace(day=1)
    if name == "LAST_N_DAYS" and count:
        return today - int(count) * day, today + day
    if name == "NEXT_N_DAYS" and count:
        return today + day, today + (int(count) + 1) * day
    return None


@dataclass
class Column:
    path: str  # canonical, e.g. "Account.Name"
    field: Field
    sql: str
    relationship: Field | None = None  # the reference field followed, for parent fields


@dataclass
class CompiledQuery:
    query: Query
    include_deleted: bool
    columns: list[Column] = field(default_factory=list)
    joins: dict[str, tuple[str, Field]] = field(default_factory=dict)  # relationship -> (alias, reference field)
    where_sql: str = ""
    params: list = field(default_factory=list)
    order_sql: str = ""

    @property
    def sobject(self) -> SObject:
        return self.query.sobject

    @property
    def keyset(self) -> bool:
        """Pages by ``Id > last`` (no ORDER BY) rather than by OFFSET."""
        return not self.query.order

    def _parent_joins(self) -> str:
        return "".join(
            f' LEFT JOIN "{reference.reference_to}" AS {alias} ON {alias}."Id" = t."{reference.name}"'
            for alias, reference in self.joins.values()
        )

    def _from(self) -> str:
        return f'"{self.sobject.name}" AS t{self._parent_joins()}'

    def _select(self) -> str:
        columns = "".join(f", {column.sql} AS c{i}" for i, column in enumerate(self.columns))
        parent_ids = "".join(f', {alias}."Id" AS "p_{name}"' for name, (alias, _) in self.joins.items())
        return f't."Id" AS _id{columns}{parent_ids}'

    def _where(self, extra: str = "") -> str:
        clauses = [] if self.include_deleted else ['t."IsDeleted" = 0']
        if self.where_sql:
            clauses.append(f"({self.where_sql})")
        if extra:
            clauses.append(extra)
        return f" WHERE {' AND '.join(clauses)}" if clauses else ""

    def count_sql(self) -> tuple[str, list]:
        return f"SELECT COUNT(*) FROM {self._from()}{self._where()}", list(self.params)

    def page_sql(self, *, after_id: str | None, offset: int, size: int) -> tuple[str, list]:
        params = list(self.params)
        extra = ""
        if self.keyset and after_id is not None:
            extra = 't."Id" > ?'
            params.append(after_id)
        order = self.order_sql or 't."Id"'
        sql = f"SELECT {self._select()} FROM {self._from()}{self._where(extra)} ORDER BY {order} LIMIT ?"
        params.append(size)
        if not self.keyset:
            sql += " OFFSET ?"
            params.append(offset)
        return sql, params

    def snapshot_sql(self, job_id: str, start: int, stop: int) -> tuple[str, list]:
        """Rows ``start``..``stop`` of a Bulk API query job's snapshot of record IDs."""
        sql = (f'SELECT {self._select()} FROM bulk_query_rows AS r JOIN "{self.sobject.name}" AS t ON t."Id" = r.record_id'
               f"{self._parent_joins()} WHERE r.job_id = ? AND r.seq >= ? AND r.seq < ? ORDER BY r.seq")
        return sql, [job_id, start, stop]

    def record(self, row, version: str) -> dict:
        record = {"attributes": attributes(self.sobject, row["_id"], version)}
        for i, column in enumerate(self.columns):
            value = to_wire(column.field, row[f"c{i}"])
            if column.relationship is None:
                record[column.field.name] = value
                continue
            name = column.relationship.relationship_name
            parent_id = row[f"p_{name}"]
            if parent_id is None:
                record[name] = None
                continue
            parent = record.setdefault(name, {"attributes": attributes(schema.sobject(column.relationship.reference_to),
                                                                       parent_id, version)})
            parent[column.field.name] = value
        return record

    def csv_header(self) -> list[str]:
        return [column.path for column in self.columns]

    def csv_row(self, row) -> list[str]:
        return [to_csv(column.field, row[f"c{i}"]) for i, column in enumerate(self.columns)]


def attributes(sobject: SObject, record_id: str, version: str) -> dict:
    return {"type": sobject.name, "url": f"/services/data/{version}/sobjects/{sobject.name}/{record_id}"}


class Compiler:
    def __init__(self, query: Query, include_deleted: bool, today: dt.date) -> None:
        self.query = query
        self.today = today
        self.compiled = CompiledQuery(query, include_deleted)

    def no_such_column(self, token: Token, sobject: SObject, name: str) -> SalesforceError:
        return _error(
            self.query.soql, token.position, "INVALID_FIELD",
            f"No such column '{name}' on entity '{sobject.name}'. If you are attempting to use a custom field, be sure "
            "to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the "
            "appropriate names.",
        )

    def resolve(self, token: Token) -> Column:
        sobject = self.query.sobject
        parts = token.text.split(".")
        if len(parts) == 2 and parts[0].lower() == sobject.name.lower():
            parts = parts[1:]  # "Account.Name" on Account is just "Name"
        if len(parts) == 1:
            f = sobject.field(parts[0])
            if f is None:
                raise self.no_such_column(token, sobject, parts[0])
            return Column(f.name, f, f't."{f.name}"')
        if len(parts) != 2:
            raise self.no_such_column(token, sobject, token.text)
        reference = sobject.relationship(parts[0])
        if reference is None:
            raise _error(
                self.query.soql, token.position, "INVALID_FIELD",
                f"Didn't understand relationship '{parts[0]}' in field path. If you are attempting to use a custom "
                "relationship, be sure to append the '__r' after the custom relationship name. Please reference your "
                "WSDL or the describe call for the appropriate names.",
            )
        parent = schema.sobject(reference.reference_to)
        f = parent.field(parts[1])
        if f is None:
            raise self.no_such_column(token, parent, parts[1])
        name = reference.relationship_name
        alias, _ = self.compiled.joins.setdefault(name, (f"p{len(self.compiled.joins)}", reference))
        return Column(f"{name}.{f.name}", f, f'{alias}."{f.name}"', reference)

    def compile(self) -> CompiledQuery:
        query, compiled = self.query, self.compiled
        compiled.columns = [self.resolve(token) for _, token in query.fields]
        if query.where is not None:
            compiled.where_sql = self.condition(query.where)
        order = []
        for _, descending, nulls, token in query.order:
            column = self.resolve(token)
            # The same order as comparisons use (below): IDs sort exactly, as ``Id > x`` compares them,
            # so that paging by ``WHERE Id > last ORDER BY Id`` sees every record once.
            collate = " COLLATE NOCASE" if _compares_ignoring_case(column.field) else ""
            order.append(f"{column.sql}{collate} {'DESC' if descending else 'ASC'}{f' NULLS {nulls}' if nulls else ''}")
        if order:
            order.append('t."Id" ASC')  # a stable order makes OFFSET paging repeatable
        compiled.order_sql = ", ".join(order)
        return compiled

    def condition(self, node) -> str:
        kind = node[0]
        if kind in ("and", "or"):
            return "(" + f" {kind.upper()} ".join(self.condition(term) for term in node[1]) + ")"
        if kind == "not":
            return f"(NOT {self.condition(node[1])})"
        column = self.resolve(node[1])
        text = _compares_ignoring_case(column.field)
        if kind == "in":
            values = [self.literal(column, token) for token in node[3]]
            sql = f"{column.sql}{' COLLATE NOCASE' if text else ''} {'NOT IN' if node[2] else 'IN'} ({', '.join('?' * len(values))})"
            self.compiled.params.extend(values)
            return f"({sql} OR {column.sql} IS NULL)" if node[2] else sql  # like !=, NOT IN matches null
        if kind == "like":
            self.compiled.params.append(self.literal(column, node[3]))
            return f"{'NOT ' if node[2] else ''}{column.sql} LIKE ? ESCAPE '\\'"
        operator, token = node[2], node[3]
        if token.kind == "word" and token.lower == "null":
            if operator not in ("=", "!="):
                raise _error(self.query.soql, token.position, "MALFORMED_QUERY", "unexpected token: 'null'")
            return f"{column.sql} IS {'NOT ' if operator == '!=' else ''}NULL"
        if column.field.type in ("date", "datetime") and token.kind == "word":
            return self.date_range(column, operator, token)
        self.compiled.params.append(self.literal(column, token))
        if operator == "!=":  # SOQL's != also matches null
            return f"({column.sql}{' COLLATE NOCASE' if text else ''} != ? OR {column.sql} IS NULL)"
        return f"{column.sql}{' COLLATE NOCASE' if text else ''} {COMPARISONS[operator]} ?"

    def date_range(self, column: Column, operator: str, token: Token) -> str:
        bounds = date_literal_range(token, self.today)
        if bounds is None:
            raise _error(self.query.soql, token.position, "MALFORMED_QUERY", f"unexpected token: '{token.text}'")
        if column.field.type == "datetime":
            start, end = (format_datetime(dt.datetime.combine(day, dt.time(), dt.timezone.utc)) for day in bounds)
        else:
            start, end = (day.isoformat() for day in bounds)
        sql = column.sql
        templates = {
            "=": (f"({sql} >= ? AND {sql} < ?)", [start, end]),
            "!=": (f"NOT ({sql} >= ? AND {sql} < ?)", [start, end]),
            ">": (f"{sql} >= ?", [end]),
            ">=": (f"{sql} >= ?", [start]),
            "<": (f"{sql} < ?", [start]),
            "<=": (f"{sql} < ?", [end]),
        }
        condition, params = templates[operator]
        self.compiled.params.extend(params)
        return condition

    def literal(self, column: Column, token: Token):
        f, kind = column.field, token.kind
        mismatch = _error(
            self.query.soql, token.position, "INVALID_FIELD",
            f"value of filter criterion for field '{f.name}' must be of type {f.type} and should "
            f"{'' if f.type in TEXT_TYPES else 'not '}be enclosed in quotes",
        )
        if token.kind == "word" and token.lower == "null":
            return None
        if f.type in TEXT_TYPES:
            if kind != "string":
                raise mismatch
            value = re.sub(r"\\(.)", r"\1", token.text[1:-1])
            if f.type in ("id", "reference"):
                return to_id18(value) or value
            return value
        if f.type == "boolean":
            if kind != "word" or token.lower not in ("true", "false"):
                raise mismatch
            return int(token.lower == "true")
        if f.type in ("int", "double", "currency"):
            if kind != "number":
                raise mismatch
            return float(token.text)
        if f.type == "date":
            if kind != "date":
                raise mismatch
            return token.text
        if f.type == "datetime":
            if kind != "datetime":
                raise mismatch
            try:
                return format_datetime(parse_datetime(token.text))
            except (ValueError, BadValue):
                raise mismatch from None
        raise mismatch


def compile_soql(soql: str, *, include_deleted: bool, today: dt.date) -> CompiledQuery:
    if not soql or not soql.strip():
        raise SalesforceError(400, "MALFORMED_QUERY", "A query string has to be specified")
    query = Parser(soql).parse()
    return Compiler(query, include_deleted, today).compile()
