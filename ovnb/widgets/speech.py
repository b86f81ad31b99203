"""``ovnb.Transcriber``: a view of a TranscriberSession: audio in, a player, the transcript."""
from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as widgets
import traitlets

from ovnb.audio import Source, sample, to_wav
from ovnb.errors import OvnbError
from ovnb.sessions.speech import AUTO, Clip, SpeechState, TranscriberSession, WhisperSettings, clock
from ovnb.widgets.base import PipelineWidget
from ovnb.widgets.render import bind, grey, metrics_line

PLAYBACK_SECONDS = 20 * 60  # longer audio gets no player (its WAV would be too heavy for the page)
STATIC = Path(__file__).with_name("static")
SUBTITLE_FORMATS = (".srt", ".vtt")

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



def language_label(token: str) -> str:
    """``<|fr|>`` -> ``French (fr)``."""
    code = token.strip("<|>")
    return f"{LANGUAGE_NAMES.get(code, code)} ({code})"


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


def word_table(words: list[tuple[float, float, str]]) -> str:
    """The timed words as an HTML table (start, end, word), folded under a summary line."""
    if not words:
        return ""
    rows = "".join(
        f"<tr><td style='color:#555'>{clock(start)}</td><td style='color:#555'>{clock(end)}</td>"
        f"<td style='text-align:left'>{html.escape(word.strip())}</td></tr>"
        for start, end, word in words)
    return (f"<details><summary>{len(words)} words with their times</summary>"
            "<table style='border-collapse:collapse'><thead><tr><th>start</th><th>end</th>"
            f"<th style='text-align:left'>word</th></tr></thead><tbody>{rows}</tbody></table>"
            "</details>")


class WordPlayer(anywidget.AnyWidget):
    """The audio with its words: the word being spoken lights up; a click plays from a word."""

    _esm = STATIC / "words.js"
    _css = STATIC / "words.css"
    wav = traitlets.Bytes(b"", help="the audio, as WAV bytes").tag(sync=True)
    words = traitlets.List(help="[start s, end s, word] of each word").tag(sync=True)
    position = traitlets.Int(-1, help="index of the word being played (-1: none), from the "
                                      "browser").tag(sync=True)

    def __repr__(self) -> str:
        return f"WordPlayer({len(self.words)} words)"


