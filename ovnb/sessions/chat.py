"""Chat with an LLMPipeline: speculative decoding, LoRA per answer, schemas, tools, a retriever.

``ChatSession`` is a conversation (``sessions.conversation``) with tools (``sessions.agent``) on
what LLMPipeline offers: a draft model or prompt lookup, LoRA adapters switched per answer,
answers under a JSON schema, regex or grammar, thinking kept apart, answers grounded on a
retriever's passages.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ovnb import lora, reasoning, speculative, structured
from ovnb import tools as toolkit
from ovnb.families import CHAT
from ovnb.layout import context_length
from ovnb.runtime.jobs import Job
from ovnb.runtime.pipelines import Loaded, load
from ovnb.runtime.streams import TokenStream
from ovnb.runtime.views import post
from ovnb.sessions.adapters import WithAdapters
from ovnb.sessions.agent import ToolChat
from ovnb.sessions.base import check_text
from ovnb.sessions.conversation import Budget, ChatRequest, Message, chat_history
from ovnb.sessions.settings import apply_to

if TYPE_CHECKING:
    from openvino_genai import LLMPipeline


class ChatSession(ToolChat, WithAdapters):
    """A chat with an LLMPipeline: ``ChatSession("tiny-llm").send("Hello") -> str``.

    ``model`` is a catalog id or a prepared folder; ``device`` a name or a DevicePicker (the
    device's own settings apply: on NPU, int4-npu weights and compile limits); ``draft`` a smaller
    model with the same tokenizer (speculative decoding) on ``draft_device``; ``prompt_lookup=True``
    drafts from the prompt instead; ``adapters`` LoRA files (a list, a dict file -> strength, or a
    LoraMixer), registered once at build, strengths per answer (the ``adapters`` trait);
    ``properties`` OpenVINO properties; ``retriever`` a Retriever (or its session): each question
    is then asked with the passages it finds quoted as numbered sources, and the answer's record
    keeps them (``sources``); ``**settings`` generation settings by openvino_genai's names.

    ``send(text, json_schema=...)`` (a JSON schema dict or text, or a pydantic class) answers under
    that schema and returns the parsed value; ``regex=`` or ``grammar=`` (EBNF) constrain the text.
    ``tools`` are Python functions the model may call (``ovnb.tools``; ``tool_choice`` "auto",
    "required" or "none"; ``approve`` True, False, "ask" or a function call -> bool: see
    ``ovnb.sessions.agent``); with a schema too, the tools run first and the final answer follows
    the schema. Thinking models (``<think>`` in their chat template) have their thinking kept
    apart from the answer, in the reply's ``thinking``; ``reasoning`` True or False overrides what
    the template says.
    """

    family = CHAT

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU", draft: Any = None,
                 adapters: Any = None, system_prompt: str = "",
                 properties: dict[str, Any] | None = None, draft_device: Any = None,
                 prompt_lookup: bool = False, tools: Any = None, tool_choice: str = "auto",
                 approve: Any = True, reasoning: bool | None = None, retriever: Any = None,
                 **settings: Any) -> None:
        super().__init__()
        self.retriever = retriever_session(retriever)
        self._apply(settings, type(self).__name__)
        if self.retriever is not None:
            self._adopt(self.retriever.chat_defaults())
        speculative.check_assistant(self.settings(), prompt_lookup)
        self.system_prompt = check_text(system_prompt, "system_prompt")
        self._open(model, device, properties)
        self.plan: speculative.LLMPlan | None = None  # how the pipeline was built, once loaded
        # who drafts for the model: "draft" (a draft model), "prompt lookup", or None
        self.assistant = "draft" if draft is not None else "prompt lookup" if prompt_lookup \
            else None
        self._init_adapters(adapters)
        self._init_tools(tools, tool_choice, approve)
        if reasoning is not None and not isinstance(reasoning, bool):
            raise TypeError(f"reasoning must be True, False or None, not {reasoning!r}")
        self.reasoning = reasoning
        self._thinking: Any = False  # a reasoning.Thinking, or None; False: not read yet
        self._load_in_background(lambda: self._load(model, draft, draft_device, prompt_lookup),
                                 self.model_name)

    def _load(self, model: Any, draft: Any, draft_device: Any, prompt_lookup: bool) -> Loaded[LLMPipeline]:
        # devices first: an absent one is refused before any export starts
        plan = speculative.plan_llm(self.device, self.given_properties, draft, draft_device,
                                    prompt_lookup)
        folder = self._folder(model)
        if draft is not None:
            plan.draft = draft_folder(draft, plan.draft_device)
            speculative.check_pair(folder, plan.draft)
        self.plan = plan
        self.adapter_set.check(folder, CHAT)
        made: dict[Path, Any] = {}

        def options() -> dict[str, Any]:
            # all adapters now, and no prefix caching (it would reuse state of other adapters)
            return {**plan.pipeline_kwargs(), **self._build_adapters(folder, CHAT, made)}

        loaded = load(CHAT, folder, plan.device, plan.properties,
                      (plan.key, self.adapter_set.key()), options)
        lora.attach(loaded, made)
        self._adopt_model(folder)
        return loaded

    def _adopt_model(self, folder: Path) -> None:
        """The model's context bounds max_new_tokens; its own defaults fill unset settings (a
        grounded chat's defaults over them: a model's sampling and penalties lose source facts)."""
        limit = context_length(folder) or 0
        defaults = model_defaults(folder)
        if self.retriever is not None:
            defaults = {**defaults, **self.retriever.chat_defaults()}

        def adopt() -> None:
            self.context_length = limit
            if limit:
                self._narrow("max_new_tokens", 1, limit)
            self._adopt(defaults)

        post(adopt)

    # per answer ----------------------------------------------------------------------------------
    def request(self, text: str, adapters: Any = None, json_schema: Any = None,
                regex: Any = None, grammar: Any = None, tool_choice: str | None = None,
                approve: Any = None, **unknown: Any) -> ChatRequest:
        """``text`` and its options checked into a request: ``adapters`` (file or name ->
        strength, the others off), a constraint (``json_schema``, ``regex`` or ``grammar``),
        ``tool_choice`` and ``approve`` for this question."""
        if unknown:
            raise TypeError(f"send() got an unexpected argument {sorted(unknown)[0]!r}: its "
                            "options are adapters, json_schema, regex, grammar, tool_choice, "
                            "approve")
        text = check_text(text, "the message").strip()
        if tool_choice is not None and not isinstance(tool_choice, str):
            raise TypeError(f"tool_choice must be a str, not {type(tool_choice).__name__}")
        return ChatRequest(
            text, adapters=self.strengths(adapters) if adapters is not None else None,
            constraint=structured.constraint(json_schema, regex, grammar),
            tool_choice=tool_choice or "", approve=self.approve if approve is None
            else self.checked_approve(approve))

    def _checked(self, request: ChatRequest) -> ChatRequest:
        return replace(request, tool_choice=self._resolve_choice(request.tool_choice))

    def _empty(self, options: Mapping[str, Any]) -> Any:
        """A question asked under a JSON schema gives None when it fails, others ''."""
        return None if options.get("json_schema") is not None else ""

    def _config(self, loaded: Loaded[LLMPipeline], budget: int) -> Any:
        config = super()._config(loaded, budget)
        if self.plan is not None:  # exactly one of tokens / threshold, or genai refuses
            apply_to(config, speculative.assistant_settings(self.settings(), self.plan))
        return config

    def _generate(self, loaded: Loaded[LLMPipeline], history: list[Message], stream: TokenStream,
                  request: ChatRequest, offer: str) -> tuple[Any, Budget]:
        specs = None
        history = self._readable(loaded, history)
        if offer != "none":
            history, specs = self._tools_history(loaded, history)
        turn = chat_history(history)
        if specs:
            turn.set_tools(specs)
        budget = self._budget(loaded, turn)
        config = self._constrain(loaded, self._config(loaded, budget[0]), request, offer)
        alphas = request.adapters if request.adapters is not None else self.strengths()
        try:
            result = loaded.pipe.generate(turn, config, stream.streamer(),
                                          **lora.call_kwargs(loaded, alphas))
        except RuntimeError as exc:  # a schema or grammar XGrammar cannot compile: one line
            constraint = request.constraint
            what = (f"the {constraint.kind}" if constraint is not None and offer == "none"
                    else "the tools' argument schemas")
            raise structured.grammar_error(exc, what) or exc from exc
        return result, budget

    def _constrain(self, loaded: Loaded[LLMPipeline], config: Any, request: ChatRequest,
                   offer: str) -> Any:
        """This answer's constraint (the tool-call tags while tools are offered, else the
        schema, regex or grammar) and the parser that keeps a thinking model's thinking apart."""
        constraint = request.constraint if offer == "none" else None
        config.structured_output_config = (constraint.config() if constraint is not None
                                           else self._call_config(offer))
        thinking = self._thinks(loaded)
        opened = thinking is not None and thinking.in_prompt
        if thinking is not None and not (constraint is not None and
                                         (constraint.kind == "json_schema" or opened)):
            config.parsers = [thinking.parser()]  # JSON has no thinking: never split it
        return config

    def _thinks(self, loaded: Loaded[LLMPipeline]) -> reasoning.Thinking | None:
        """How this model thinks (None: it does not), from its template unless ``reasoning``
        says otherwise."""
        if self.reasoning is False:
            return None
        if self._thinking is False:
            self._thinking = reasoning.detect(loaded.pipe.get_tokenizer())
        if self._thinking is None and self.reasoning:
            return reasoning.Thinking()
        return self._thinking  # type: ignore[return-value]

    def _answer(self, result: Any, request: ChatRequest, offer: str) -> Message:
        """The answer, its thinking apart, the tool calls it makes, the format it was made in."""
        text, parts = result.texts[0], {}
        split = reasoning.split(result)
        if split is not None:
            thinking, text = split
            if thinking:
                parts["thinking"] = thinking
        if offer != "none":
            calls = toolkit.parse_calls(text)
            if calls:
                parts["tool_calls"] = calls
        elif request.constraint is not None:
            parts["format"] = request.constraint.kind
        return {"content": text, **parts}

    def _value(self, reply: Message, request: ChatRequest) -> Any:
        constraint = request.constraint
        if constraint is None or reply.get("tool_calls"):
            return reply["content"]
        cut = reply.get("cut") or ("stopped" if reply.get("stopped") else None)
        return constraint.value(reply["content"], cut)

    def _metrics(self, result: Any, request: ChatRequest) -> dict[str, Any]:
        return {**super()._metrics(result, request), **speculative.run_metrics(result)}

    def _ground(self, job: Job[Any], question: Message) -> tuple[Message, Message]:
        """With a retriever: the question quoting the passages found as numbered sources; the
        answer's record keeps the sources. Later turns see the questions as asked."""
        if self.retriever is None:
            return super()._ground(job, question)
        job.on_stop(self.retriever.stop)
        prompt, sources = self.retriever.ground(question["content"])
        return {**question, "content": prompt}, {"sources": sources}

    def answer(self, messages: list[Message], adapters: Any = None,
               on_text: Callable[[str], None] | None = None) -> str:
        """Answer a conversation of its own (not recorded in ``messages``), with this session's
        settings, pipeline and lifecycle (Stop works). ``adapters``: file or name -> strength
        for this answer only. ``on_text(text so far)`` is called on the view thread."""
        messages = check_messages(messages)
        if on_text is not None and not callable(on_text):
            raise TypeError(f"on_text must be a function of the text so far, not "
                            f"{type(on_text).__name__}")
        request = ChatRequest("", adapters=self.strengths(adapters)
                              if adapters is not None else None)

        def work(loaded: Loaded[LLMPipeline], job: Job[str]) -> str:
            stream = self.token_stream(job, loaded.pipe.get_tokenizer(), on_text)
            stream.start()
            try:
                result, _ = self._generate(loaded, [*self._opening(), *messages], stream,
                                           request, "none")
            finally:
                stream.finish()
            return result.texts[0]

        outcome = self.run(work)
        return outcome.value if outcome.ok and outcome.value is not None else ""


