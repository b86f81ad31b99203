"""``ovnb.Batch``: a BatchSession and its view: prompts one per line, a card per answer streaming
in, the throughput, and a comparison with answering them one by one."""
from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from ovnb.sessions.batch import SCHEDULER, BatchSession
from ovnb.widgets.base import Front, View
from ovnb.widgets.render import grey, markdown_html, metrics_line, setting_controls

CARD_WIDTH = "280px"


class BatchView(View):
    """The view of a BatchSession: prompts in, one card per answer, figures."""

    session: BatchSession

    def __init__(self, session: BatchSession) -> None:
        super().__init__(session)
        self.controls.update(
            prompts=widgets.Textarea(placeholder="One prompt per line, then press Answer all",
                                     layout=widgets.Layout(width="auto", height="8em")),
            run=widgets.Button(description="Answer all", button_style="primary",
                               icon="layer-group"),
            stop=widgets.Button(description="Stop", icon="stop"),
            compare=widgets.Button(description="Compare one by one", icon="balance-scale",
                                   tooltip="answer the same prompts one at a time, and compare",
                                   layout=widgets.Layout(width="auto")),  # its label in full
            **setting_controls(session))
        self.cards = widgets.GridBox(layout=widgets.Layout(
            grid_template_columns=f"repeat(auto-fill, minmax({CARD_WIDTH}, 1fr))",
            grid_gap="8px"))
        self.figures_line = widgets.HTML()
        self.comparison_line = widgets.HTML()
        self._drawn: list[tuple[str, str, bool]] = []  # what each card shows, to redraw only changes
        self._wire()
        self.children = [self.controls["prompts"],
                         widgets.HBox([self.controls["run"], self.controls["stop"],
                                       self.controls["compare"]]),
                         self.cards, self.figures_line, self.comparison_line, self.status_line,
                         self.error_line, self._settings()]

    def _settings(self) -> widgets.Accordion:
        """Answer settings first; the scheduler's, which rebuild the pipeline, apart."""
        c = self.controls
        answers = [c[n] for n in self.session.trait_names(setting=True, control=True)
                   if n not in SCHEDULER]
        scheduler = [c[n] for n in SCHEDULER if n in c]
        body = widgets.VBox([*answers, widgets.HTML(grey(
            "scheduler (a change builds the pipeline anew at the next run):")), *scheduler])
        return widgets.Accordion([body], titles=("Settings",), selected_index=None)

    def _wire(self) -> None:
        c, session = self.controls, self.session
        c["run"].on_click(self._answer)
        c["stop"].on_click(self.press_stop)
        c["compare"].on_click(self._compare_one_by_one)
        self.busy_controls([c["run"], c["compare"]], [c["stop"]])
        session.observe(self._show_prompts, "prompts")
        session.observe(self._show_answers, ["answers", "done"])
        session.observe(self._show_metrics, "metrics")
        session.observe(self._show_comparison, "comparison")

    def _answer(self, button: Any = None) -> None:
        self.session.submit(self.controls["prompts"].value)

    def _compare_one_by_one(self, button: Any = None) -> None:
        self.session.submit_compare(self.controls["prompts"].value or None)

    # the views -----------------------------------------------------------------------------------
    def _show_prompts(self, change: Any = None) -> None:
        """A card per prompt (the prompts box shows what code asked, too)."""
        prompts = self.session.prompts
        if prompts and self.controls["prompts"].value.splitlines() != list(prompts):
            self.controls["prompts"].value = "\n".join(prompts)
        for card in self.cards.children:
            card.close()
        self.cards.children = [widgets.HTML(layout=widgets.Layout(min_width="0"))
                               for _ in prompts]
        self._drawn = []
        self._show_answers()

    def _show_answers(self, change: Any = None) -> None:
        """Draw the cards whose answer or state changed: answers stream in ten times a second,
        most cards are unchanged at each, and drawing one (markdown) costs the CPU the model
        runs on."""
        session = self.session
        shown = [(prompt, session.answers[k] if k < len(session.answers) else "",
                  k < len(session.done) and session.done[k])
                 for k, prompt in enumerate(session.prompts)]
        for k, (card, now) in enumerate(zip(self.cards.children, shown)):
            if k >= len(self._drawn) or self._drawn[k] != now:
                card.value = card_html(*now)
        self._drawn = shown

    def _show_metrics(self, change: Any = None) -> None:
        m = self.session.metrics
        self.figures_line.value = metrics_line([
            f"{m['requests']} answers together: {m['tokens']} tokens in {m['seconds']:.2f} s",
            f"{m['tokens_per_s']:.0f} tokens/s", f"KV cache up to {m['cache_mb']:.1f} MB"
        ]) if m else ""

    def _show_comparison(self, change: Any = None) -> None:
        f = self.session.comparison
        self.comparison_line.value = (
            f"<b>together: {f['batched_tokens_per_s']:.0f} tokens/s · one by one: "
            f"{f['one_by_one_tokens_per_s']:.0f} tokens/s · ×{f['ratio']:.1f}</b>" if f else "")


def card_html(prompt: str, answer: str, done: bool) -> str:
    """One prompt and its answer so far, as a small card (the prompt escaped, the answer as
    markdown made safe)."""
    if not prompt:
        return f"<div class='ovnb-answer ovnb-unasked'>{grey('an empty prompt: not asked')}</div>"
    mark = "✓" if done else "…"
    return (f"<div class='ovnb-answer'><div class='ovnb-asked'>{html.escape(prompt)} "
            f"<span class='ovnb-quiet'>{mark}</span></div>"
            f"<div>{markdown_html(answer) if answer else grey('waiting…')}</div></div>")


class Batch(Front):
    """Many prompts at once: ``Batch("tiny-llm").generate(["Hi", "Hello"]) -> [str, str]``.

    Its arguments are ``BatchSession``'s (generation settings, and the scheduler's:
    ``cache_size``, ``max_num_seqs``, ``enable_prefix_caching``, ``use_cache_eviction``...). Each
    answer streams into its own card; ``compare()`` answers the same prompts one by one and shows
    how much faster together is.
    """

    session_class = BatchSession
    view_class = BatchView
