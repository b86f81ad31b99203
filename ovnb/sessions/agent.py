"""Tool calling for a chat session: the model calls, the function runs, the model answers.

``ToolChat`` is a conversation whose ``_exchange`` may take several steps (ChatSession is one). A
question to a chat with tools becomes several steps, each published as it comes:

1. the model answers; under ``tool_choice="required"`` its first step must be a call, under
   ``"auto"`` it may call; structural tags (``ovnb.tools.call_config``) make each call well formed
   and end the step after it;
2. the call is approved (``approve``: True runs every call, False none, a function decides, "ask"
   waits for ``decide()``, which the widget's Approve/Deny buttons call), checked against the
   tool's signature, and run on a thread of its own with the pipeline's lock released (a tool may
   take its time, or ask another chat on the same model): Stop and Ctrl-C are heard while it
   runs, the turn ends at once, and a result that comes after Stop is dropped (and said so); its
   result, or one line saying why there is none, becomes a ``tool`` turn;
3. the model answers again, seeing the result; after ``max_tool_calls`` calls it must answer.
   A question asked with a schema (``json_schema=``...) has its final answer made under that
   schema, after the tools ran (one more answer when the model had answered freely).

Every turn stays in ``messages``: the call as an assistant turn with ``tool_calls``, the result as
a ``tool`` turn with ``name``, ``arguments`` and ``status`` (ok, error, declined, stopped). A step
that fails takes the whole question back out, so the history stays as it was.
"""
from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator
from typing import Any

import traitlets

from ovnb import tools as toolkit
from ovnb.errors import OvnbError
from ovnb.runtime.jobs import Job
from ovnb.runtime.pipelines import Loaded
from ovnb.sessions.conversation import Approve, ChatRequest, ConversationSession, Message

TOOL_CHOICES = ("auto", "required", "none")


class ToolState(traitlets.HasTraits):
    """What a chat with tools shows: how the model may use them, and a call awaiting approval."""

    tool_choice = traitlets.Enum(TOOL_CHOICES, "auto", help="auto: the model may call a tool; "
                                 "required: its first step is a call; none: no tools offered")
    pending_call = traitlets.Dict(help="the call waiting for decide() ({name, arguments}; {} when "
                                       "none)")


