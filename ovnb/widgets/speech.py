"""``ovnb.Transcriber``: speech to text with a WhisperPipeline, from an upload, a file or a sample.

Audio is decoded and converted (16 kHz mono) as soon as it is chosen, so a bad file is refused at
once and the player can be used before transcribing. Live text is shown where openvino_genai streams
it faithfully: audio under 30 s without timestamps. Longer audio and timestamped runs still get a
streamer, only so that Stop works; their text appears when the run ends.
"""
from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np

from ovnb import devices, whisper
from ovnb.audio import RATE, Source, is_silent, load_audio, sample, to_wav
from ovnb.runtime import Loaded, Outcome, TextSink, check_device, explain, load
from ovnb.widgets.base import PipelineWidget, model_folder

WINDOW_SECONDS = 30.0  # Whisper hears 30 s at a time; openvino_genai streams only within one window
PLAYBACK_SECONDS = 20 * 60  # longer audio gets no player (its WAV would be too heavy for the page)
AUTO = "auto"  # the language chooser's "detect it" value

# Whisper's language codes with their English names (multilingual models list theirs in lang_to_id).
LANGUAGE_NAMES = dict(pair.split(":") for pair in (
    "en:English zh:Chinese de:German es:Spanish ru:Russian ko:Korean fr:French ja:Japanese "
    "pt:Portuguese tr:Turkish pl:Polish ca:Catalan nl:Dutch ar:Arabic sv:Swedish it:Italian "
    "id:Indonesian hi:Hindi fi:Finnish vi:Vietnamese he:Hebrew uk:Ukrainian el:Greek ms:Malay "
    "cs:Czech ro:Romanian da:Danish hu:Hungarian ta:Tamil no:Norwegian th:Thai ur:Urdu "
    "hr:Croatian bg:Bulgarian lt:Lithuanian la:Latin mi:Maori ml:Malayalam cy:Welsh sk:Slovak "
    "te:Telugu fa:Persian lv:Latvian bn:Bengali sr:Serbian az:Azerbaijani sl:Slovenian "
    "kn:Kannada et:Estonian mk:Macedonian br:Breton eu:Basque is:Icelandic hy:Armenian "
    "ne:Nepali mn:Mongolian bs:Bosnian kk:Kazakh sq:Albanian sw:Swahili gl:Galician mr:Marathi "
    "pa:Punjabi si:Sinhala km:Khmer sn:Shona yo:Yoruba so:Somali af:Afrikaans oc:Occitan "
    "ka:Georgian be:Belarusian tg:Tajik sd:Sindhi gu:Gujarati am:Amharic yi:Yiddish lo:Lao "
    "uz:Uzbek fo:Faroese ht:Haitian ps:Pashto tk:Turkmen nn:Nynorsk mt:Maltese sa:Sanskrit "
    "lb:Luxembourgish my:Myanmar bo:Tibetan tl:Tagalog mg:Malagasy as:Assamese tt:Tatar "
    "haw:Hawaiian ln:Lingala ha:Hausa ba:Bashkir jw:Javanese su:Sundanese yue:Cantonese").split())


def speech_options(folder: Path) -> tuple[list[str], list[str]]:
    """(language tokens, tasks) a model accepts; both empty for English-only (``.en``) models.

    Read from the folder's generation_config.json: passing a language or task to a ``.en``
    model is an error in openvino_genai, so the widget must know before it offers them.
    """
    try:
        gen = json.loads((folder / "generation_config.json").read_text())
    except (OSError, ValueError):
        return [], []
    langs = gen.get("lang_to_id") or {}
    if not gen.get("is_multilingual", bool(langs)) or not langs:
        return [], []
    tasks = sorted(gen.get("task_to_id") or {}, key=lambda task: task != "transcribe")
    return sorted(langs, key=langs.get), tasks


def language_token(language: str | None) -> str:
    """``fr`` or ``<|fr|>`` -> ``<|fr|>``; None or "auto" -> "auto" (let the model detect it)."""
    if not language or language == AUTO:
        return AUTO
    return language if language.startswith("<|") else f"<|{language}|>"


