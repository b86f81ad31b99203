"""The catalog is data: check every entry is complete, well-formed, cited and honestly estimated."""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from ovnb import catalogs
from ovnb.errors import OvnbError
from ovnb import families
from ovnb.families import TASKS

ENTRIES = catalogs.catalog()
BY_ID = {e["id"]: e for e in ENTRIES}
REPO = Path(catalogs.__file__).resolve().parents[1]
REQUIRED = {"id", "task", "description", "params_m", "license", "sources", "default_precision",
            "precisions", "trust_remote_code", "binder_fit", "npu_fit", "export", "ref"}
OPTIONAL = {"gated", "tokenizer", "drafts", "draft_for", "draft_only", "tiny_default", "video",
            "images", "instructions", "adapters", "generation", "reasoning"}
EXPORT_KEYS = {"group_size", "ratio", "sym", "awq", "dataset", "task", "vocoder"}


def by_params(entries: list[dict]) -> list[dict]:
    return sorted(entries, key=lambda e: e["params_m"])


def test_ids_are_unique() -> None:
    ids = [e["id"].lower() for e in ENTRIES]
    assert len(ids) == len(set(ids))


def test_schema_documents_every_field() -> None:
    schema = json.loads(catalogs.CATALOG_FILE.read_text())["_schema"]
    assert set(schema) == REQUIRED | OPTIONAL


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["id"])
def test_entry_is_complete(entry: dict) -> None:
    assert REQUIRED <= set(entry) <= REQUIRED | OPTIONAL, set(entry) ^ REQUIRED
    assert entry["task"] in TASKS
    assert entry["description"].strip() and entry["license"].strip()
    assert isinstance(entry["params_m"], (int, float)) and entry["params_m"] > 0
    assert set(entry["precisions"]) <= set(catalogs.PRECISIONS)
    assert len(set(entry["precisions"])) == len(entry["precisions"])
    assert entry["default_precision"] in entry["precisions"]
    for flag in ("trust_remote_code", "binder_fit", "npu_fit", "gated", "draft_only", "video",
                 "images"):
        assert isinstance(entry.get(flag, False), bool), flag
    assert "video" not in entry or entry["task"] == "vision-chat"
    # a multimodal embedder says it embeds pictures; nothing else does
    assert entry.get("images", False) == (entry["task"] == "multimodal-embedding")
    assert ("tokenizer" in entry) == (entry["task"] == "chat")


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["id"])
def test_export_options_are_ones_optimum_takes(entry: dict) -> None:
    options = entry["export"]
    assert set(options) <= EXPORT_KEYS
    group = options.get("group_size", 128)
    assert isinstance(group, int) and (group > 0 or group == -1)
    assert 0 < options.get("ratio", 1.0) <= 1.0
    assert all(isinstance(options.get(flag, False), bool) for flag in ("sym", "awq"))
    if options.get("awq"):
        assert options.get("dataset") == "wikitext2"
    if "vocoder" in options:  # a SpeechT5 vocoder repo, downloaded by the hub source, cited
        assert entry["task"] == "text-to-speech"
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", options["vocoder"])
        assert options["vocoder"] in " ".join(entry["ref"])
    if "task" in options:  # an optimum task other than the ovnb task's usual one
        assert options["task"] != families.family(entry["task"]).export_task
        assert options["task"] in [f.export_task for f in families.FAMILIES]


@pytest.mark.parametrize("entry", [e for e in ENTRIES if "instructions" in e], ids=lambda e: e["id"])
def test_instructions_are_prompts_for_retrieval_models(entry: dict) -> None:
    given = entry["instructions"]
    assert entry["task"] in ("embedding", "rerank", "multimodal-embedding")
    assert given and set(given) <= {"query", "document"}
    assert all(isinstance(v, str) and v for v in given.values())
    if entry["task"] == "rerank":  # templates: the text goes where its placeholder is
        assert "{query}" in given.get("query", "{query}")
        assert "{document}" in given.get("document", "{document}")


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["id"])
def test_sources_are_well_formed(entry: dict) -> None:
    assert entry["sources"]
    for source in entry["sources"]:
        assert source["kind"] in ("tiny", "offline", "hub", "hub-ov")
        if source["kind"] in ("tiny", "offline"):
            assert importlib.util.find_spec(source["module"]) is not None, source["module"]
        if source["kind"] == "offline":
            for pkg in source["packages"]:
                assert re.fullmatch(r"[0-9a-f]{64}", pkg["sha256"])
                assert pkg["version"] and pkg["name"]
        if source["kind"].startswith("hub"):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+", source["repo"])
        if source["kind"] == "hub-ov":
            assert source["precision"] in entry["precisions"]
    for precision in entry["precisions"]:  # every listed precision can be prepared
        catalogs.estimate(entry, precision)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["id"])
