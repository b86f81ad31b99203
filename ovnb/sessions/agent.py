"""Tool calling for a chat session: the model calls, the function runs, the model answers.

``WithTools`` is mixed into ChatSession (before ConversationSession, whose ``_exchange`` it
extends). A question to a chat with tools becomes several steps, each published as it comes:

1. the model answers; under ``tool_choice="required"`` its first step must be a call, under
   ``"auto"`` it may call; structural tags (``ovnb.tools.call_config``) make each call well formed
   and end the step after it;
2. the call is approved (``approve``: True runs every call, False none, a function decides, "ask"
   waits for ``decide()``, which the widget's Approve/Deny buttons call), checked against the
   tool's signature, and run with the pipeline's lock released (a tool may take its time, or ask
   another chat on the same model); its result, or one line saying why there is none, becomes a
   ``tool`` turn;
3. the model answers again, seeing the result; after ``max_tool_calls`` calls it must answer.

Every turn stays in ``messages``: the call as an assistant turn with ``tool_calls``, the result as
a ``tool`` turn with ``name``, ``arguments`` and ``status`` (ok, error, declined). A step that fails
takes the whole question back out, so the history stays as it was.
"""
from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import traitlets

from ovnb import tools as toolkit
from ovnb.errors import OvnbError
from ovnb.runtime import Loaded

TOOL_CHOICES = ("auto", "required", "none")
Message = dict[str, Any]
Approve = bool | str | Callable[[dict[str, Any]], bool]


class ToolState(traitlets.HasTraits):
    """What a chat with tools shows: how the model may use them, and a call awaiting approval."""

    tool_choice = traitlets.Enum(TOOL_CHOICES, "auto", help="auto: the model may call a tool; "
                                 "required: its first step is a call; none: no tools offered")
    pending_call = traitlets.Dict(help="the call waiting for decide() ({name, arguments}; {} when "
                                       "none)")


