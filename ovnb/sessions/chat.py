"""Chat sessions: a conversation with an LLMPipeline, streamed, stoppable, with its metrics.

``ConversationSession`` is the part Chat and VisionChat share: the history (``messages``), the
answer being streamed (``live``), undo and clear, and a context check before each turn.
``ChatSession`` adds what LLMPipeline offers: speculative decoding (a draft model or prompt
lookup), LoRA adapters switched per answer, the device's own settings.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import traitlets
from traitlets import Bool, Dict, Float, Int, List, Unicode

from ovnb import lora, reasoning, speculative, structured
from ovnb import tools as toolkit
from ovnb.devices import precision_for
from ovnb.errors import OvnbError
from ovnb.runtime import Loaded, Outcome, TokenStream, check_context, construct, load, post
from ovnb.sessions.adapters import WithAdapters
from ovnb.sessions.agent import WithTools
from ovnb.sessions.base import Session, check_text
from ovnb.sessions.folders import model_folder
from ovnb.sessions.settings import Settings, apply_to, setting

Message = dict[str, Any]
# what send() takes besides the text (ChatSession)
REQUEST_KEYS = {"adapters", *structured.KINDS, "tool_choice", "approve"}
# message keys that go to the model (the rest, like "cut" or "image", are ovnb's notes)
MODEL_KEYS = ("role", "content")
ASSISTANT = ("num_assistant_tokens", "assistant_confidence_threshold", "max_ngram_size")


class AssistantSettings(Settings):
    """How an assistant drafts (speculative decoding, prompt lookup): one of tokens or threshold."""

    num_assistant_tokens = setting(Int(0, help="speculative: tokens drafted per step (0: genai's "
                                       "choice)"), "assistant tokens", 0, 64, control=False)
    assistant_confidence_threshold = setting(
        Float(0.0, help="speculative: draft while this confident (0: off)"), "confidence", 0.0,
        1.0, control=False)
    max_ngram_size = setting(Int(0, help="prompt lookup: the longest n-gram searched (0: 3)"),
                             "max n-gram size", 0, 16, control=False)

    @traitlets.validate(*[n for n in locals() if not n.startswith("_")])  # every setting above
    def _check(self, proposal: Any) -> Any:
        return self.check_setting(proposal)


class LLMSettings(AssistantSettings):
    """Generation settings of chat models, by openvino_genai's GenerationConfig names."""

    max_new_tokens = setting(Int(256, help="the longest answer, in tokens"),
                             "max new tokens", 1, None)
    do_sample = setting(Bool(False, help="sample (True) or take the likeliest token (greedy)"),
                        "sample (off: greedy)")
    temperature = setting(Float(0.7, help="sampling temperature: higher is more random"),
                          "temperature", 0.05, 2.0, 0.05)
    top_p = setting(Float(0.9, help="sample from the likeliest tokens that make up this mass"),
                    "top-p", 0.05, 1.0, 0.05)
    repetition_penalty = setting(Float(1.1, help="above 1, tokens already used get less likely"),
                                 "repetition penalty", 1.0, 2.0, 0.05)
    min_new_tokens = setting(Int(0, help="the shortest answer, in tokens"), "min new tokens", 0,
                             None, control=False)
    top_k = setting(Int(None, allow_none=True, help="sample from this many tokens (None: all)"),
                    "top-k", 1, None, control=False)
    presence_penalty = setting(Float(0.0, help="subtracted from every token used before"),
                               "presence penalty", -2.0, 2.0, control=False)
    frequency_penalty = setting(Float(0.0, help="subtracted per earlier use of a token"),
                                "frequency penalty", -2.0, 2.0, control=False)
    no_repeat_ngram_size = setting(Int(None, allow_none=True, help="never repeat an n-gram this "
                                       "long (None: off)"), "no-repeat n-gram", 1, None,
                                   control=False)
    rng_seed = setting(Int(None, allow_none=True, help="seed for sampling (None: genai's)"),
                       "seed", 0, None, control=False)
    stop_strings = setting(List(Unicode(), help="the answer ends at any of these"),
                           "stop strings", control=False)
    ignore_eos = setting(Bool(False, help="go on past the end-of-text token"), "ignore EOS",
                         control=False)
    @traitlets.validate(*[n for n in locals() if not n.startswith("_")])  # every setting above
    def _check_llm(self, proposal: Any) -> Any:
        return self.check_setting(proposal)


