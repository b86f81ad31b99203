"""Tools from Python functions: schemas from signatures, hints and docstrings; calls; results.

No model here: the sessions' tool loop is tested in tests/sessions/test_chat_structured.py.
"""
from __future__ import annotations

import enum
import json
from typing import Annotated, Literal, Optional

import pydantic
import pytest
from jsonschema import Draft202012Validator

from ovnb import tools
from ovnb.errors import OvnbError


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


def weather(city: str, unit: Unit = Unit.CELSIUS, days: int = 1) -> str:
    """The forecast for a city.

    Args:
        city: the city's name,
            in English
        unit (Unit): the temperature unit
        days: how many days ahead
    """
    return f"{city}: {unit.value}, {days} day(s)"


def numpy_style(a: int, b: list[float], c: Optional[str] = None) -> float:
    """Sum things, NumPy style.

    Parameters
    ----------
    a : int
        The first.
    b : list of float
        The rest.
    """
    return a + sum(b)


def sphinx_style(x: Literal["up", "down"], n: Annotated[int, pydantic.Field(ge=0, le=9)]) -> str:
    """Move.

    :param x: which way
    :param n: how far
    """
    return x * n


def test_a_function_becomes_a_described_tool() -> None:
    tool = tools.tool(weather)
    spec = tool.spec()
    assert spec["type"] == "function" and spec["function"]["name"] == "weather"
    assert spec["function"]["description"] == "The forecast for a city."
    assert tool.parameters == {
        "type": "object", "additionalProperties": False, "required": ["city"],
        "properties": {
            "city": {"type": "string", "description": "the city's name, in English"},
            "unit": {"enum": ["celsius", "fahrenheit"], "description": "the temperature unit",
                     "default": "celsius"},
            "days": {"type": "integer", "description": "how many days ahead", "default": 1}}}
    assert tool.signature() == "weather(city: str, unit: Unit = 'celsius', days: int = 1)"
    Draft202012Validator.check_schema(tool.parameters)


