"""Speculative decoding made visible: the assistant's controls, and a benchmark of what it buys.

``AssistantControls`` is the one set of draft settings (Chat shows it in its settings).
``SpeculativeBench`` runs one prompt greedily with and without the assistant and shows both
answers (identical under greedy), tokens/s of each, the acceptance rate, the ratio and a verdict.
"""
from __future__ import annotations

import html
import os
from typing import Any

import ipywidgets as widgets

from ovnb import speculative as spec
from ovnb.devices import precision_for
from ovnb.errors import OvnbError
from ovnb.runtime import Loaded, Outcome, construct, load
from ovnb.widgets.base import PipelineWidget, model_folder

STYLE = {"description_width": "140px"}


class AssistantControls(widgets.VBox):
    """How the assistant drafts, written into ``config`` as openvino_genai's fields.

    A draft model drafts a fixed number of tokens per step or as long as it is confident (genai
    takes one of the two per request: the other is zeroed here); prompt lookup takes a number of
    tokens and the longest n-gram it looks for in the prompt.
    """

    def __init__(self, config: dict[str, Any], prompt_lookup: bool = False) -> None:
        super().__init__()
        tokens = int(config.get("num_assistant_tokens") or 0)
        threshold = float(config.get("assistant_confidence_threshold") or 0.0)
        if tokens and threshold:
            raise OvnbError("set num_assistant_tokens or assistant_confidence_threshold, not both: "
                            "openvino_genai uses one of them per request")
        if threshold and prompt_lookup:
            raise OvnbError("prompt lookup works with num_assistant_tokens, not a confidence "
                            "threshold")
        self.config, self.prompt_lookup = config, prompt_lookup
        self._mode = widgets.ToggleButtons(
            options=[("fixed tokens", "tokens"), ("confidence threshold", "threshold")],
            value="threshold" if threshold else "tokens", description="draft by", style=STYLE)
        self._tokens = widgets.IntSlider(tokens or 5, 1, 16, description="assistant tokens",
                                         style=STYLE)
        self._threshold = widgets.FloatSlider(threshold or 0.4, min=0.05, max=0.95, step=0.05,
                                              description="confidence", style=STYLE)
        self._ngram = widgets.IntSlider(int(config.get("max_ngram_size") or 3), 1, 8,
                                        description="max n-gram size", style=STYLE)
        for control in (self._mode, self._tokens, self._threshold, self._ngram):
            control.observe(lambda _: self._sync(), "value")
        self.children = ([self._tokens, self._ngram] if prompt_lookup
                         else [self._mode, self._tokens, self._threshold])
        self._sync()

    def _sync(self) -> None:
        """Put the chosen setting in the config and zero the other one."""
        by_threshold = self._mode.value == "threshold" and not self.prompt_lookup
        self.config["num_assistant_tokens"] = 0 if by_threshold else self._tokens.value
        self.config["assistant_confidence_threshold"] = (self._threshold.value if by_threshold
                                                         else 0.0)
        if self.prompt_lookup:
            self.config["max_ngram_size"] = self._ngram.value
        self._tokens.disabled, self._threshold.disabled = by_threshold, not by_threshold

    def describe(self) -> str:
        """The setting in a few words ("5 tokens per step", "while 40% confident")."""
        if self.config.get("assistant_confidence_threshold"):
            return f"drafting while ≥{self.config['assistant_confidence_threshold']:.0%} confident"
        ngram = f", n-grams up to {self._ngram.value}" if self.prompt_lookup else ""
        return f"{self.config['num_assistant_tokens']} tokens per step{ngram}"