def test_id_is_the_original_repo_when_there_is_one(entry: dict) -> None:
    repos = {s["kind"]: s.get("repo") for s in entry["sources"]}
    if "hub" in repos:
        assert entry["id"] == repos["hub"]
    elif "hub-ov" in repos:
        assert entry["id"] in {s["repo"] for s in entry["sources"]}
    else:  # tiny or offline only: an ovnb name or an original id with an offline package
        assert entry["id"].startswith("tiny-") or "offline" in repos


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["id"])
def test_every_hub_id_is_cited(entry: dict) -> None:
    refs = entry["ref"]
    assert refs and all(isinstance(r, str) and r.strip() for r in refs)
    for ref in refs:  # a page, or the ovnb file that generates the model
        assert ref.startswith("https://") or (REPO / ref.split()[0]).is_file(), ref
    text = " ".join(refs)
    for source in entry["sources"]:
        if source["kind"].startswith("hub"):
            assert source["repo"] in text, f"{source['repo']} is not cited in ref"
        for pkg in source.get("packages", []):
            assert f"https://pypi.org/project/{pkg['name']}/{pkg['version']}/" in text


def test_trust_remote_code_entries_are_flagged() -> None:
    flagged = {e["id"] for e in ENTRIES if e["trust_remote_code"]}
    assert flagged == {"openbmb/MiniCPM-V-2_6", "OpenGVLab/InternVL2-1B"}
    lines = catalogs.table("vision-chat").splitlines()
    assert all("trust_remote_code" in line for line in lines if line.split()[0] in flagged)


def test_gated_entries_are_the_llamas() -> None:
    assert {e["id"] for e in ENTRIES if e.get("gated")} == {
        "meta-llama/Llama-3.2-1B-Instruct", "meta-llama/Llama-3.2-3B-Instruct",
        "meta-llama/Meta-Llama-3.1-8B-Instruct"}


def test_drafts_point_at_chat_entries_with_the_same_tokenizer() -> None:
    pairs = 0
    for main in ENTRIES:
        for draft_id in main.get("drafts", []):
            draft = BY_ID[draft_id]
            assert main["task"] == draft["task"] == "chat"
            assert draft["tokenizer"] == main["tokenizer"]
            assert draft["draft_for"] == main["id"]
            if not main["id"].startswith("tiny-"):  # a draft pays off only when much smaller
                assert draft["params_m"] < main["params_m"] / 2
            pairs += 1
    drafts = [e for e in ENTRIES if "draft_for" in e]
    assert pairs == len(drafts) >= 5
    for draft in drafts:
        assert draft["id"] in BY_ID[draft["draft_for"]]["drafts"]
    assert {e["id"] for e in ENTRIES if e.get("draft_only")} == {
        "OpenVINO/Phi-3-mini-FastDraft-50M-int8-ov",
        "OpenVINO/Llama-3.1-8B-Instruct-FastDraft-150M-int8-ov"}


def test_npu_fit_chat_models_offer_int4_npu() -> None:
    for entry in catalogs.catalog("chat"):
        if entry["npu_fit"]:
            assert "int4-npu" in entry["precisions"], entry["id"]


def test_estimate_is_the_documented_formula() -> None:
    entry = {"task": "chat", "params_m": 1000, "default_precision": "int4",
             "sources": [{"kind": "hub", "repo": "a/b"}]}
    assert catalogs.estimate(entry) == {"disk_gb": 0.57, "ram_gb": 1.155, "prepare_ram_gb": 5.25}
    ov_int4 = {"kind": "hub-ov", "repo": "a/b-int4-ov", "precision": "int4"}
    converted = {**entry, "sources": [ov_int4, {"kind": "hub", "repo": "a/b"}]}
    assert catalogs.estimate(converted)["prepare_ram_gb"] == catalogs.BASE_GB  # a download
    assert catalogs.estimate(converted, "fp16")["prepare_ram_gb"] == 0.7 + 4.0 + 2.0  # an export


