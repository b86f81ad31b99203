"""BatchSession on tiny-llm in f32: the bare continuous-batching pipeline's answers, in order,
under every scheduler setting; the one-by-one comparison; what is refused. Nothing races a clock:
answers are compared, figures only checked to exist."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from traitlets import TraitError

from ovnb.devices import free_ram_gb
from ovnb.errors import OvnbError
from ovnb.runtime.views import in_view_thread
from ovnb.sessions.batch import MOST_PROMPTS, BatchSession, check_cache_size
from tests.conftest import F32

PROMPTS = ["Hello!", "Name a colour.", "Count to three.", "What is the sea?"]
GREEDY = {"max_new_tokens": 12, "do_sample": False, "repetition_penalty": 1.0}


def bare(folder: Path, prompts: list[str], tokens: int = 12) -> list[str]:
    """What the bare ContinuousBatchingPipeline answers, greedily, all prompts in one generate."""
    import openvino_genai as ov_genai

    scheduler = ov_genai.SchedulerConfig()
    scheduler.cache_size = 1
    pipe = ov_genai.ContinuousBatchingPipeline(str(folder), scheduler, "CPU", F32)
    config = pipe.get_config()
    config.max_new_tokens, config.do_sample, config.repetition_penalty = tokens, False, 1.0
    results = pipe.generate(prompts, [config] * len(prompts))
    return [r.m_generation_ids[0] for r in results]


@pytest.fixture(scope="module")
def batch(llm: Path) -> BatchSession:
    return BatchSession(llm, properties=F32, **GREEDY)


def test_answers_are_the_bare_pipelines_in_order(batch: BatchSession, llm: Path) -> None:
    seen: list[bool] = []
    batch.observe(lambda change: seen.append(in_view_thread()), "answers")
    answers = batch.generate(PROMPTS)
    assert answers == bare(llm, PROMPTS) and all(answers)
    assert batch.answers == answers and batch.done == [True] * 4 and batch.prompts == PROMPTS
    assert seen and all(seen)  # every update applied on the view thread
    m = batch.metrics
    assert m["requests"] == 4 and m["tokens"] == 48 and m["tokens_per_s"] > 0
    assert m["cache_mb"] > 0 and batch.last_error == "" and batch.status == "done"


@pytest.mark.parametrize("scheduler", [
    {"enable_prefix_caching": False}, {"use_cache_eviction": True, "cache_eviction_size": 256},
    {"cache_size": 1, "max_num_seqs": 2}, {"max_num_batched_tokens": 8}])
def test_every_scheduler_setting_keeps_the_answers(llm: Path, scheduler: dict[str, Any]) -> None:
    """Scheduler settings change how the machine is shared, never what greedy decoding says
    (two requests at a time, or prompts split across steps, included)."""
    session = BatchSession(llm, properties=F32, **GREEDY, **scheduler)
    assert session.generate(PROMPTS) == bare(llm, PROMPTS)
    assert session.last_error == ""


def test_a_changed_scheduler_setting_applies_from_the_next_run(batch: BatchSession,
                                                               llm: Path) -> None:
    batch.max_num_seqs = 1  # one request at a time: the same answers, built anew
    try:
        assert batch.generate(PROMPTS[:2]) == bare(llm, PROMPTS[:2])
    finally:
        batch.max_num_seqs = 256
    assert batch.generate(PROMPTS[:2]) == bare(llm, PROMPTS[:2])


def test_a_changed_setting_builds_one_pipeline_kept_for_the_next_runs(
        llm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ovnb.sessions import batch as module

    session = BatchSession(llm, properties=F32, **GREEDY)
    session.wait_loaded()
    built = []
    real_build = module.build
    monkeypatch.setattr(module, "build", lambda *a, **k: built.append(k) or real_build(*a, **k))
    session.max_num_seqs = 3
    for _ in range(3):
        assert session.generate(PROMPTS[:1]) == bare(llm, PROMPTS[:1])
    assert len(built) == 1 and built[0]["scheduler"]["max_num_seqs"] == 3


def test_unset_settings_start_from_the_models_defaults(llm: Path, tmp_path: Path) -> None:
    """As Chat's: the model's recommended sampling fills what the caller did not set."""
    import json
    import shutil

    folder = tmp_path / "tiny"
    shutil.copytree(llm, folder)
    config = folder / "generation_config.json"
    config.write_text(json.dumps({"do_sample": True, "temperature": 0.3, "presence_penalty": 0.2,
                                  "frequency_penalty": 0.1, "eos_token_id": 258}))
    record = json.loads((folder / "ovnb.json").read_text())  # the edit is the user's, not damage
    record["files"]["generation_config.json"] = config.stat().st_size
    (folder / "ovnb.json").write_text(json.dumps(record))
    session = BatchSession(folder, properties=F32, presence_penalty=0.4, max_new_tokens=6)
    session.wait_loaded()
    assert session.do_sample is True and session.temperature == 0.3
    assert session.frequency_penalty == 0.1 and session.presence_penalty == 0.4  # the caller's
    assert all(session.generate(PROMPTS[:2])) and session.last_error == ""


def test_one_str_is_a_prompt_per_line(batch: BatchSession, llm: Path) -> None:
    assert batch.generate("Hello!\n\n  Name a colour.  \n") == bare(llm, PROMPTS[:2])
    assert batch.prompts == PROMPTS[:2]


def test_an_empty_prompt_gets_nothing_and_is_named(batch: BatchSession, llm: Path) -> None:
    answers = batch.generate(["Hello!", "  ", "Name a colour."])
    assert answers == [bare(llm, PROMPTS[:2])[0], "", bare(llm, PROMPTS[:2])[1]]
    assert batch.prompts == ["Hello!", "", "Name a colour."] and batch.done == [True] * 3
    assert batch.last_error == "prompt 2 is empty: it got no answer (the others were answered)"
    assert batch.metrics["requests"] == 2  # "2 answers together": the empty one was not asked
    assert batch.generate(["", "Hello!", ""])[1] and "prompts 1 and 3 are empty" in batch.last_error
    assert batch.generate(["Hello!"]) and batch.last_error == ""  # the next run clears it


def test_a_cache_the_machine_cannot_hold_is_one_line(batch: BatchSession, llm: Path) -> None:
    """More GB than the RAM available: the pipeline's C++ check would say it in a paragraph."""
    with pytest.raises(OvnbError) as refused:
        check_cache_size(9, free_gb=8.04)
    assert str(refused.value) == ("a KV cache of 9 GB is more than the 8.0 GB of RAM available: "
                                  "set cache_size lower, or 0 to let it grow as needed")
    check_cache_size(7, free_gb=8.0)  # 7 GiB fits in 8 GB
    too_big = int(free_ram_gb() or 0) + 2  # more than this machine has, whatever it is
    before = batch.generate(PROMPTS[:2])
    batch.cache_size = too_big
    try:
        assert batch.generate(["Hello!"]) == []
        assert batch.last_error.startswith(f"a KV cache of {too_big} GB is more than the ")
        assert batch.answers == before and batch.busy is False  # nothing lost
    finally:
        batch.cache_size = 1  # the fix named: the next run builds with it
    assert batch.generate(PROMPTS[:1]) == bare(llm, PROMPTS[:1]) and batch.last_error == ""
    mistaken = BatchSession(llm, properties=F32, cache_size=too_big)  # refused while loading
    assert mistaken.generate(["Hello!"]) == [] and "is more than the" in mistaken.last_error