class Transcriber(PipelineWidget, SpeechState, WhisperSettings):
    """Speech to text: ``Transcriber("openai/whisper-tiny.en").transcribe("talk.flac") -> str``.

    A view of ``TranscriberSession``: audio comes from an upload, a file path, the bundled LibriVox
    sample, or ``transcribe(audio)`` with a path, file bytes or ``(samples, rate)``.
    ``properties`` are OpenVINO properties; ``**settings`` WhisperGenerationConfig fields
    (``language="<|fr|>"``, ``task="translate"``, ``return_timestamps=True``, ``max_new_tokens``),
    each a trait of the widget. Language and task apply to multilingual models only.
    """

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU",
                 properties: dict[str, Any] | None = None, **settings: Any) -> None:
        super().__init__(TranscriberSession(model, device, properties, **settings))
        self._reference = ""
        self._build_view()
        self._wire()

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
                                          description="language")
        self._task = widgets.ToggleButtons(options=["transcribe"], value="transcribe")
        self._timestamps = widgets.Checkbox(self.return_timestamps, description="timestamps")
        self._word_box = widgets.Checkbox(self.word_timestamps, description="word timestamps")
        self._choices = widgets.HBox([self._language, self._task],
                                     layout=widgets.Layout(display="none"))
        self._transcribe_btn = widgets.Button(description="Transcribe", button_style="primary",
                                              icon="microphone")
        self._stop_btn = widgets.Button(description="Stop", icon="stop")
        self._text = widgets.Textarea(placeholder="the transcript appears here",
                                      layout=widgets.Layout(width="100%", height="8em"))
        self._chunk_view = widgets.HTML()
        self._words = WordPlayer(layout=widgets.Layout(display="none"))
        self._word_list = widgets.HTML()
        self._metrics_line = widgets.HTML()
        self.children = [
            widgets.HBox([self._upload, self._path, self._sample_btn]), self._audio_label,
            self._player, self._choices,
            widgets.HBox([self._timestamps, self._word_box, self._transcribe_btn, self._stop_btn]),
            self._text, self._words, self._word_list, self._chunk_view, self._metrics_line,
            self._status, self._error]

    def _wire(self) -> None:
        self._upload.observe(lambda change: self._on_upload(change["new"]), "value")
        self._path.observe(lambda change: self._on_path(change["new"]), "value")
        self._sample_btn.on_click(lambda _: self.choose_sample())
        bind(self._timestamps, self, "return_timestamps")
        bind(self._word_box, self, "word_timestamps")
        self._transcribe_btn.on_click(lambda _: self.session.submit())
        self._stop_btn.on_click(lambda _: self.stop())
        self._busy_controls([self._transcribe_btn], [self._stop_btn])
        self.observe(lambda _: self._offer_choices(), ["languages", "tasks"])
        self.observe(lambda change: self._show_audio(change["new"]), "audio")
        self.observe(lambda change: self._show_text(change["new"], live=True), "live")
        self.observe(lambda change: self._show_text(change["new"]), "transcript")
        self.observe(lambda _: self._show_results(), ["chunks", "metrics"])
        self.observe(lambda _: self._show_words(), "words")
        self._offer_choices()

    def _offer_choices(self) -> None:
        """Language and task choosers for a multilingual model; hidden for a ``.en`` one."""
        if not self.languages or not self.tasks:  # (both arrive together, one at a time)
            self._choices.layout.display = "none"
            self._language.disabled = self._task.disabled = True
            return
        self._language.disabled = self._task.disabled = False
        language, task = self.language, self.task  # before the options reset the controls
        self._language.options = [("detect", AUTO), *((language_label(t), t) for t in self.languages)]
        self._task.options = self.tasks or ["transcribe"]
        self._language.value = language if language in self.languages else AUTO
        self._task.value = task if task in self._task.options else self._task.options[0]
        if not getattr(self, "_bound_choices", False):
            bind(self._language, self, "language")
            bind(self._task, self, "task")
            self._bound_choices = True
        self._choices.layout.display = "flex"

    # audio ---------------------------------------------------------------------------------------
    def choose(self, source: Source, name: str | None = None) -> Clip | None:
        """Decode ``source`` and make it the audio of the next run; None (error shown) if not audio."""
        self._reference = ""
        return self.session.choose(source, name)

    def choose_sample(self) -> Clip | None:
        """The bundled clip, with its reference transcript to compare against."""
        path, reference = sample()
        clip = self.choose(path, "the LibriVox sample (public domain)")
        if clip is not None:
            self._reference = reference
            self._show_audio(clip)
        return clip

    def _on_upload(self, files: Any) -> None:
        if files:
            upload = files[-1]
            self.choose(bytes(upload["content"]), upload.get("name") or "the uploaded audio")

    def _on_path(self, text: str) -> None:
        if text.strip():
            self.choose(text.strip(), Path(text.strip()).name)

    def _show_audio(self, clip: Clip | None) -> None:
        if clip is None:
            return
        silent = " · silent: expect an empty transcript" if clip.silent else ""
        label = grey(f"🎧 {clip.name} · {clock(clip.seconds)}{silent}")
        if self._reference:
            label += "<br>" + grey("reference: ") + f"<i>{html.escape(self._reference)}</i>"
        self._audio_label.value = label
        playable = clip.seconds <= PLAYBACK_SECONDS
        self._player.value = to_wav(clip.samples) if playable else b""
        self._player.layout.display = None if playable else "none"
        self._words.layout.display = "none"  # new audio: its words come with its transcript

    # actions -------------------------------------------------------------------------------------
    def transcribe(self, audio: Source | None = None, word_timestamps: bool | None = None) -> str:
        """Transcribe ``audio`` (else the chosen audio) as the Transcribe button does; '' on error.

        ``word_timestamps`` True or False overrides the setting for this call (None: the setting).
        """
        if audio is not None:
            self._reference = ""
        return self.session.transcribe(audio, word_timestamps)

    def srt(self) -> str:
        """The last transcript as SubRip (.srt) subtitles, timed by its words or chunks."""
        return self.session.srt()

    def vtt(self) -> str:
        """The last transcript as WebVTT (.vtt) subtitles, timed by its words or chunks."""
        return self.session.vtt()

    def save_subtitles(self, path: str | os.PathLike[str]) -> Path | None:
        """Write ``.srt`` or ``.vtt`` subtitles of the last transcript; the path, or None."""
        target = Path(path).expanduser()
        try:
            if target.suffix.lower() not in SUBTITLE_FORMATS:
                raise OvnbError(f"cannot save subtitles as {target.name!r}: end the name in .srt "
                                "or .vtt")
            if not self.transcript.strip():
                raise OvnbError("no transcript yet: press Transcribe first")
            text = self.srt() if target.suffix.lower() == ".srt" else self.vtt()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except (OSError, OvnbError) as exc:
            self.session.fail(str(exc) if isinstance(exc, OvnbError)
                              else f"cannot write {target} ({exc.strerror}): choose another folder")
            return None
        self.session.publish_now(last_error="", error_details="", status=f"saved {target.name}")
        return target

    def _show_words(self) -> None:
        """The word player (the audio with its words) replaces the plain player while shown."""
        words = [[float(a), float(b), w] for a, b, w in self.words]
        self._word_list.value = word_table(self.words)
        clip = self.audio
        playable = bool(words) and clip is not None and clip.seconds <= PLAYBACK_SECONDS
        self._words.words = words
        self._words.wav = bytes(self._player.value) if playable else b""
        self._words.layout.display = None if playable else "none"
        if clip is not None and clip.seconds <= PLAYBACK_SECONDS:
            self._player.layout.display = "none" if playable else None

    def _show_text(self, text: str, live: bool = False) -> None:
        if live and not text:
            return
        self._text.value = f"{text} ▌" if live else text

    def _show_results(self) -> None:
        self._chunk_view.value = chunk_table(self.chunks, self.audio_seconds)
        m = self.metrics
        if not m:
            self._metrics_line.value = ""
            return
        self._metrics_line.value = metrics_line([
            f"{clock(m['audio_s'])} of audio in {m['seconds']:.2f} s ({m['realtime']:.1f}× real time)",
            f"{m['tokens']} tokens", f"first token {m['ttft_ms']:.0f} ms",
            f"language {m['language']}" if m.get("language") else ""])
