"""``ovnb.Chat``: a streaming chat with an LLMPipeline, its history, settings, Stop and metrics."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ovnb import generation, lora, speculative
from ovnb.devices import precision_for
from ovnb.runtime import Loaded, Outcome, TextSink, check_context, construct, load
from ovnb.widgets.base import PipelineWidget, model_folder
from ovnb.widgets.lora import Adapters, LoraMixer
from ovnb.widgets.speculative import AssistantControls

Message = dict[str, str]
# generation settings the controls show, with their defaults (openvino_genai's names)
SETTINGS = {"max_new_tokens": 256, "do_sample": False, "temperature": 0.7, "top_p": 0.9,
            "repetition_penalty": 1.1}
# speculative settings: set per request from the assistant controls, only on a speculative pipeline
ASSISTANT = ("num_assistant_tokens", "assistant_confidence_threshold", "max_ngram_size")


def markdown_output(text: str) -> tuple[dict[str, Any], ...]:
    """Outputs of an Output widget showing ``text`` as markdown (one message, whatever its length).

    Dollar signs outside code blocks are escaped: in chat answers they are prices far more often
    than math, and JupyterLab would typeset "$5 and $10" as a formula.
    """
    return ({"output_type": "display_data", "metadata": {},
             "data": {"text/markdown": escape_dollars(text), "text/plain": text}},)


def escape_dollars(text: str) -> str:
    """``$`` -> ``\\$`` except inside fenced code blocks."""
    parts = text.split("```")
    return "```".join(p if i % 2 else p.replace("$", "\\$") for i, p in enumerate(parts))


def transcript(messages: list[Message]) -> str:
    """The history as markdown, one block per turn."""
    who = {"user": "🧑 **You**", "assistant": "🤖 **Model**"}
    return "\n\n".join(f"{who[m['role']]}\n\n{m['content']}" for m in messages if m["role"] in who)


class Chat(PipelineWidget):
    """Chat with a model: ``Chat("tiny-llm").send("Hello") -> str``.

    ``model`` is a catalog id or a prepared folder; ``device`` a name (CPU, GPU, NPU, AUTO...) or a
    DevicePicker: the device's own settings are applied (on NPU: int4-npu weights, prompt and answer
    limits). ``draft`` a smaller model with the same tokenizer for speculative decoding (checked at
    load), run on ``draft_device`` (default: the main device; e.g. CPU beside a GPU);
    ``prompt_lookup=True`` drafts from the prompt instead (no draft model). The assistant drafts a
    fixed ``num_assistant_tokens`` per step (default 5) or as long as it is confident
    (``assistant_confidence_threshold``), never both; prompt lookup also takes ``max_ngram_size``.
    ``adapters`` LoRA files (a list, a dict file -> strength, or a
    ``LoraMixer`` whose sliders set each answer's strengths; all are registered once, at build);
    ``properties`` OpenVINO properties for the pipeline (e.g. ``INFERENCE_PRECISION_HINT="f32"``);
    ``**config`` generation settings by openvino_genai's names (``max_new_tokens``, ``temperature``...).
    """

    def __init__(self, model: str | os.PathLike[str], device: str = "CPU",
                 draft: str | os.PathLike[str] | None = None,
                 adapters: list[Any] | dict[Any, float] | LoraMixer | None = None,
                 system_prompt: str = "", properties: dict[str, Any] | None = None,
                 draft_device: Any = None, prompt_lookup: bool = False, **config: Any) -> None:
        super().__init__()
        self.device = str(getattr(device, "value", device))  # a DevicePicker gives its choice
        self.properties = dict(properties or {})  # the caller's; the plan adds each device's own
        # the widget's settings, then the model's own recommendation, then the caller's
        self.config = {**SETTINGS, **generation.defaults(model), **config}
        self.plan: speculative.LLMPlan | None = None  # how the pipeline was built, once loaded
        self.messages: list[Message] = []
        self.metrics: dict[str, float] = {}
        self._sink: TextSink | None = None
        self._adapters = Adapters(adapters)
        self._build_view(system_prompt, assistant="draft" if draft is not None else
                         "prompt lookup" if prompt_lookup else None)
        self._load_in_background(lambda: self._load(model, draft, draft_device, prompt_lookup),
                                 str(model))

    # the pipeline ---------------------------------------------------------------------------
    def _load(self, model: str | os.PathLike[str], draft: Any, draft_device: Any,
              prompt_lookup: bool) -> Loaded:
        # devices first: an absent one is refused before any export starts
        plan = speculative.plan_llm(self.device, self.properties, draft, draft_device,
                                    prompt_lookup)
        folder = model_folder(model, "chat", precision_for(plan.device, "chat"))
        if draft is not None:
            plan.draft = model_folder(draft, "chat", precision_for(plan.draft_device, "chat"))
            speculative.check_pair(folder, plan.draft)
        self.plan = plan
        self._adapters.check(folder, "chat")
        extra = (plan.key, self._adapters.key())

        def build() -> Any:
            kwargs: dict[str, Any] = plan.pipeline_kwargs()
            # all adapters now, and no prefix caching (it would reuse state of other adapters)
            kwargs.update(lora.build_kwargs(self._adapters.files, "chat", made))
            return construct("chat", folder, plan.device, plan.properties, **kwargs)

        made: dict[Path, Any] = {}
        loaded = load("chat", folder, plan.device, plan.properties, build, extra)
        lora.attach(loaded, made)
        return loaded

    def _generation_config(self, loaded: Loaded) -> Any:
        config = loaded.pipe.get_generation_config()
        for name, value in self.config.items():
            if name not in ASSISTANT:
                setattr(config, name, value)
        if self.plan is not None:  # exactly one of tokens / threshold, or genai refuses
            for name, value in speculative.assistant_settings(self.config, self.plan).items():
                setattr(config, name, value)
        return config

    # the view -------------------------------------------------------------------------------
    def _build_view(self, system_prompt: str, assistant: str | None = None) -> None:
        self._history_view = widgets.Output()
        self._answer = widgets.Output()
        self._prompt = widgets.Textarea(placeholder="Ask something, then press Send",
                                        continuous_update=False,
                                        layout=widgets.Layout(width="100%"))
        self._send_btn = widgets.Button(description="Send", button_style="primary",
                                        icon="paper-plane")
        self._stop_btn = widgets.Button(description="Stop", icon="stop", disabled=True)
        self._undo_btn = widgets.Button(description="Undo", icon="undo")
        self._clear_btn = widgets.Button(description="Clear", icon="trash")
        self._system = widgets.Textarea(value=system_prompt, description="System",
                                        layout=widgets.Layout(width="100%"))
        self._controls = _setting_controls(self.config)
        for name, control in self._controls.items():
            control.observe(lambda change, n=name: self.config.__setitem__(n, change["new"]), "value")
        self._metrics_line = widgets.HTML()
        self._send_btn.on_click(lambda _: self._submit_from_view())
        self._stop_btn.on_click(lambda _: self.stop())
        self._undo_btn.on_click(lambda _: self.undo())
        self._clear_btn.on_click(lambda _: self.clear())
        self.observe(lambda change: self._sync_buttons(change["new"]), "busy")
        # draft settings (tokens per step or confidence), only on a speculative pipeline
        self._assistant = (AssistantControls(self.config, assistant == "prompt lookup")
                           if assistant else None)
        settings = widgets.Accordion([widgets.VBox([self._system, *self._controls.values(),
                                                    *filter(None, [self._assistant])])],
                                     titles=("Settings",), selected_index=None)
        buttons = widgets.HBox([self._send_btn, self._stop_btn, self._undo_btn, self._clear_btn])
        mixer = [self._adapters.mixer] if self._adapters else []  # LoRA sliders, read per answer
        self.children = [self._history_view, self._answer, self._prompt, buttons, *mixer,
                         self._metrics_line, self._status, self._error, settings]

    def _sync_buttons(self, busy: bool) -> None:
        self._send_btn.disabled = busy
        self._stop_btn.disabled = not busy

    def _show_live(self, text: str) -> None:
        self._answer.outputs = markdown_output(f"🤖 **Model**\n\n{text}▌")

    def _render(self) -> None:
        self._history_view.outputs = markdown_output(transcript(self.messages))
        self._answer.outputs = ()

    # actions --------------------------------------------------------------------------------
    def send(self, text: str, buffers: Any = None) -> str:  # type: ignore[override]
        """Send ``text`` the way the Send button does; returns the answer ('' on error)."""
        if isinstance(text, dict):  # ipywidgets' own custom message (focus/blur use it)
            return super().send(text, buffers)
        outcome = self._wait(self._submit(text, queue=True))
        return outcome.value if outcome.ok else ""

    def stop(self) -> None:
        """Stop the running answer; what was generated so far stays in the history."""
        self._stopping.set()  # heard even before the run has its streamer
        if self._sink is not None:
            self._sink.stop_event.set()

    def undo(self) -> None:
        """Drop the last exchange (question and answer)."""
        if not self.busy:
            while self.messages and self.messages.pop()["role"] != "user":
                pass
            self._render()

    def clear(self) -> None:
        """Empty the history."""
        if not self.busy:
            self.messages = []
            self._render()
            self._metrics_line.value = ""

    def _submit_from_view(self) -> None:
        if self._submit(self._prompt.value) is not None:
            self._prompt.value = ""

    def _submit(self, text: str, queue: bool = False) -> Any:
        text = text.strip()
        if not text:
            self._error.show("empty prompt: type a question first")
            self.last_error = "empty prompt"
            return None
        turn = [*self._system_message(), *self.messages, {"role": "user", "content": text}]
        sink = TextSink(self._show_live)

        def work(loaded: Loaded) -> str:
            self._sink = sink
            if self._stopping.is_set():  # Stop came while it waited
                sink.stop_event.set()
            result = self._generate(loaded, turn, sink)
            sink.flush()
            self._record(text, result.texts[0], result)
            self.metrics["view_updates"] = sink.flushes
            return result.texts[0]

        def done(outcome: Outcome) -> None:
            self._sink = None
            self._render()

        return self._start(work, done, queue=queue)

    def _system_message(self) -> list[Message]:
        system = self._system.value.strip()
        return [{"role": "system", "content": system}] if system else []

    def _generate(self, loaded: Loaded, turn: list[Message], sink: TextSink) -> Any:
        import openvino_genai as ov_genai

        history = ov_genai.ChatHistory()
        for message in turn:
            history.append(message)
        check_context(loaded, history)
        kwargs = lora.call_kwargs(loaded, self._adapters.alphas())  # the sliders as they are now
        return loaded.pipe.generate(history, self._generation_config(loaded), sink, **kwargs)

    def _record(self, question: str, answer: str, result: Any) -> None:
        """Keep the exchange and show its metrics (a stopped answer is kept as far as it got)."""
        self.messages += [{"role": "user", "content": question},
                          {"role": "assistant", "content": answer}]
        perf = result.perf_metrics
        drafting = speculative.run_metrics(result)  # acceptance and speed-up of a draft model
        self.metrics = {"ttft_ms": perf.get_ttft().mean, "tokens_per_s": perf.get_throughput().mean,
                        "tokens": perf.get_num_generated_tokens(), **drafting}
        lookup = self.plan is not None and self.plan.prompt_lookup
        extra = speculative.metrics_text(drafting, lookup)
        self._metrics_line.value = (
            f"<span style='color:#555'>first token {self.metrics['ttft_ms']:.0f} ms · "
            f"{self.metrics['tokens_per_s']:.1f} tokens/s · {self.metrics['tokens']} tokens"
            f"{' · ' + extra if extra else ''}</span>")


def _setting_controls(config: dict[str, Any]) -> dict[str, widgets.Widget]:
    """One control per generation setting, starting from ``config``."""
    style = {"description_width": "140px"}
    return {
        "max_new_tokens": widgets.IntSlider(config["max_new_tokens"], 1, 2048,
                                            description="max new tokens", style=style),
        "do_sample": widgets.Checkbox(config["do_sample"], description="sample (off: greedy)"),
        "temperature": widgets.FloatSlider(config["temperature"], min=0.05, max=2.0, step=0.05,
                                           description="temperature", style=style),
        "top_p": widgets.FloatSlider(config["top_p"], min=0.05, max=1.0, step=0.05,
                                     description="top-p", style=style),
        "repetition_penalty": widgets.FloatSlider(config["repetition_penalty"], min=1.0, max=2.0,
                                                  step=0.05, description="repetition penalty",
                                                  style=style),
    }
