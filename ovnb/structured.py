"""Structured output: what ``send(json_schema= | regex= | grammar=)`` constrains an answer to.

openvino_genai (through XGrammar) masks, at every step, each token that would break the
constraint, so an answer made under a JSON schema always parses, even from a random model; only
running out of ``max_new_tokens`` can leave it unfinished. This module turns what a user gives (a
JSON schema as a dict or as JSON text, or a pydantic model class) into a ``Constraint``, refuses a
bad one in one line before any generation, and turns the answer into its value: a dict (or
list...), an instance of the pydantic class, or the text itself for a regex or a grammar.
pydantic is optional: it is imported only when a class is given.

genai's JSON grammar allows any whitespace between JSON's tokens, and a small model takes it:
SmolLM2-135M wrote answers of mostly newlines and tabs, cut at ``max_new_tokens`` before they
closed. So a schema is sent as a regex that allows none (``{"a":1,"b":[2,3]}``), built by
outlines-core from the schema, wherever that regex constrains as much as genai's grammar does; a
schema with parts the regex would loosen (numeric bounds, which genai's grammar enforces, or
free-form values, which the regex nests only so deep) keeps genai's grammar.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ovnb.errors import OvnbError

KINDS = ("json_schema", "regex", "grammar")
EXAMPLE = '{"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}'


@dataclass(frozen=True)
class Constraint:
    """One constraint on an answer: its kind, its text (the schema as JSON), and what to make."""

    kind: str  # one of KINDS
    text: str  # the JSON schema as JSON text, the regex, or the EBNF grammar
    model: Any = None  # the pydantic class whose instance the answer becomes (json_schema only)
    compact: str = ""  # json_schema: the whitespace-free regex sent instead ('' : genai's grammar)

    @property
    def schema(self) -> Any:
        """The JSON schema as a Python value (json_schema only)."""
        return json.loads(self.text) if self.kind == "json_schema" else None

    def config(self) -> Any:
        """The ``openvino_genai.StructuredOutputConfig`` for ``GenerationConfig``."""
        import openvino_genai as ov_genai

        if self.compact:
            return ov_genai.StructuredOutputConfig(regex=self.compact)
        return ov_genai.StructuredOutputConfig(**{self.kind: self.text})

    def value(self, text: str, cut: str | None = None) -> Any:
        """What the answer ``text`` stands for; ``cut`` says why it may have ended early."""
        if self.kind != "json_schema":
            return text
        try:
            data = json.loads(text)
        except ValueError as exc:
            why = f"cut at {cut}" if cut and cut != "stopped" else cut or "unfinished"
            raise OvnbError(f"the answer's JSON is incomplete ({why}: {exc.msg}): raise "
                            "max_new_tokens so that the model can close it") from None
        if self.model is None:
            return data
        try:
            return self.model.model_validate(data)
        except Exception as exc:  # pydantic's ValidationError: a validator the schema cannot say
            raise OvnbError(f"the answer does not validate as {self.model.__name__}: "
                            f"{first_line(exc)}") from None


def constraint(json_schema: Any = None, regex: Any = None, grammar: Any = None
               ) -> Constraint | None:
    """The one constraint given (None when none is), checked; OvnbError names what is wrong."""
    given = {k: v for k, v in zip(KINDS, (json_schema, regex, grammar)) if v is not None}
    if not given:
        return None
    if len(given) > 1:
        raise OvnbError(f"give one of json_schema, regex or grammar, not {' and '.join(given)}")
    kind, value = next(iter(given.items()))
    if kind == "json_schema":
        return schema_constraint(value)
    if not isinstance(value, str):
        raise TypeError(f"{kind} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise OvnbError(f"the {kind} is empty: write one, or leave {kind}= out")
    return Constraint(kind, value)


def schema_constraint(value: Any) -> Constraint:
    """A json_schema constraint from a dict, JSON text or a pydantic model class."""
    model = None
    if is_pydantic_model(value):
        model, value = value, model_schema(value)
    elif isinstance(value, str):
        if not value.strip():
            raise OvnbError(f"the schema is empty: write a JSON schema, e.g. {EXAMPLE}")
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise OvnbError(f"the schema is not JSON ({exc.msg} at line {exc.lineno} column "
                            f"{exc.colno}): write it as JSON, e.g. {EXAMPLE}") from None
    elif not isinstance(value, dict):
        raise TypeError("json_schema must be a dict, JSON text or a pydantic model class, not "
                        f"{type(value).__name__}")
    check_schema(value)
    return Constraint("json_schema", json.dumps(value), model, compact_regex(value))


# keywords genai's JSON grammar enforces and outlines-core's regex would not
_LOOSENED = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
_TYPED = {"type", "enum", "const", "$ref", "anyOf", "oneOf", "allOf"}
MOST_REGEX = 20_000  # characters: beyond, a schema keeps genai's grammar (it compiles faster)


def compact_regex(schema: Any) -> str:
    """A regex for ``schema``'s JSON with no whitespace between tokens, or '' where genai's
    grammar must stay: parts the regex would loosen, or what outlines-core cannot translate."""
    if loosened(schema):
        return ""
    try:
        from outlines_core.json_schema import build_regex_from_schema

        regex = build_regex_from_schema(json.dumps(schema), whitespace_pattern="")
    except (ImportError, ValueError, TypeError, NotImplementedError):
        return ""
    # XGrammar reads bytes: the C1 controls outlines excludes from strings (\x80-\x9F) are
    # clamped with a warning on stderr; JSON allows them, so the class keeps only \x7F
    regex = regex.replace(r"\x7F-\x9F", r"\x7F")
    return regex if len(regex) <= MOST_REGEX else ""


def loosened(schema: Any) -> bool:
    """Whether the compact regex would accept more than genai's grammar: a numeric bound
    somewhere, or a free-form value (no type, an object without properties, an array without
    items)."""
    if schema is True or schema == {}:
        return True
    if not isinstance(schema, dict):
        return False
    keys = set(schema)
    if keys & _LOOSENED or not keys & (_TYPED | {"properties", "items"}):
        return True
    kind, items = schema.get("type"), schema.get("items")
    extra = schema.get("additionalProperties")
    if kind == "object" and "properties" not in schema and not isinstance(extra, dict):
        return True
    if kind == "array" and not isinstance(items, dict):
        return True
    parts = [part for part in (items, extra) if isinstance(part, dict)]
    parts += [part for key in ("anyOf", "oneOf", "allOf", "prefixItems")
              for part in schema.get(key, [])]
    parts += [part for key in ("properties", "$defs", "definitions")
              for part in schema.get(key, {}).values()]
    return any(loosened(part) for part in parts)


def check_schema(schema: Any, what: str = "the schema") -> None:
    """Refuse what is not a valid JSON Schema, in one line naming where it is wrong."""
    from jsonschema import SchemaError, validators

    if not isinstance(schema, (dict, bool)):
        raise OvnbError(f"{what} must be a JSON object, not {type(schema).__name__}: e.g. "
                        f"{EXAMPLE}")
    try:
        validators.validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "its top level"
        raise OvnbError(f"{what} is not valid JSON Schema: {exc.message} (at {where})") from None


def is_pydantic_model(value: Any) -> bool:
    """Whether ``value`` is a pydantic model class (False when pydantic is not installed)."""
    if not isinstance(value, type) or not hasattr(value, "model_json_schema"):
        return False
    try:
        from pydantic import BaseModel
    except ImportError:
        return False
    return issubclass(value, BaseModel)


def model_schema(model: type) -> dict[str, Any]:
    """The JSON schema of a pydantic class, or one line saying why it has none."""
    try:
        return model.model_json_schema()  # type: ignore[attr-defined]
    except Exception as exc:  # PydanticInvalidForJsonSchema, PydanticUserError...
        raise OvnbError(f"{model.__name__} cannot be turned into a JSON schema "
                        f"({first_line(exc)}): give its fields JSON types (str, int, float, bool, "
                        "lists, dicts, nested models)") from None


# XGrammar's messages start with a time and a source location: "[12:36:37] /.../x.cc:898: ..."
_LOCATION = re.compile(r"\S+\.cc:\d+: (?:Check failed: \(.*?\) is false: )?")


def grammar_error(exc: BaseException, what: str) -> OvnbError | None:
    """One line for a constraint XGrammar could not compile (None for any other error)."""
    text = str(exc)
    found = list(_LOCATION.finditer(text))
    if not found or "xgrammar" not in text.lower():
        return None
    reason = text[found[-1].end():].strip().splitlines()[0][:300]
    return OvnbError(f"{what} cannot be used for constrained decoding: {reason}")


def first_line(exc: BaseException) -> str:
    """An exception's message on one line (pydantic's span several)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[:3])[:300] or type(exc).__name__