class ChatState(traitlets.HasTraits):
    """What a conversation shows: its turns, the answer streaming in, its metrics."""

    messages = List(Dict(), help="the turns so far: {role, content} plus ovnb's notes (cut, ...)")
    live = Unicode("", help="the answer being generated, as far as it got ('' between answers)")
    metrics = Dict(help="the last answer's figures: ttft_ms, tokens_per_s, tokens, ...")
    system_prompt = Unicode("", help="the system message that opens each conversation")
    context_length = Int(0, help="the model's context in tokens (0 until loaded or unknown)")


class ConversationSession(Session, ChatState, LLMSettings):
    """A history of turns with a model, one streamed answer at a time."""

    def __init__(self) -> None:
        super().__init__()
        self._stream: TokenStream | None = None

    # actions ------------------------------------------------------------------------------------
    def send(self, text: str, **request: Any) -> Any:
        """Ask ``text``; blocks until answered. The answer, or '' on error (``last_error`` says why)."""
        job = self.submit(text, queue=True, **request)
        outcome = self.call(job) if job is not None else Outcome(error=self.last_error)
        return outcome.value if outcome.ok else self._empty(request)

    def submit(self, text: str, queue: bool = False, **request: Any) -> Any:
        """Start answering ``text`` without waiting (the Send button); None when refused."""
        text = check_text(text, "the message").strip()
        if not text:
            self.refuse("empty prompt: type a question first")
            return None
        try:
            self._check_request(request)
        except OvnbError as exc:  # a bad schema, tool choice...: one line, nothing changed
            self.refuse(str(exc))
            return None

        def work(loaded: Loaded) -> str:
            return self._turn(loaded, text, request)

        def done(outcome: Outcome) -> None:
            self._stream = None
            self.publish(live="")

        return self.start(work, done, queue=queue)

    def undo(self) -> None:
        """Drop the last exchange (question and answer); refused while an answer runs."""
        if self.running:
            return
        kept = list(self.messages)
        while kept and kept.pop()["role"] != "user":
            pass
        self._forget(len(self.messages) - len(kept))
        self.publish_now(messages=kept)

    def clear(self) -> None:
        """Start a new conversation; refused while an answer runs."""
        if not self.running:
            self._forget(len(self.messages))
            self.publish_now(messages=[], metrics={})

    def _on_stop(self) -> None:
        if self._stream is not None:
            self._stream.stopped = True

    # one turn ------------------------------------------------------------------------------------
    def _check_request(self, request: dict[str, Any]) -> None:
        """Refuse per-request options this session does not take (subclasses take some)."""
        if request:
            raise TypeError(f"send() got an unexpected argument {next(iter(request))!r}")

    def _empty(self, request: dict[str, Any]) -> Any:
        """What ``send`` returns when it fails."""
        return ""

    def _turn(self, loaded: Loaded, text: str, request: dict[str, Any]) -> Any:
        """On the worker, under the pipeline's lock: one question and its answer."""
        question = {"role": "user", "content": text, **self._question_notes(request)}
        return self._exchange(loaded, list(self.messages), question, request)

    def _exchange(self, loaded: Loaded, earlier: list[Message], question: Message,
                  request: dict[str, Any]) -> Any:
        """Answer ``question`` after the ``earlier`` turns: publish the new turns, return the
        answer's value (subclasses answer in several steps: tool calls)."""
        asked, grounds = self._ground(question)  # what the model reads; notes for the reply
        reply, result, flushes = self._reply(loaded, [*self._opening(), *earlier, asked], request)
        reply = {**reply, **grounds}
        self.publish(messages=[*earlier, question, reply],
                     metrics={**self._metrics(result, request), "view_updates": flushes})
        return self._value(reply, request)

    def _reply(self, loaded: Loaded, history: list[Message], request: dict[str, Any]
               ) -> tuple[Message, Any, int]:
        """One answer to ``history``, streamed: its message (text and notes), the result, and how
        many view updates streaming it took."""
        tokenizer = loaded.pipe.get_tokenizer()
        stream = TokenStream(lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
                             self._show_live)
        self._stream = stream
        if self.stopping:  # Stop came while the run waited for its turn
            stream.stopped = True
        stream.start()
        try:
            result, budget = self._generate(loaded, history, stream, request)
        finally:
            stream.finish()
        reply = {"role": "assistant", **self._answer(result, request),
                 **self._notes(result, budget, stream.stopped)}
        return reply, result, stream.flushes

    def _answer(self, result: Any, request: dict[str, Any]) -> Message:
        """The answer's content (subclasses add what it carries besides: thinking, calls)."""
        return {"content": result.texts[0]}

    def _value(self, reply: Message, request: dict[str, Any]) -> Any:
        """What ``send`` returns for the final reply (subclasses: the parsed structure)."""
        return reply["content"]

    def _show_live(self, text: str) -> None:
        self.live = text  # on the view thread: the stream decodes there

    def _opening(self) -> list[Message]:
        system = self.system_prompt.strip()
        return [{"role": "system", "content": system}] if system else []

    def _question_notes(self, request: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _ground(self, question: Message) -> tuple[Message, Message]:
        """(the question as the model reads it, notes for the answer's record): the question as
        asked and no notes, unless a subclass grounds answers (on a retriever's sources)."""
        return question, {}

    def _forget(self, count: int) -> None:
        """Subclasses holding state per turn (a VLM's ChatHistory) drop the last ``count`` turns."""

    def _budget(self, loaded: Loaded, history: Any) -> tuple[int, str | None]:
        """max_new_tokens for this answer, and why it is less than set (None when it is not)."""
        used, limit = check_context(loaded, history)
        if limit is not None and used + self.max_new_tokens > limit:
            return limit - used, "context"
        return self.max_new_tokens, None

    def _config(self, loaded: Loaded, budget: int) -> Any:
        values = {k: v for k, v in self.settings().items() if k not in ASSISTANT}
        values.update(max_new_tokens=budget, min_new_tokens=min(self.min_new_tokens, budget))
        return apply_to(loaded.pipe.get_generation_config(), values)

    def _notes(self, result: Any, budget: tuple[int, str | None], stopped: bool) -> Message:
        """What the answer's record says besides its text: cut short, and why."""
        tokens, why = budget
        generated = result.perf_metrics.get_num_generated_tokens()
        if stopped:
            return {"stopped": True}
        reasons = getattr(result, "finish_reasons", None) or []
        cut = any(str(r).endswith("LENGTH") for r in reasons) if reasons else generated >= tokens
        return {"cut": why or "max_new_tokens"} if cut else {}

    def _metrics(self, result: Any, request: dict[str, Any]) -> dict[str, Any]:
        perf = result.perf_metrics
        return {"ttft_ms": perf.get_ttft().mean, "tokens_per_s": perf.get_throughput().mean,
                "tokens": perf.get_num_generated_tokens()}

    def _generate(self, loaded: Loaded, history: list[Message], stream: TokenStream,
                  request: dict[str, Any]) -> tuple[Any, tuple[int, str | None]]:
        raise NotImplementedError


def chat_history(messages: list[Message]) -> Any:
    """An openvino_genai ChatHistory of ``messages`` (only the keys the model reads)."""
    import openvino_genai as ov_genai

    history = ov_genai.ChatHistory()
    for message in messages:
        history.append({k: message[k] for k in MODEL_KEYS if k in message})
    return history


class ChatSession(WithTools, ConversationSession, WithAdapters):
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
    ``ovnb.sessions.agent``). Thinking models (``<think>`` in their chat template) have their
    thinking kept apart from the answer, in the reply's ``thinking``; ``reasoning`` True or False
    overrides what the template says.
    """

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU", draft: Any = None,
                 adapters: Any = None, system_prompt: str = "",
                 properties: dict[str, Any] | None = None, draft_device: Any = None,
                 prompt_lookup: bool = False, tools: Any = None, tool_choice: str = "auto",
                 approve: Any = True, reasoning: bool | None = None, retriever: Any = None,
                 **settings: Any) -> None:
        super().__init__()
        self.retriever = retriever_session(retriever)
        self.apply(settings, type(self).__name__)
        if self.retriever is not None:
            self.adopt(self.retriever.chat_defaults())
        speculative.check_assistant(self.settings(), prompt_lookup)
        self.system_prompt = check_text(system_prompt, "system_prompt")
        self.device = str(getattr(device, "value", device))
        self.properties = dict(properties or {})
        self.plan: speculative.LLMPlan | None = None  # how the pipeline was built, once loaded
        self._init_adapters(adapters)
        self._init_tools(tools, tool_choice, approve)
        self.reasoning = reasoning
        self._thinking: Any = False  # a reasoning.Thinking, or None; False: not read yet
        self.model_name = str(model)
        self._load_in_background(lambda: self._load(model, draft, draft_device, prompt_lookup),
                                 _name(model))

    def _load(self, model: Any, draft: Any, draft_device: Any, prompt_lookup: bool) -> Loaded:
        # devices first: an absent one is refused before any export starts
        plan = speculative.plan_llm(self.device, self.properties, draft, draft_device,
                                    prompt_lookup)
        folder = model_folder(model, "chat", precision_for(plan.device, "chat"))
        if draft is not None:
            plan.draft = model_folder(draft, "chat", precision_for(plan.draft_device, "chat"))
            speculative.check_pair(folder, plan.draft)
        self.plan = plan
        self.adapter_set.check(folder, "chat")
        made: dict[Path, Any] = {}

        def build() -> Any:
            kwargs: dict[str, Any] = plan.pipeline_kwargs()
            # all adapters now, and no prefix caching (it would reuse state of other adapters)
            kwargs.update(self._build_adapters(folder, "chat", made))
            return construct("chat", folder, plan.device, plan.properties, **kwargs)

        loaded = load("chat", folder, plan.device, plan.properties, build,
                      (plan.key, self.adapter_set.key()))
        lora.attach(loaded, made)
        self._adopt_model(folder)
        return loaded

    def _adopt_model(self, folder: Path) -> None:
        """The model's context bounds max_new_tokens; its own defaults fill unset settings (a
        grounded chat's defaults over them: a model's sampling and penalties lose source facts)."""
        from ovnb.runtime import context_length

        limit = context_length(folder) or 0
        defaults = model_defaults(folder)
        if self.retriever is not None:
            defaults = {**defaults, **self.retriever.chat_defaults()}

        def adopt() -> None:
            self.context_length = limit
            if limit:
                self.narrow("max_new_tokens", 1, limit)
            self.adopt(defaults)

        post(adopt)

    # per answer ----------------------------------------------------------------------------------
    def _check_request(self, request: dict[str, Any]) -> None:
        unknown = set(request) - REQUEST_KEYS
        if unknown:
            raise TypeError(f"send() got an unexpected argument {sorted(unknown)[0]!r}")
        if "adapters" in request:
            request["adapters"] = self.strengths(request["adapters"])
        request["constraint"] = structured.constraint(*(request.pop(k, None)
                                                        for k in structured.KINDS))
        self._check_tools(request)
        if request["constraint"] is not None:  # a structured answer comes without tool calls
            request["tool_choice"] = "none"

    def _empty(self, request: dict[str, Any]) -> Any:
        return None if request.get("json_schema") is not None else ""

    def _config(self, loaded: Loaded, budget: int) -> Any:
        config = super()._config(loaded, budget)
        if self.plan is not None:  # exactly one of tokens / threshold, or genai refuses
            apply_to(config, speculative.assistant_settings(self.settings(), self.plan))
        return config

    def _generate(self, loaded: Loaded, history: list[Message], stream: TokenStream,
                  request: dict[str, Any]) -> tuple[Any, tuple[int, str | None]]:
        specs = None
        history = self._readable(loaded, history)
        if self._uses_tools(request):
            history, specs = self._tools_history(loaded, history)
        turn = chat_history(history)
        if specs:
            turn.set_tools(specs)
        budget = self._budget(loaded, turn)
        config = self._constrain(loaded, self._config(loaded, budget[0]), request)
        kwargs = lora.call_kwargs(loaded, request.get("adapters") or self.strengths())
        try:
            result = loaded.pipe.generate(turn, config, stream.streamer(), **kwargs)
        except RuntimeError as exc:  # a schema or grammar XGrammar cannot compile: one line
            constraint = request.get("constraint")
            what = f"the {constraint.kind}" if constraint else "the tools' argument schemas"
            raise structured.grammar_error(exc, what) or exc from exc
        return result, budget

    def _constrain(self, loaded: Loaded, config: Any, request: dict[str, Any]) -> Any:
        """This answer's constraint (a schema, regex, grammar, or the tool-call tags) and the
        parser that keeps a thinking model's thinking apart."""
        constraint = request.get("constraint")
        config.structured_output_config = (constraint.config() if constraint is not None
                                           else self._call_config(request))
        thinking = self._thinks(loaded)
        opened = thinking is not None and thinking.in_prompt
        if thinking is not None and not (constraint is not None and
                                         (constraint.kind == "json_schema" or opened)):
            config.parsers = [thinking.parser()]  # JSON has no thinking: never split it
        return config

    def _thinks(self, loaded: Loaded) -> reasoning.Thinking | None:
        """How this model thinks (None: it does not), from its template unless ``reasoning``
        says otherwise."""
        if self.reasoning is False:
            return None
        if self._thinking is False:
            self._thinking = reasoning.detect(loaded.pipe.get_tokenizer())
        if self._thinking is None and self.reasoning:
            return reasoning.Thinking()
        return self._thinking  # type: ignore[return-value]

    def _answer(self, result: Any, request: dict[str, Any]) -> Message:
        """The answer, its thinking apart, the tool calls it makes, the format it was made in."""
        text, parts = result.texts[0], {}
        split = reasoning.split(result)
        if split is not None:
            thinking, text = split
            if thinking:
                parts["thinking"] = thinking
        if request.get("offer", "none") != "none":
            calls = toolkit.parse_calls(text)
            if calls:
                parts["tool_calls"] = calls
        if request.get("constraint") is not None:
            parts["format"] = request["constraint"].kind
        return {"content": text, **parts}

    def _value(self, reply: Message, request: dict[str, Any]) -> Any:
        constraint = request.get("constraint")
        if constraint is None:
            return reply["content"]
        cut = reply.get("cut") or ("stopped" if reply.get("stopped") else None)
        return constraint.value(reply["content"], cut)

    def _metrics(self, result: Any, request: dict[str, Any]) -> dict[str, Any]:
        return {**super()._metrics(result, request), **speculative.run_metrics(result)}

    def _ground(self, question: Message) -> tuple[Message, Message]:
        """With a retriever: the question quoting the passages found as numbered sources; the
        answer's record keeps the sources. Later turns see the questions as asked."""
        if self.retriever is None:
            return super()._ground(question)
        prompt, sources = self.retriever.ground(question["content"])
        return {**question, "content": prompt}, {"sources": sources}

    def answer(self, messages: list[Message], adapters: Any = None,
               on_text: Any = None) -> str:
        """Answer a conversation of its own (not recorded in ``messages``), with this session's
        settings, pipeline and lifecycle (Stop works). ``adapters``: file or name -> strength
        for this answer only. ``on_text(text so far)`` is called on the view thread."""
        request = {"adapters": adapters} if adapters is not None else {}
        self._check_request(request)

        def work(loaded: Loaded) -> str:
            tokenizer = loaded.pipe.get_tokenizer()
            stream = TokenStream(lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
                                 on_text)
            self._stream = stream
            stream.stopped = self.stopping
            stream.start()
            try:
                result, _ = self._generate(loaded, [*self._opening(), *messages], stream, request)
            finally:
                stream.finish()
                self._stream = None
            return result.texts[0]

        outcome = self.run(work)
        return outcome.value if outcome.ok else ""


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
    """The model's recommended generation settings (ovnb.generation, where that module exists)."""
    try:
        from ovnb import generation
    except ImportError:
        return {}
    return generation.defaults(folder)


def _name(model: Any) -> str:
    """How a model is named in status lines: its id, or its folder's manifest id, never a path."""
    text = str(model)
    path = Path(text).expanduser()
    if path.is_dir():
        return lora.model_name(path)
    return text