def test_video_ram_scales_activations_with_frames_and_pixels() -> None:
    ltx = BY_ID["Lightricks/LTX-Video"]
    frames, height, width = catalogs.VIDEO_REFERENCE_CLIP
    base = catalogs.estimate(ltx)["ram_gb"]
    assert catalogs.video_ram_gb(ltx, frames, height, width) == base  # the estimate's own clip
    activations = ltx["params_m"] / 1000 * families.VIDEO.activation_gb
    longer = catalogs.video_ram_gb(ltx, 4 * frames, height, width)
    assert longer == pytest.approx(base + 3 * activations, abs=1e-3)
    smaller = catalogs.video_ram_gb(ltx, 9, 256, 256)
    assert catalogs.estimate(ltx)["ram_gb"] - activations < smaller < base
    assert catalogs.video_ram_gb(ltx, frames, height, width, "fp16") > base


def test_video_ram_refuses_other_tasks() -> None:
    with pytest.raises(OvnbError, match="not a video model"):
        catalogs.video_ram_gb(BY_ID["tiny-llm"], 9, 32, 32)


def test_video_capable_vlms_are_marked() -> None:
    marked = {e["id"] for e in catalogs.catalog("vision-chat") if e.get("video")}
    assert {"tiny-qwen2-vl", "Qwen/Qwen2-VL-2B-Instruct", "Qwen/Qwen2.5-VL-3B-Instruct",
            "Qwen/Qwen3-VL-2B-Instruct"} == marked
    assert not BY_ID["tiny-vlm"].get("video")


def test_estimate_refuses_a_precision_no_source_has() -> None:
    with pytest.raises(OvnbError, match="no source for fp16"):
        catalogs.estimate(BY_ID["OpenVINO/Phi-3-mini-FastDraft-50M-int8-ov"], "fp16")


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e["params_m"] >= 100],
                         ids=lambda e: e["id"])
def test_estimates_shrink_with_precision(entry: dict) -> None:
    have = [p for p in ("fp16", "int8", "int4") if p in entry["precisions"]]
    costs = [catalogs.estimate(entry, p) for p in have]
    for bigger, smaller in zip(costs, costs[1:]):
        assert smaller["disk_gb"] < bigger["disk_gb"] and smaller["ram_gb"] < bigger["ram_gb"]
    if "int4-npu" in entry["precisions"]:
        npu, int4 = (catalogs.estimate(entry, p)["disk_gb"] for p in ("int4-npu", "int4"))
        assert npu == int4


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("precision", catalogs.PRECISIONS)
def test_estimates_grow_with_parameters(task: str, precision: str) -> None:
    entries = by_params([e for e in catalogs.catalog(task) if precision in e["precisions"]])
    costs = [catalogs.estimate(e, precision) for e in entries]
    for small, big in zip(costs, costs[1:]):
        assert small["disk_gb"] <= big["disk_gb"] and small["ram_gb"] <= big["ram_gb"]
    base = {"task": task, "default_precision": precision,
            "sources": [{"kind": "hub", "repo": "a/b"}]}
    sizes = [catalogs.estimate({**base, "params_m": m}) for m in (100, 1000, 10000)]
    assert sizes[0]["ram_gb"] < sizes[1]["ram_gb"] < sizes[2]["ram_gb"]
    assert sizes[0]["prepare_ram_gb"] < sizes[1]["prepare_ram_gb"] < sizes[2]["prepare_ram_gb"]


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e["binder_fit"]], ids=lambda e: e["id"])
def test_binder_fit_entries_prepare_and_run_in_2_gb(entry: dict) -> None:
    cost = catalogs.estimate(entry)
    assert cost["ram_gb"] < catalogs.BINDER_RAM_GB
    assert cost["prepare_ram_gb"] < catalogs.BINDER_RAM_GB


def test_big_models_are_not_binder_fit() -> None:
    for entry in ENTRIES:
        if catalogs.estimate(entry)["ram_gb"] >= catalogs.BINDER_RAM_GB:
            assert not entry["binder_fit"], entry["id"]


