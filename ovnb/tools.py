"""Tools a chat model can call: Python functions described by JSON schemas, and their calls.

A tool is a plain function with type hints. Its description comes from its signature (names,
defaults), its hints (types, in JSON Schema) and its docstring (the first paragraph says what it
does; an ``Args:`` section or ``:param x:`` lines say what each parameter means), in the
"function" format chat templates read. A model calls a tool by writing

    <tool_call>
    {"name": "add", "arguments": {"a": 2, "b": 3}}
    </tool_call>

(the format of Qwen, Hermes and SmolLM templates). Small models get such calls wrong, so ovnb
lets openvino_genai constrain them with structural tags (``call_config``): once the model writes
``<tool_call>``, only a known tool name and arguments valid under that tool's schema can follow.
A call still runs only after its arguments are checked against the signature, and a tool that
raises becomes one line for the model to read: the conversation goes on.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import enum
import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

from ovnb.errors import OvnbError

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
MAX_RESULT_CHARS = 4000  # a tool's result longer than this is cut before the model reads it
SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
TYPES_HELP = "str, int, float, bool, list[...], dict[str, ...], Literal, Enum or a pydantic model"

Message = dict[str, Any]


@dataclass(frozen=True)
class Tool:
    """A function a model may call, with the JSON schema of its parameters."""

    fn: Callable[..., Any]
    name: str
    description: str
    parameters: dict[str, Any]
    convert: dict[str, Callable[[Any], Any]] = field(default_factory=dict)

    def spec(self) -> dict[str, Any]:
        """The tool as chat templates read it (``ChatHistory.set_tools``)."""
        return {"type": "function", "function": {"name": self.name,
                                                 "description": self.description,
                                                 "parameters": self.parameters}}

    def signature(self) -> str:
        """``add(a: int, b: int = 1)``: how the tool shows in messages."""
        hints = typing.get_type_hints(self.fn)
        parts = []
        for p in inspect.signature(self.fn).parameters.values():
            part = f"{p.name}: {_name(hints[p.name])}"
            if p.default is not p.empty:
                part += f" = {_plain(p.default)!r}"
            parts.append(part)
        return f"{self.name}({', '.join(parts)})"

    def mismatch(self, arguments: Any) -> str | None:
        """Why ``arguments`` do not fit this tool (None when they do)."""
        from jsonschema import Draft202012Validator

        if not isinstance(arguments, dict):
            return f"the arguments must be a JSON object, not {type(arguments).__name__}"
        try:
            inspect.signature(self.fn).bind(**arguments)
        except TypeError as exc:
            return str(exc)
        error = next(iter(Draft202012Validator(self.parameters).iter_errors(arguments)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.path)
            return f"{error.message}{f' ({where})' if where else ''}"
        return None

    def run(self, arguments: Any) -> tuple[str, str]:
        """Call the function: ("ok", its result as text), or ("error", one line for the model)."""
        problem = self.mismatch(arguments)
        if problem is not None:
            return "error", f"error: the arguments do not match {self.signature()}: {problem}"
        try:
            values = {k: self.convert.get(k, _same)(v) for k, v in arguments.items()}
            result = self.fn(**values)
        except Exception as exc:  # the tool's failure is the model's to read, never the kernel's
            return "error", f"error: {self.name} raised {type(exc).__name__}: {_one_line(exc)}"
        return "ok", result_text(result)


def tool(fn: Callable[..., Any] | Tool) -> Tool:
    """``fn`` as a Tool; OvnbError (one line) when it cannot be described to a model."""
    if isinstance(fn, Tool):
        return fn
    if not callable(fn):
        raise TypeError(f"a tool must be a function, not {type(fn).__name__}")
    name = getattr(fn, "__name__", "")
    if not NAME.match(name):
        raise OvnbError(f"a tool needs a name a model can write, not {name or repr(fn)!r}: "
                        "make it a function with def")
    doc = inspect.getdoc(fn) or ""
    described = parameter_docs(doc)
    parameters, convert = parameters_schema(fn, name, described)
    return Tool(fn, name, summary(doc), parameters, convert)


def toolset(tools: Iterable[Callable[..., Any] | Tool] | None) -> dict[str, Tool]:
    """Name -> Tool for ``tools``; two tools with one name are refused."""
    if tools is None:
        return {}
    if callable(tools) or isinstance(tools, (str, bytes)):
        raise TypeError("tools must be a list of functions, e.g. tools=[add]")
    made: dict[str, Tool] = {}
    for fn in tools:
        one = tool(fn)
        if one.name in made:
            raise OvnbError(f"two tools are named {one.name!r}: give each tool its own name "
                            "(rename one of the functions)")
        made[one.name] = one
    return made


# schemas -----------------------------------------------------------------------------------------
def parameters_schema(fn: Callable[..., Any], name: str, described: dict[str, str]
                      ) -> tuple[dict[str, Any], dict[str, Callable[[Any], Any]]]:
    """The JSON schema of ``fn``'s parameters, and converters from JSON to the hinted types."""
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
        parameters = inspect.signature(fn).parameters.values()
    except (NameError, TypeError, ValueError) as exc:
        raise OvnbError(f"the type hints of tool {name} cannot be read ({_one_line(exc)}): "
                        "use types Python can resolve") from None
    properties: dict[str, Any] = {}
    required: list[str] = []
    convert: dict[str, Callable[[Any], Any]] = {}
    for p in parameters:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            shown = {p.VAR_POSITIONAL: f"*{p.name}", p.VAR_KEYWORD: f"**{p.name}"}.get(
                p.kind, f"{p.name} positionally only")
            raise OvnbError(f"tool {name} takes {shown}: a tool takes named parameters only, "
                            f"e.g. def {name}(x: int, y: str)")
        if p.name not in hints:
            raise OvnbError(f"tool {name} has no type hint for {p.name}: annotate every "
                            f"parameter, e.g. def {name}({p.name}: str)")
        schema, converter = type_schema(hints[p.name], f"{name}({p.name})")
        if described.get(p.name) and "description" not in schema:
            schema["description"] = described[p.name]
        if p.default is p.empty:
            required.append(p.name)
        elif _jsonable(_plain(p.default)):
            schema["default"] = _plain(p.default)
        properties[p.name] = schema
        if converter is not None:
            convert[p.name] = converter
    schema = {"type": "object", "properties": properties, "required": required,
              "additionalProperties": False}
    return schema, convert