class ToolChat(ConversationSession, ToolState):
    """A conversation whose model may call tools; see the module's docstring."""

    max_tool_calls = 4  # calls per question; then the model must answer

    def _init_tools(self, tools: Any, tool_choice: str, approve: Approve) -> None:
        self.tools = toolkit.toolset(tools)  # name -> Tool; refused at once when undescribable
        self.tool_choice = tool_choice
        self.approve = self.checked_approve(approve)
        self._decided = threading.Event()
        self._verdict = False
        self._template_tools: bool | None = None  # does the chat template describe tools?

    # actions ------------------------------------------------------------------------------------
    def decide(self, run: bool) -> None:
        """Answer the pending call: run it (True) or decline it (False)."""
        if not isinstance(run, bool):
            raise TypeError(f"decide() takes True (run the call) or False (decline it), not "
                            f"{run!r}")
        self._verdict = run
        self._decided.set()

    @staticmethod
    def checked_approve(approve: Any) -> Approve:
        """``approve`` if it is one of the accepted kinds; TypeError names them."""
        if approve is True or approve is False or approve == "ask" or callable(approve):
            return approve
        raise TypeError("approve must be True (run every call), False (run none), 'ask' (wait "
                        f"for decide()) or a function call -> bool, not {approve!r}")

    def _resolve_choice(self, asked: str) -> str:
        """This question's tool choice ("" asks for the chat's); one line when it cannot apply."""
        choice = asked or self.tool_choice
        if choice not in TOOL_CHOICES:
            raise OvnbError(f"tool_choice must be one of {', '.join(TOOL_CHOICES)}, not {choice!r}")
        if choice == "required" and not self.tools:
            raise OvnbError("tool_choice='required' but this chat has no tools: pass tools=[...] "
                            "when making it")
        return choice if self.tools else "none"

    # one question -------------------------------------------------------------------------------
    def _exchange(self, loaded: Loaded[Any], job: Job[Any], earlier: list[Message],
                  question: Message, request: ChatRequest) -> Any:
        if request.tool_choice == "none":
            return super()._exchange(loaded, job, earlier, question, request)
        asked, grounds = self._ground(job, question)
        turns: list[Message] = [question]
        try:
            for calls in itertools.count():
                reply = self._step(loaded, job, [*earlier, asked], turns, request, calls)
                wanted = reply.get("tool_calls") or []
                if job.stopped or reply.get("stopped") or not wanted:
                    reply = {**reply, **grounds}  # the sources stay with the final answer
                    value = self._value(reply, request) if not wanted else self._failed(request)
                    self.publish(messages=[*earlier, *turns[:-1], reply])
                    return value
                self.publish(messages=[*earlier, *turns])
                turns.append(self._tool_turn(loaded, job, wanted[0], request.approve))
                self.publish(messages=[*earlier, *turns])
                if job.stopped:  # Stop came while the tool ran: no answer after it
                    return self._failed(request)
        except BaseException:
            self.publish(messages=earlier)
            raise
        raise AssertionError("unreachable")

    def _step(self, loaded: Loaded[Any], job: Job[Any], read: list[Message],
              turns: list[Message], request: ChatRequest, calls: int) -> Message:
        """One answer of the model (maybe a call), appended to ``turns``; the model reads
        ``read`` (the earlier turns and the question as asked) and the turns after it. Without a
        call, a question with a schema has the answer made again under the schema."""
        offer = self._offer(request.tool_choice, calls)
        history = [*self._opening(), *read, *turns[1:]]
        reply, result = self._reply(loaded, job, history, request, offer)
        free = offer != "none" and not reply.get("tool_calls") and not reply.get("stopped")
        if free and request.constraint is not None and not job.stopped:
            reply, result = self._reply(loaded, job, history, request, "none")
        turns.append(reply)
        self.publish(metrics={**self._metrics(result, request), "tool_calls": calls})
        return reply

    @staticmethod
    def _failed(request: ChatRequest) -> Any:
        """What a question that ends with no answer gives (None under a JSON schema, else '')."""
        constraint = request.constraint
        return None if constraint is not None and constraint.kind == "json_schema" else ""

    def _offer(self, choice: str, calls: int) -> str:
        """How this step may call: the choice first, then "auto", "none" once calls ran out."""
        if calls >= self.max_tool_calls:
            return "none"
        return choice if calls == 0 else "auto"

    def _tool_turn(self, loaded: Loaded[Any], job: Job[Any], call: dict[str, Any],
                   approve: Approve) -> Message:
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
                status, text = self._approval(job, call, approve)
                if status == "ok":
                    status, text = self._run_tool(job, tool, arguments)
        return {"role": "tool", "content": text, "name": name, "arguments": arguments,
                "status": status}

    def _run_tool(self, job: Job[Any], tool: toolkit.Tool, arguments: Any) -> tuple[str, str]:
        """The tool's (status, text), run on a thread of its own so that Stop is heard meanwhile;
        stopped first, ("stopped", why), and the result dropped when it comes."""
        ended, lock = threading.Event(), threading.Lock()
        box: dict[str, Any] = {"result": None, "dropped": False}

        def run() -> None:
            result = tool.run(arguments)  # never raises: a tool's error is a line for the model
            with lock:
                box["result"], late = result, box["dropped"]
            ended.set()
            if late:
                self.publish(status=f"{tool.name} finished after Stop: its result was "
                                    "dropped")

        threading.Thread(target=run, daemon=True, name=f"ovnb-tool-{tool.name}").start()
        job.on_stop(ended.set)
        ended.wait()
        with lock:
            if box["result"] is not None:
                return box["result"]
            box["dropped"] = True
        return "stopped", f"stopped while {tool.name} ran: its result is dropped when it comes"

    def _approval(self, job: Job[Any], call: dict[str, Any], approve: Approve) -> tuple[str, str]:
        """("ok", "") to run the call, else the status and line the model reads instead."""
        if approve == "ask":
            allowed = self._ask(job, call)
        elif callable(approve):
            try:
                allowed = bool(approve(dict(call)))
            except Exception as exc:  # the approver's bug must not end the conversation
                return "error", f"error: approve raised {type(exc).__name__}: {exc}; not run"
        else:
            allowed = bool(approve)
        return ("ok", "") if allowed else ("declined", "the user declined to run this call")

    def _ask(self, job: Job[Any], call: dict[str, Any]) -> bool:
        """Show the call as pending and wait for ``decide()`` (Stop declines it)."""
        self._decided.clear()
        self._verdict = False
        job.on_stop(self._decided.set)
        self.publish(pending_call={"name": call["name"], "arguments": call.get("arguments", {})},
                     status=f"waiting for you: approve or deny {call['name']}(…)")
        try:
            self._decided.wait()
        finally:
            self.publish(pending_call={}, status="answering…")
        return self._verdict and not job.stopped

    # what the model sees ------------------------------------------------------------------------
    def _knows_tools(self, loaded: Loaded[Any]) -> bool:
        """Whether the model's chat template describes tools and tool turns itself."""
        if self._template_tools is None:
            self._template_tools = toolkit.template_knows_tools(loaded.pipe.get_tokenizer())
        return self._template_tools

    def _readable(self, loaded: Loaded[Any], history: list[Message]) -> list[Message]:
        """``history`` as the model reads it: a template that knows no tool turns gets each
        result in words, as a user turn (openvino_genai would wrap it in JSON of its own)."""
        if self._knows_tools(loaded) or not any(m["role"] == "tool" for m in history):
            return history
        return [toolkit.result_message(m) if m["role"] == "tool" else m for m in history]

    def _tools_history(self, loaded: Loaded[Any], history: list[Message]
                       ) -> tuple[list[Message], list[dict[str, Any]] | None]:
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

    def _call_config(self, offer: str) -> Any:
        """The structural tags for a step that may call (None when it may not)."""
        if offer == "none":
            return None
        return toolkit.call_config(self.tools.values(), required=offer == "required")


@contextlib.contextmanager
def released(lock: threading.Lock) -> Iterator[None]:
    """Release a lock this thread holds for a while, and take it back."""
    lock.release()
    try:
        yield
    finally:
        lock.acquire()
