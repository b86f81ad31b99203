"""Conversations: what Chat and VisionChat share, streamed, stoppable, with their metrics.

``ConversationSession`` holds the history (``messages``), the answer being streamed (``live``),
undo and clear, and a context check before each turn; ``ChatSession`` (``sessions.chat``) and
``VisionSession`` (``sessions.vision``) add what their pipelines offer.

A question is checked once, when it is asked, into a ``ChatRequest`` (its text and options), and
that value goes its way unchanged. A turn is published whole when it ends: a turn that fails
(an answer that cannot become the value asked for, a tool loop that breaks) leaves ``messages``
as it was.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import traitlets
from traitlets import Bool, Dict, Float, Int, List, Unicode

from ovnb.errors import OvnbError
from ovnb.layout import context_length
from ovnb.runtime.jobs import Job, Outcome
from ovnb.runtime.pipelines import Loaded
from ovnb.runtime.streams import TokenStream
from ovnb.sessions.base import Session, check_text
from ovnb.sessions.settings import SamplingSettings, Settings, apply_to, setting
from ovnb.structured import Constraint

Message = dict[str, Any]
# message keys that go to the model (the rest, like "cut" or "image", are ovnb's notes)
MODEL_KEYS = ("role", "content")
ASSISTANT = ("num_assistant_tokens", "assistant_confidence_threshold", "max_ngram_size")
Budget = tuple[int, "str | None"]  # max_new_tokens for an answer, and why it is less than set
Approve = bool | str | Callable[[dict[str, Any]], bool]  # who decides whether a tool call runs


@dataclass(frozen=True)
class ChatRequest:
    """One question as asked: its text and options, checked once when it is asked."""

    text: str
    adapters: Mapping[Path, float] | None = None  # this answer's strengths (None: the trait's)
    constraint: Constraint | None = None  # a schema, regex or grammar the answer follows
    tool_choice: str = "none"  # auto, required or none, resolved against the chat's tools
    approve: Approve = True  # who decides whether a tool call runs


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
        return self._check_setting(proposal)


class LLMSettings(AssistantSettings, SamplingSettings):
    """Generation settings of chat models, by openvino_genai's GenerationConfig names."""

    max_new_tokens = setting(Int(256, help="the longest answer, in tokens"),
                             "max new tokens", 1, None)
    min_new_tokens = setting(Int(0, help="the shortest answer, in tokens"), "min new tokens", 0,
                             None, control=False)
    top_k = setting(Int(None, allow_none=True, help="sample from this many tokens (None: all)"),
                    "top-k", 1, None, control=False)
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
        return self._check_setting(proposal)


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
        self.updates = 0  # view updates streaming the last answer took (at most 10 a second)

    # actions ------------------------------------------------------------------------------------
    def send(self, text: str, **options: Any) -> Any:
        """Ask ``text``; blocks until answered. The answer, or '' on error (``last_error`` says why)."""
        return self.call(self.submit(text, queue=True, **options), self._empty(options))

    def submit(self, text: str, queue: bool = False, **options: Any) -> Job[Any] | None:
        """Start answering ``text`` without waiting (the Send button); None when refused (one
        line shown). A wrong type or an option this chat does not take is a TypeError."""
        try:
            request = self.request(text, **options)
        except OvnbError as exc:  # a bad schema, an unknown adapter...: one line, nothing changed
            self.refuse(str(exc))
            return None
        return self._submit(request, queue)

    def _submit(self, request: ChatRequest, queue: bool) -> Job[Any] | None:
        """Start answering ``request``, which carries what it was asked with (a send's own image
        travels in it, never through the chosen one another thread may change meanwhile)."""
        try:
            request = self._checked(request)
        except OvnbError as exc:  # a model without a talker asked to speak...: one line
            self.refuse(str(exc))
            return None
        if not self._asks(request):
            self.refuse("empty prompt: type a question first")
            return None
        return self.start(lambda loaded, job: self._turn(loaded, job, request),
                          self._after_turn, queue=queue)

    def request(self, text: str, **options: Any) -> ChatRequest:
        """``text`` and ``options`` checked into a request: a TypeError for a wrong type or an
        option this chat does not take, an OvnbError (one line) for a value it cannot use."""
        if options:
            raise TypeError(f"send() got an unexpected argument {sorted(options)[0]!r}")
        return ChatRequest(check_text(text, "the message").strip())

    def _asks(self, request: ChatRequest) -> bool:
        """Whether ``request`` asks anything (a chat needs text; an omni model hears a
        recording alone)."""
        return bool(request.text)

    def _empty(self, options: Mapping[str, Any]) -> Any:
        """What ``send`` gives when a question with these options is refused or fails."""
        return ""

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

    # one turn ------------------------------------------------------------------------------------
    def _checked(self, request: ChatRequest) -> ChatRequest:
        """The request with what needs the model or the chat's state resolved (OvnbError: one line)."""
        return request

    def _after_turn(self, outcome: Outcome[Any]) -> None:
        self.publish(live="")

    def _turn(self, loaded: Loaded[Any], job: Job[Any], request: ChatRequest) -> Any:
        """On the worker, under the pipeline's lock: one question and its answer."""
        question = {"role": "user", "content": request.text, **self._question_notes(request)}
        return self._exchange(loaded, job, list(self.messages), question, request)

    def _exchange(self, loaded: Loaded[Any], job: Job[Any], earlier: list[Message],
                  question: Message, request: ChatRequest) -> Any:
        """Answer ``question`` after the ``earlier`` turns; publish the new turns (only when the
        answer gives the value asked for) and return that value."""
        asked, grounds = self._ground(job, question)  # what the model reads; notes for the reply
        reply, result = self._reply(loaded, job, [*self._opening(), *earlier, asked], request)
        reply = {**reply, **grounds}
        value = self._value(reply, request)
        self.publish(messages=[*earlier, question, reply], metrics=self._metrics(result, request))
        return value

    def _reply(self, loaded: Loaded[Any], job: Job[Any], history: list[Message],
               request: ChatRequest, offer: str = "none") -> tuple[Message, Any]:
        """One answer to ``history``, streamed: its message (text and notes) and the result.
        ``offer``: how this answer may call tools (auto, required, none)."""
        stream = self.token_stream(job, loaded.pipe.get_tokenizer(), self._show_live)
        stream.start()
        try:
            result, budget = self._generate(loaded, history, stream, request, offer)
        finally:
            stream.finish()
        self.updates = stream.flushes
        reply = {"role": "assistant", **self._answer(result, request, offer),
                 **self._notes(result, budget, stream.stopped)}
        return reply, result

    def _answer(self, result: Any, request: ChatRequest, offer: str) -> Message:
        """The answer's content (subclasses add what it carries besides: thinking, calls)."""
        return {"content": result.texts[0]}

    def _value(self, reply: Message, request: ChatRequest) -> Any:
        """What ``send`` returns for the final reply (subclasses: the parsed structure)."""
        return reply["content"]

    def _show_live(self, text: str) -> None:
        self.live = text  # on the view thread: the stream decodes there

    def _opening(self) -> list[Message]:
        system = self.system_prompt.strip()
        return [{"role": "system", "content": system}] if system else []

    def _question_notes(self, request: ChatRequest) -> dict[str, Any]:
        return {}

    def _ground(self, job: Job[Any], question: Message) -> tuple[Message, Message]:
        """(the question as the model reads it, notes for the answer's record): the question as
        asked and no notes, unless a subclass grounds answers (on a retriever's sources)."""
        return question, {}

    def _forget(self, count: int) -> None:
        """Subclasses holding state per turn (a VLM's ChatHistory) drop the last ``count`` turns."""

    def _budget(self, loaded: Loaded[Any], history: Any) -> Budget:
        """max_new_tokens for this answer, and why it is less than set (None when it is not)."""
        used, limit = check_context(loaded, history)
        if limit is not None and used + self.max_new_tokens > limit:
            return limit - used, "context"
        return self.max_new_tokens, None

    def _config(self, loaded: Loaded[Any], budget: int) -> Any:
        values = {k: v for k, v in self.settings().items() if k not in ASSISTANT}
        values.update(max_new_tokens=budget, min_new_tokens=min(self.min_new_tokens, budget))
        return apply_to(loaded.pipe.get_generation_config(), values)

    def _notes(self, result: Any, budget: Budget, stopped: bool) -> Message:
        """What the answer's record says besides its text: cut short, and why."""
        tokens, why = budget
        generated = result.perf_metrics.get_num_generated_tokens()
        if stopped:
            return {"stopped": True}
        reasons = getattr(result, "finish_reasons", None) or []
        cut = any(str(r).endswith("LENGTH") for r in reasons) if reasons else generated >= tokens
        return {"cut": why or "max_new_tokens"} if cut else {}

    def _metrics(self, result: Any, request: ChatRequest) -> dict[str, Any]:
        perf = result.perf_metrics
        return {"ttft_ms": perf.get_ttft().mean, "tokens_per_s": perf.get_throughput().mean,
                "tokens": perf.get_num_generated_tokens()}

    def _generate(self, loaded: Loaded[Any], history: list[Message], stream: TokenStream,
                  request: ChatRequest, offer: str) -> tuple[Any, Budget]:
        raise NotImplementedError


