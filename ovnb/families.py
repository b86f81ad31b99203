"""The registry of pipeline families: the one place a family is declared.

A family is what one kind of prepared folder runs: its task name (catalog.json's ``task``, the
manifest's, ``ovnb list --task``), the openvino_genai classes it builds and the one builder that
makes them, how optimum-intel exports it, what its folder holds, what it costs in RAM, whether it
takes LoRA adapters, what it needs on an NPU, the hub's names for it, the fixes an export needs,
its tiny random model, and the session and widget that run it. Everything else (catalogs, layout,
staging, the hub source, devices, lora, export, fixups, the public names of ``ovnb``) reads these
records: adding a family is a record here, a session, a view, a tiny source and a notebook.

Modules import this one cheaply (no openvino, no numpy): builders, sessions and widgets are named
by dotted path and imported when first used.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ovnb.errors import OvnbError

DATA = Path(__file__).with_name("data")  # the samples shipped with ovnb

# the files every text pipeline needs beside its models
TOKENIZER = "openvino_tokenizer.xml"
DETOKENIZER = "openvino_detokenizer.xml"
# the properties an LLM needs on an NPU: the longest prompt and the shortest answer it compiles for
# (openvino_genai's defaults; raise MAX_PROMPT_LEN for long chats, at the cost of compile time)
NPU_LLM = {"MAX_PROMPT_LEN": 1024, "MIN_RESPONSE_LEN": 128}
# speech out on a CPU: no runtime cache. SpeechT5 meets new shapes at each decoder step and its
# vocoder one per text length; the CPU plugin's cache kept kernels and buffers for every one of
# them, without bound (ovnb.sessions.tts, benchmarks/tts_shape_memory.py)
SPEECH_OUT_CPU = {"CPU_RUNTIME_CACHE_CAPACITY": 0}


@dataclass(frozen=True)
class Example:
    """How to try a family on its tiny model in a second or two: the widget's settings
    (``make``), its main method and that method's arguments. The contract suite runs every
    family's example through every lifecycle case; a notebook or a check can run it too."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    make: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Family:
    """One pipeline family (see the module docstring); compared by identity."""

    task: str
    label: str  # how messages name it ("vision chat")
    pipelines: tuple[str, ...]  # openvino_genai classes it runs, the one built from the folder first
    marks: tuple[str, ...]  # files whose presence tells a folder of this family
    needs: tuple[str, ...]  # other files a ready folder needs (tokenizers, sub-models)
    export_task: str  # optimum-cli export openvino --task
    activation_gb: float  # RAM a run needs beside the weights, per billion parameters
    working_gb: float = 0.0  # RAM a run needs whatever the model's size
    big_precision: str = "int8"  # where a hub model of 1B+ parameters starts (what fits a laptop)
    build: str = ""  # "module:function(family, folder, device, properties, **options)" making
    # its pipeline ("": ``runtime.pipelines.construct``, the first class made from the folder)
    classes: tuple[str, ...] = ()  # model_index.json classes it runs (diffusers folders); (): any
    lora: tuple[tuple[str, str], ...] = ()  # LoRA layer-name prefix -> sub-model; (): no LoRA
    prefix_caching: bool = False  # its pipeline takes a SchedulerConfig that caches prompt prefixes
    npu_int4: bool = False  # on an NPU: int4 symmetric channel-wise weights ("int4-npu")
    npu_properties: Mapping[str, Any] = field(default_factory=dict)  # what it needs on an NPU
    cpu_properties: Mapping[str, Any] = field(default_factory=dict)  # what it needs on a CPU
    hub_tags: tuple[str, ...] = ()  # the hub's pipeline_tag values that mean this family
    auto_classes: tuple[str, ...] = ()  # transformers auto classes that mean this family
    fixups: tuple[str, ...] = ()  # "module:function(src, out)" applied to each export, in order
    tiny: str = ""  # its tiny random model (catalog id): offline, what tests and CI run on
    session: str = ""  # "module:Class" of its widget-free session
    fronts: tuple[str, ...] = ()  # "module:Class" of the public widgets running it
    folders: str = ""  # the task whose prepared folders it runs ("": folders of its own)
    example: Example = Example("")  # a quick call of its first widget on its tiny model

    def builder(self) -> Callable[..., Any]:
        """The function that makes this family's pipeline from a folder."""
        return resolve(self.build or "ovnb.runtime.pipelines:construct")

    @property
    def takes_lora(self) -> bool:
        return bool(self.lora)

    @property
    def folder_task(self) -> str:
        """The task of the folders this family runs (its own, unless it runs another's)."""
        return self.folders or self.task

    def __repr__(self) -> str:
        return f"Family({self.task})"