def language_label(token: str) -> str:
    """``<|fr|>`` -> ``French (fr)``."""
    code = token.strip("<|>")
    return f"{LANGUAGE_NAMES.get(code, code)} ({code})"


def clock(seconds: float) -> str:
    """Seconds as m:ss.ss (timestamps a reader can follow in the player)."""
    minutes, rest = divmod(max(seconds, 0.0), 60)
    return f"{int(minutes)}:{rest:05.2f}"


def chunk_table(chunks: list[tuple[float, float, str]], audio_end: float) -> str:
    """The timestamped chunks as an HTML table (start, end, text)."""
    if not chunks:
        return ""
    rows = "".join(
        f"<tr><td style='color:#555;white-space:nowrap'>{clock(start)}</td>"
        f"<td style='color:#555;white-space:nowrap'>{clock(end if end >= 0 else audio_end)}</td>"
        f"<td style='text-align:left'>{html.escape(text.strip())}</td></tr>"
        for start, end, text in chunks)
    return ("<table style='border-collapse:collapse'><thead><tr><th>start</th><th>end</th>"
            f"<th style='text-align:left'>text</th></tr></thead><tbody>{rows}</tbody></table>")


def source_name(source: Any) -> str:
    """How an audio source is named in the widget's messages."""
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name or str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "the uploaded audio"
    return "the audio"


