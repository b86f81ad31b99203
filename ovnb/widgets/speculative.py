"""Speculative decoding made visible: the assistant's controls, and a view of the benchmark.

``AssistantControls`` is the one set of draft settings (Chat shows it in its settings), bound to
the owner's traits (``num_assistant_tokens``, ``assistant_confidence_threshold``,
``max_ngram_size``). ``SpeculativeBench`` shows ``BenchSession``: both answers (identical under
greedy), tokens/s of each, the acceptance rate, the measured ratio and a verdict.
"""
from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets
import traitlets

from ovnb import speculative as spec
from ovnb.sessions.speculative import BenchSession
from ovnb.widgets.base import Front, View
from ovnb.widgets.render import LABEL_WIDTH, bind

STYLE = {"description_width": LABEL_WIDTH}


class AssistantControls(widgets.VBox):
    """How the assistant drafts, as ``owner``'s openvino_genai fields.

    A draft model drafts a fixed number of tokens per step or as long as it is confident (genai
    takes one of the two per request: the other is zeroed here); prompt lookup takes a number of
    tokens and the longest n-gram it looks for in the prompt.
    """

    def __init__(self, owner: traitlets.HasTraits, prompt_lookup: bool = False) -> None:
        super().__init__()
        self.owner, self.prompt_lookup = owner, prompt_lookup
        threshold = float(owner.assistant_confidence_threshold or 0.0)
        self._mode = widgets.ToggleButtons(
            options=[("fixed", "tokens"), ("confident", "threshold")],
            tooltips=["draft a fixed number of tokens per step",
                      "draft while the draft model is this confident"],
            value="threshold" if threshold else "tokens", description="draft by", style=STYLE)
        self._mode.style.button_width = "auto"
        self._tokens = widgets.IntSlider(int(owner.num_assistant_tokens or 5), 1, 16,
                                         description="tokens per step", style=STYLE)
        self._threshold = widgets.FloatSlider(threshold or 0.4, min=0.05, max=0.95, step=0.05,
                                              description="confidence", style=STYLE)
        self._ngram = widgets.IntSlider(int(owner.max_ngram_size or 3), 1, 8,
                                        description="max n-gram size", style=STYLE)
        self.controls = {"mode": self._mode, "tokens": self._tokens, "threshold": self._threshold,
                         "ngram": self._ngram}
        for control in self.controls.values():
            control.observe(self._sync, "value")
        self.children = ([self._tokens, self._ngram] if prompt_lookup
                         else [self._mode, self._tokens, self._threshold])
        self._sync()

    def _sync(self, change: Any = None) -> None:
        """Write the chosen setting to the owner and zero the other one."""
        by_threshold = self._mode.value == "threshold" and not self.prompt_lookup
        with self.owner.hold_trait_notifications():
            self.owner.num_assistant_tokens = 0 if by_threshold else self._tokens.value
            self.owner.assistant_confidence_threshold = (self._threshold.value if by_threshold
                                                         else 0.0)
            if self.prompt_lookup:
                self.owner.max_ngram_size = self._ngram.value
        self._tokens.disabled, self._threshold.disabled = by_threshold, not by_threshold

    def describe(self) -> str:
        """The setting in a few words ("5 tokens per step", "while 40% confident")."""
        if self.owner.assistant_confidence_threshold:
            return f"drafting while ≥{self.owner.assistant_confidence_threshold:.0%} confident"
        ngram = f", n-grams up to {self.owner.max_ngram_size}" if self.prompt_lookup else ""
        return f"{self.owner.num_assistant_tokens} tokens per step{ngram}"


class BenchView(View):
    """The view of a BenchSession: the prompt, the assistant's settings, both runs' figures."""

    session: BenchSession

    def __init__(self, session: BenchSession) -> None:
        super().__init__(session)
        prompt = widgets.Textarea(description="Prompt", style=STYLE,
                                  layout=widgets.Layout(width="auto"))
        bind(prompt, session, "prompt")
        tokens = widgets.IntSlider(session.max_new_tokens, 8, 512, description="max new tokens",
                                   style=STYLE)
        bind(tokens, session, "max_new_tokens")
        self.assistant = AssistantControls(session, session.prompt_lookup)
        self.controls.update(prompt=prompt, max_new_tokens=tokens,
                             run=widgets.Button(description="Run both", button_style="primary",
                                                icon="tachometer"))
        self.figures, self.verdict, self.answers = (widgets.HTML(), widgets.HTML(),
                                                       widgets.HTML())
        self.controls["run"].on_click(self._run)
        self.busy_controls([self.controls["run"]])
        session.observe(self._show, "result")
        self.children = [prompt, tokens, self.assistant, self.controls["run"], self.status_line,
                         self.error_line, self.figures, self.verdict, self.answers]

    def _run(self, button: Any = None) -> None:
        self.session.submit()

    def _show(self, change: dict[str, Any]) -> None:
        result = change["new"]
        if result is None:
            return
        with self.hold_sync():
            self.figures.value = figures_html(result, self.session.labels,
                                               self.assistant.describe())
            self.verdict.value = verdict_html(result)
            self.answers.value = answers_html(result)


class SpeculativeBench(Front):
    """Does a draft pay off here? ``SpeculativeBench(main, draft).run() -> BenchResult``.

    The arguments are ``BenchSession``'s; ``**settings`` takes ``max_new_tokens``,
    ``num_assistant_tokens``, ``assistant_confidence_threshold`` or ``max_ngram_size``.
    """

    session_class = BenchSession
    view_class = BenchView

    def run(self, prompt: str | None = None) -> spec.BenchResult | None:
        """Run the benchmark as the button does and wait; its result (None on error)."""
        return self.session.measure(prompt)


def verdict_html(result: spec.BenchResult) -> str:
    """The verdict: its first sentence in bold, the reasons in plain text, words never broken."""
    text = result.verdict
    head, _, rest = text.partition(". ")
    return (f"<p style='max-width:70em;overflow-wrap:normal;word-break:normal;line-height:1.4'>"
            f"<b>{html.escape(head)}.</b> {html.escape(rest)}</p>")


def figures_html(result: spec.BenchResult, names: tuple[str, str], assistant: str) -> str:
    """The two runs side by side, then the figures that explain the ratio."""
    row = ("<tr><td style='text-align:left'>{}</td><td>{:.1f}</td><td>{}</td>"
           "<td>{:.2f} s</td></tr>")
    rows = (row.format(html.escape(f"{names[0]} alone"), result.plain_tps, result.plain_tokens,
                       result.plain_seconds)
            + row.format(html.escape(f"with {names[1]} ({assistant})"), result.spec_tps,
                         result.spec_tokens, result.spec_seconds))
    f = result.figures
    facts = [f"measured ratio <b>×{result.ratio:.2f}</b>",
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