def type_schema(hint: Any, where: str) -> tuple[dict[str, Any], Callable[[Any], Any] | None]:
    """The JSON schema of a type hint, and how to turn its JSON value into the hinted type."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in SIMPLE:
        return {"type": SIMPLE[hint]}, None
    if hint is Any or hint is object:
        return {}, None
    if origin is Annotated:
        schema, convert = type_schema(args[0], where)
        notes = [a for a in args[1:] if isinstance(a, str)]
        if notes:
            return {**schema, "description": notes[0]}, convert
        return (schema, convert) if len(notes) == len(args) - 1 else _pydantic(hint, where)
    if origin is Literal:
        return {"enum": list(args)}, None
    if origin in (Union, types.UnionType):
        options = [type_schema(a, where) for a in args]
        converters = [c for _, c in options if c is not None]
        return {"anyOf": [s for s, _ in options]}, (converters[0] if len(converters) == 1 else None)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [member.value for member in hint]}, hint
    if hint in (list, tuple, set, frozenset) or origin in (
            list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Set):
        return _array(hint, origin, args, where)
    if hint is dict or origin in (dict, collections.abc.Mapping):
        return _object(args, where)
    return _pydantic(hint, where)


def _array(hint: Any, origin: Any, args: tuple[Any, ...], where: str
           ) -> tuple[dict[str, Any], Callable[[Any], Any] | None]:
    kind = origin or hint
    make = kind if kind in (tuple, set, frozenset) else None
    if kind is tuple and args and args[-1] is not Ellipsis:  # tuple[int, str]: fixed length
        items = [type_schema(a, where)[0] for a in args]
        return {"type": "array", "prefixItems": items, "minItems": len(items),
                "maxItems": len(items)}, tuple
    if not args:
        return {"type": "array"}, make
    item, item_convert = type_schema(args[0], where)
    if item_convert is not None:
        outer = make or list
        return {"type": "array", "items": item}, lambda v: outer(map(item_convert, v))
    return {"type": "array", "items": item}, make


def _object(args: tuple[Any, ...], where: str
            ) -> tuple[dict[str, Any], Callable[[Any], Any] | None]:
    if not args:
        return {"type": "object"}, None
    if args[0] is not str:
        raise OvnbError(f"tool {where}: JSON objects have str keys, not {args[0].__name__}: use "
                        "dict[str, ...]")
    value, convert = type_schema(args[1], where)
    if convert is not None:
        return {"type": "object", "additionalProperties": value}, \
            lambda v: {k: convert(x) for k, x in v.items()}
    return {"type": "object", "additionalProperties": value}, None


def _pydantic(hint: Any, where: str) -> tuple[dict[str, Any], Callable[[Any], Any] | None]:
    """Types only pydantic can describe (models, dataclasses, TypedDicts, constrained fields)."""
    try:
        from pydantic import TypeAdapter
    except ImportError:
        raise OvnbError(f"tool {where}: {_name(hint)} needs pydantic to be described: use "
                        f"{TYPES_HELP}") from None
    try:
        adapter = TypeAdapter(hint)
        schema = adapter.json_schema()
    except Exception as exc:
        raise OvnbError(f"tool {where}: {_name(hint)} has no JSON schema ({_one_line(exc)}): use "
                        f"{TYPES_HELP}") from None
    return schema, adapter.validate_python


# docstrings --------------------------------------------------------------------------------------
_SECTION = re.compile(r"^(Args|Arguments|Parameters|Params|Returns?|Raises|Yields|Examples?|"
                      r"Notes?)\s*:?\s*$")
_PARAMETERS = ("Args", "Arguments", "Parameters", "Params")
_ENTRY = re.compile(r"^(\w+)\s*(?:\(.*?\))?\s*:\s*(.*)$")  # "x (int): what" or "x : int"


def summary(doc: str) -> str:
    """What the tool does: the docstring up to its first section (Args:, :param ...)."""
    lines = []
    for line in doc.splitlines():
        if _SECTION.match(line.strip()) or line.strip().startswith(":"):
            break
        lines.append(line.strip())
    return " ".join(" ".join(lines).split())


def parameter_docs(doc: str) -> dict[str, str]:
    """Parameter name -> its description, from Google (``Args:``), NumPy or Sphinx style."""
    found = {m.group(1): m.group(2).strip() for m in re.finditer(
        r"^\s*:param\s+(?:\w+\s+)?(\w+):\s*(.+)$", doc, re.MULTILINE)}
    section, current, indent_of_entries, numpy = None, None, 0, False
    for line in doc.splitlines():
        stripped, indent = line.strip(), len(line) - len(line.lstrip())
        header = _SECTION.match(stripped)
        if header and indent == 0:
            section, current, numpy = header.group(1), None, False
            continue
        if section not in _PARAMETERS:
            continue
        if stripped and set(stripped) <= {"-"}:  # NumPy: a rule under the header
            numpy = True
            continue
        entry = _ENTRY.match(stripped)
        if entry and (current is None or indent <= indent_of_entries):
            current, indent_of_entries = entry.group(1), indent
            found[current] = "" if numpy else entry.group(2).strip()  # NumPy: "x : int"
        elif current and stripped:
            found[current] = f"{found[current]} {stripped}".strip()
    return {k: v for k, v in found.items() if v}


# talking to the model ----------------------------------------------------------------------------
def instructions(tools: Iterable[Tool]) -> str:
    """How a model whose chat template knows no tools is told about them (a system message)."""
    specs = "\n".join(json.dumps(t.spec(), ensure_ascii=False) for t in tools)
    return ("You can call these tools, described as JSON schemas:\n<tools>\n"
            f"{specs}\n</tools>\n"
            f"To call one, answer with only:\n{CALL_OPEN}\n"
            '{"name": "<the tool\'s name>", "arguments": {<its arguments as JSON>}}\n'
            f"{CALL_CLOSE}\n"
            "The tool's result comes back in the next message; then answer the question.")


def template_knows_tools(tokenizer: Any) -> bool:
    """Whether the model's chat template describes tools itself (``ChatHistory.set_tools``).

    Asked of the template's source: openvino_genai's template engine adds a generic tools prompt
    of its own to templates that ignore tools, so the rendered prompts would always differ.
    """
    try:
        template = tokenizer.chat_template or ""
    except Exception:  # a tokenizer without a template
        return False
    return bool(re.search(r"\btools\b", template))


def call_config(tools: Iterable[Tool], required: bool) -> Any:
    """The structural tags that make every call well formed; ``required``: one call, at once.

    After a call the answer ends (``stop_after_first``): the tool runs, and the model answers
    again with its result.
    """
    import openvino_genai as ov_genai

    soc = ov_genai.StructuredOutputConfig
    tags = [soc.Tag(begin=f'{CALL_OPEN}\n{{"name": "{t.name}", "arguments": ',
                    content=soc.JSONSchema(json.dumps(t.parameters)), end=f"}}\n{CALL_CLOSE}")
            for t in tools]
    return soc(structural_tags_config=soc.TriggeredTags(
        triggers=[CALL_OPEN], tags=tags, at_least_one=required, stop_after_first=True))


def parse_calls(text: str) -> list[dict[str, Any]]:
    """The calls in an answer: ``{"name", "arguments"}`` each, or ``{"error"}`` for a broken one."""
    calls: list[dict[str, Any]] = []
    decoder = json.JSONDecoder()
    start = text.find(CALL_OPEN)
    while start >= 0:
        body = start + len(CALL_OPEN)
        body += len(text[body:]) - len(text[body:].lstrip())
        try:
            call, end = decoder.raw_decode(text, body)
        except ValueError as exc:
            calls.append({"error": f"the call is not JSON ({exc.msg})"})
            break
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            calls.append({"error": 'a call is {"name": ..., "arguments": {...}}'})
        else:
            calls.append({"name": call["name"], "arguments": call.get("arguments", {})})
        start = text.find(CALL_OPEN, end)
    return calls


def result_message(turn: Message) -> Message:
    """A tool turn in words, as a user turn (for chat templates that know no tool turns)."""
    shown = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}"
                      for k, v in (turn.get("arguments") or {}).items())
    return {"role": "user", "content": f"The tool {turn.get('name', '')}({shown}) returned: "
                                       f"{turn['content']}"}


def before_calls(text: str) -> str:
    """The text of an answer before its first call (what the model said, if anything)."""
    return text.split(CALL_OPEN, 1)[0].strip()


def result_text(result: Any) -> str:
    """A tool's result as the model reads it: text as is, anything else as JSON."""
    if hasattr(result, "model_dump"):  # a pydantic model
        result = result.model_dump(mode="json")
    elif dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = dataclasses.asdict(result)
    if isinstance(result, enum.Enum):
        result = result.value
    text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False,
                                                            default=str)
    if len(text) > MAX_RESULT_CHARS:
        text = f"{text[:MAX_RESULT_CHARS]}… (cut: {len(text)} characters)"
    return text


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _plain(value: Any) -> Any:
    """A default as JSON holds it (an Enum member by its value)."""
    return value.value if isinstance(value, enum.Enum) else value


def _same(value: Any) -> Any:
    return value


def _name(hint: Any) -> str:
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return re.sub(r"\b[\w.]+\.(\w+)", r"\1", str(hint))  # typing.Optional[x.Y] -> Optional[Y]


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    line = lines[0] if lines else type(exc).__name__
    if len(line) > 120 and ". " in line:  # pydantic's messages go on with advice of their own
        line = line.split(". ", 1)[0]
    return line[:300]
