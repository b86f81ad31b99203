"""Speech to text with an ASRPipeline: audio chosen, transcribed, streamed where it can be.

openvino_genai's ASRPipeline runs Whisper (a thin adapter over WhisperPipeline: the same
results, properties and NPU static pipeline) and other speech models (Qwen3-ASR, Fun-ASR), so
every folder of those loads here. Word timestamps (Whisper only) need ``word_timestamps=True``
when the pipeline is built: a session builds the pipeline its setting asks for, and the first
run asking for words on a session built without them builds (once, shared by every session on
that model) a second pipeline with them, which it keeps for its word runs.

Audio is decoded and converted (16 kHz mono) as soon as it is chosen, so a bad file is refused at
once and a player can show it before transcribing. Live text is shown where openvino_genai streams
it faithfully: audio under 30 s (with word timestamps token by token, with segment timestamps a
segment at a time; openvino_genai 2026.4.1 streams the result's very text, tests/widgets/
test_speech.py). Longer audio still gets a streamer, only so that Stop works; its text appears
when the run ends.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import traitlets
from traitlets import Bool, Dict, Float, Int, List, Unicode

from ovnb import subtitles, whisper
from ovnb.audio import RATE, Source, is_silent, load_audio
from ovnb.errors import OvnbError, explain
from ovnb.families import SPEECH
from ovnb.files import check_path, save_target, write_bytes
from ovnb.runtime.jobs import Job, Outcome
from ovnb.runtime.pipelines import Loaded, load
from ovnb.sessions.base import Session, check_flag
from ovnb.sessions.settings import Settings, apply_to, setting

if TYPE_CHECKING:
    from openvino_genai import ASRPipeline

SUBTITLE_FORMATS = (".srt", ".vtt")
WINDOW_SECONDS = 30.0  # Whisper hears 30 s at a time; openvino_genai streams only within one window
AUTO = "auto"  # the language setting's "detect it" value


@dataclass(eq=False)
class Clip:
    """Audio ready for Whisper: float32 mono samples at 16 kHz, and how to name it."""

    samples: np.ndarray
    name: str

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE

    @property
    def silent(self) -> bool:
        return is_silent(self.samples)


class WhisperSettings(Settings):
    """Whisper's generation settings (WhisperGenerationConfig names)."""

    language = setting(Unicode(AUTO, help="'auto' (detect), or a language token such as '<|fr|>'"
                               " (multilingual models only)"), "language")
    task = setting(traitlets.Enum(["transcribe", "translate"], "transcribe",
                                  help="transcribe, or translate into English (multilingual "
                                       "models only)"), "task")
    return_timestamps = setting(Bool(False, help="timestamped chunks (live text a chunk at a "
                                               "time)"), "timestamps")
    word_timestamps = setting(Bool(False, help="when each word was said (Whisper models)"),
                              "word timestamps")
    max_new_tokens = setting(Int(None, allow_none=True, help="tokens per 30 s window (None: the "
                                 "model's)"), "max new tokens", 1, 448, control=False)

    @traitlets.validate("language", "task", "return_timestamps", "word_timestamps",
                        "max_new_tokens")
    def _check(self, proposal: Any) -> Any:
        if proposal["trait"].name == "language":
            return language_token(proposal["value"])
        return self._check_setting(proposal)


class SpeechState(traitlets.HasTraits):
    """What a transcription shows."""

    audio = traitlets.Instance(Clip, allow_none=True, help="the audio the next run transcribes")
    transcript = Unicode("", help="the last transcript")
    live = Unicode("", help="the transcript so far while a run streams")
    chunks = List(help="timestamped chunks of the last run: (start s, end s, text)")
    words = List(help="timed words of the last run: (start s, end s, word)")
    metrics = Dict(help="audio_s, seconds, realtime, tokens, ttft_ms, language")
    languages = List(Unicode(), help="language tokens the model knows ([] for English-only)")
    tasks = List(Unicode(), help="tasks the model knows ([] for English-only)")
    audio_seconds = Float(0.0, help="the chosen audio's length")


