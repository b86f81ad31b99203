"""Speculative decoding: which draft fits a model, how its pipeline is set up, whether it pays off.

- A draft proposes tokens that the main model checks, so both must speak the same tokens: the
  tokenizers are compared before any model is compiled (vocabulary, a probe text, special token
  ids). openvino_genai refuses a mismatched pair too, but only after loading both, with a
  multi-line assertion that names neither model nor the fix.
- ``plan_llm`` gathers what an LLMPipeline is built with on each device (the device's needs, such
  as NPU compile limits, then the caller's properties), for Chat and the benchmark alike.
- Under greedy decoding the draft changes the speed, never the text. Whether it speeds things up
  depends on the draft's cost relative to the main model and on how often the main model agrees:
  ``measure`` times both on the same prompt and ``verdict`` says it in plain words.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ovnb import devices
from ovnb.errors import OvnbError
from ovnb.families import CHAT
from ovnb.runtime.pipelines import open_tokenizer

# Text both tokenizers must split the same way: words, digits, code, accents, emoji, a chat tag.
PROBE = ("Hello, world! The 3 quick foxes jumped 42 times.\n"
         "def f(x):\n    return x ** 2  # ünïcödé, 東京, 😀 <|im_start|>user")
DEFAULT_PROMPT = "Write a short story about a robot who learns to paint."
PAYS_OFF, BREAK_EVEN = 1.1, 0.9  # speed ratios: above 1.1 the draft pays off, below 0.9 it costs


# tokenizers ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenizerFacts:
    """What must agree between a main model's tokenizer and its draft's."""

    vocab: tuple[tuple[bytes, int], ...]  # (token, id), by id
    probe: tuple[int, ...]
    bos: int
    eos: int
    pad: int


def tokenizer_facts(folder: Path) -> TokenizerFacts:
    """The tokenizer facts of a prepared model folder (read with openvino_genai's Tokenizer)."""
    ir = Path(folder) / "openvino_tokenizer.xml"
    stamp = ir.stat().st_mtime_ns if ir.is_file() else 0  # a rewritten tokenizer is read anew
    return _tokenizer_facts(Path(folder), stamp)


@functools.lru_cache(maxsize=8)
def _tokenizer_facts(folder: Path, stamp: int) -> TokenizerFacts:
    try:
        tok = open_tokenizer(folder)
    except RuntimeError as exc:
        from ovnb.errors import explain

        raise OvnbError(f"cannot read the tokenizer of {folder}: {explain(exc)}") from exc
    ids = tok.encode(PROBE, add_special_tokens=False).input_ids.data.ravel()
    vocab = tuple(sorted(tok.get_vocab().items(), key=lambda pair: pair[1]))  # bytes: byte-level
    return TokenizerFacts(vocab=vocab, probe=tuple(int(i) for i in ids),
                          bos=tok.get_bos_token_id(), eos=tok.get_eos_token_id(),
                          pad=tok.get_pad_token_id())


def mismatch(main: TokenizerFacts, draft: TokenizerFacts) -> str | None:
    """Why the two tokenizers disagree, in a few words; None when they match."""
    if len(main.vocab) != len(draft.vocab):
        return f"vocabularies of {len(main.vocab)} and {len(draft.vocab)} tokens"
    if main.vocab != draft.vocab:
        (token, at), (other, _) = next(p for p in zip(main.vocab, draft.vocab) if p[0] != p[1])
        return f"token {at} is {_show(token)} in one and {_show(other)} in the other"
    if main.probe != draft.probe:
        return "the same text splits into different tokens"
    for name in ("eos", "bos", "pad"):
        if getattr(main, name) != getattr(draft, name):
            return f"{name} token ids {getattr(main, name)} and {getattr(draft, name)}"
    return None


def _show(token: bytes) -> str:
    return repr(token.decode("utf-8", "backslashreplace"))


def check_pair(main: Path, draft: Path) -> None:
    """Refuse a draft whose tokenizer differs from the main model's, in one line naming the fix."""
    reason = mismatch(tokenizer_facts(Path(main)), tokenizer_facts(Path(draft)))
    if reason is None:
        return
    main_id, draft_id = model_id(main), model_id(draft)
    drafts = drafts_for(main_id)
    fix = f"use {' or '.join(drafts)}" if drafts else "pick a draft from the same model family"
    raise OvnbError(f"draft {draft_id} does not share the tokenizer of {main_id} ({reason}): "
                    f"speculative decoding needs the same tokenizer; {fix}")


def model_id(folder: Path) -> str:
    """The catalog id a prepared folder was built from (its folder name when unknown)."""
    from ovnb.cache import read_manifest

    manifest = read_manifest(Path(folder)) or {}
    return str(manifest.get("id") or Path(folder).name)


def label(folder: Path) -> str:
    """A prepared folder's id and precision, for display ("tiny-llm fp16")."""
    from ovnb.cache import read_manifest

    precision = (read_manifest(Path(folder)) or {}).get("precision")
    return f"{model_id(folder)} {precision}" if precision else model_id(folder)


def drafts_for(main_id: str) -> list[str]:
    """Catalog ids of the drafts made for ``main_id``."""
    from ovnb.catalogs import catalog

    return [e["id"] for e in catalog(CHAT.task) if e.get("draft_for") == main_id]


# how the pipeline is built -------------------------------------------------------------------
@dataclass(eq=False)
class LLMPlan:
    """The settings an LLMPipeline is built with: devices, properties, and the assistant, if any.

    ``draft`` is the draft model (a catalog id or folder, a prepared folder once resolved), run on
    ``draft_device``; ``prompt_lookup`` drafts by finding the last few tokens earlier in the
    prompt (no draft model).
    """

    device: str
    properties: dict[str, Any] = field(default_factory=dict)
    draft: Path | str | None = None
    draft_device: str | None = None
    draft_properties: dict[str, Any] = field(default_factory=dict)
    prompt_lookup: bool = False

    @property
    def speculative(self) -> bool:
        return self.draft is not None or self.prompt_lookup

    @property
    def key(self) -> Hashable:
        """What, beside the main folder, device and properties, makes two pipelines differ."""
        from ovnb.runtime.pipelines import freeze

        return (str(self.draft), self.draft_device, freeze(self.draft_properties),
                self.prompt_lookup)

    def pipeline_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``LLMPipeline`` that switch the assistant on."""
        import openvino_genai as ov_genai

        if self.draft is not None:
            return {"draft_model": ov_genai.draft_model(str(self.draft), self.draft_device,
                                                        **self.draft_properties)}
        return {"prompt_lookup": True} if self.prompt_lookup else {}


def plan_llm(device: Any = "CPU", properties: Mapping[str, Any] | None = None,
             draft: Path | str | None = None, draft_device: Any = None,
             prompt_lookup: bool = False,
             available: list[str] | None = None) -> LLMPlan:
    """The plan for a chat pipeline: each device's own needs, then ``properties`` on top.

    ``device`` and ``draft_device`` are names ("CPU", "NPU", "AUTO"...) or DevicePickers; the draft
    runs on the main device unless told otherwise. Absent devices are refused here, in one line
    (``available`` replaces this machine's devices, for tests).
    """
    if draft is not None and prompt_lookup:
        raise OvnbError("choose a draft model or prompt lookup, not both")
    name, props = devices.resolve(device, CHAT, properties)
    devices.check(name, available)
    if draft is None:
        return LLMPlan(name, props, prompt_lookup=prompt_lookup)
    draft_name, draft_props = devices.resolve(name if draft_device is None else draft_device,
                                              CHAT, properties)
    devices.check(draft_name, available)
    return LLMPlan(name, props, draft, draft_name, draft_props)


def assistant_settings(config: Mapping[str, Any], plan: LLMPlan) -> dict[str, Any]:
    """The assistant fields of a generation config: one of tokens or threshold, never both.

    openvino_genai refuses both at once and needs ``num_assistant_tokens`` and ``max_ngram_size``
    for prompt lookup; 5 assistant tokens (and n-grams of 3) when the caller sets nothing.
    """
    if not plan.speculative:
        return {}
    tokens, threshold = check_assistant(config, plan.prompt_lookup)
    if plan.prompt_lookup:
        return {"num_assistant_tokens": tokens or 5,
                "max_ngram_size": int(config.get("max_ngram_size") or 3)}
    if threshold:
        return {"num_assistant_tokens": 0, "assistant_confidence_threshold": threshold}
    return {"num_assistant_tokens": tokens or 5, "assistant_confidence_threshold": 0.0}


def check_assistant(config: Mapping[str, Any], prompt_lookup: bool) -> tuple[int, float]:
    """(tokens, threshold) of ``config``; refuses both at once, and a threshold for prompt lookup."""
    tokens = int(config.get("num_assistant_tokens") or 0)
    threshold = float(config.get("assistant_confidence_threshold") or 0.0)
    if tokens and threshold:
        raise OvnbError("set num_assistant_tokens or assistant_confidence_threshold, not both: "
                        "openvino_genai uses one of them per request")
    if prompt_lookup and threshold:
        raise OvnbError("prompt lookup works with num_assistant_tokens, not a confidence "
                        "threshold")
    return tokens, threshold


# what a speculative run reports ----------------------------------------------------------------
def run_metrics(result: Any) -> dict[str, float]:
    """Acceptance and cost figures of a draft-model run (empty for other runs).

    ``tokens_per_step``: tokens each main-model step kept; ``draft_cost``: a draft token's time
    relative to a main-model step; ``estimated_speedup``: what that buys over the main model alone
    if its steps cost what they cost here (the benchmark view measures the real ratio).
    """
    ext = getattr(result, "extended_perf_metrics", None)
    if ext is None or not hasattr(ext, "get_num_accepted_tokens"):
        return {}
    main, draft = ext.main_model_metrics, ext.draft_model_metrics
    tokens = ext.get_num_generated_tokens()
    steps = max(len(main.raw_metrics.m_batch_sizes), 1)
    drafted = max(draft.get_num_generated_tokens(), 1)
    step_ms = main.get_inference_duration().mean / steps
    cost = draft.get_inference_duration().mean / drafted / step_ms if step_ms > 0 else 0.0
    figures = {"accepted": ext.get_num_accepted_tokens(),
               "acceptance": ext.get_draft_acceptance_rate(),
               "tokens_per_step": tokens / steps, "draft_tokens_per_step": drafted / steps,
               "draft_cost": cost}
    figures["estimated_speedup"] = predicted_speedup(figures)
    return figures


def predicted_speedup(figures: Mapping[str, float]) -> float:
    """Tokens per main step over the step's cost counted in main steps (1 + drafts x draft cost)."""
    cost = 1 + figures["draft_tokens_per_step"] * figures["draft_cost"]
    return figures["tokens_per_step"] / cost


def metrics_text(figures: Mapping[str, float], prompt_lookup: bool = False) -> str:
    """The speculative part of Chat's metrics line ('' for a plain run)."""
    if not figures:  # openvino_genai reports no acceptance figures for prompt lookup
        return "prompt lookup (the benchmark view measures its speed-up)" if prompt_lookup else ""
    # no speed-up here: from one answer it can only be estimated, and the estimate misleads
    # (the lockstep costs it leaves out can dwarf the gain); the benchmark view measures it
    return (f"{figures['acceptance']:.0%} of draft tokens accepted · "
            f"{figures['tokens_per_step']:.1f} tokens per main-model step")


# the benchmark ---------------------------------------------------------------------------------
@dataclass
class BenchResult:
    """The same greedy prompt with and without the assistant."""

    prompt: str
    mode: str  # "draft model" or "prompt lookup"
    plain_text: str
    spec_text: str
    plain_tokens: int
    spec_tokens: int
    plain_seconds: float  # fastest of the timed runs
    spec_seconds: float
    figures: dict[str, float] = field(default_factory=dict)  # run_metrics of the speculative run
    weights_ratio: float | None = None  # draft weights / main weights, on disk

    @property
    def identical(self) -> bool:
        return self.plain_text == self.spec_text

    @property
    def plain_tps(self) -> float:
        return self.plain_tokens / self.plain_seconds if self.plain_seconds else 0.0

    @property
    def spec_tps(self) -> float:
        return self.spec_tokens / self.spec_seconds if self.spec_seconds else 0.0

    @property
    def ratio(self) -> float:
        """Speculative tokens/s over plain tokens/s: above 1 the assistant speeds things up."""
        return self.spec_tps / self.plain_tps if self.plain_tps else 0.0

    @property
    def verdict(self) -> str:
        return verdict(self)


def greedy_config(pipe: Any, max_new_tokens: int, assistant: Mapping[str, Any]) -> Any:
    """A greedy GenerationConfig of ``pipe`` (no repetition penalty: plain argmax each step)."""
    config = pipe.get_generation_config()
    config.do_sample, config.max_new_tokens, config.repetition_penalty = False, max_new_tokens, 1.0
    for name, value in assistant.items():
        setattr(config, name, value)
    return config


def measure(plain: Any, spec: Any, plan: LLMPlan, prompt: str = DEFAULT_PROMPT,
            max_new_tokens: int = 64, assistant: Mapping[str, Any] | None = None,
            repeats: int = 3, main: Path | None = None,
            between: Callable[[], None] | None = None) -> BenchResult:
    """Run ``prompt`` greedily on ``plain`` and on ``spec`` (``plan``'s assistant): texts, speed.

    Each pipeline runs once to warm up, then ``repeats`` times, alternating so that a busy machine
    slows both alike; the fastest run of each counts (wall time, as a user waits for it).
    ``between()`` is called after each run (a session checks its Stop there).
    """
    settings = assistant_settings(assistant or {}, plan)
    configs = (greedy_config(plain, max_new_tokens, {}),
               greedy_config(spec, max_new_tokens, settings))
    runs: list[list[tuple[float, Any]]] = [[], []]
    for _ in range(repeats + 1):
        for j, pipe in enumerate((plain, spec)):
            runs[j].append(_timed(pipe, prompt, configs[j]))
            if between is not None:
                between()
    (plain_s, plain_r), (spec_s, spec_r) = (min(r[1:], key=lambda x: x[0]) for r in runs)
    return BenchResult(prompt=prompt, mode="draft model" if plan.draft else "prompt lookup",
                       plain_text=plain_r.texts[0], spec_text=spec_r.texts[0],
                       plain_tokens=plain_r.perf_metrics.get_num_generated_tokens(),
                       spec_tokens=spec_r.perf_metrics.get_num_generated_tokens(),
                       plain_seconds=plain_s, spec_seconds=spec_s, figures=run_metrics(spec_r),
                       weights_ratio=weights_ratio(main, plan.draft) if main else None)


def _timed(pipe: Any, prompt: str, config: Any) -> tuple[float, Any]:
    import openvino_genai as ov_genai

    history = ov_genai.ChatHistory()
    history.append({"role": "user", "content": prompt})
    start = time.perf_counter()
    result = pipe.generate(history, config)
    return time.perf_counter() - start, result


def weights_ratio(main: Path, draft: Path | None) -> float | None:
    """Draft weights over main weights, by file size (None without a draft)."""
    if draft is None:
        return None
    sizes = [(Path(f) / "openvino_model.bin").stat().st_size for f in (main, draft)]
    return sizes[1] / sizes[0] if sizes[0] else None


def verdict(result: BenchResult) -> str:
    """Whether the assistant pays off on this machine, and why, in plain words."""
    lines = []
    if not result.identical:
        lines.append("⚠ The answers differ, yet under greedy decoding they must be identical: run "
                     "both in f32 (properties={'INFERENCE_PRECISION_HINT': 'f32'}); bf16 rounding "
                     "can change the main model's choices.")
    ratio = result.ratio
    if ratio >= PAYS_OFF:
        head = f"The {result.mode} pays off: ×{ratio:.2f} the speed of the main model alone."
    elif ratio > BREAK_EVEN:
        cost = "its memory" if result.mode == "draft model" else "the switch"
        head = f"The {result.mode} breaks even (×{ratio:.2f}): no gain worth {cost}."
    else:
        head = (f"The {result.mode} does not pay off: ×{ratio:.2f}, slower than the main "
                "model alone.")
    lines.append(f"{head} {_why(result)}")
    return " ".join(lines)


def _why(result: BenchResult) -> str:
    """The reason behind the ratio, from the draft's cost and how often its guesses were kept."""
    f = result.figures
    if not f:
        return ("Prompt lookup costs almost nothing, but helps only when the answer repeats text "
                "from the prompt (summaries, edits, extraction); elsewhere its guesses miss.")
    size = (f" (its weights are {result.weights_ratio:.0%} of the main model's)"
            if result.weights_ratio is not None else "")
    because = (f"Each draft token costs {f['draft_cost']:.0%} of a main-model step{size}; the "
               f"main model kept {f['acceptance']:.0%} of the guesses, "
               f"{f['tokens_per_step']:.1f} tokens per step for "
               f"{f['draft_tokens_per_step']:.1f} drafted.")
    if result.ratio < 0.8 * f["estimated_speedup"]:
        because += (f" These figures predict ×{f['estimated_speedup']:.2f}; the rest went to "
                    "running two models in lockstep (scheduling, longer verification steps).")
    if result.ratio >= PAYS_OFF:
        return because
    return (f"{because} A draft pays off when it costs a few percent of the main model "
            "(a much smaller model) and agrees with it often.")


def bench(main: Path | str, draft: Path | str | None = None, prompt: str = DEFAULT_PROMPT, *,
          max_new_tokens: int = 64, device: Any = "CPU", draft_device: Any = None,
          properties: Mapping[str, Any] | None = None, prompt_lookup: bool = False,
          repeats: int = 3, **assistant: Any) -> BenchResult:
    """Build both pipelines (catalog ids or folders) and ``measure`` them: for scripts."""
    from ovnb.models import prepare
    from ovnb.runtime.pipelines import build

    plan = plan_llm(device, properties, draft, draft_device, prompt_lookup)
    main = prepare(main, devices.precision_for(plan.device, CHAT))
    if plan.draft is not None:
        plan.draft = prepare(plan.draft, devices.precision_for(plan.draft_device, CHAT))
        check_pair(main, plan.draft)
    plain = build(CHAT, main, plan.device, plan.properties)
    spec = build(CHAT, main, plan.device, plan.properties, **plan.pipeline_kwargs())
    return measure(plain, spec, plan, prompt, max_new_tokens, assistant, repeats, main)
