"""Does a draft pay off here? The benchmark session: one prompt, greedy, with and without it."""
from __future__ import annotations

import os
from typing import Any

import traitlets

from ovnb import speculative as spec
from ovnb.errors import OvnbError, Stopped
from ovnb.families import CHAT
from ovnb.runtime.jobs import Job, Outcome
from ovnb.runtime.pipelines import Loaded, load
from ovnb.sessions.base import Session, check_flag, check_text, model_label
from ovnb.sessions.chat import draft_folder
from ovnb.sessions.conversation import AssistantSettings
from ovnb.sessions.settings import setting


class BenchState(AssistantSettings):
    """What the benchmark shows: the prompt, its length, the result and the two runs' names."""

    prompt = traitlets.Unicode(spec.DEFAULT_PROMPT, help="the prompt both runs answer")
    max_new_tokens = setting(traitlets.Int(64, help="tokens each run generates"),
                             "max new tokens", 8, 512)
    result = traitlets.Any(None, allow_none=True, help="the last BenchResult")
    labels = traitlets.Tuple(traitlets.Unicode(), traitlets.Unicode(), default_value=("", ""),
                             help="(main model, assistant) as the figures name them")

    @traitlets.validate("max_new_tokens")
    def _check_tokens(self, proposal: Any) -> Any:
        return self._check_setting(proposal)


class BenchSession(Session, BenchState):
    """``BenchSession(main, draft).measure() -> BenchResult`` (None on error).

    ``main`` and ``draft`` are catalog ids or prepared folders (``prompt_lookup=True`` instead of a
    draft benchmarks prompt-lookup decoding). Both runs are greedy with the same prompt, after a
    warm-up, fastest of ``repeats``; compare outputs in f32 (``properties=
    {"INFERENCE_PRECISION_HINT": "f32"}``): under bf16 they may differ.
    """

    family = CHAT

    def __init__(self, main: str | os.PathLike[str], draft: Any = None, device: Any = "CPU",
                 draft_device: Any = None, prompt_lookup: bool = False,
                 properties: dict[str, Any] | None = None, prompt: str = spec.DEFAULT_PROMPT,
                 repeats: int = 3, **settings: Any) -> None:
        super().__init__()
        if draft is None and not prompt_lookup:
            raise OvnbError("give a draft model, or prompt_lookup=True, to compare against")
        self._apply(settings, type(self).__name__)
        spec.check_assistant(self.settings(), prompt_lookup)
        self.prompt = check_text(prompt, "prompt")
        self._open(main, device, properties)
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            raise ValueError(f"repeats must be a whole number of at least 1, not {repeats!r}")
        self.repeats = repeats
        self.prompt_lookup = prompt_lookup  # what assists: prompt lookup, else the draft model
        self.plan: spec.LLMPlan | None = None
        self.labels = (self.model_name, model_label(draft) if draft is not None
                       else "prompt lookup")
        self._load_in_background(lambda: self._load(main, draft, draft_device, prompt_lookup),
                                 f"{self.labels[0]} with and without {self.labels[1]}")

    def _load(self, main: Any, draft: Any, draft_device: Any, prompt_lookup: bool
              ) -> Loaded[Any]:
        plan = spec.plan_llm(self.device, self.given_properties, draft, draft_device, prompt_lookup)
        folder = self._folder(main)
        if draft is not None:
            plan.draft = draft_folder(draft, plan.draft_device)
            spec.check_pair(folder, plan.draft)
        self.plan = plan
        self.publish(labels=(spec.label(folder), spec.label(plan.draft) if draft is not None
                             else "prompt lookup"))
        plain = load(CHAT, folder, plan.device, plan.properties)
        assisted = load(CHAT, folder, plan.device, plan.properties, plan.key,
                        plan.pipeline_kwargs)
        return Loaded((plain, assisted), folder, plan.device, CHAT)

    def measure(self, prompt: str | None = None) -> spec.BenchResult | None:
        """Run both, blocking; the result (None on error, ``last_error`` says why)."""
        if prompt is not None:
            self.prompt = check_text(prompt, "prompt")
        return self.call(self.submit(queue=True), None)

    def submit(self, queue: bool = False) -> Job[spec.BenchResult] | None:
        """Start both runs without waiting (the button); None when refused."""
        check_flag(queue, "queue")
        prompt, tokens, assistant = self.prompt.strip(), self.max_new_tokens, self.settings()
        if not prompt:
            self.refuse("empty prompt: type a prompt for both runs first")
            return None

        def work(loaded: Loaded[Any], job: Job[spec.BenchResult]) -> spec.BenchResult:
            plain, assisted = loaded.pipe

            def between() -> None:  # after each run: Stop is heard there (runs do not stream)
                job.progressed()
                if job.stopped:
                    raise Stopped("stopped between the benchmark's runs: no figures")

            self.publish(status=f"running each {self.repeats + 1} times (one warm-up)…")
            with plain.lock, assisted.lock:
                if job.stopped:
                    raise Stopped("stopped before it began: nothing changed")
                return spec.measure(plain.pipe, assisted.pipe, self.plan, prompt, tokens,
                                    assistant, self.repeats, loaded.folder, between)

        def done(outcome: Outcome[spec.BenchResult]) -> None:
            if outcome.ok:
                self.publish(result=outcome.value, status=f"done in {outcome.seconds:.1f} s")
            else:
                self.publish(status="not run")

        return self.start(work, done, queue=queue, locked=False)