def check_messages(messages: Any) -> list[Message]:
    """``messages`` as a list of {role, content} dicts; a TypeError naming what was expected."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, (list, tuple)):
        raise TypeError(f"messages must be a list of {{'role': ..., 'content': ...}} dicts, not "
                        f"{type(messages).__name__}")
    for message in messages:
        if not (isinstance(message, dict) and isinstance(message.get("role"), str)
                and isinstance(message.get("content"), str)):
            raise TypeError(f"each message must be a dict with a str role and content, not "
                            f"{message!r}")
    return list(messages)


def draft_folder(draft: Any, device: str | None) -> Path:
    """The prepared folder of a draft model for ``device`` (checked to be a chat model)."""
    from ovnb import devices
    from ovnb.models import check_folder, prepare

    folder = prepare(draft, devices.precision_for(device or "CPU", CHAT))
    check_folder(folder, CHAT)
    return folder


def retriever_session(retriever: Any) -> Any:
    """The RetrieverSession of a Retriever widget or session (None stays None)."""
    if retriever is None:
        return None
    from ovnb.sessions.retrieval import RetrieverSession

    session = getattr(retriever, "session", retriever)
    if not isinstance(session, RetrieverSession):
        raise TypeError(f"retriever must be an ovnb.Retriever, not {type(retriever).__name__}")
    return session


def model_defaults(folder: Path) -> dict[str, Any]:
    """The model's recommended generation settings (``ovnb.generation``)."""
    from ovnb import generation

    return generation.defaults(folder)