class SpeculativeBench(PipelineWidget):
    """Does a draft pay off here? ``SpeculativeBench(main, draft).run() -> BenchResult``.

    ``main`` and ``draft`` are catalog ids or prepared folders (``prompt_lookup=True`` instead of
    a draft benchmarks prompt-lookup decoding). Both runs are greedy with the same prompt, after a
    warm-up, fastest of ``repeats``; compare outputs in f32 (``properties=
    {"INFERENCE_PRECISION_HINT": "f32"}``): under bf16 they may differ. ``**assistant`` takes
    ``num_assistant_tokens``, ``assistant_confidence_threshold`` or ``max_ngram_size``.
    """

    def __init__(self, main: str | os.PathLike[str], draft: str | os.PathLike[str] | None = None,
                 device: Any = "CPU", draft_device: Any = None, prompt_lookup: bool = False,
                 properties: dict[str, Any] | None = None, prompt: str = spec.DEFAULT_PROMPT,
                 max_new_tokens: int = 64, repeats: int = 3, **assistant: Any) -> None:
        super().__init__()
        if draft is None and not prompt_lookup:
            raise OvnbError("give a draft model, or prompt_lookup=True, to compare against")
        self.device = str(getattr(device, "value", device))
        self.properties = dict(properties or {})
        self.config: dict[str, Any] = dict(assistant)
        self.repeats = repeats
        self.plan: spec.LLMPlan | None = None
        self.result: spec.BenchResult | None = None
        self._names = (str(main), str(draft) if draft is not None else "prompt lookup")
        self._build_view(prompt, max_new_tokens, prompt_lookup)
        self._load_in_background(lambda: self._load(main, draft, draft_device, prompt_lookup),
                                 f"{self._names[0]} with and without {self._names[1]}")

    # the pipelines ----------------------------------------------------------------------------
    def _load(self, main: Any, draft: Any, draft_device: Any, prompt_lookup: bool) -> Loaded:
        plan = spec.plan_llm(self.device, self.properties, draft, draft_device, prompt_lookup)
        folder = model_folder(main, "chat", precision_for(plan.device, "chat"))
        if draft is not None:
            plan.draft = model_folder(draft, "chat", precision_for(plan.draft_device, "chat"))
            spec.check_pair(folder, plan.draft)
        self.plan = plan
        self._names = (spec.label(folder),
                       spec.label(plan.draft) if draft is not None else "prompt lookup")
        plain = load("chat", folder, plan.device, plan.properties)
        assisted = load("chat", folder, plan.device, plan.properties, extra_key=plan.key,
                        build=lambda: construct("chat", folder, plan.device, plan.properties,
                                                **plan.pipeline_kwargs()))
        return Loaded(pipe=(plain, assisted), folder=folder, device=plan.device)

    # the view -------------------------------------------------------------------------------
    def _build_view(self, prompt: str, max_new_tokens: int, prompt_lookup: bool) -> None:
        self._prompt = widgets.Textarea(value=prompt, description="Prompt", style=STYLE,
                                        layout=widgets.Layout(width="100%"))
        self._max_tokens = widgets.IntSlider(max_new_tokens, 8, 512, description="max new tokens",
                                             style=STYLE)
        self._assistant = AssistantControls(self.config, prompt_lookup)
        self._run_btn = widgets.Button(description="Run both", button_style="primary",
                                       icon="tachometer")
        self._figures = widgets.HTML()
        self._answers = widgets.HTML()
        self._verdict = widgets.HTML()
        self._run_btn.on_click(lambda _: self._start_run())
        self.observe(lambda change: setattr(self._run_btn, "disabled", change["new"]), "busy")
        self.children = [self._prompt, self._max_tokens, self._assistant, self._run_btn,
                         self._status, self._error, self._figures, self._verdict, self._answers]

    def _show(self, result: spec.BenchResult) -> None:
        with self.hold_sync():
            self._figures.value = figures_html(result, self._names, self._assistant.describe())
            self._verdict.value = (f"<p style='font-size:110%'><b>{html.escape(result.verdict)}"
                                   "</b></p>")
            self._answers.value = answers_html(result)

    # actions --------------------------------------------------------------------------------
    def run(self, prompt: str | None = None) -> spec.BenchResult | None:
        """Run the benchmark as the button does and wait; its result (None on error)."""
        if prompt is not None:
            self._prompt.value = prompt
        outcome = self._wait(self._start_run(queue=True))
        return outcome.value if outcome.ok else None

    def _start_run(self, queue: bool = False) -> Any:
        prompt, max_new_tokens = self._prompt.value.strip(), self._max_tokens.value
        assistant = dict(self.config)

        def work(loaded: Loaded) -> spec.BenchResult:
            if not prompt:
                raise OvnbError("empty prompt: type a prompt for both runs first")
            plain, assisted = loaded.pipe
            self._set_status(f"running each {self.repeats + 1} times (one warm-up)…")
            with plain.lock, assisted.lock:
                return spec.measure(plain.pipe, assisted.pipe, self.plan, prompt, max_new_tokens,
                               assistant, self.repeats, loaded.folder)

        def done(outcome: Outcome) -> None:
            if outcome.ok:
                self.result = outcome.value
                self._show(outcome.value)
                self._set_status(f"done in {outcome.seconds:.1f} s")
            else:
                self._set_status("not run")

        return self._start(work, done, queue=queue)


def figures_html(result: spec.BenchResult, names: tuple[str, str], assistant: str) -> str:
    """The two runs side by side, then the figures that explain the ratio."""
    row = ("<tr><td style='text-align:left'>{}</td><td>{:.1f}</td><td>{}</td>"
           "<td>{:.2f} s</td></tr>")
    rows = (row.format(html.escape(f"{names[0]} alone"), result.plain_tps, result.plain_tokens,
                       result.plain_seconds)
            + row.format(html.escape(f"with {names[1]} ({assistant})"), result.spec_tps,
                         result.spec_tokens, result.spec_seconds))
    f = result.figures
    facts = [f"ratio <b>×{result.ratio:.2f}</b>",
             "outputs <b>identical ✓</b>" if result.identical else "outputs <b>differ ✗</b>"]
    if f:
        facts += [f"acceptance {f['acceptance']:.0%}",
                  f"{f['tokens_per_step']:.1f} tokens per main-model step",
                  f"a draft token costs {f['draft_cost']:.0%} of a main-model step"]
    if result.weights_ratio is not None:
        facts.append(f"draft weights {result.weights_ratio:.0%} of the main model's")
    return ("<table><thead><tr><th style='text-align:left'>greedy run</th><th>tokens/s</th>"
            f"<th>tokens</th><th>time</th></tr></thead><tbody>{rows}</tbody></table>"
            f"<p>{' · '.join(facts)}</p>")


def answers_html(result: spec.BenchResult) -> str:
    """Both answers, folded away (they are long, and identical when all is well)."""
    def block(title: str, text: str) -> str:
        return (f"<details><summary>{html.escape(title)}</summary>"
                f"<pre style='white-space:pre-wrap'>{html.escape(text)}</pre></details>")

    if result.identical:
        return block("the answer (the same in both runs)", result.plain_text)
    return block("answer without the assistant", result.plain_text) + block(
        "answer with the assistant", result.spec_text)