class Transcriber(PipelineWidget):
    """Speech to text: ``Transcriber("openai/whisper-tiny.en").transcribe("talk.flac") -> str``.

    ``model`` is a catalog id or a prepared folder; audio comes from an upload, a file path, the
    bundled LibriVox sample, or ``transcribe(audio)`` with a path, file bytes or ``(samples, rate)``.
    ``properties`` are OpenVINO properties for the pipeline (e.g. ``INFERENCE_PRECISION_HINT="f32"``);
    ``**config`` are WhisperGenerationConfig fields (``language="<|fr|>"``, ``task="translate"``,
    ``return_timestamps=True``, ``max_new_tokens``...). Language and task apply to multilingual
    models only.
    """

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU",
                 properties: dict[str, Any] | None = None, **config: Any) -> None:
        super().__init__()
        # a name or a DevicePicker; the device's own settings (NPU: STATIC_PIPELINE) come first
        self.device, self.properties = devices.resolve(device, "speech", properties)
        self.config: dict[str, Any] = {"return_timestamps": False, "task": "transcribe", **config}
        self.config["language"] = language_token(self.config.get("language"))
        self.languages: list[str] = []  # language tokens of a multilingual model ([] for .en)
        self.samples: np.ndarray | None = None  # the chosen audio: float32, 16 kHz, mono
        self.transcript = ""
        self.chunks: list[tuple[float, float, str]] = []
        self.metrics: dict[str, Any] = {}
        self._sink: TextSink | None = None
        self._build_view()
        self._load_in_background(lambda: self._load(model), str(model))

    # the pipeline ---------------------------------------------------------------------------
    def _load(self, model: str | os.PathLike[str]) -> Loaded:
        check_device(self.device)  # an absent device is refused before any export
        folder = model_folder(model, "speech", devices.precision_for(self.device, "speech"))
        whisper.check_options(folder, self.config.get("language"), self.config.get("task"))
        self._offer_choices(*speech_options(folder))
        return load("speech", folder, self.device, self.properties)

    def _generation_config(self, loaded: Loaded, options: dict[str, Any]) -> Any:
        config = loaded.pipe.get_generation_config()
        for name, value in options.items():
            setattr(config, name, value)
        return config

    def _options(self) -> dict[str, Any]:
        """This run's settings; language and task only where the model has them."""
        options = dict(self.config)
        if not self.languages:
            options.pop("language", None)
            options.pop("task", None)
        elif options.get("language") == AUTO:
            options.pop("language", None)
        return options

    # the view -------------------------------------------------------------------------------
    def _build_view(self) -> None:
        self._upload = widgets.FileUpload(accept="audio/*,.wav,.flac,.ogg,.oga,.mp3",
                                          multiple=False, description="Upload")
        self._path = widgets.Text(placeholder="or type a file path and press Enter",
                                  continuous_update=False, layout=widgets.Layout(width="40%"))
        self._sample_btn = widgets.Button(description="Sample", icon="book",
                                          tooltip="a public-domain LibriVox clip")
        self._audio_label = widgets.HTML()
        self._player = widgets.Audio(format="wav", autoplay=False, loop=False,
                                     layout=widgets.Layout(display="none"))
        self._language = widgets.Dropdown(options=[("detect", AUTO)], value=AUTO,
                                          description="language", disabled=True)
        self._task = widgets.ToggleButtons(options=["transcribe"], value="transcribe",
                                           disabled=True)
        self._timestamps = widgets.Checkbox(bool(self.config["return_timestamps"]),
                                            description="timestamps")
        self._choices = widgets.HBox([self._language, self._task],
                                     layout=widgets.Layout(display="none"))
        self._transcribe_btn = widgets.Button(description="Transcribe", button_style="primary",
                                              icon="microphone")
        self._stop_btn = widgets.Button(description="Stop", icon="stop", disabled=True)
        self._text = widgets.Textarea(placeholder="the transcript appears here",
                                      layout=widgets.Layout(width="100%", height="8em"))
        self._chunk_view = widgets.HTML()
        self._metrics_line = widgets.HTML()
        self._wire()
        self.children = [
            widgets.HBox([self._upload, self._path, self._sample_btn]), self._audio_label,
            self._player, self._choices,
            widgets.HBox([self._timestamps, self._transcribe_btn, self._stop_btn]),
            self._text, self._chunk_view, self._metrics_line, self._status, self._error]

    def _wire(self) -> None:
        self._upload.observe(lambda change: self._on_upload(change["new"]), "value")
        self._path.observe(lambda change: self._on_path(change["new"]), "value")
        self._sample_btn.on_click(lambda _: self._choose_sample())
        for name, control in (("language", self._language), ("task", self._task),
                              ("return_timestamps", self._timestamps)):
            control.observe(lambda change, n=name: self.config.__setitem__(n, change["new"]), "value")
        self._transcribe_btn.on_click(lambda _: self._submit(self.samples))
        self._stop_btn.on_click(lambda _: self.stop())
        self.observe(lambda change: self._sync_buttons(change["new"]), "busy")

    def _offer_choices(self, languages: list[str], tasks: list[str]) -> None:
        """Show language and task choosers for a multilingual model, hide them for a ``.en`` one."""
        self.languages = languages
        if not languages:
            self._choices.layout.display = "none"
            self._language.disabled = self._task.disabled = True
            return
        language, task = self.config["language"], self.config["task"]  # before options reset them
        self._language.options = [("detect", AUTO), *((language_label(t), t) for t in languages)]
        self._language.value = language if language in languages else AUTO
        self._task.options = tasks or ["transcribe"]
        self._task.value = task if task in self._task.options else self._task.options[0]
        self._language.disabled = self._task.disabled = False
        self._choices.layout.display = "flex"

    def _sync_buttons(self, busy: bool) -> None:
        self._transcribe_btn.disabled = busy
        self._stop_btn.disabled = not busy

    def _show_live(self, text: str) -> None:
        self._text.value = f"{text} ▌"

    # choosing audio -------------------------------------------------------------------------
    def _on_upload(self, files: Any) -> None:
        if files:
            upload = files[-1]
            self._choose(bytes(upload["content"]), upload.get("name") or "the uploaded audio")

    def _on_path(self, text: str) -> None:
        if text.strip():
            self._choose(text.strip(), Path(text.strip()).name)

    def _choose_sample(self) -> None:
        """The bundled clip, with its reference transcript to compare against."""
        path, reference = sample()
        if self._choose(path, "the LibriVox sample (public domain)") is not None:
            self._audio_label.value += (f"<br><span style='color:#555'>reference: "
                                        f"<i>{html.escape(reference)}</i></span>")

    def _choose(self, source: Source, name: str) -> np.ndarray | None:
        """Decode ``source``, make it the current audio and show its player; None if unreadable."""
        try:
            samples = load_audio(source, name)
        except Exception as exc:  # a bad file is the learner's to fix, never the kernel's problem
            self._show_error(Outcome(error=explain(exc)))
            return None
        self._error.clear()
        self.last_error = ""
        self.samples = samples
        seconds = len(samples) / RATE
        silent = " · <b>silent</b>: expect an empty transcript" if is_silent(samples) else ""
        self._audio_label.value = (f"<span style='color:#555'>🎧 {html.escape(name)} · "
                                   f"{clock(seconds)}{silent}</span>")
        playable = seconds <= PLAYBACK_SECONDS
        self._player.value = to_wav(samples) if playable else b""
        self._player.layout.display = None if playable else "none"
        return samples

    # actions --------------------------------------------------------------------------------
    def transcribe(self, audio: Source | None = None) -> str:
        """Transcribe ``audio`` (else the chosen audio) as the Transcribe button does; '' on error."""
        samples = self.samples if audio is None else self._choose(audio, source_name(audio))
        if samples is None:
            return ""
        outcome = self._wait(self._submit(samples, queue=True))
        return outcome.value if outcome.ok else ""

    def stop(self) -> None:
        """Stop the running transcription; the text so far is kept."""
        self._stopping.set()  # heard even before the run has its streamer
        if self._sink is not None:
            self._sink.stop_event.set()

    def _submit(self, samples: np.ndarray | None, queue: bool = False) -> Any:
        if samples is None:
            message = "no audio yet: upload a file, type a path and press Enter, or press Sample"
            self._show_error(Outcome(error=message))
            return None
        seconds = len(samples) / RATE
        options = self._options()
        live = seconds < WINDOW_SECONDS and not options.get("return_timestamps")
        sink = TextSink(self._show_live if live else None)

        def work(loaded: Loaded) -> str:
            self._sink = sink
            if self._stopping.is_set():  # Stop came while it waited
                sink.stop_event.set()
            self._begin(seconds, live)
            result = loaded.pipe.generate(samples, self._generation_config(loaded, options), sink)
            self._record(result, seconds)
            return self.transcript

        def done(outcome: Outcome) -> None:
            self._sink = None
            self._text.value = self.transcript if outcome.ok else ""

        return self._start(work, done, queue=queue)

    def _begin(self, seconds: float, live: bool) -> None:
        self._text.value = ""
        self._chunk_view.value = ""
        self._metrics_line.value = ""
        how = "" if live else " (the text appears at the end)"
        self._set_status(f"transcribing {clock(seconds)} of audio{how}…")

    def _record(self, result: Any, seconds: float) -> None:
        """Keep the transcript, its chunks and metrics, and show them."""
        self.transcript = result.texts[0] if result.texts else ""
        self.chunks = [(c.start_ts, c.end_ts, c.text) for c in (result.chunks or [])]
        perf = result.perf_metrics
        busy_s = perf.get_generate_duration().mean / 1000
        self.metrics = {"audio_s": seconds, "seconds": busy_s,
                        "tokens": perf.get_num_generated_tokens(), "ttft_ms": perf.get_ttft().mean,
                        "realtime": seconds / busy_s if busy_s > 0 else float("inf"),
                        "language": getattr(result, "language", "") if self.languages else ""}
        self._chunk_view.value = chunk_table(self.chunks, seconds)
        self._metrics_line.value = metrics_line(self.metrics)
        stopped = self._sink is not None and self._sink.stop_event.is_set()
        self._set_status("stopped" if stopped else "done")


def metrics_line(metrics: dict[str, Any]) -> str:
    """One grey line: how much audio, how fast, how many tokens, which language."""
    parts = [f"{clock(metrics['audio_s'])} of audio in {metrics['seconds']:.2f} s "
             f"({metrics['realtime']:.1f}× real time)", f"{metrics['tokens']} tokens",
             f"first token {metrics['ttft_ms']:.0f} ms"]
    if metrics.get("language"):
        parts.append(f"language {html.escape(str(metrics['language']))}")
    return f"<span style='color:#555'>{' · '.join(parts)}</span>"

