"""Speculative decoding on tiny-llm and its draft (f32): tokenizer match, settings, benchmark."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

import ovnb
from ovnb import speculative
from ovnb.errors import OvnbError
from tests.conftest import F32




def draft_copy(draft: Path, folder: Path) -> Path:
    """tiny-llm-draft copied under a name of its own (no manifest: named by its folder)."""
    shutil.copytree(draft, folder)
    (folder / "ovnb.json").unlink()
    return folder


def with_extra_token(draft: Path, folder: Path) -> Path:
    """tiny-llm-draft whose tokenizer has one more special token (another vocabulary)."""
    import openvino as ov
    from openvino_tokenizers import convert_tokenizer

    from ovnb.sources.tinytok import make_tokenizer

    folder = draft_copy(draft, folder)
    tok, detok = convert_tokenizer(make_tokenizer(["<|tool|>"]), with_detokenizer=True)
    ov.save_model(tok, folder / "openvino_tokenizer.xml")
    ov.save_model(detok, folder / "openvino_detokenizer.xml")
    return folder


def with_other_eos(draft: Path, folder: Path) -> Path:
    """tiny-llm-draft with the same vocabulary but another end token id."""
    import openvino as ov
    import openvino_tokenizers  # noqa: F401  (registers the tokenizer operations)

    folder = draft_copy(draft, folder)
    model = ov.Core().read_model(draft / "openvino_tokenizer.xml")
    model.set_rt_info(256, "eos_token_id")
    for name in ("openvino_tokenizer.xml", "openvino_tokenizer.bin"):
        (folder / name).unlink()
    ov.save_model(model, folder / "openvino_tokenizer.xml")
    return folder


MISMATCHED = {"extra-token": (with_extra_token, "vocabularies of 259 and 260 tokens"),
              "other-eos": (with_other_eos, "eos token ids 258 and 256")}


@pytest.fixture(scope="module", params=sorted(MISMATCHED))
def mismatched(request: pytest.FixtureRequest, draft: Path,
               tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    make, reason = MISMATCHED[request.param]
    return make(draft, tmp_path_factory.mktemp("draft") / f"draft-{request.param}"), reason


# tokenizers ----------------------------------------------------------------------------------
def test_the_tiny_pair_shares_its_tokenizer(llm: Path, draft: Path) -> None:
    speculative.check_pair(llm, draft)
    facts = speculative.tokenizer_facts(llm)
    assert facts == speculative.tokenizer_facts(draft)
    assert len(facts.vocab) == 259 and facts.eos == 258 and len(facts.probe) > 40


def test_a_draft_with_another_tokenizer_is_refused(llm: Path, mismatched: tuple[Path, str]) -> None:
    folder, reason = mismatched
    with pytest.raises(OvnbError) as caught:
        speculative.check_pair(llm, folder)
    message = str(caught.value)
    assert f"draft {folder.name} does not share the tokenizer of tiny-llm ({reason})" in message
    assert message.endswith("use tiny-llm-draft") and "\n" not in message


def test_each_kind_of_mismatch_is_named(llm: Path) -> None:
    facts = speculative.tokenizer_facts(llm)
    vocab = list(facts.vocab)
    vocab[65] = (b"\xff", 65)
    cases = {
        "token 65 is": dataclasses.replace(facts, vocab=tuple(vocab)),
        "the same text splits into different tokens": dataclasses.replace(facts, probe=(1, 2)),
        "bos token ids": dataclasses.replace(facts, bos=0),
        "pad token ids": dataclasses.replace(facts, pad=0),
    }
    for expected, other in cases.items():
        assert expected in speculative.mismatch(facts, other)
    assert speculative.mismatch(facts, facts) is None


# settings ------------------------------------------------------------------------------------
def test_assistant_settings_use_one_of_tokens_or_threshold() -> None:
    draft = speculative.LLMPlan("CPU", draft=Path("d"), draft_device="CPU")
    lookup = speculative.LLMPlan("CPU", prompt_lookup=True)
    assert speculative.assistant_settings({}, draft) == {"num_assistant_tokens": 5,
                                                         "assistant_confidence_threshold": 0.0}
    assert speculative.assistant_settings({"assistant_confidence_threshold": 0.3}, draft) == {
        "num_assistant_tokens": 0, "assistant_confidence_threshold": 0.3}
    assert speculative.assistant_settings({"num_assistant_tokens": 2}, lookup) == {
        "num_assistant_tokens": 2, "max_ngram_size": 3}
    assert speculative.assistant_settings({"num_assistant_tokens": 2},
                                          speculative.LLMPlan("CPU")) == {}
    with pytest.raises(OvnbError, match="not both"):
        speculative.assistant_settings({"num_assistant_tokens": 3,
                                        "assistant_confidence_threshold": 0.3}, draft)
    with pytest.raises(OvnbError, match="not a confidence threshold"):
        speculative.assistant_settings({"assistant_confidence_threshold": 0.3}, lookup)


def test_a_draft_and_prompt_lookup_together_are_refused() -> None:
    with pytest.raises(OvnbError, match="a draft model or prompt lookup, not both"):
        speculative.plan_llm("CPU", draft=Path("d"), prompt_lookup=True)


# the benchmark -------------------------------------------------------------------------------
def test_benchmark_of_the_tiny_pair(llm: Path, draft: Path) -> None:
    result = speculative.bench(llm, draft, "Hello there", max_new_tokens=32, properties=F32,
                               repeats=1)
    assert result.identical and len(result.plain_text) == 32
    assert result.plain_tokens == result.spec_tokens == 32
    assert 0 < result.figures["acceptance"] <= 1 and result.figures["accepted"] > 0
    assert result.figures["tokens_per_step"] > 1  # accepted guesses: fewer main-model steps
    assert result.ratio == pytest.approx(result.plain_seconds / result.spec_seconds)
    assert result.weights_ratio == pytest.approx(
        (draft / "openvino_model.bin").stat().st_size / (llm / "openvino_model.bin").stat().st_size)
    expected = ("pays off" if result.ratio >= speculative.PAYS_OFF else "breaks even"
                if result.ratio > speculative.BREAK_EVEN else "does not pay off")
    assert f"The draft model {expected}: ×{result.ratio:.2f}" in result.verdict
    assert f"kept {result.figures['acceptance']:.0%} of the guesses" in result.verdict


def test_benchmark_of_prompt_lookup(llm: Path) -> None:
    result = speculative.bench(llm, None, "abc abc abc abc", max_new_tokens=24, properties=F32,
                               prompt_lookup=True, repeats=1, num_assistant_tokens=3)
    assert result.identical and result.mode == "prompt lookup"
    assert result.figures == {} and result.weights_ratio is None
    assert "Prompt lookup costs almost nothing" in result.verdict


def verdict_for(ratio: float, same: bool = True) -> str:
    """The verdict of a made-up run whose speculative side is ``ratio`` times as fast."""
    figures = {"accepted": 40, "acceptance": 0.8, "tokens_per_step": 4.0,
               "draft_tokens_per_step": 5.0, "draft_cost": 0.05, "estimated_speedup": 3.2}
    result = speculative.BenchResult(
        prompt="p", mode="draft model", plain_text="a b c", spec_text="a b c" if same else "a b d",
        plain_tokens=64, spec_tokens=64, plain_seconds=1.0, spec_seconds=1.0 / ratio,
        figures=figures, weights_ratio=0.05)
    return result.verdict


def test_verdict_in_plain_words() -> None:
    fast = verdict_for(3.0)
    assert fast.startswith("The draft model pays off: ×3.00")
    assert "costs 5% of a main-model step (its weights are 5% of the main model's)" in fast
    assert "kept 80% of the guesses, 4.0 tokens per step for 5.0 drafted" in fast
    slow = verdict_for(0.5)
    assert slow.startswith("The draft model does not pay off: ×0.50")
    assert "predict ×3.20" in slow and "much smaller model" in slow
    assert verdict_for(1.0).startswith("The draft model breaks even")
    differ = verdict_for(3.0, same=False)
    assert differ.startswith("⚠ The answers differ") and "INFERENCE_PRECISION_HINT" in differ


@pytest.mark.slow
def test_a_same_size_draft_does_not_pay_off(cache: Path) -> None:
    """SmolLM2-135M fp16 with its own int4 as draft (offline): same answer, honestly slower."""
    smol = "HuggingFaceTB/SmolLM2-135M-Instruct"
    main, small = (ovnb.prepare(smol, p, cache_dir=cache) for p in ("fp16", "int4"))
    speculative.check_pair(main, small)  # one tokenizer, exported twice
    result = speculative.bench(main, small, max_new_tokens=48, properties=F32, repeats=2)
    assert result.identical and "robot" in result.plain_text.lower()
    assert result.plain_tokens == 48  # a story, not a one-line answer: decoding dominates
    assert result.ratio < speculative.BREAK_EVEN and result.weights_ratio < 0.5
    assert "does not pay off" in result.verdict and "much smaller model" in result.verdict
