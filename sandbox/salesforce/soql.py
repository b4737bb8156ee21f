"""A SOQL subset: tokenizer, recursive-descent parser, type checks against the schema, and evaluation.

Supported::

    SELECT f1, Parent.Field, FIELDS(ALL|STANDARD|CUSTOM) | COUNT()
    FROM Obj
    [WHERE cond]  -- = != <> < <= > >= [NOT] IN (...) LIKE, AND / OR / NOT, parentheses
    [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]

Literals: 'strings' (with backslash escapes), numbers, true/false/null, dates, unquoted datetimes in
any of Salesforce's spellings, and date literals (TODAY, LAST_N_DAYS:n, ...). Errors are raised as
:class:`SoqlError` carrying the Salesforce error code and message.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .ids import looks_like_id, to18
from .schema import ADDRESS_JSON_KEYS, ADDRESS_PARTS, NUMBER_TYPES, SCHEMA, Field, SObject, find_object
from .values import UTC, now_utc, parse_date, parse_datetime, to_csv, to_json

Record = dict[str, Any]

_NO_COLUMN_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)
_NO_TYPE_HINT = (
    "If you are attempting to use a custom object, be sure to append the '__c' after the entity name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)


class SoqlError(Exception):
    """A query Salesforce would reject; ``code`` is MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE, ..."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# --------------------------------------------------------------------------- tokens

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:\\.|[^'\\])*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),:])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\",
            "%": "\\%", "_": "\\_"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int
    value: Any = None

    def is_kw(self, *words: str) -> bool:
        return self.kind == "ident" and self.text.upper() in words


def _unescape(body: str, query: str, pos: int) -> str:
    out = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            nxt = body[i + 1] if i + 1 < len(body) else ""
            if nxt == "u" and re.match(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            if nxt not in _ESCAPES:
                raise _error(query, pos, "MALFORMED_QUERY", f"Invalid string literal '{body}'. Illegal escape "
                             f"sequence '\\{nxt}'")
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def tokenize(query: str) -> list[Token]:
    """Split a query into tokens; raise MALFORMED_QUERY on characters SOQL does not allow."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(query):
        match = _TOKEN_RE.match(query, pos)
        if not match:
            raise _error(query, pos, "MALFORMED_QUERY", f"unexpected token: '{query[pos]}'")
        kind = match.lastgroup or ""
        text = match.group()
        if kind != "ws":
            value: Any = None
            if kind == "string":
                value = _unescape(text[1:-1], query, pos)
            elif kind == "number":
                value = float(text) if any(c in text for c in ".eE") else int(text)
            elif kind == "datetime":
                value = parse_datetime(text)
                if value is None:
                    raise _error(query, pos, "MALFORMED_QUERY", f"line 1:{pos} no viable alternative at "
                                 f"character '{text}'")
            elif kind == "date":
                value = parse_date(text)
                if value is None:
                    raise _error(query, pos, "MALFORMED_QUERY", f"invalid date: {text}")
            tokens.append(Token(kind, text, pos, value))
        pos = match.end()
    tokens.append(Token("eof", "", len(query)))
    return tokens


def _error(query: str, pos: int, code: str, message: str) -> SoqlError:
    line_start = query.rfind("\n", 0, pos) + 1
    row = query.count("\n", 0, pos) + 1
    col = pos - line_start + 1
    caret = " " * (col - 1) + "^"
    line_end = query.find("\n", pos)
    line = query[line_start : line_end if line_end >= 0 else len(query)]
    return SoqlError(code, f"\n{line}\n{caret}\nERROR at Row:{row}:Column:{col}\n{message}")


# --------------------------------------------------------------------------- AST


@dataclass
class Path:
    """A resolved field path: reference fields to follow, then the final field."""

    steps: list[Field]
    leaf: Field
    names: list[str]

    @property
    def dotted(self) -> str:
        return ".".join(self.names)


@dataclass
class Literal:
    kind: str  # string number date datetime bool null range
    value: Any
    pos: int
    text: str


@dataclass
class Compare:
    path: Path
    op: str
    literal: Literal | list[Literal]
    pos: int


@dataclass
class BoolOp:
    op: str  # AND OR NOT
    args: list[Any]


@dataclass
class OrderItem:
    path: Path
    descending: bool
    nulls_first: bool


@dataclass
class Query:
    """A parsed, schema-checked query."""

    text: str
    obj: SObject
    select: list[Path]
    count_only: bool
    where: Any
    order: list[OrderItem]
    limit: int | None
    offset: int
    today: dt.date = field(default_factory=lambda: _org_today())

    @property
    def columns(self) -> list[str]:
        return [p.dotted for p in self.select]


_DATE_LITERALS = {
    "TODAY", "YESTERDAY", "TOMORROW", "LAST_WEEK", "THIS_WEEK", "NEXT_WEEK", "LAST_MONTH", "THIS_MONTH",
    "NEXT_MONTH", "LAST_90_DAYS", "NEXT_90_DAYS", "THIS_YEAR", "LAST_YEAR", "NEXT_YEAR", "THIS_QUARTER",
    "LAST_QUARTER", "NEXT_QUARTER",
}
_DATE_N_LITERALS = {"LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO", "LAST_N_WEEKS", "NEXT_N_WEEKS", "LAST_N_MONTHS",
                    "NEXT_N_MONTHS", "LAST_N_YEARS", "NEXT_N_YEARS"}
_RESERVED = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT", "OFFSET", "ASC",
             "DESC", "NULLS", "FIRST", "LAST", "GROUP", "HAVING", "WITH", "FOR", "USING", "INCLUDES", "EXCLUDES"}


def _month_start(day: dt.date, shift: int) -> dt.date:
    months = day.year * 12 + day.month - 1 + shift
    return dt.date(months // 12, months % 12 + 1, 1)


def date_literal_range(name: str, n: int | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """The half-open range of days a SOQL date literal covers (the org's time zone is UTC)."""
    one = dt.timedelta(days=1)
    week_start = today - dt.timedelta(days=(today.weekday() + 1) % 7)  # weeks start on Sunday
    quarter_start = dt.date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    fixed = {
        "TODAY": (today, today + one),
        "YESTERDAY": (today - one, today),
        "TOMORROW": (today + one, today + 2 * one),
        "THIS_WEEK": (week_start, week_start + 7 * one),
        "LAST_WEEK": (week_start - 7 * one, week_start),
        "NEXT_WEEK": (week_start + 7 * one, week_start + 14 * one),
        "THIS_MONTH": (_month_start(today, 0), _month_start(today, 1)),
        "LAST_MONTH": (_month_start(today, -1), _month_start(today, 0)),
        "NEXT_MONTH": (_month_start(today, 1), _month_start(today, 2)),
        "LAST_90_DAYS": (today - 90 * one, today + one),
        "NEXT_90_DAYS": (today + one, today + 91 * one),
        "THIS_YEAR": (dt.date(today.year, 1, 1), dt.date(today.year + 1, 1, 1)),
        "LAST_YEAR": (dt.date(today.year - 1, 1, 1), dt.date(today.year, 1, 1)),
        "NEXT_YEAR": (dt.date(today.year + 1, 1, 1), dt.date(today.year + 2, 1, 1)),
        "THIS_QUARTER": (quarter_start, _month_start(quarter_start, 3)),
        "LAST_QUARTER": (_month_start(quarter_start, -3), quarter_start),
        "NEXT_QUARTER": (_month_start(quarter_start, 3), _month_start(quarter_start, 6)),
    }
    if name in fixed:
        return fixed[name]
    assert n is not None
    if name == "LAST_N_DAYS":
        return today - n * one, today + one
    if name == "NEXT_N_DAYS":
        return today + one, today + (n + 1) * one
    if name == "N_DAYS_AGO":
        return today - n * one, today - (n - 1) * one
    if name == "LAST_N_WEEKS":
        return week_start - 7 * n * one, week_start
    if name == "NEXT_N_WEEKS":
        return week_start + 7 * one, week_start + 7 * (n + 1) * one
    if name == "LAST_N_MONTHS":
        return _month_start(today, -n), _month_start(today, 0)
    if name == "NEXT_N_MONTHS":
        return _month_start(today, 1), _month_start(today, n + 1)
    if name == "LAST_N_YEARS":
        return dt.date(today.year - n, 1, 1), dt.date(today.year, 1, 1)
    return dt.date(today.year + 1, 1, 1), dt.date(today.year + n + 1, 1, 1)


# --------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str, today: dt.date | None) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.today = today or _org_today()

    # token helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, tok: Token | None = None, message: str | None = None, code: str = "MALFORMED_QUERY") -> SoqlError:
        tok = tok or self.tok
        if message is None:
            message = "unexpected token: " + (f"'{tok.text}'" if tok.kind != "eof" else "<EOF>")
        return _error(self.text, tok.pos, code, message)

    def expect_kw(self, *words: str) -> Token:
        if not self.tok.is_kw(*words):
            raise self.fail()
        return self.advance()

    def expect_punct(self, char: str) -> Token:
        if self.tok.kind != "punct" or self.tok.text != char:
            raise self.fail()
        return self.advance()

    # grammar
    def parse(self) -> Query:
        self.expect_kw("SELECT")
        raw_select = self.parse_select_list()
        self.expect_kw("FROM")
        obj_tok = self.advance()
        if obj_tok.kind != "ident":
            raise self.fail(obj_tok)
        obj = find_object(obj_tok.text)
        if obj is None:
            raise self.fail(obj_tok, f"sObject type '{obj_tok.text}' is not supported. {_NO_TYPE_HINT}",
                            "INVALID_TYPE")
        # an alias after the object name is allowed: FROM Contact c
        alias = None
        if self.tok.kind == "ident" and self.tok.text.upper() not in _RESERVED:
            alias = self.advance().text
        count_only = False
        select: list[Path] = []
        seen: set[str] = set()
        for kind, tok, arg in raw_select:
            if kind == "count":
                count_only = True
                continue
            if kind == "fields":
                for f in obj.fields.values():
                    wanted = arg == "ALL" or (arg == "CUSTOM") == f.custom
                    if wanted and f.name.lower() not in seen:
                        seen.add(f.name.lower())
                        select.append(Path([], f, [f.name]))
                continue
            path = self.resolve(obj, tok, alias)
            key = path.dotted.lower()
            if key in seen:
                raise self.fail(tok, f"duplicate field selected: {path.dotted}")
            seen.add(key)
            select.append(path)
        if count_only and select:
            raise self.fail(raw_select[0][1], "COUNT() must be the only element in the SELECT list")
        where = None
        if self.tok.is_kw("WHERE"):
            self.advance()
            where = self.parse_condition(obj, alias)
        if self.tok.is_kw("WITH"):
            raise self.fail(message="WITH clauses are not supported by the crm360 sandbox")
        if self.tok.is_kw("GROUP", "HAVING"):
            raise self.fail(message="GROUP BY is not supported by the crm360 sandbox")
        order: list[OrderItem] = []
        if self.tok.is_kw("ORDER"):
            self.advance()
            self.expect_kw("BY")
            while True:
                order.append(self.parse_order_item(obj, alias))
                if self.tok.kind == "punct" and self.tok.text == ",":
                    self.advance()
                    continue
                break
        limit = None
        offset = 0
        if self.tok.is_kw("LIMIT"):
            self.advance()
            limit = self.parse_int()
        if self.tok.is_kw("OFFSET"):
            self.advance()
            offset = self.parse_int()
            if offset > 2000:
                raise self.fail(message="Maximum SOQL offset allowed is 2000", code="NUMBER_OUTSIDE_VALID_RANGE")
        if self.tok.is_kw("FOR"):
            self.advance()
            self.expect_kw("VIEW", "REFERENCE", "UPDATE")
        if self.tok.kind != "eof":
            raise self.fail()
        if any(kind == "fields" and arg != "STANDARD" for kind, _, arg in raw_select) and (
            limit is None or limit > 200
        ):
            raise self.fail(raw_select[0][1], "The SOQL FIELDS function must have a LIMIT of at most 200")
        return Query(self.text, obj, select, count_only, where, order, limit, offset, self.today)

    def parse_int(self) -> int:
        tok = self.advance()
        if tok.kind != "number" or not isinstance(tok.value, int) or tok.value < 0:
            raise self.fail(tok)
        return tok.value

    def parse_select_list(self) -> list[tuple[str, Token, str | None]]:
        items: list[tuple[str, Token, str | None]] = []
        while True:
            tok = self.advance()
            if tok.kind != "ident" or tok.text.upper() in {"FROM"}:
                raise self.fail(tok)
            if self.tok.kind == "punct" and self.tok.text == "(":
                name = tok.text.upper()
                self.advance()
                if name == "COUNT" and self.tok.kind == "punct" and self.tok.text == ")":
                    self.advance()
                    items.append(("count", tok, None))
                elif name == "FIELDS":
                    arg = self.expect_kw("ALL", "STANDARD", "CUSTOM").text.upper()
                    self.expect_punct(")")
                    items.append(("fields", tok, arg))
                elif self.tok.is_kw("SELECT"):
                    raise self.fail(self.tok, "Relationship subqueries are not supported by the crm360 sandbox")
                else:
                    raise self.fail(tok, f"Aggregate function {name}() is not supported by the crm360 sandbox "
                                    "(only COUNT() is)")
            else:
                items.append(("field", tok, None))
            if self.tok.kind == "punct" and self.tok.text == ",":
                self.advance()
                continue
            return items

    def resolve(self, obj: SObject, tok: Token, alias: str | None) -> Path:
        parts = tok.text.split(".")
        head = parts[0].lower()
        names_self = head == obj.name.lower() or (alias is not None and head == alias.lower())
        if len(parts) > 1 and names_self and head not in obj.relationships:
            parts = parts[1:]
        steps: list[Field] = []
        names: list[str] = []
        current: list[SObject] = [obj]
        for part in parts[:-1]:
            rel = next((o.relationships.get(part.lower()) for o in current if part.lower() in o.relationships),
                       None)
            if rel is None:
                raise self.fail(tok, f"Didn't understand relationship '{part}' in field path. If you are "
                                "attempting to use a custom relationship, be sure to append the '__r' after the "
                                "custom relationship name. Please reference your WSDL or the describe call for "
                                "the appropriate names.", "INVALID_FIELD")
            steps.append(rel)
            names.append(rel.relationship_name or part)
            current = [SCHEMA[name] for name in rel.reference_to]
        leaf_name = parts[-1]
        leaf = next((o.field(leaf_name) for o in current if o.field(leaf_name)), None)
        if leaf is None:
            entity = current[0].name if len(current) == 1 else "Name"
            raise self.fail(tok, f"No such column '{leaf_name}' on entity '{entity}'. {_NO_COLUMN_HINT}",
                            "INVALID_FIELD")
        names.append(leaf.name)
        return Path(steps, leaf, names)

    def parse_order_item(self, obj: SObject, alias: str | None) -> OrderItem:
        tok = self.advance()
        if tok.kind != "ident":
            raise self.fail(tok)
        path = self.resolve(obj, tok, alias)
        if path.leaf.type in {"address", "textarea"}:
            raise self.fail(tok, f"field '{path.leaf.name}' can not be sorted in a query call", "INVALID_FIELD")
        descending = False
        if self.tok.is_kw("ASC", "DESC"):
            descending = self.advance().text.upper() == "DESC"
        nulls_first = not descending
        if self.tok.is_kw("NULLS"):
            self.advance()
            nulls_first = self.expect_kw("FIRST", "LAST").text.upper() == "FIRST"
        return OrderItem(path, descending, nulls_first)

    def parse_condition(self, obj: SObject, alias: str | None) -> Any:
        first = self.parse_unary(obj, alias)
        args = [first]
        op: str | None = None
        while self.tok.is_kw("AND", "OR"):
            this = self.advance().text.upper()
            if op is not None and this != op:
                raise self.fail(self.tokens[self.i - 1])
            op = this
            args.append(self.parse_unary(obj, alias))
        return first if op is None else BoolOp(op, args)

    def parse_unary(self, obj: SObject, alias: str | None) -> Any:
        if self.tok.is_kw("NOT"):
            self.advance()
            return BoolOp("NOT", [self.parse_unary(obj, alias)])
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.advance()
            inner = self.parse_condition(obj, alias)
            self.expect_punct(")")
            return inner
        return self.parse_comparison(obj, alias)

    def parse_comparison(self, obj: SObject, alias: str | None) -> Compare:
        tok = self.advance()
        if tok.kind != "ident" or tok.text.upper() in _RESERVED:
            raise self.fail(tok)
        path = self.resolve(obj, tok, alias)
        if not path.leaf.filterable:
            raise self.fail(tok, f"field '{path.leaf.name}' can not be filtered in a query call", "INVALID_FIELD")
        op_tok = self.tok
        if op_tok.kind == "op":
            self.advance()
            op = "!=" if op_tok.text == "<>" else op_tok.text
            literal = self.parse_literal()
            checked = self.check(path, op, literal, tok)
            return Compare(path, op, checked, tok.pos)
        negate = False
        if op_tok.is_kw("NOT"):
            self.advance()
            negate = True
            if not self.tok.is_kw("IN"):
                raise self.fail()
        if self.tok.is_kw("IN"):
            self.advance()
            self.expect_punct("(")
            if self.tok.is_kw("SELECT"):
                raise self.fail(self.tok, "Semi-join subqueries are not supported by the crm360 sandbox")
            values = [self.check(path, "IN", self.parse_literal(), tok)]
            while self.tok.kind == "punct" and self.tok.text == ",":
                self.advance()
                values.append(self.check(path, "IN", self.parse_literal(), tok))
            self.expect_punct(")")
            return Compare(path, "NOT IN" if negate else "IN", values, tok.pos)
        if self.tok.is_kw("LIKE"):
            self.advance()
            literal = self.parse_literal()
            if not path.leaf.is_text or literal.kind != "string":
                raise self.fail(tok, f"invalid operator on {path.leaf.type} field", "INVALID_FIELD")
            return Compare(path, "LIKE", Literal("regex", _like_regex(literal.value), literal.pos, literal.text),
                           tok.pos)
        if self.tok.is_kw("INCLUDES", "EXCLUDES"):
            raise self.fail(self.tok, "INCLUDES/EXCLUDES are not supported by the crm360 sandbox")
        raise self.fail()

    def parse_literal(self) -> Literal:
        tok = self.advance()
        if tok.kind == "string":
            return Literal("string", tok.value, tok.pos, tok.text)
        if tok.kind == "number":
            return Literal("number", tok.value, tok.pos, tok.text)
        if tok.kind == "date":
            return Literal("date", tok.value, tok.pos, tok.text)
        if tok.kind == "datetime":
            return Literal("datetime", tok.value, tok.pos, tok.text)
        if tok.kind == "ident":
            word = tok.text.upper()
            if word in {"TRUE", "FALSE"}:
                return Literal("bool", word == "TRUE", tok.pos, tok.text)
            if word == "NULL":
                return Literal("null", None, tok.pos, tok.text)
            if word in _DATE_LITERALS:
                return Literal("range", date_literal_range(word, None, self.today), tok.pos, tok.text)
            if word in _DATE_N_LITERALS:
                self.expect_punct(":")
                n_tok = self.advance()
                if n_tok.kind != "number" or not isinstance(n_tok.value, int) or n_tok.value < 0:
                    raise self.fail(n_tok)
                return Literal("range", date_literal_range(word, n_tok.value, self.today), tok.pos,
                               f"{tok.text}:{n_tok.text}")
        raise self.fail(tok)

    def check(self, path: Path, op: str, literal: Literal, tok: Token) -> Literal:
        """Check a literal's type against the field's and convert it to the stored representation."""
        f = path.leaf
        kind = literal.kind
        if kind == "null":
            if op not in {"=", "!=", "IN", "NOT IN"}:
                raise self.fail(tok, f"invalid operator on null value for field '{f.name}'", "INVALID_FIELD")
            return literal
        ftype = f.type

        def wrong(expected: str, quoted: bool) -> SoqlError:
            hint = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
            return self.fail(tok, f"value of filter criterion for field '{f.name}' must be of type {expected} "
                             f"and {hint}", "INVALID_FIELD")

        if f.is_text:
            if kind != "string":
                raise wrong("string", True)
            value = literal.value
            if ftype in {"id", "reference"}:
                if not looks_like_id(value):
                    if op in {"=", "!=", "IN", "NOT IN"} and value != "":
                        raise self.fail(tok, f"invalid ID field: {value}", "INVALID_QUERY_FILTER_OPERATOR")
                    return Literal("string", value.casefold(), literal.pos, literal.text)
                return Literal("id", to18(value), literal.pos, literal.text)
            return Literal("string", value.casefold(), literal.pos, literal.text)
        if ftype == "boolean":
            if kind != "bool":
                raise wrong("boolean", False)
            return literal
        if ftype in NUMBER_TYPES:
            if kind != "number":
                raise wrong("double" if ftype != "int" else "int", False)
            return literal
        if ftype == "date":
            if kind == "date":
                return literal
            if kind == "range":
                return literal
            raise wrong("date", False)
        if ftype == "datetime":
            if kind == "datetime":
                return literal
            if kind == "range":
                start, end = literal.value
                as_dt = (dt.datetime(start.year, start.month, start.day, tzinfo=UTC),
                         dt.datetime(end.year, end.month, end.day, tzinfo=UTC))
                return Literal("range", as_dt, literal.pos, literal.text)
            raise wrong("dateTime", False)
        raise self.fail(tok, f"field '{f.name}' can not be filtered in a query call", "INVALID_FIELD")


def _like_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def parse(text: str, today: dt.date | None = None) -> Query:
    """Parse and type-check ``text`` against the sandbox schema. ``today`` anchors date literals."""
    if not text or not text.strip():
        raise SoqlError("MALFORMED_QUERY", "unexpected token: <EOF>")
    return _Parser(text, today).parse()


# --------------------------------------------------------------------------- evaluation


class RecordSource(Protocol):
    """What the evaluator needs from storage."""

    def rows(self, obj: SObject, include_deleted: bool = False) -> Iterable[Record]: ...

    def get(self, rid: str) -> tuple[SObject, Record] | None: ...

    def get_in(self, obj: SObject, rid: str) -> Record | None: ...


def _getter(path: Path, source: RecordSource) -> Callable[[Record], Any]:
    leaf = path.leaf.name
    if path.leaf.type == "address":
        prefix = leaf[: -len("Address")]

        def address(record: Record | None) -> Any:
            if record is None:
                return None
            parts = {ADDRESS_JSON_KEYS[p]: record.get(prefix + p) for p in ADDRESS_PARTS}
            if all(v is None for v in parts.values()):
                return None
            return {"city": parts["city"], "country": parts["country"], "geocodeAccuracy": None, "latitude": None,
                    "longitude": None, "postalCode": parts["postalCode"], "state": parts["state"],
                    "street": parts["street"]}

        base: Callable[[Record | None], Any] = address
    elif path.leaf.type == "boolean":

        def base(record: Record | None) -> Any:
            # checkboxes are never null in Salesforce: a missing value is false
            return None if record is None else bool(record.get(leaf, False))
    else:

        def base(record: Record | None) -> Any:
            return None if record is None else record.get(leaf)

    if not path.steps:
        return base
    steps = [s.name for s in path.steps]

    def follow(record: Record) -> Any:
        current: Record | None = record
        for ref in steps:
            rid = current.get(ref) if current is not None else None
            if rid is None:
                return None
            found = source.get(rid)
            current = found[1] if found is not None and not found[1].get("IsDeleted") else None
            if current is None:
                return None
        return base(current)

    return follow


def _norm(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def compile_predicate(expr: Any, source: RecordSource) -> Callable[[Record], bool]:
    """Turn a WHERE tree into a function of one record."""
    if isinstance(expr, BoolOp):
        parts = [compile_predicate(a, source) for a in expr.args]
        if expr.op == "AND":
            return lambda r: all(p(r) for p in parts)
        if expr.op == "OR":
            return lambda r: any(p(r) for p in parts)
        inner = parts[0]
        return lambda r: not inner(r)
    assert isinstance(expr, Compare)
    get = _getter(expr.path, source)
    is_id = expr.path.leaf.type in {"id", "reference"}
    fold = expr.path.leaf.is_text and not is_id

    def norm(value: Any) -> Any:
        return value.casefold() if fold and value is not None else value

    op = expr.op
    if op in {"IN", "NOT IN"}:
        literals = expr.literal if isinstance(expr.literal, list) else [expr.literal]
        has_null = any(lit.kind == "null" for lit in literals)
        wanted = {lit.value for lit in literals if lit.kind != "null"}
        if op == "IN":
            return lambda r: ((v := get(r)) is None and has_null) or (v is not None and norm(v) in wanted)
        return lambda r: ((v := get(r)) is None and not has_null) or (v is not None and norm(v) not in wanted)
    lit = expr.literal
    assert isinstance(lit, Literal)
    if op == "LIKE":
        regex = lit.value
        return lambda r: (v := get(r)) is not None and regex.fullmatch(v) is not None
    if lit.kind == "null":
        return (lambda r: get(r) is None) if op == "=" else (lambda r: get(r) is not None)
    if lit.kind == "range":
        start, end = lit.value
        range_tests: dict[str, Callable[[Any], bool]] = {
            "=": lambda v: start <= v < end,
            "!=": lambda v: not start <= v < end,
            "<": lambda v: v < start,
            "<=": lambda v: v < end,
            ">": lambda v: v >= end,
            ">=": lambda v: v >= start,
        }
        test = range_tests[op]
        if op == "!=":
            return lambda r: (v := get(r)) is None or test(v)
        return lambda r: (v := get(r)) is not None and test(v)
    want = lit.value
    if is_id and lit.kind != "id":
        # a string that is not an id compared with an id field: compare case-insensitively

        def id_norm(value: Any) -> Any:
            return value.casefold()
    else:
        id_norm = norm
    tests: dict[str, Callable[[Any], bool]] = {
        "=": lambda v: id_norm(v) == want,
        "!=": lambda v: id_norm(v) != want,
        "<": lambda v: id_norm(v) < want,
        "<=": lambda v: id_norm(v) <= want,
        ">": lambda v: id_norm(v) > want,
        ">=": lambda v: id_norm(v) >= want,
    }
    test = tests[op]
    if op == "!=":
        return lambda r: (v := get(r)) is None or test(v)
    return lambda r: (v := get(r)) is not None and test(v)


def _candidates(query: Query, source: RecordSource, include_deleted: bool) -> Iterable[Record] | None:
    """Use the Id or a unique index when a top-level conjunct pins the rows down; None means scan."""
    conjuncts = query.where.args if isinstance(query.where, BoolOp) and query.where.op == "AND" else [query.where]
    for cond in conjuncts:
        if not isinstance(cond, Compare) or cond.path.steps or cond.op not in {"=", "IN"}:
            continue
        literals = cond.literal if isinstance(cond.literal, list) else [cond.literal]
        if any(lit.kind == "null" for lit in literals):
            continue
        leaf = cond.path.leaf
        if leaf.name == "Id":
            out = []
            for lit in literals:
                rec = source.get_in(query.obj, lit.value) if lit.kind == "id" else None
                if rec is not None and (include_deleted or not rec.get("IsDeleted")):
                    out.append(rec)
            return out
        table = getattr(source, "tables", {}).get(query.obj.name)
        if table is not None and not include_deleted and leaf.name in table.unique:
            seen: dict[str, Record] = {}
            for lit in literals:
                for rid in table.lookup_unique(leaf.name, lit.value):
                    seen[rid] = table.records[rid]
            return list(seen.values())
    return None


def execute(query: Query, source: RecordSource, include_deleted: bool = False) -> list[Record]:
    """The matching records, ordered and sliced (COUNT() queries too: count the result)."""
    candidates = _candidates(query, source, include_deleted) if query.where is not None else None
    rows = candidates if candidates is not None else source.rows(query.obj, include_deleted)
    if query.where is not None:
        pred = compile_predicate(query.where, source)
        result = [r for r in rows if pred(r)]
    else:
        result = list(rows)
    for item in reversed(query.order):
        get = _getter(item.path, source)
        keyed = [(get(r), r) for r in result]
        nulls = [r for v, r in keyed if v is None]
        present = [(v, r) for v, r in keyed if v is not None]
        present.sort(key=lambda pair: _norm(pair[0]), reverse=item.descending)
        ordered = [r for _, r in present]
        result = nulls + ordered if item.nulls_first else ordered + nulls
    end = None if query.limit is None else query.offset + query.limit
    return result[query.offset : end]


# --------------------------------------------------------------------------- output


def _select_tree(paths: list[Path]) -> list[tuple[str, Any]]:
    """Group select paths by relationship so parents serialize once: [(key, Path | (Field, subtree))]."""
    tree: list[tuple[str, Any]] = []
    index: dict[str, int] = {}
    for path in paths:
        if not path.steps:
            tree.append((path.leaf.name, path))
            continue
        rel = path.steps[0]
        key = path.names[0]
        sub = Path(path.steps[1:], path.leaf, path.names[1:])
        if key not in index:
            index[key] = len(tree)
            tree.append((key, (rel, [sub])))
        else:
            tree[index[key]][1][1].append(sub)
    return tree


def record_serializer(
    query: Query, source: RecordSource, api_version: str, encode: Callable[[Any], Any] = to_json
) -> Callable[[Record], dict[str, Any]]:
    """A function turning a matched record into the REST JSON shape (attributes + selected fields).

    ``encode`` turns stored values into JSON values (Bulk API 1.0 sends dates as epoch milliseconds).
    """

    def build(tree: list[tuple[str, Any]]) -> Callable[[SObject, Record], dict[str, Any]]:
        compiled: list[tuple[str, Any]] = []
        for key, item in tree:
            if isinstance(item, Path):
                compiled.append((key, _getter(item, source)))
            else:
                rel, subs = item
                compiled.append((key, (rel.name, build(_select_tree(subs)))))

        def render(obj: SObject, record: Record) -> dict[str, Any]:
            out: dict[str, Any] = {
                "attributes": {"type": obj.name,
                               "url": f"/services/data/v{api_version}/sobjects/{obj.name}/{record['Id']}"}
            }
            for key, getter in compiled:
                if callable(getter):
                    out[key] = encode(getter(record))
                else:
                    ref_field, sub_render = getter
                    rid = record.get(ref_field)
                    found = source.get(rid) if rid else None
                    if found is None or found[1].get("IsDeleted"):
                        out[key] = None
                    else:
                        out[key] = sub_render(found[0], found[1])
            return out

        return render

    render = build(_select_tree(query.select))
    return lambda record: render(query.obj, record)


def csv_row_getters(query: Query, source: RecordSource) -> list[Callable[[Record], str]]:
    """One function per selected column giving the Bulk API CSV text of a record's value."""
    getters = [_getter(p, source) for p in query.select]
    return [lambda r, g=g: to_csv(g(r)) for g in getters]


def _org_today() -> dt.date:
    return now_utc().date()