class WithTools(ToolState):
    """Tools for a ConversationSession (mixed in before it); see the module's docstring."""

    max_tool_calls = 4  # calls per question; then the model must answer

    def _init_tools(self, tools: Any, tool_choice: str, approve: Approve) -> None:
        self.tools = toolkit.toolset(tools)  # name -> Tool; refused at once when undescribable
        self.tool_choice = tool_choice
        self.approve = check_approve(approve)
        self._decided = threading.Event()
        self._verdict = False
        self._template_tools: bool | None = None  # does the chat template describe tools?

    # actions ------------------------------------------------------------------------------------
    def decide(self, run: bool) -> None:
        """Answer the pending call: run it (True) or decline it (False)."""
        self._verdict = bool(run)
        self._decided.set()

    def _on_stop(self) -> None:
        self.decide(False)  # a call waiting for approval is declined
        super()._on_stop()

    # requests -----------------------------------------------------------------------------------
    def _check_tools(self, request: dict[str, Any]) -> None:
        """Resolve this question's tool choice and approval (one line when they cannot apply)."""
        choice = request.get("tool_choice") or self.tool_choice
        if choice not in TOOL_CHOICES:
            raise OvnbError(f"tool_choice must be one of {', '.join(TOOL_CHOICES)}, not {choice!r}")
        if choice == "required" and not self.tools:
            raise OvnbError("tool_choice='required' but this chat has no tools: pass tools=[...] "
                            "when making it")
        request["tool_choice"] = choice if self.tools else "none"
        request["approve"] = check_approve(request.get("approve", self.approve))

    def _uses_tools(self, request: dict[str, Any]) -> bool:
        return request.get("tool_choice", "none") != "none" and bool(self.tools)

    # one question -------------------------------------------------------------------------------
    def _exchange(self, loaded: Loaded, earlier: list[Message], question: Message,
                  request: dict[str, Any]) -> Any:
        if not self._uses_tools(request):
            return super()._exchange(loaded, earlier, question, request)
        asked, grounds = self._ground(question)  # grounded once per question, not per step
        turns: list[Message] = [question]
        try:
            for calls in itertools.count():
                reply = self._step(loaded, [*earlier, asked], earlier, turns,
                                   {**request, "calls": calls})
                wanted = reply.get("tool_calls") or []
                if not wanted or reply.get("stopped") or self.stopping:
                    if grounds:  # the sources stay with the final answer
                        turns[-1] = reply = {**reply, **grounds}
                        self.publish(messages=[*earlier, *turns])
                    return self._value(reply, request)
                turns.append(self._tool_turn(loaded, wanted[0], request["approve"]))
                self.publish(messages=[*earlier, *turns])
                if self.stopping:  # Stop pressed while the tool ran: no answer after it
                    return self._value(reply, request)
        except BaseException:
            self.publish(messages=earlier)
            raise
        raise AssertionError("unreachable")

    def _step(self, loaded: Loaded, read: list[Message], earlier: list[Message],
              turns: list[Message], request: dict[str, Any]) -> Message:
        """One answer of the model (maybe a call), appended to ``turns`` and published; the model
        reads ``read`` (the earlier turns and the question as asked) and the turns after it."""
        step = {**request, "offer": self._offer(request["tool_choice"], request["calls"])}
        reply, result, flushes = self._reply(loaded, [*self._opening(), *read, *turns[1:]], step)
        turns.append(reply)
        self.publish(messages=[*earlier, *turns],
                     metrics={**self._metrics(result, step), "view_updates": flushes,
                              "tool_calls": request["calls"]})
        return reply

    def _offer(self, choice: str, calls: int) -> str:
        """How this step may call: the choice first, then "auto", "none" once calls ran out."""
        if calls >= self.max_tool_calls:
            return "none"
        return choice if calls == 0 else "auto"

    def _tool_turn(self, loaded: Loaded, call: dict[str, Any], approve: Approve) -> Message:
        """Run one call (if approved and well formed) and record it as a ``tool`` turn."""
        name, arguments = call.get("name", ""), call.get("arguments", {})
        tool = self.tools.get(name)
        with released(loaded.lock):  # a tool or a person may take their time
            if "error" in call:
                status, text = "error", f"error: {call['error']}"
            elif tool is None:
                status, text = "error", (f"error: there is no tool named {name!r}; the tools are "
                                         f"{', '.join(self.tools)}")
            else:
                status, text = self._approval(call, approve)
                if status == "ok":
                    status, text = tool.run(arguments)
        return {"role": "tool", "content": text, "name": name, "arguments": arguments,
                "status": status}

    def _approval(self, call: dict[str, Any], approve: Approve) -> tuple[str, str]:
        """("ok", "") to run the call, else the status and line the model reads instead."""
        if approve == "ask":
            allowed = self._ask(call)
        elif callable(approve):
            try:
                allowed = bool(approve(dict(call)))
            except Exception as exc:  # the approver's bug must not end the conversation
                return "error", f"error: approve raised {type(exc).__name__}: {exc}; not run"
        else:
            allowed = bool(approve)
        return ("ok", "") if allowed else ("declined", "the user declined to run this call")

    def _ask(self, call: dict[str, Any]) -> bool:
        """Show the call as pending and wait for ``decide()`` (Stop declines it)."""
        self._decided.clear()
        self.publish(pending_call={"name": call["name"],
                                   "arguments": call.get("arguments", {})})
        try:
            if not self.stopping:
                self._decided.wait()
        finally:
            self.publish(pending_call={})
        return self._verdict and not self.stopping

    # what the model sees ------------------------------------------------------------------------
    def _knows_tools(self, loaded: Loaded) -> bool:
        """Whether the model's chat template describes tools and tool turns itself."""
        if self._template_tools is None:
            self._template_tools = toolkit.template_knows_tools(loaded.pipe.get_tokenizer())
        return self._template_tools

    def _readable(self, loaded: Loaded, history: list[Message]) -> list[Message]:
        """``history`` as the model reads it: a template that knows no tool turns gets each
        result in words, as a user turn (openvino_genai would wrap it in JSON of its own)."""
        if self._knows_tools(loaded) or not any(m["role"] == "tool" for m in history):
            return history
        return [toolkit.result_message(m) if m["role"] == "tool" else m for m in history]

    def _tools_history(self, loaded: Loaded, history: list[Message]) -> tuple[list[Message],
                                                                             list[dict] | None]:
        """``history`` with the tools described: (messages, specs for ``set_tools`` or None).

        A template that describes tools itself gets them through ``ChatHistory.set_tools``;
        others get ovnb's instructions in the system message.
        """
        if self._knows_tools(loaded):
            return history, [t.spec() for t in self.tools.values()]
        text = toolkit.instructions(self.tools.values())
        if history and history[0]["role"] == "system":
            first = {**history[0], "content": f"{history[0]['content']}\n\n{text}"}
            return [first, *history[1:]], None
        return [{"role": "system", "content": text}, *history], None

    def _call_config(self, request: dict[str, Any]) -> Any:
        """The structural tags for this step (None when it may not call)."""
        offer = request.get("offer", "none")
        if offer == "none":
            return None
        return toolkit.call_config(self.tools.values(), required=offer == "required")


def check_approve(approve: Any) -> Approve:
    """``approve`` if it is one of the accepted kinds; TypeError names them."""
    if approve is True or approve is False or approve == "ask" or callable(approve):
        return approve
    raise TypeError("approve must be True (run every call), False (run none), 'ask' (wait for "
                    f"decide()) or a function call -> bool, not {approve!r}")


@contextlib.contextmanager
def released(lock: threading.Lock) -> Iterator[None]:
    """Release a lock this thread holds for a while, and take it back."""
    lock.release()
    try:
        yield
    finally:
        lock.acquire()