class TranscriberSession(Session, SpeechState, WhisperSettings):
    """Speech to text: ``TranscriberSession("openai/whisper-tiny.en").transcribe("talk.flac")``.

    ``model`` is a catalog id or a prepared folder; ``device`` a name or a DevicePicker (on NPU:
    a static pipeline); ``properties`` OpenVINO properties; ``**settings`` WhisperGenerationConfig
    fields (``language="<|fr|>"``, ``task="translate"``, ``return_timestamps=True``...). Language
    and task apply to multilingual models only.
    """

    family = SPEECH

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU",
                 properties: dict[str, Any] | None = None, **settings: Any) -> None:
        super().__init__()
        self._apply(settings, type(self).__name__)
        self._open(model, device, properties)
        self.model_type = ""
        self._with_words: Loaded[ASRPipeline] | None = None  # the pipeline built for word timestamps
        self._load_in_background(lambda: self._load(model), self.model_name)

    def _load(self, model: Any) -> Loaded[ASRPipeline]:
        folder = self._folder(model)
        whisper.check_options(folder, self.language, self.task)
        languages, tasks = whisper.options(folder)
        self.model_type = whisper.model_type(folder)
        self.publish(languages=languages, tasks=tasks)
        words = self.word_timestamps and self.model_type == "whisper"
        loaded = asr_pipeline(folder, self.device, self.properties, words)
        if words:
            self._with_words = loaded
        return loaded

    def _pipeline_for(self, loaded: Loaded[ASRPipeline], words: bool) -> Loaded[ASRPipeline]:
        """The pipeline a run uses: ``loaded``, or the one built for word timestamps."""
        if not words:
            return loaded
        if self.model_type != "whisper":
            raise OvnbError(f"word timestamps come from Whisper models only; {self.model_name} is "
                            f"a {self.model_type or 'speech'} model: turn word timestamps off, or "
                            "use return_timestamps for timed chunks")
        if self._with_words is None:
            self.publish(status="building the pipeline for word timestamps (once)…")
            self._with_words = asr_pipeline(loaded.folder, self.device, self.properties, True)
        return self._with_words

    # audio ---------------------------------------------------------------------------------------
    def choose(self, source: Source, name: str | None = None) -> Clip | None:
        """Decode ``source`` and make it the audio of the next run; None (error shown) if unreadable."""
        try:
            clip = Clip(load_audio(source, name), name or source_name(source))
        except TypeError:  # a wrong kind of argument is the caller's: raised
            raise
        except Exception as exc:  # a bad file is the learner's to fix, never the kernel's problem
            self.fail(explain(exc))
            return None
        self.succeed(audio=clip, audio_seconds=clip.seconds)
        return clip

    # runs ----------------------------------------------------------------------------------------
    def transcribe(self, audio: Source | None = None, word_timestamps: bool | None = None) -> str:
        """Transcribe ``audio`` (else the chosen audio); blocks. The text, '' on error.

        ``word_timestamps`` True or False overrides the setting for this call (None: the setting).
        """
        if word_timestamps is not None and not isinstance(word_timestamps, bool):
            raise TypeError(f"word_timestamps must be True, False or None, not "
                            f"{word_timestamps!r}")
        clip = self.audio if audio is None else self.choose(audio)
        if audio is not None and clip is None:
            return ""
        return self.call(self.submit(clip, word_timestamps, queue=True), "")

    def submit(self, clip: Clip | None = None, word_timestamps: bool | None = None,
               queue: bool = False) -> Job[str] | None:
        """Start transcribing ``clip`` (else the chosen audio) without waiting (the button); None
        when refused. ``word_timestamps`` overrides the setting for this run (None: the setting)."""
        check_flag(queue, "queue")
        if clip is not None and not isinstance(clip, Clip):
            raise TypeError(f"clip must be a Clip (see choose), not {type(clip).__name__}")
        if word_timestamps is not None and not isinstance(word_timestamps, bool):
            raise TypeError(f"word_timestamps must be True, False or None, not "
                            f"{word_timestamps!r}")
        clip = clip or self.audio
        if clip is None:
            self.refuse("no audio yet: upload a file, type a path and press Enter, or press Sample")
            return None
        overrides = {} if word_timestamps is None else {"word_timestamps": word_timestamps}

        def work(loaded: Loaded[ASRPipeline], job: Job[str]) -> str:
            options = {**self._options(loaded.folder), **overrides}
            chosen = self._pipeline_for(loaded, bool(options.get("word_timestamps")))
            if chosen is loaded:
                return self._run(loaded, job, clip, options)
            with chosen.lock:
                return self._run(chosen, job, clip, options)

        return self.start(work, self._after_run, queue=queue)

    def _after_run(self, outcome: Outcome[str]) -> None:
        self.publish(live="")

    # subtitles -----------------------------------------------------------------------------------
    def cues(self) -> list[tuple[float, float, str]]:
        """The last transcript as subtitle cues: from its words, else its chunks, else one cue."""
        if self.words:
            return subtitles.cues_from_words(self.words)
        if self.chunks:
            return [(a, b if b >= 0 else self.audio_seconds, t) for a, b, t in self.chunks]
        return [(0.0, self.audio_seconds, self.transcript)] if self.transcript.strip() else []

    def srt(self) -> str:
        """The last transcript as SubRip (.srt) subtitles ('' before any transcript)."""
        return subtitles.srt(self.cues())

    def vtt(self) -> str:
        """The last transcript as WebVTT (.vtt) subtitles (just the header before any)."""
        return subtitles.vtt(self.cues())

    def save_subtitles(self, path: str | os.PathLike[str]) -> Path | None:
        """Write ``.srt`` or ``.vtt`` subtitles of the last transcript; the path, or None (the
        reason shown as ``last_error``)."""
        check_path(path)  # a wrong type is raised before anything else
        try:
            target = save_target(path, SUBTITLE_FORMATS, what="subtitles")
            if not self.transcript.strip():
                raise OvnbError("no transcript yet: press Transcribe first")
            text = self.srt() if target.suffix.lower() == ".srt" else self.vtt()
            write_bytes(target, text.encode("utf-8"), SUBTITLE_FORMATS, what="subtitles")
        except OvnbError as exc:
            self.fail(str(exc))
            return None
        self.succeed(status=f"saved {target.name}")
        return target

    def _options(self, folder: Path) -> dict[str, Any]:
        """This run's settings, checked; language and task only where the model has them."""
        options = self.settings()
        if not self.languages:
            options.pop("language", None)
            options.pop("task", None)
            return options
        whisper.check_options(folder, options.get("language"), options.get("task"))
        if options.get("language") == AUTO:
            options.pop("language", None)
        return options

    def _run(self, loaded: Loaded[ASRPipeline], job: Job[str], clip: Clip, options: dict[str, Any]
             ) -> str:
        live = clip.seconds < WINDOW_SECONDS
        stream = self.token_stream(job, loaded.pipe.get_tokenizer(),
                                   self._show_live if live else None)
        how = "" if live else " (the text appears at the end)"
        self.publish(status=f"transcribing {clock(clip.seconds)} of audio{how}…", transcript="",
                     chunks=[], words=[], metrics={})
        stream.start()
        try:
            config = apply_to(loaded.pipe.get_generation_config(), options)
            result = loaded.pipe.generate(clip.samples, config, stream.streamer())
        finally:
            stream.finish()
        text = result.texts[0] if result.texts else ""
        self.publish(transcript=text,
                     chunks=[(c.start_ts, c.end_ts, c.text) for c in first(result.chunks)],
                     words=[(w.start_ts, w.end_ts, w.text) for w in first(result.words)],
                     metrics=self._metrics(result, clip.seconds),
                     status="stopped" if stream.stopped else "done")
        return text

    def _show_live(self, text: str) -> None:
        self.live = text

    def _metrics(self, result: Any, seconds: float) -> dict[str, Any]:
        perf = result.perf_metrics
        busy_s = perf.get_generate_duration().mean / 1000
        return {"audio_s": seconds, "seconds": busy_s, "tokens": perf.get_num_generated_tokens(),
                "ttft_ms": perf.get_ttft().mean,
                "realtime": seconds / busy_s if busy_s > 0 else float("inf"),
                "language": (result.languages or [""])[0] if self.languages else ""}


def asr_pipeline(folder: Path, device: str, properties: dict[str, Any], words: bool
                 ) -> Loaded[ASRPipeline]:
    """The shared ASRPipeline for ``folder``, built with word timestamps or without (a pipeline
    key of its own each: genai decides at construction)."""
    return load(SPEECH, folder, device, properties, ("asr", words),
                lambda: {"word_timestamps": True} if words else {})


def first(per_text: Any) -> list[Any]:
    """The first text's items of an ASR result's chunks or words (one list per text; None or []
    when not asked for)."""
    return list(per_text[0]) if per_text else []


def language_token(language: str | None) -> str:
    """``fr`` or ``<|fr|>`` -> ``<|fr|>``; None or "auto" -> "auto" (let the model detect it)."""
    if not language or language == AUTO:
        return AUTO
    return language if language.startswith("<|") else f"<|{language}|>"


def clock(seconds: float) -> str:
    """Seconds as m:ss.ss (timestamps a reader can follow in the player)."""
    minutes, rest = divmod(max(seconds, 0.0), 60)
    return f"{int(minutes)}:{rest:05.2f}"


def source_name(source: Any) -> str:
    """How an audio source is named in messages."""
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name or str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "the uploaded audio"
    return "the audio"
