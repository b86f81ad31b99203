"""Many prompts answered together: a ContinuousBatchingPipeline as a session.

A server answers many users at once by batching their requests: each step of the model runs one
token of every request in progress, so the weights are read once per step for all of them, and a
request joins or leaves the batch whenever it comes or ends. openvino_genai's
``ContinuousBatchingPipeline`` does this on one machine, with a paged KV cache shared by the
requests (its size is the ``cache_size`` setting), prefix caching (requests sharing a prompt's
start compute it once) and KV-cache eviction (long requests keep a bounded cache).

``BatchSession.generate(prompts)`` adds every prompt as a request, steps the pipeline until all
are done, and streams each answer into ``answers`` as it grows (decoded on the view thread at
most ten times a second). ``compare()`` answers the same prompts one at a time on the same
pipeline, so the speed-up batching gives is measured on this machine, not assumed.

Scheduler settings are the pipeline's own: changing one builds a pipeline with it at the next run,
which the session then keeps (the one before is freed unless another session holds it).
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import traitlets
from traitlets import Bool, Dict, Int, List, Unicode

from ovnb import devices, generation
from ovnb.errors import OvnbError, Stopped
from ovnb.families import BATCH, Family
from ovnb.runtime.jobs import Job
from ovnb.runtime.pipelines import Loaded, load
from ovnb.runtime.views import post
from ovnb.sessions.base import Session, check_flag
from ovnb.sessions.settings import SamplingSettings, apply_to, setting

if TYPE_CHECKING:
    from openvino_genai import ContinuousBatchingPipeline

# seconds between card updates: each decodes and draws every card that grew (~5 ms for 8 on this
# CPU, taken from the model's steps); at chat's ten a second the view cost SmolLM2 5.4% of
# generate's speed, at four 2-4% (benchmarks/overhead.py, 8 prompts: 0.961-0.982 over runs)
SHOW_INTERVAL = 0.25
MOST_PROMPTS = 256  # prompts in one run (the scheduler's max_num_seqs default)
SCHEDULER = ("cache_size", "max_num_seqs", "max_num_batched_tokens", "enable_prefix_caching",
             "dynamic_split_fuse", "use_cache_eviction", "cache_eviction_size")
GENERATION = ("max_new_tokens", "do_sample", "temperature", "top_p", "repetition_penalty",
              "presence_penalty", "frequency_penalty", "rng_seed")
GIB = 2**30 / 1e9  # cache_size counts GiB; free_ram_gb, GB
EVICTION_START, EVICTION_RECENT = 32, 128  # tokens kept at a request's start and end when evicting


class BatchSettings(SamplingSettings):
    """How each answer is made, and how the scheduler shares the machine between requests."""

    max_new_tokens = setting(Int(64, help="the longest answer, in tokens"), "max new tokens", 1,
                             4096)
    rng_seed = setting(Int(0, help="seed for sampling"), "seed", 0, 2**31 - 1, control=False)
    cache_size = setting(Int(0, help="GB for the KV cache all requests share (0: it grows as "
                                     "needed)"), "KV cache GB", 0, 1024)
    max_num_seqs = setting(Int(256, help="requests the scheduler runs at once"),
                           "requests at once", 1, 1024)
    max_num_batched_tokens = setting(Int(256, help="tokens one step may compute (prompts are "
                                                   "split across steps beyond it)"),
                                     "tokens per step", 1, 65536, control=False)
    enable_prefix_caching = setting(Bool(True, help="requests sharing a prompt's start compute "
                                                    "it once"), "prefix caching")
    dynamic_split_fuse = setting(Bool(True, help="split long prompts across steps, beside "
                                                 "answers being made"), "split long prompts",
                                 control=False)
    use_cache_eviction = setting(Bool(False, help="keep each request's KV cache bounded, "
                                                  "dropping its least used middle"),
                                 "KV-cache eviction")
    cache_eviction_size = setting(Int(512, help="with eviction: the most tokens of KV cache a "
                                                "request keeps"), "eviction size", 256, 65536,
                                  control=False)

    @traitlets.validate(*[n for n in locals() if not n.startswith("_")])  # every setting above
    def _check(self, proposal: Any) -> Any:
        return self._check_setting(proposal)


class BatchState(traitlets.HasTraits):
    """What a batch shows: its prompts, each answer as it grows, and the figures."""

    prompts = List(Unicode(), help="the prompts of the last run, in order")
    answers = List(Unicode(), help="each prompt's answer so far ('' before its first token)")
    done = List(Bool(), help="which answers are finished")
    metrics = Dict(help="the last run: requests, tokens, seconds, tokens_per_s, cache_mb (the KV "
                        "cache at its largest)")
    comparison = Dict(help="the last compare(): batched and one-by-one tokens/s and their ratio")


class BatchSession(Session, BatchState, BatchSettings):
    """Many prompts at once: ``BatchSession("tiny-llm").generate(["Hi", "Hello"]) -> [str, str]``.

    ``model`` is a catalog id or a prepared chat folder; ``device`` a name or a DevicePicker;
    ``properties`` OpenVINO properties; ``**settings`` the answers' generation settings and the
    scheduler's (openvino_genai's SchedulerConfig names: ``cache_size``, ``max_num_seqs``,
    ``enable_prefix_caching``, ``use_cache_eviction``...); settings not given start from the
    model's recommended ones, as Chat's do. Prompts are a list of str (or one str, one prompt per
    line); each is answered as a chat question. An empty prompt in a list gets ``""``
    and is named in ``last_error``; the others are answered.
    """

    family = BATCH

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU",
                 properties: dict[str, Any] | None = None, **settings: Any) -> None:
        super().__init__()
        self._apply(settings, type(self).__name__)
        self._open(model, device, properties)
        self._load_in_background(lambda: self._load(model), self.model_name)

    def _load(self, model: Any) -> Loaded[ContinuousBatchingPipeline]:
        folder = self._folder(model)
        defaults = generation.defaults(folder)  # the model's recommended sampling, as Chat's
        post(lambda: self._adopt(defaults))
        return self._pipeline_of(folder)

    def _pipeline_of(self, folder: Path) -> Loaded[ContinuousBatchingPipeline]:
        """The shared pipeline for these scheduler settings (one per settings: built once)."""
        values = {name: getattr(self, name) for name in SCHEDULER}
        key = tuple(sorted(values.items()))
        return load(BATCH, folder, self.device, self.properties, key, lambda: {"scheduler": values})

    # from code and the button ------------------------------------------------------------------
    def generate(self, prompts: str | Iterable[str]) -> list[str]:
        """Answer every prompt together; blocks. The answers in order ([] when refused or
        failed; what was made so far when stopped)."""
        return self.call(self.submit(prompts, queue=True), [])

    def submit(self, prompts: str | Iterable[str], queue: bool = False
               ) -> Job[list[str]] | None:
        """Start answering without waiting (the Generate button); None when refused."""
        check_flag(queue, "queue")
        asked = check_prompts(prompts)
        if not any(asked):
            self.refuse("no prompts: type one per line, or pass a list of strings")
            return None
        if len(asked) > MOST_PROMPTS:
            self.refuse(f"{len(asked)} prompts are more than {MOST_PROMPTS} at once: split them")
            return None
        return self.start(lambda loaded, job: self._run(loaded, job, asked), queue=queue,
                          locked=False)

    def compare(self, prompts: str | Iterable[str] | None = None) -> dict[str, float] | None:
        """Answer ``prompts`` (else the last run's) together and then one at a time on the same
        pipeline; blocks. The two throughputs and their ratio (also in ``comparison``), None when
        refused or failed."""
        return self.call(self.submit_compare(prompts, queue=True), None)

    def submit_compare(self, prompts: str | Iterable[str] | None = None, queue: bool = False
                       ) -> Job[dict[str, float]] | None:
        """Start a comparison without waiting (the Compare button); None when refused."""
        check_flag(queue, "queue")
        given = check_prompts(prompts) if prompts is not None else list(self.prompts)
        asked = [prompt for prompt in given if prompt]  # an empty one has nothing to time
        if not asked:
            self.refuse("nothing to compare yet: generate first, or pass prompts")
            return None
        return self.start(lambda loaded, job: self._compare(loaded, job, asked), queue=queue,
                          locked=False)

    # on the worker -----------------------------------------------------------------------------
    def _current(self, loaded: Loaded[Any]) -> Loaded[ContinuousBatchingPipeline]:
        """The pipeline for the scheduler settings as they are now (built when they changed).
        Runs take its lock themselves (``locked=False``): the one loaded first may be another."""
        current = self._pipeline_of(loaded.folder)
        self._loaded = current  # held, so the next run with these settings builds nothing
        return current

    def _config(self, pipe: Any) -> Any:
        values = {name: getattr(self, name) for name in GENERATION}
        return apply_to(pipe.get_config(), values)

    def _run(self, loaded: Loaded[Any], job: Job[list[str]], prompts: list[str]) -> list[str]:
        current = self._current(loaded)
        with current.lock:
            _not_stopped(job)
            self.publish(prompts=prompts, answers=[""] * len(prompts),
                         done=[False] * len(prompts), metrics={},
                         status=f"answering {len(prompts)} prompts together…")
            ids, seconds, cache_mb = self._steps(current.pipe, job, prompts,
                                                 self._config(current.pipe))
        answers = decode_all(current.pipe, ids)
        tokens = sum(map(len, ids))
        self.publish(answers=answers, done=[True] * len(prompts),
                     metrics={"requests": sum(map(bool, prompts)),  # the empty: not asked
                              "tokens": tokens, "seconds": seconds,
                              "tokens_per_s": tokens / seconds if seconds else 0.0,
                              "cache_mb": cache_mb},
                     status=f"stopped: {tokens} tokens kept" if job.stopped else "done")
        empty = [k + 1 for k, prompt in enumerate(prompts) if not prompt]
        if empty:  # published after the run's start cleared the line
            self.publish(last_error=empty_note(empty))
        return answers

    def _steps(self, pipe: Any, job: Job[Any], prompts: list[str], config: Any, show: bool = True
               ) -> tuple[list[list[int]], float, float]:
        """Add every prompt as a request and step until all are done (or Stop): the token ids
        of each answer, the seconds it took, the KV cache's size at its largest (MB). ``show``:
        the answers so far go to the cards (a comparison's runs do not: the cards hold the last
        ``generate``'s prompts)."""
        started = time.perf_counter()
        base = time.monotonic_ns()  # request ids of a pipeline must not repeat
        tokenizer = pipe.get_tokenizer()
        handles = {k: pipe.add_request(base + k, as_chat_turn(tokenizer, prompt), config)
                   for k, prompt in enumerate(prompts) if prompt}  # an empty one is not asked
        job.on_stop(lambda: [handle.stop() for handle in handles.values()])
        ids: list[list[int]] = [[] for _ in prompts]
        first, shown, usage = True, started, 0.0  # shown: when the cards were last updated
        try:
            while pipe.has_non_finished_requests():
                pipe.step()
                _read(handles, ids)
                usage = max(usage, pipe.get_metrics().kv_cache_size_in_bytes / 1e6)
                if first:
                    job.progressed()  # the first step's tokens are in
                now = time.perf_counter()
                if show and (first or now - shown >= SHOW_INTERVAL):
                    shown = now
                    self._show(pipe, ids, handles)
                first = False
            _read(handles, ids)
        except BaseException:
            _drain(pipe, handles)
            raise
        finally:
            # the job's stop listener holds this dict: emptied, no handle outlives its run (the
            # garbage collector would free it later, on any thread, maybe after its pipeline)
            handles.clear()
        return ids, time.perf_counter() - started, usage

    def _show(self, pipe: Any, ids: list[list[int]], handles: dict[int, Any]) -> None:
        """Post the answers so far (decoded on the view thread: the loop only copies ids)."""
        snapshot = [list(one) for one in ids]
        finished = [k not in handles or str(handles[k].get_status()).endswith("FINISHED")
                    for k in range(len(ids))]
        post(lambda: self._set({"answers": decode_all(pipe, snapshot), "done": finished}))

    def _compare(self, loaded: Loaded[Any], job: Job[Any], prompts: list[str]
                 ) -> dict[str, float]:
        current = self._current(loaded)
        with current.lock:
            _not_stopped(job)
            config = self._config(current.pipe)
            together, seconds, _ = self._steps(current.pipe, job, prompts, config, show=False)
            batched = sum(map(len, together)) / seconds if seconds else 0.0
            alone_tokens, alone_seconds = 0, 0.0
            for prompt in prompts:
                if job.stopped:
                    raise Stopped("stopped while answering one at a time: no comparison")
                one, spent, _ = self._steps(current.pipe, job, [prompt], config, show=False)
                alone_tokens, alone_seconds = alone_tokens + len(one[0]), alone_seconds + spent
        alone = alone_tokens / alone_seconds if alone_seconds else 0.0
        figures = {"batched_tokens_per_s": batched, "one_by_one_tokens_per_s": alone,
                   "ratio": batched / alone if alone else 0.0, "prompts": float(len(prompts))}
        self.publish(comparison=figures,
                     status=f"together {figures['ratio']:.1f}× the tokens/s of one by one")
        return figures


def build(family: Family, folder: Path, device: str, properties: dict[str, Any],
          scheduler: dict[str, Any]) -> Any:
    """The batch family's builder: a ContinuousBatchingPipeline with these scheduler settings."""
    import openvino_genai as ov_genai

    check_cache_size(scheduler["cache_size"])
    config = ov_genai.SchedulerConfig()
    for name in ("cache_size", "max_num_seqs", "max_num_batched_tokens", "enable_prefix_caching",
                 "dynamic_split_fuse", "use_cache_eviction"):
        setattr(config, name, scheduler[name])
    if scheduler["use_cache_eviction"]:
        # snapkv_window_size=0 scores the whole prompt: the default window (8) aborts a step when
        # a prompt is shorter than it ("new_scores_size >= num_snapkv_scores")
        config.cache_eviction_config = ov_genai.CacheEvictionConfig(
            EVICTION_START, EVICTION_RECENT, int(scheduler["cache_eviction_size"]),
            ov_genai.AggregationMode.NORM_SUM, snapkv_window_size=0)
    return ov_genai.ContinuousBatchingPipeline(str(folder), config, device, properties)


def check_cache_size(gb: int, free_gb: float | None = None) -> None:
    """One line naming the fix for a KV cache larger than the RAM available (the pipeline's own
    refusal is a C++ check's text); 0, a cache that grows as needed, always fits."""
    free = devices.free_ram_gb() if free_gb is None else free_gb
    if gb and free is not None and gb * GIB > free:
        raise OvnbError(f"a KV cache of {gb} GB is more than the {free:.1f} GB of RAM available: "
                        f"set cache_size lower, or 0 to let it grow as needed")


def empty_note(numbers: list[int]) -> str:
    """The line naming the empty prompts of a run (numbered from 1, as a learner counts)."""
    if len(numbers) == 1:
        return f"prompt {numbers[0]} is empty: it got no answer (the others were answered)"
    listed = ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"
    return f"prompts {listed} are empty: they got no answer (the others were answered)"


def check_prompts(prompts: Any) -> list[str]:
    """``prompts`` as a list of stripped str: a list keeps its places (an empty one stays, as
    ""), one str is a prompt per line (blank lines are no prompts); a TypeError naming what was
    expected."""
    if isinstance(prompts, str):
        return [line.strip() for line in prompts.splitlines() if line.strip()]
    if not isinstance(prompts, Iterable):
        raise TypeError(f"prompts must be a list of str (or one str, a prompt per line), not "
                        f"{type(prompts).__name__}")
    listed = list(prompts)
    for prompt in listed:
        if not isinstance(prompt, str):
            raise TypeError(f"prompts must be str, not {type(prompt).__name__}")
    return [prompt.strip() for prompt in listed]


def as_chat_turn(tokenizer: Any, prompt: str) -> Any:
    """``prompt`` as the token ids of a user's chat turn awaiting the answer, as ``generate``
    makes it (``add_request`` would take a str as it is, without the chat template)."""
    import openvino_genai as ov_genai

    if not tokenizer.chat_template:
        return tokenizer.encode(prompt).input_ids
    turn = ov_genai.ChatHistory([{"role": "user", "content": prompt}])
    text = tokenizer.apply_chat_template(turn, add_generation_prompt=True)
    return tokenizer.encode(text, add_special_tokens=False).input_ids


def decode_all(pipe: Any, ids: list[list[int]]) -> list[str]:
    tokenizer = pipe.get_tokenizer()
    return [tokenizer.decode(one, skip_special_tokens=True) if one else "" for one in ids]


def _read(handles: dict[int, Any], ids: list[list[int]]) -> None:
    for k, handle in handles.items():
        if handle.can_read():
            for output in handle.read().values():
                ids[k].extend(output.generated_ids)


def _drain(pipe: Any, handles: dict[int, Any]) -> None:
    """After a failed step: stop this run's requests and step until the pipeline holds none (a
    pipeline freed with requests in flight is not safe); a second failure is left to the first."""
    for handle in handles.values():
        handle.stop()
    try:
        while pipe.has_non_finished_requests():
            pipe.step()
    except Exception:  # noqa: BLE001 - the first error is the one to report
        pass


def _not_stopped(job: Job[Any]) -> None:
    """Stop came while the run waited for the pipeline: it ends unmade."""
    if job.stopped:
        raise Stopped("stopped before it began: nothing changed")
