"""Generation defaults per model, and the loop detector (on the loops SmolLM2 really produced)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ovnb import catalogs, generation
from ovnb.generation import Loop, repetition

SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"

# loops SmolLM2-135M (int4) wrote with the Chat's old settings (greedy, repetition_penalty 1.1),
# as issue 14 quotes them and as they were seen again here
LOOPS = {
    "europe": ("The capital of France is Paris. It is a city in " + "Europe, " * 80, "europe", 80),
    "homework": ("Of course! " + "I'm happy to assist you with your math homework. " * 25,
                 "i'm happy to assist you with your math homework", 25),
    "paragraphs": ("Here is what happened next.\n\n" + "The answer lies somewhereelse again.\n\n" * 57,
                   "the answer lies somewhereelse again", 57),
    "title": ("Tips:\n" + "1. Learn how to learn a new language\n" * 14,
              "1 learn how to learn a new language", 14),
}
# answers without a loop (SmolLM2's and ordinary text): repeated words are not loops
FINE = [
    "The capital of France is Paris.",
    "1. Practice daily. 2. Practice speaking with native speakers. 3. Practice listening to "
    "podcasts in the language you learn.",
    "A neural network is a model made of layers of simple units. Each layer transforms its input, "
    "and training adjusts the weights so that the network's output matches the examples.",
    "No, no, no. Thank you, thank you!",
    "def f(x):\n    return x\n\ndef g(x):\n    return x\n",
    "",
]


@pytest.mark.parametrize("name", LOOPS)
def test_the_quoted_loops_are_found(name: str) -> None:
    text, phrase, times = LOOPS[name]
    assert repetition(text) == Loop(phrase, times)


@pytest.mark.parametrize("text", FINE)
def test_answers_without_a_loop_pass(text: str) -> None:
    assert repetition(text) is None


def test_the_thresholds() -> None:
    assert repetition("very " * 7) is None and repetition("very " * 8) == Loop("very", 8)
    assert repetition("thank you " * 3) is None and repetition("thank you " * 4).times == 4
    assert repetition("we go on and on. " * 2) is None
    assert repetition("we go on and on. " * 3) == Loop("we go on and on", 3)
    spread = "The sky is blue. Birds fly. The sky is blue. Fish swim. The sky is blue."
    assert repetition(spread) == Loop("the sky is blue", 3)  # the same sentence, not back to back
    assert str(Loop("europe", 80)) == "'europe' 80 times"


# defaults --------------------------------------------------------------------------------------
def folder_with(tmp_path: Path, model_id: str | None, config: dict) -> Path:
    folder = tmp_path / "model"
    folder.mkdir(parents=True)
    (folder / "generation_config.json").write_text(json.dumps(config))
    if model_id is not None:
        (folder / "ovnb.json").write_text(json.dumps({"id": model_id, "files": {}}))
    return folder


def test_defaults_take_the_files_sampling_then_the_catalogs(tmp_path: Path) -> None:
    recommended = catalogs.find(SMOLLM2)["generation"]
    folder = folder_with(tmp_path, SMOLLM2, {"do_sample": False, "top_k": 20, "max_length": 8192,
                                             "eos_token_id": 2, "temperature": None})
    found = generation.defaults(folder)
    assert found == {"top_k": 20, **recommended}  # lengths, ids and nulls are not settings
    assert found["do_sample"] == recommended["do_sample"]  # the catalog has the last word


def test_defaults_of_models_outside_the_catalog_and_of_ids(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, None, {"do_sample": True, "temperature": 0.6, "top_p": 0.95})
    assert generation.defaults(folder) == {"do_sample": True, "temperature": 0.6, "top_p": 0.95}
    broken = folder_with(tmp_path / "b", None, {})
    (broken / "generation_config.json").write_text("{not json")
    assert generation.defaults(broken) == {}
    assert generation.defaults(SMOLLM2) == catalogs.find(SMOLLM2)["generation"]  # not prepared
    assert generation.defaults("tiny-llm") == {} or "generation" not in catalogs.find("tiny-llm")


def test_chat_starts_from_the_models_defaults_under_the_callers(tmp_path: Path, llm: Path) -> None:
    import ovnb
    from tests.conftest import F32

    folder = tmp_path / "tiny"
    shutil.copytree(llm, folder)
    config = folder / "generation_config.json"
    config.write_text(json.dumps(
        {"do_sample": True, "temperature": 0.3, "presence_penalty": 0.2, "eos_token_id": 258}))
    record = json.loads((folder / "ovnb.json").read_text())  # the edit is the user's, not damage
    record["files"]["generation_config.json"] = config.stat().st_size
    (folder / "ovnb.json").write_text(json.dumps(record))
    chat = ovnb.Chat(folder, properties=F32, presence_penalty=0.4, max_new_tokens=4)
    chat.wait_loaded()  # the model's defaults are adopted once it is known
    assert chat.do_sample is True and chat.temperature == 0.3
    assert chat.presence_penalty == 0.4  # the caller's value wins
    assert chat.view.controls["temperature"].value == 0.3  # the sliders show what will be used
    assert chat.send("Hi") and chat.last_error == ""


# the notebooks' questions on real SmolLM2 ------------------------------------------------------
# (notebook, conversation, max_new_tokens as the notebook asks): every chat question a notebook
# asks a chat model and prints the answer of (notebook 02's and 10's prompts run with a fixed
# token count, ignore_eos, to time them: their text is not an answer to read)
QUESTIONS = [
    ("01-first-steps", ["What is a neural network? Answer in two sentences."], 200),
    ("01-first-steps", ["Name three colours."], 200),
    ("03-chat", ["Give me three tips to learn a new language.", "Which of them costs nothing?"], 512),
    ("03-chat", ["Hello! Who are you?", "Say that again in five words."], 256),
    ("03-chat", ["What is OpenVINO?"], 512),
    ("03-chat", ["Tell me a story about a robot.", "Continue it.", "And then?"], 512),
    ("07-lora-adapters", ["Describe the sea in one sentence."], 256),
    ("07-lora-adapters", ["What is the capital of France?"], 256),
    ("08-speculative-decoding", ["Explain in a few sentences how a bicycle stays upright."], 256),
]


def test_the_questions_are_the_notebooks() -> None:
    """The list above follows the notebooks: each question is still asked where it says."""
    root = Path(__file__).resolve().parent.parent / "notebooks"
    for notebook, conversation, tokens in QUESTIONS:
        text = next(root.glob(f"{notebook}.ipynb")).read_text()
        for question in conversation:
            assert json.dumps(question)[1:-1] in text, (notebook, question)


@pytest.fixture(scope="session")
def smollm2(cache: Path) -> Path:
    import ovnb

    return ovnb.prepare(SMOLLM2, precision="int4", cache_dir=cache)  # offline: from PyPI


# What SmolLM2 answers depends on the CPU: its default inference precision is bf16 where the CPU
# has AVX512-BF16 and f32 elsewhere, and the two sample different tokens (here the learner's
# defaults were measured at both: benchmarks/generation_bench.py). The test pins what the answers
# depend on: f32 (conftest's F32), which every CPU has, and the seed, 0 (GenerationConfig's own
# rng_seed, so the one a learner's Chat samples with); everything else is the learner's defaults.
# f32 still rounds differently on another CPU generation, as another seed samples differently:
# on a CPU with AVX512 no answer looped at seed 0, on one with AVX2 alone "And then?" did (its
# third story turn). So the verdict is a count the defaults keep below on any CPU: the catalog's
# ref measured them looping on 6 of 104 answers (seeds 0-3, f32 and bf16), about 6%, at which 4 or
# more loops in these 13 answers have a chance under 1%; SmolLM2's own sampling with only a
# repetition penalty looped on 5 of 13 at seed 0 in f32.
SEED = 0
MOST_LOOPS = 3


@pytest.mark.slow
def test_smollm2_answers_the_notebooks_questions_without_looping(smollm2: Path) -> None:
    """The notebooks' questions, asked with the learner's defaults at a pinned precision (f32) and
    seed (0): at most MOST_LOOPS of the 13 answers loop."""
    import ovnb
    from tests.conftest import F32

    loops = []
    for notebook, conversation, tokens in QUESTIONS:
        chat = ovnb.Chat(smollm2, max_new_tokens=tokens, properties=F32, rng_seed=SEED)
        for question in conversation:
            answer = chat.send(question)
            assert answer and chat.last_error == "", chat.last_error
            loop = repetition(answer)
            if loop is not None:
                loops.append(f"{notebook}: {question!r} repeats {loop}: {answer[:200]!r}")
    assert len(loops) <= MOST_LOOPS, "\n".join(loops)