@pytest.mark.parametrize("task", TASKS)
def test_each_task_has_a_binder_entry_and_an_offline_entry(task: str) -> None:
    entries = catalogs.catalog(task)
    assert any(e["binder_fit"] for e in entries)
    assert any(e["id"] in catalogs.offline_ids() for e in entries)
    real = [e for e in entries if not e["id"].startswith("tiny-")]
    # SD 1.5 / LCM in int8 estimate ~2.1 GB, LTX-Video (7.1B with T5-XXL) far more, the smallest
    # multimodal embedder (Qwen3-VL-Embedding-2B) ~4.8 GB, Qwen3-Omni (35B) farther still: on
    # Binder, these stay tiny
    if task not in ("image", "video", "multimodal-embedding", "omni"):
        assert any(e["binder_fit"] for e in real), f"no real {task} model fits Binder"


def test_the_issue_models_are_all_there() -> None:
    wanted = {"HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-360M-Instruct",
              "HuggingFaceTB/SmolLM2-1.7B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct",
              "Qwen/Qwen2.5-1.5B-Instruct", "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
              "meta-llama/Llama-3.2-1B-Instruct", "meta-llama/Llama-3.2-3B-Instruct",
              "microsoft/Phi-3.5-mini-instruct", "openai/whisper-tiny", "openai/whisper-tiny.en",
              "openai/whisper-base", "openai/whisper-small", "distil-whisper/distil-small.en",
              "stable-diffusion-v1-5/stable-diffusion-v1-5", "SimianLuo/LCM_Dreamshaper_v7",
              "stabilityai/sd-turbo", "stabilityai/sdxl-turbo",
              "stabilityai/stable-diffusion-xl-base-1.0",
              "llava-hf/llava-1.5-7b-hf", "openbmb/MiniCPM-V-2_6", "Qwen/Qwen2-VL-2B-Instruct",
              "OpenGVLab/InternVL2-1B", "Lightricks/LTX-Video"}
    assert wanted <= set(BY_ID)


def test_offline_ids_include_every_tiny_model() -> None:
    offline = catalogs.offline_ids()
    for tiny in ("tiny-llm", "tiny-llm-draft", "tiny-whisper", "tiny-sd", "tiny-vlm",
                 "tiny-qwen2-vl", "tiny-ltx", "tiny-speecht5", "tiny-embed", "tiny-rerank",
                 "tiny-qwen3-vl-embed", "tiny-qwen3-omni"):
        assert tiny in offline
    assert "openai/whisper-tiny.en" in offline
    assert "sentence-transformers/all-MiniLM-L6-v2" in offline


def test_the_speech_out_and_retrieval_models_are_there() -> None:
    wanted = {"tiny-speecht5": "text-to-speech", "microsoft/speecht5_tts": "text-to-speech",
              "hexgrad/Kokoro-82M": "text-to-speech", "tiny-embed": "embedding",
              "sentence-transformers/all-MiniLM-L6-v2": "embedding",
              "BAAI/bge-small-en-v1.5": "embedding", "Qwen/Qwen3-Embedding-0.6B": "embedding",
              "tiny-rerank": "rerank", "cross-encoder/ms-marco-MiniLM-L6-v2": "rerank",
              "BAAI/bge-reranker-v2-m3": "rerank", "Qwen/Qwen3-Reranker-0.6B": "rerank"}
    assert {i: BY_ID[i]["task"] for i in wanted if i in BY_ID} == wanted


def test_multimodal_embedders_are_marked_and_the_real_ones_hub_only() -> None:
    marked = [e for e in ENTRIES if e.get("images")]
    assert {e["id"] for e in marked} == {"tiny-qwen3-vl-embed", "Qwen/Qwen3-VL-Embedding-2B",
                                         "Qwen/Qwen3-VL-Embedding-8B"}
    tiny = [e["id"] for e in marked if catalogs.has_random_weights(e)]
    assert tiny == ["tiny-qwen3-vl-embed"]
    for entry in marked:
        if entry["id"] not in tiny:
            assert [s["kind"] for s in entry["sources"]] == ["hub"], entry["id"]


def test_task_filter_and_lookup() -> None:
    assert {e["task"] for e in catalogs.catalog("speech")} == {"speech"}
    assert catalogs.find("TINY-LLM")["id"] == "tiny-llm"
    assert catalogs.find("nope") is None


