"""Constraints from what a user gives: schemas (dict, JSON text, pydantic), regexes, grammars.

No model here: what is refused before generating, and how an answer becomes its value. Answers
made under these constraints are tested in tests/sessions/test_chat_structured.py.
"""
from __future__ import annotations

import json
import re
from typing import Any, Literal

import pydantic
import pytest

from ovnb import structured
from ovnb.errors import OvnbError

PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"]}


class Person(pydantic.BaseModel):
    name: str
    age: int = pydantic.Field(ge=0)


class Stop(pydantic.BaseModel):
    name: str
    days: int


class Trip(pydantic.BaseModel):
    title: str
    stops: list[Stop]
    kind: Literal["city", "nature"] = "city"


TRIP = Trip.model_json_schema()


def test_a_dict_json_text_or_pydantic_class_becomes_one_schema_constraint() -> None:
    for given in (PERSON, json.dumps(PERSON)):
        made = structured.constraint(json_schema=given)
        assert made.kind == "json_schema" and made.schema == PERSON and made.model is None
    made = structured.constraint(json_schema=Person)
    assert made.model is Person and made.schema == Person.model_json_schema()
    assert structured.constraint() is None
    assert structured.constraint(regex=r"\d+") == structured.Constraint("regex", r"\d+")


def test_the_config_carries_the_constraint() -> None:
    compact = structured.constraint(json_schema=PERSON)
    assert compact.config().regex == compact.compact and compact.config().json_schema is None
    bounded = structured.constraint(json_schema=Person)  # age >= 0: genai's grammar enforces it
    assert bounded.compact == "" and json.loads(bounded.config().json_schema) == bounded.schema
    assert structured.constraint(grammar='root ::= "a"').config().grammar == 'root ::= "a"'


def test_a_schema_is_sent_as_json_without_whitespace_between_tokens() -> None:
    regex = structured.constraint(json_schema=TRIP).compact
    value = {"title": "A week in Lima", "stops": [{"name": "Miraflores", "days": 2},
                                                  {"name": "Barranco", "days": 1}], "kind": "city"}
    assert re.fullmatch(regex, json.dumps(value, separators=(",", ":")))
    assert not re.fullmatch(regex, json.dumps(value))  # ", " and ": " are refused
    assert not re.fullmatch(regex, json.dumps(value, indent=2))
    inside = {"title": 'café "by the sea"', "stops": []}  # spaces, quotes, non-ASCII in strings
    assert re.fullmatch(regex, json.dumps(inside, separators=(",", ":"), ensure_ascii=False))
    assert not re.fullmatch(regex, '{"title":"x","stops":[],"kind":"sea"}')  # enum kept


@pytest.mark.parametrize("schema", [
    {"type": "integer", "minimum": 1, "maximum": 5},  # bounds: genai's grammar enforces them
    {"type": "object", "properties": {"n": {"type": "number", "exclusiveMaximum": 1}}},
    {"type": "object"},  # free-form values: the regex would nest them only so deep
    {"type": "object", "properties": {"anything": {"description": "no type"}}},
    {"type": "array"},
    {"anyOf": [{"type": "string"}, {"type": "object", "properties": {"a": {"minimum": 0}}}]},
])
def test_schemas_the_regex_would_loosen_keep_genais_grammar(schema: dict[str, Any]) -> None:
    made = structured.constraint(json_schema=schema)
    assert made.compact == "" and json.loads(made.config().json_schema) == schema


def test_answers_become_values() -> None:
    assert structured.constraint(json_schema=PERSON).value('{"name": "Ada", "age": 36}') == \
        {"name": "Ada", "age": 36}
    person = structured.constraint(json_schema=Person).value('{"name": "Ada", "age": 36}')
    assert isinstance(person, Person) and person.age == 36
    assert structured.constraint(regex="a+").value("aaa") == "aaa"


@pytest.mark.parametrize("given, expected", [
    ({"type": "strin"}, "the schema is not valid JSON Schema: 'strin' is not valid under any of "
                        "the given schemas (at type)"),
    ({"properties": []}, "the schema is not valid JSON Schema: [] is not of type 'object' (at "
                         "properties)"),
    ('{"type": ', "the schema is not JSON (Expecting value at line 1 column 10): write it as "
                  "JSON"),
    ("  ", "the schema is empty"),
    ("[1]", "the schema must be a JSON object, not list"),
])
def test_a_bad_schema_is_one_line(given: Any, expected: str) -> None:
    with pytest.raises(OvnbError) as caught:
        structured.constraint(json_schema=given)
    assert str(caught.value).startswith(expected) and "\n" not in str(caught.value)


def test_a_pydantic_class_without_a_json_schema_is_one_line() -> None:
    class Opaque:
        pass

    class Holder(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
        thing: Opaque

    with pytest.raises(OvnbError, match=r"^Holder cannot be turned into a JSON schema \(.*\): "
                                        r"give its fields JSON types") as caught:
        structured.constraint(json_schema=Holder)
    assert "\n" not in str(caught.value)


def test_one_constraint_at_a_time_and_of_the_right_type() -> None:
    with pytest.raises(OvnbError, match="give one of json_schema, regex or grammar, not "
                                        "json_schema and regex"):
        structured.constraint(json_schema=PERSON, regex="a")
    with pytest.raises(TypeError, match="json_schema must be a dict, JSON text or a pydantic"):
        structured.constraint(json_schema=42)
    with pytest.raises(TypeError, match="regex must be a str, not int"):
        structured.constraint(regex=3)
    with pytest.raises(OvnbError, match="the grammar is empty"):
        structured.constraint(grammar="")


def test_an_unfinished_or_invalid_answer_says_why() -> None:
    person = structured.constraint(json_schema=PERSON)
    with pytest.raises(OvnbError, match=r"^the answer's JSON is incomplete \(cut at "
                                        r"max_new_tokens: .*\): raise max_new_tokens"):
        person.value('{"name": "Ad', "max_new_tokens")
    with pytest.raises(OvnbError, match="^the answer does not validate as Person: 1 validation "
                                        "error for Person age"):
        structured.constraint(json_schema=Person).value('{"name": "Ada", "age": -1}')


def test_xgrammar_errors_are_cleaned_to_one_line() -> None:
    raw = RuntimeError("[12:36:37] /build/_deps/xgrammar-src/cpp/json_schema_converter.cc:898: "
                       'Unsupported type "strin"\n')
    error = structured.grammar_error(raw, "the json_schema")
    assert str(error) == ('the json_schema cannot be used for constrained decoding: Unsupported '
                          'type "strin"')
    checked = RuntimeError("[1:2:3] /x/xgrammar-src/cpp/json_schema_converter.cc:1840: Check "
                           "failed: (value.is<int64_t>()) is false: Value must be a number")
    assert str(structured.grammar_error(checked, "it")).endswith(": Value must be a number")
    assert structured.grammar_error(RuntimeError("device lost"), "it") is None