def test_numpy_and_sphinx_docstrings_and_richer_hints() -> None:
    numpy = tools.tool(numpy_style).parameters["properties"]
    assert numpy["a"] == {"type": "integer", "description": "The first."}
    assert numpy["b"] == {"type": "array", "items": {"type": "number"}, "description": "The rest."}
    assert numpy["c"] == {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    sphinx = tools.tool(sphinx_style).parameters["properties"]
    assert sphinx["x"] == {"enum": ["up", "down"], "description": "which way"}
    assert sphinx["n"] == {"type": "integer", "minimum": 0, "maximum": 9,
                           "description": "how far"}


class Point(pydantic.BaseModel):
    x: int
    y: int


def test_a_call_runs_with_arguments_turned_into_the_hinted_types() -> None:
    tool = tools.tool(weather)
    assert tool.run({"city": "Oslo", "unit": "fahrenheit"}) == ("ok", "Oslo: fahrenheit, 1 day(s)")

    def shift(p: Point, by: tuple[int, int]) -> Point:
        """Shift a point."""
        return Point(x=p.x + by[0], y=p.y + by[1])

    status, text = tools.tool(shift).run({"p": {"x": 1, "y": 2}, "by": [10, 20]})
    assert status == "ok" and json.loads(text) == {"x": 11, "y": 22}


@pytest.mark.parametrize("arguments, expected", [
    ({"city": 3}, "3 is not of type 'string' (city)"),
    ({"town": "Oslo"}, "missing a required argument: 'city'"),
    ({"city": "Oslo", "when": "now"}, "got an unexpected keyword argument 'when'"),
    ({"city": "Oslo", "unit": "kelvin"}, "'kelvin' is not one of ['celsius', 'fahrenheit'] (unit)"),
    ([1], "the arguments must be a JSON object, not list"),
])
def test_arguments_that_do_not_match_are_one_line_for_the_model(arguments: object,
                                                                  expected: str) -> None:
    status, text = tools.tool(weather).run(arguments)
    assert status == "error" and "\n" not in text
    assert text.startswith("error: the arguments do not match weather(city: str") and expected in text


def test_a_tool_that_raises_is_one_line_for_the_model() -> None:
    def divide(a: int, b: int) -> float:
        """Divide a by b."""
        return a / b

    assert tools.tool(divide).run({"a": 1, "b": 0}) == (
        "error", "error: divide raised ZeroDivisionError: division by zero")


@pytest.mark.parametrize("make, expected", [
    (lambda: tools.tool(lambda x: x), "a tool needs a name a model can write, not '<lambda>'"),
    (lambda: tools.tool(untyped), "tool untyped has no type hint for b: annotate every parameter, "
                                  "e.g. def untyped(b: str)"),
    (lambda: tools.tool(starred), "tool starred takes *names: a tool takes named parameters only"),
    (lambda: tools.tool(opaque), "tool opaque(thing): Opaque has no JSON schema"),
    (lambda: tools.tool(int_keys), "tool int_keys(d): JSON objects have str keys, not int"),
    (lambda: tools.toolset([weather, weather]), "two tools are named 'weather': give each tool "
                                                "its own name"),
])
def test_tools_that_cannot_be_described_are_refused_in_one_line(make, expected: str) -> None:
    with pytest.raises(OvnbError) as caught:
        make()
    assert str(caught.value).startswith(expected) and "\n" not in str(caught.value)


def untyped(a: int, b) -> int:  # noqa: ANN001 (the point of the test)
    return a


def starred(*names: str) -> str:
    return ""


class Opaque:
    pass


def opaque(thing: Opaque) -> None:
    pass


def int_keys(d: dict[int, str]) -> None:
    pass


def test_toolset_takes_functions_and_tools_and_refuses_other_things() -> None:
    made = tools.toolset([weather, tools.tool(numpy_style)])
    assert list(made) == ["weather", "numpy_style"] and tools.toolset(None) == {}
    with pytest.raises(TypeError, match="tools must be a list of functions"):
        tools.toolset(weather)
    with pytest.raises(TypeError, match="a tool must be a function, not str"):
        tools.toolset(["weather"])


def test_calls_are_parsed_from_the_answer() -> None:
    text = ('Let me see. <tool_call>\n{"name": "weather", "arguments": {"city": "Oslo"}}\n'
            '</tool_call>\n<tool_call>\n{"name": "x"')
    assert tools.parse_calls(text) == [
        {"name": "weather", "arguments": {"city": "Oslo"}},
        {"error": "the call is not JSON (Expecting ',' delimiter)"}]
    assert tools.parse_calls("no calls") == [] and tools.before_calls(text) == "Let me see."
    assert tools.parse_calls('<tool_call>["weather"]</tool_call>') == [
        {"error": 'a call is {"name": ..., "arguments": {...}}'}]


def test_results_are_text_for_the_model() -> None:
    assert tools.result_text("sunny") == "sunny" and tools.result_text(None) == "null"
    assert tools.result_text({"t": 21.5, "unit": Unit.CELSIUS}) == \
        '{"t": 21.5, "unit": "Unit.CELSIUS"}'
    long = tools.result_text("x" * 5000)
    assert long.startswith("x" * tools.MAX_RESULT_CHARS) and long.endswith("(cut: 5000 characters)")
    assert tools.result_message({"role": "tool", "name": "add", "arguments": {"a": 1, "b": 2},
                                 "content": "3"}) == {
        "role": "user", "content": "The tool add(a=1, b=2) returned: 3"}


def test_instructions_and_call_tags_name_every_tool() -> None:
    both = [tools.tool(weather), tools.tool(numpy_style)]
    text = tools.instructions(both)
    assert text.count('"type": "function"') == 2 and tools.CALL_OPEN in text
    config = tools.call_config(both, required=True)
    assert config.structural_tags_config is not None


def test_a_template_that_knows_tools_is_recognized_by_its_source() -> None:
    class Tokenizer:
        def __init__(self, template: str) -> None:
            self.chat_template = template

    assert tools.template_knows_tools(Tokenizer("{% if tools %}{{ tools | tojson }}{% endif %}"))
    assert not tools.template_knows_tools(Tokenizer("{% for m in messages %}{% endfor %}"))