def test_entries_are_copies() -> None:
    catalogs.catalog()[0]["sources"].clear()
    catalogs.find("tiny-llm")["sources"].clear()
    assert catalogs.find("tiny-llm")["sources"]


def test_close_ids_suggest_by_spelling_and_substring() -> None:
    assert "tiny-llm" in catalogs.close_ids("tiny-lm")
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in catalogs.close_ids("smollm2")


def test_bad_precision_names_the_choices() -> None:
    with pytest.raises(OvnbError, match="fp16, int8, int4, int4-npu"):
        catalogs.check_precision("int3")


def test_table_has_one_aligned_row_per_entry() -> None:
    lines = catalogs.table().splitlines()
    assert lines[0].split()[:4] == ["ID", "TASK", "PARAMS", "DEFAULT"]
    assert [line.split()[0] for line in lines[1:]] == [e["id"] for e in ENTRIES]
    for column in ("TASK", "PARAMS", "DEFAULT", "BINDER"):
        start = lines[0].index(column)
        assert all(line[start - 2:start] == "  " and line[start] != " " for line in lines[1:])


def test_table_shows_estimates_and_flags() -> None:
    row = next(line for line in catalogs.table("chat").splitlines()
               if line.startswith("HuggingFaceTB/SmolLM2-135M-Instruct "))
    cost = catalogs.estimate(BY_ID["HuggingFaceTB/SmolLM2-135M-Instruct"])
    cells = row.split()
    assert cells[1:4] == ["chat", "135M", "int4"]
    assert cells[4:8] == [f"{cost['disk_gb']:.2f}", f"{cost['ram_gb']:.2f}", "yes", "yes"]
    assert "offline" in row


def test_table_filters_by_task_and_refuses_unknown_tasks() -> None:
    ids = [line.split()[0] for line in catalogs.table("speech").splitlines()[1:]]
    assert ids == [e["id"] for e in catalogs.catalog("speech")] and "tiny-llm" not in ids
    with pytest.raises(OvnbError, match="chat, speech, image, vision-chat, video"):
        catalogs.table("holograms")


def test_overview_is_an_html_table_with_the_text_table_as_repr() -> None:
    view = catalogs.overview("chat")
    assert repr(view) == str(view) == catalogs.table("chat")
    markup = view._repr_html_()
    assert markup.count("<tr style") == len(catalogs.catalog("chat"))  # a row per model
    assert markup.count("<tr class='ovnb-task'>") == 1  # one task: one group, no task column
    assert markup.count("<th style") == len(catalogs.HEADER) - 1  # no task column
    assert "<span class='ovnb-nw'>meta-llama</span>/<wbr><span class='ovnb-nw'>Llama-3.2-1B-" \
        "Instruct</span>" in markup  # an id breaks after its "/" only
    assert "data-label='disk gb' style" in markup and "gated: accept its license" in markup
    everything = catalogs.catalog_html(catalogs.catalog())
    assert everything.count("<tr class='ovnb-task'>") == len({e["task"] for e in catalogs.catalog()})
    assert "<script" not in catalogs.html_table(("A",), [("<script>",)])  # text is escaped


def test_adapter_flags_and_generation_settings_are_well_formed() -> None:
    import openvino_genai as ov_genai

    from ovnb.generation import FIELDS

    assert {e["id"] for e in ENTRIES if e.get("adapters")} == {"tiny-llm", "tiny-sd"}
    config = ov_genai.GenerationConfig()
    config.max_new_tokens = 8  # validate() wants a stop condition
    for entry in ENTRIES:
        settings = entry.get("generation", {})
        assert not settings or entry["task"] == "chat"
        assert set(settings) <= set(FIELDS), entry["id"]
        config.update_generation_config(**settings)  # genai takes every name and value
        config.validate()


def test_the_adapters_flag_is_true(llm: Path, sd: Path) -> None:
    import ovnb

    assert ovnb.adapters(llm) and ovnb.adapters(sd)


def test_reasoning_models_are_small_chat_models_from_the_hub() -> None:
    thinking = [e for e in ENTRIES if e.get("reasoning")]
    assert len(thinking) >= 2 and all(e["reasoning"] is True for e in thinking)
    assert all(e["task"] == "chat" and e["params_m"] <= 2000 for e in thinking)
    assert any(e["binder_fit"] for e in thinking)
    assert all("reasoning" not in e or e["task"] == "chat" for e in ENTRIES)