def test_compare_measures_one_by_one_on_the_same_pipeline(batch: BatchSession) -> None:
    figures = batch.compare(PROMPTS)
    assert figures is not None and batch.comparison == figures and batch.last_error == ""
    assert figures["prompts"] == 4 and figures["batched_tokens_per_s"] > 0
    assert figures["ratio"] == pytest.approx(figures["batched_tokens_per_s"]
                                             / figures["one_by_one_tokens_per_s"])
    assert "one by one" in batch.status


def test_what_is_refused(batch: BatchSession) -> None:
    assert batch.generate([]) == [] and batch.last_error.startswith("no prompts")
    assert batch.generate(["", "  "]) == [] and batch.last_error.startswith("no prompts")
    assert batch.generate(["x"] * (MOST_PROMPTS + 1)) == []
    assert f"more than {MOST_PROMPTS} at once" in batch.last_error
    with pytest.raises(TypeError, match="prompts must be str, not int"):
        batch.generate(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="prompts must be a list of str"):
        batch.generate(42)  # type: ignore[arg-type]
    with pytest.raises(TraitError, match="max_num_seqs must be between 1 and 1024"):
        batch.max_num_seqs = 0
    with pytest.raises(TypeError, match="has no setting 'cache_gb'"):
        BatchSession("tiny-llm", cache_gb=2)
    assert batch.generate(["Hello!"]) and batch.last_error == ""