def chat_history(messages: list[Message]) -> Any:
    """An openvino_genai ChatHistory of ``messages`` (only the keys the model reads)."""
    import openvino_genai as ov_genai

    history = ov_genai.ChatHistory()
    for message in messages:
        history.append({k: message[k] for k in MODEL_KEYS if k in message})
    return history


def prompt_tokens(loaded: Loaded[Any], history: Any) -> int:
    """How many tokens ``history`` takes once the chat template is applied."""
    tokenizer = loaded.pipe.get_tokenizer()
    prompt = tokenizer.apply_chat_template(history, add_generation_prompt=True)
    return int(tokenizer.encode(prompt, add_special_tokens=False).input_ids.get_shape()[1])


def check_context(loaded: Loaded[Any], history: Any) -> tuple[int, int | None]:
    """(prompt tokens, context) for ``history``; refuses a conversation longer than the context.

    openvino_genai runs it anyway (seen: 5000 tokens into a 2048-token model, no error), and the
    positions past the context give nonsense: better one line that says how to make room.
    """
    limit = context_length(loaded.folder)
    if limit is None:
        return 0, None
    count = prompt_tokens(loaded, history)
    if count >= limit:
        raise OvnbError(f"the conversation is {count} tokens, more than this model's context of "
                        f"{limit}: shorten the prompt, or press Clear to start a new conversation")
    return count, limit