def resolve(path: str) -> Any:
    """The object a ``module:name`` path names (imported now)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


CHAT = Family(
    task="chat", label="chat", pipelines=("LLMPipeline",), marks=("openvino_model.xml",),
    needs=(TOKENIZER, DETOKENIZER), export_task="text-generation-with-past",
    activation_gb=0.25, big_precision="int4", lora=(("base_model.model.", ""),),
    prefix_caching=True, npu_int4=True, npu_properties=NPU_LLM,
    hub_tags=("text-generation",), auto_classes=("AutoModelForCausalLM",), tiny="tiny-llm",
    session="ovnb.sessions.chat:ChatSession",
    fronts=("ovnb.widgets.chat:Chat", "ovnb.widgets.speculative:SpeculativeBench"),
    example=Example("send", ("Hello!",), make={"max_new_tokens": 8}))
VISION_CHAT = Family(
    task="vision-chat", label="vision chat", pipelines=("VLMPipeline",),
    marks=("openvino_language_model.xml", "openvino_text_embeddings_model.xml"),
    needs=(TOKENIZER, DETOKENIZER), export_task="image-text-to-text", activation_gb=0.35,
    big_precision="int4",
    lora=(("base_model.model.", ""),), prefix_caching=True, npu_int4=True,
    npu_properties=NPU_LLM, hub_tags=("image-text-to-text", "image-to-text", "visual-question-answering"),
    auto_classes=("AutoModelForImageTextToText", "AutoModelForVision2Seq"),
    fixups=("ovnb.fixups:preprocessor_config", "ovnb.fixups:video_preprocessor_config",
            "ovnb.fixups:chat_template_json"),
    tiny="tiny-vlm", session="ovnb.sessions.vision:VisionSession",
    fronts=("ovnb.widgets.vision:VisionChat",),
    example=Example("send", ("What is in the picture?",),
                    {"image": str(DATA / "images" / "house.png")}, {"max_new_tokens": 8}))
TEXT_TO_SPEECH = Family(
    task="text-to-speech", label="text to speech", pipelines=("Text2SpeechPipeline",),
    marks=("openvino_encoder_model.xml", "openvino_decoder_model.xml", "openvino_postnet.xml",
           "openvino_vocoder.xml"),
    needs=(TOKENIZER,), export_task="text-to-audio", activation_gb=4.0, working_gb=0.5,
    cpu_properties=SPEECH_OUT_CPU, hub_tags=("text-to-speech",),
    fixups=("ovnb.fixups:speech_settings", "ovnb.fixups:kokoro_lexicon",
            "ovnb.fixups:vocoder_windows", "ovnb.fixups:decoder_last_frame"),
    tiny="tiny-speecht5", session="ovnb.sessions.tts:SpeakerSession",
    fronts=("ovnb.widgets.tts:Speaker",),
    example=Example("speak", ("Hello there. How are you?",)))
SPEECH = Family(
    task="speech", label="speech to text", pipelines=("ASRPipeline",),
    marks=("openvino_encoder_model.xml", "openvino_decoder_model.xml"),
    needs=(TOKENIZER, DETOKENIZER), export_task="automatic-speech-recognition-with-past",
    activation_gb=1.0, npu_properties={"STATIC_PIPELINE": True},
    hub_tags=("automatic-speech-recognition",), auto_classes=("AutoModelForSpeechSeq2Seq",),
    tiny="tiny-whisper", session="ovnb.sessions.speech:TranscriberSession",
    fronts=("ovnb.widgets.speech:Transcriber",),
    example=Example("transcribe", (str(DATA / "librivox-sense-and-sensibility-0870.flac"),)))
IMAGE = Family(
    task="image", label="image", pipelines=("InpaintingPipeline", "Image2ImagePipeline",
                                             "Text2ImagePipeline"),
    marks=("model_index.json", "unet/openvino_model.xml"),
    needs=("text_encoder/openvino_model.xml", "vae_decoder/openvino_model.xml",
           "tokenizer/openvino_tokenizer.xml"),
    export_task="text-to-image", activation_gb=0.6, build="ovnb.sessions.editing:build",
    lora=(("lora_unet_", "unet"), ("lora_unet.", "unet"), ("lora_te1_", "text_encoder"),
          ("lora_te_", "text_encoder"), ("lora_te2_", "text_encoder_2"), ("", "unet")),
    hub_tags=("text-to-image",), tiny="tiny-sd", session="ovnb.sessions.image:ImageSession",
    fronts=("ovnb.widgets.image:ImageGenerator",),
    example=Example("generate", ("a red boat on a lake",),
                    make={"width": 64, "height": 64, "num_inference_steps": 3}))
VIDEO = Family(
    task="video", label="video", pipelines=("Text2VideoPipeline",),
    marks=("model_index.json", "transformer/openvino_model.xml"),
    needs=("text_encoder/openvino_model.xml", "vae_decoder/openvino_model.xml",
           "tokenizer/openvino_tokenizer.xml"),
    export_task="text-to-video", activation_gb=0.3, classes=("LTXPipeline",), tiny="tiny-ltx",
    session="ovnb.sessions.video:VideoSession", fronts=("ovnb.widgets.video:VideoGenerator",),
    example=Example("generate", ("a red boat on a lake",),
                    make={"num_frames": 9, "width": 64, "height": 64,
                          "num_inference_steps": 3}))
EMBEDDING = Family(
    task="embedding", label="embedding", pipelines=("TextEmbeddingPipeline",),
    marks=("openvino_model.xml",), needs=(TOKENIZER,), export_task="feature-extraction",
    activation_gb=1.0, working_gb=0.25, hub_tags=("sentence-similarity", "feature-extraction"),
    fixups=("ovnb.fixups:sentence_transformers_files",), tiny="tiny-embed",
    session="ovnb.sessions.embedding:EmbedderSession",
    fronts=("ovnb.widgets.retrieval:Embedder", "ovnb.widgets.retrieval:Retriever"),
    example=Example("embed", (["a red boat on a lake", "a blue sky"],)))
RERANK = Family(
    task="rerank", label="reranking", pipelines=("TextRerankPipeline",),
    marks=("openvino_model.xml",), needs=(TOKENIZER,), export_task="text-classification",
    activation_gb=1.0, working_gb=0.25, hub_tags=("text-ranking",), tiny="tiny-rerank",
    session="ovnb.sessions.embedding:RerankerSession",
    fronts=("ovnb.widgets.retrieval:Reranker",),
    example=Example("rerank", ("boat", ["a red boat on a lake", "a blue sky"])))
# Texts, images and clips in one vector space (Qwen3-VL-Embedding): a VLM's folder, exported for
# feature extraction (its language model gives the last hidden state, pooled at the last token);
# told from a vision-chat folder by its config (``layout.vlm_family``). Its RAM figures are the
# text embedder's: pictures add tokens, not measured apart.
MULTIMODAL_EMBEDDING = Family(
    task="multimodal-embedding", label="multimodal embedding", pipelines=("EmbeddingPipeline",),
    marks=VISION_CHAT.marks, needs=(TOKENIZER, "openvino_vision_embeddings_model.xml"),
    export_task="feature-extraction", activation_gb=EMBEDDING.activation_gb,
    working_gb=EMBEDDING.working_gb, build="ovnb.sessions.multimodal:build",
    fixups=(*VISION_CHAT.fixups, "ovnb.fixups:sentence_transformers_files"),
    tiny="tiny-qwen3-vl-embed", session="ovnb.sessions.multimodal:MultimodalEmbedderSession",
    fronts=("ovnb.widgets.retrieval:Embedder", "ovnb.widgets.retrieval:Retriever"),
    example=Example("embed", (), {"texts": ["a red boat on a lake"],
                                  "images": [str(DATA / "images" / "sailboat.png")]}))
OMNI = Family(
    task="omni", label="omni (hears and speaks)", pipelines=("OmniPipeline", "VLMPipeline"),
    # the thinker's audio encoder tells a Qwen3-Omni folder from a vision-chat one; its talker
    # parts are optional (a Thinking model has none, and runs as a VLMPipeline: text out only)
    marks=(*VISION_CHAT.marks, "openvino_audio_encoder_model.xml"),
    needs=(TOKENIZER, DETOKENIZER), export_task=VISION_CHAT.export_task, activation_gb=0.35,
    big_precision="int4", hub_tags=("any-to-any",),
    fixups=(*VISION_CHAT.fixups, "ovnb.fixups:talker_settings"), build="ovnb.sessions.omni:build",
    tiny="tiny-qwen3-omni", session="ovnb.sessions.omni:OmniSession",
    fronts=("ovnb.widgets.omni:Omni",),
    example=Example("send", ("What do you hear?",),
                    {"audio": str(DATA / "librivox-sense-and-sensibility-0870.flac")},
                    {"max_new_tokens": 8}))

BATCH = Family(
    task="batch", label="many prompts at once", pipelines=("ContinuousBatchingPipeline",),
    marks=CHAT.marks, needs=CHAT.needs, export_task=CHAT.export_task, activation_gb=0.25,
    build="ovnb.sessions.batch:build", folders=CHAT.task, tiny="tiny-llm",
    session="ovnb.sessions.batch:BatchSession", fronts=("ovnb.widgets.batch:Batch",),
    example=Example("generate", (["Hello!", "Name a colour.", "Count to three."],),
                    make={"max_new_tokens": 8}))

# The families with folders of their own, in the order a folder is told by its files
# (``layout.family_of``): Omni (a VLM with an audio encoder) before a VLM, a VLM before anything
# with one model, SpeechT5 before Whisper (both have
# an encoder and a decoder; only SpeechT5 a postnet and a vocoder); embedding and rerank folders
# look like chat ones and are told by their config, as multimodal-embedding folders look like
# vision-chat ones.
FOLDER_FAMILIES: tuple[Family, ...] = (OMNI, VISION_CHAT, TEXT_TO_SPEECH, SPEECH, IMAGE, VIDEO,
                                       CHAT, EMBEDDING, RERANK, MULTIMODAL_EMBEDDING)
# every family, those running another's folders too (continuous batching runs chat folders)
FAMILIES: tuple[Family, ...] = (*FOLDER_FAMILIES, BATCH)
# the tasks of prepared folders, in the order they are listed (``ovnb list``, the index
# notebook, staging, the catalog's ``task``)
TASKS: tuple[str, ...] = tuple(f.task for f in (CHAT, SPEECH, IMAGE, VISION_CHAT, VIDEO,
                                                TEXT_TO_SPEECH, EMBEDDING, RERANK,
                                                MULTIMODAL_EMBEDDING, OMNI))
_BY_TASK = {f.task: f for f in FAMILIES}


def family(task: str) -> Family:
    """The family of ``task`` (a folder's task, or a family running another's folders); one line
    listing the folder tasks for an unknown one."""
    found = _BY_TASK.get(task) if isinstance(task, str) else None
    if found is None:
        raise OvnbError(f"unknown task {task!r}: use one of {', '.join(TASKS)}")
    return found


def as_family(task: Family | str) -> Family:
    """``task`` as a Family (a task name is looked up)."""
    return task if isinstance(task, Family) else family(task)


def by_hub_tag(tag: str) -> Family | None:
    """The family the hub's ``pipeline_tag`` means, if any."""
    return next((f for f in FOLDER_FAMILIES if tag in f.hub_tags), None)


def by_auto_class(name: str) -> Family | None:
    """The family a transformers auto class (``AutoModelForCausalLM``...) means, if any."""
    return next((f for f in FOLDER_FAMILIES if name in f.auto_classes), None)


def public_names() -> dict[str, str]:
    """``ovnb``'s public widget name -> the module that defines it, for every family."""
    return {path.partition(":")[2]: path.partition(":")[0]
            for f in FAMILIES for path in f.fronts}
