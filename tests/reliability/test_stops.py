"""Stop pressed 20 times at random moments (seeded: $OVNB_TEST_SEED, default 0) on each streaming
widget, from before the first token to deep into the run: every time the run ends without an
error, keeps what it had, and the next short run gives exactly the greedy answer it should.

The moments include 0 s: Stop clicked right after Send, before the worker thread has begun. The
moments are the input; no assertion depends on how long anything took.
"""
from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

import ovnb
from ovnb import audio
from ovnb.audio import RATE
from tests.conftest import F32

SEED = int(os.environ.get("OVNB_TEST_SEED", "0"))
PRESSES = 20


def moments(top: float) -> list[float]:
    """20 seeded moments in [0, top] seconds, three of them at once (0 s)."""
    rng = random.Random(SEED)
    chosen = [0.0] * 3 + [rng.uniform(0.0, top) for _ in range(PRESSES - 3)]
    rng.shuffle(chosen)
    return chosen


def bare_chat(pipe: Any, messages: list[dict[str, str]], tokens: int) -> str:
    import openvino_genai as ov_genai

    history = ov_genai.ChatHistory()
    for message in messages:
        history.append({"role": message["role"], "content": message["content"]})
    config = pipe.get_generation_config()
    config.max_new_tokens, config.do_sample, config.repetition_penalty = tokens, False, 1.0
    return pipe.generate(history, config).texts[0]


def wait_run(widget: Any) -> Any:
    """The outcome of the widget's current run, once it has ended."""
    return widget.session.join()


def test_chat_survives_twenty_stops(models: dict[str, Path]) -> None:
    import openvino_genai as ov_genai

    bare = ov_genai.LLMPipeline(str(models["llm"]), "CPU", **F32)
    chat = ovnb.Chat(models["llm"], properties=F32, repetition_penalty=1.0)
    chat.wait_loaded()
    for press, delay in enumerate(moments(0.3)):
        where = f"press {press} at {delay:.3f} s (seed {SEED})"
        chat.clear()
        chat.max_new_tokens = chat.min_new_tokens = 2000
        chat.view.controls["prompt"].value = "Tell me everything"
        chat.view.controls["run"].click()
        time.sleep(delay)
        chat.view.controls["stop"].click()
        wait_run(chat)
        assert chat.last_error == "" and not chat.busy, where
        if chat.messages:  # Stop came once the answer streamed: what was said is kept
            assert chat.metrics["tokens"] < 2000 and chat.messages[-1]["stopped"], where
            assert [m["role"] for m in chat.messages] == ["user", "assistant"], where
        else:  # Stop came before the run's work began: nothing was made
            assert chat.status == "stopped before it began: nothing changed", where
        earlier = len(chat.messages)
        chat.min_new_tokens, chat.max_new_tokens = 0, 6
        answer = chat.send("Still there?")
        assert answer == bare_chat(bare, chat.messages[:earlier + 1], 6) and answer, where
        assert chat.last_error == "" and chat.view.controls["stop"].disabled and not chat.view.controls["run"].disabled


def test_transcriber_survives_twenty_stops(models: dict[str, Path]) -> None:
    clip = audio.load_audio(audio.SAMPLE)
    head = clip[: 3 * RATE]
    widget = ovnb.Transcriber(models["whisper_en"], properties=F32)
    full, short = widget.transcribe((clip, RATE)), widget.transcribe((head, RATE))
    assert full and short and full != short
    for press, delay in enumerate(moments(0.6)):
        where = f"press {press} at {delay:.3f} s (seed {SEED})"
        widget.choose((clip, RATE), "clip")
        widget.view.controls["run"].click()
        time.sleep(delay)
        widget.view.controls["stop"].click()
        wait_run(widget)
        assert widget.last_error == "" and not widget.busy, where
        assert full.startswith(widget.transcript), f"{where}: {widget.transcript!r}"
        assert widget.transcribe((head, RATE)) == short, where


def test_image_generator_survives_twenty_stops(models: dict[str, Path]) -> None:
    small = {"width": 32, "height": 32, "num_inference_steps": 2, "rng_seed": 5}
    gen = ovnb.ImageGenerator(models["sd"], properties=F32, **small)
    expected = np.asarray(gen.generate("a red cat"))
    for press, delay in enumerate(moments(0.3)):
        where = f"press {press} at {delay:.3f} s (seed {SEED})"
        gen.view.controls["prompt"].value = "a long walk on the beach"
        gen.num_inference_steps = 500  # seconds of work: every press lands while it runs
        gen.view.controls["run"].click()
        time.sleep(delay)
        gen.view.controls["stop"].click()
        outcome = wait_run(gen)
        assert gen.last_error == "" and not gen.busy, where
        assert outcome.value is None and gen.status.startswith("stopped"), where
        assert gen.metrics.get("steps", 0) < 500, f"{where}: Stop was not heard"
        gen.num_inference_steps = 2
        image = gen.generate("a red cat")
        assert image is not None and np.array_equal(np.asarray(image), expected), where
    assert len(gen.results) == 8 and gen.results[0].image is image  # stopped runs add nothing


def test_stop_is_heard_while_the_run_waits_for_another_widget(models: dict[str, Path]) -> None:
    """Two Chats share one pipeline; B's run waits for the pipeline's lock (held here, as A's run
    would hold it). Stop on B while it waits must count: B then ends before its work begins,
    unmade, and says so."""
    long = {"max_new_tokens": 1500, "min_new_tokens": 1500}
    first = ovnb.Chat(models["llm"], properties=F32, **long)
    second = ovnb.Chat(models["llm"], properties=F32, **long)
    loaded = first.wait_loaded()
    assert loaded is second.wait_loaded()
    with loaded.lock:  # the pipeline is busy with another widget's run
        second.view.controls["prompt"].value = "And you?"
        second.view.controls["run"].click()
        assert second.session.running  # queued behind the lock
        second.view.controls["stop"].click()
    outcome = wait_run(second)
    assert outcome.ok and outcome.stopped and second.last_error == "" and second.messages == []
    assert second.status == "stopped before it began: nothing changed"
    second.min_new_tokens, second.max_new_tokens = 0, 4
    assert second.send("Still there?") and not second.busy
