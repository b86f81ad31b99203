"""``ovnb.Speaker``: a view of a SpeakerSession: text in, a voice, speech sentence by sentence.

Each sentence gets its own small player as soon as it is spoken (a long text can be heard while
the rest is made); when the run ends, the main player holds the whole speech. One player per
sentence sends each sentence's audio once, where re-sending a growing recording would send
the beginning again with every sentence.
"""
from __future__ import annotations

import html
import os
from typing import Any

import ipywidgets as widgets

from ovnb.audio import to_wav
from ovnb.sessions.speech import clock
from ovnb.sessions.tts import BUILTIN, SpeakerSession, SpeakerState, SpeechSettings, Spoken
from ovnb.widgets.base import PipelineWidget
from ovnb.widgets.render import grey, keyed_views, metrics_line, setting_controls

SENTENCE_PLAYER_WIDTH = "260px"


class Speaker(PipelineWidget, SpeakerState, SpeechSettings):
    """Text to speech: ``Speaker("tiny-speecht5").speak("Hello.") -> (samples, rate)``.

    A view of ``SpeakerSession``. ``voice`` is one the model offers (``voices``; '' its own),
    chosen in the dropdown or loaded from a speaker embedding file (``load_voice``); ``properties``
    OpenVINO properties; ``**settings`` SpeechGenerationConfig fields (``threshold``,
    ``maxlenratio``, ``minlenratio``, ``speed``), each a trait of the widget. Long text is spoken
    sentence by sentence; Stop ends it after the sentence being spoken.
    """

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU", voice: str = BUILTIN,
                 properties: dict[str, Any] | None = None, **settings: Any) -> None:
        super().__init__(SpeakerSession(model, device, voice, properties, **settings))
        self._players: dict[int, widgets.Widget] = {}  # id(Spoken) -> its row
        self._build_view()
        self._wire()

    def _build_view(self) -> None:
        self._text = widgets.Textarea(placeholder="Type what to say, then press Speak",
                                      layout=widgets.Layout(width="100%", height="6em"))
        self._voice = widgets.Dropdown(options=self._voice_options(), description="voice")
        self._voice_upload = widgets.FileUpload(accept=".bin,.npy", multiple=False,
                                                description="Load voice",
                                                tooltip="a speaker embedding: raw float32 .bin "
                                                        "or .npy")
        self._speak_btn = widgets.Button(description="Speak", button_style="primary",
                                         icon="volume-up")
        self._stop_btn = widgets.Button(description="Stop", icon="stop",
                                        tooltip="stop after the sentence being spoken")
        self._controls = setting_controls(self)
        self._progress = widgets.IntProgress(0, min=0, max=1, description="sentences")
        self._sentence_list = widgets.VBox()
        self._player = widgets.Audio(format="wav", autoplay=False, loop=False,
                                     layout=widgets.Layout(display="none"))
        self._metrics_line = widgets.HTML()
        self._filename = widgets.Text("speech.wav", description="file",
                                      tooltip="a .wav or .flac name")
        self._save_btn = widgets.Button(description="Save", icon="save")
        self.children = [
            self._text, widgets.HBox([self._voice, self._voice_upload]),
            widgets.HBox([self._speak_btn, self._stop_btn, self._progress]),
            widgets.VBox(list(self._controls.values())), self._sentence_list, self._player,
            self._metrics_line, self._status, self._error,
            widgets.HBox([self._filename, self._save_btn])]

    def _wire(self) -> None:
        self._speak_btn.on_click(lambda _: self.session.submit(self._text.value))
        self._stop_btn.on_click(lambda _: self.stop())
        self._save_btn.on_click(lambda _: self.save())
        self._voice_upload.observe(lambda change: self._on_upload(change["new"]), "value")
        self._busy_controls([self._speak_btn, self._voice, self._voice_upload], [self._stop_btn])
        self.observe(lambda _: self._offer_voices(), ["voices", "builtin_voice"])
        self.observe(lambda _: self._show_sentences(), "sentences")
        self.observe(lambda _: self._show_progress(), "progress")
        self.observe(lambda _: self._show_speech(), ["speech", "metrics"])
        self._offering = False
        self._offer_voices()
        self._voice.observe(lambda change: self._choose_voice(change["new"]), "value")
        self.observe(lambda _: self._offer_voices(), "voice")

    # voices --------------------------------------------------------------------------------------
    def _voice_options(self) -> list[tuple[str, str]]:
        own = "the model's own" if self.builtin_voice or not self.voices else "default (the first)"
        options = [(own, BUILTIN), *((name, name) for name in self.voices)]
        if self.voice and self.voice not in self.voices:  # asked for before the model was known
            options.append((self.voice, self.voice))
        return options

    def _offer_voices(self) -> None:
        """The dropdown shows the voices offered and the chosen one (it never chooses itself)."""
        self._offering = True
        try:
            self._voice.options = self._voice_options()
            self._voice.value = self.voice
        finally:
            self._offering = False

    def _choose_voice(self, voice: str) -> None:
        if not self._offering and voice != self.voice:
            self.voice = voice

    def load_voice(self, source: Any, name: str | None = None) -> str | None:
        """Add a speaker embedding file or array as a voice and choose it (see the session)."""
        return self.session.load_voice(source, name)

    def _on_upload(self, files: Any) -> None:
        if not files:
            return
        import tempfile
        from pathlib import Path

        upload = files[-1]
        name = Path(upload.get("name") or "voice.bin")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / name.name
            path.write_bytes(bytes(upload["content"]))
            self.load_voice(path, name.stem)

    # results -------------------------------------------------------------------------------------
    def _show_progress(self) -> None:
        done, total = self.progress
        self._progress.max = max(total, 1)
        self._progress.value = min(done, self._progress.max)

    def _show_sentences(self) -> None:
        """A player per sentence spoken, each made once, as it arrives."""
        self._sentence_list.children = keyed_views(self._players, self.sentences, _sentence_row)

    def _show_speech(self) -> None:
        speech = self.speech
        has = speech is not None and speech.samples.size > 0
        self._player.value = to_wav(speech.samples, speech.rate) if has else b""
        self._player.layout.display = None if has else "none"
        m = self.metrics
        if not m:
            self._metrics_line.value = ""
            return
        times = (f"{1 / m['rtf']:.1f}× faster than real time" if 0 < m["rtf"] < 1
                 else f"{m['rtf']:.1f}× slower than real time" if m["rtf"] else "")
        self._metrics_line.value = metrics_line([
            f"{clock(m['audio_s'])} of speech in {m['seconds']:.2f} s",
            f"real-time factor {m['rtf']:.2f} ({times})" if m["rtf"] else "",
            f"{m['sentences']} of {m['of']} sentences"])

    # actions -------------------------------------------------------------------------------------
    def speak(self, text: str) -> tuple[Any, int]:
        """Speak ``text`` as the Speak button does; (float32 samples, rate), empty if refused."""
        self._text.value = text
        return self.session.speak(text)

    def save(self, path: str | os.PathLike[str] | None = None) -> Any:
        """Save the last speech as WAV or FLAC (the file box's name when no path); its path."""
        return self.session.save(path if path is not None else self._filename.value.strip())


def _sentence_row(spoken: Spoken) -> widgets.Widget:
    """A small player and the sentence it says."""
    player = widgets.Audio(value=to_wav(spoken.samples, spoken.rate), format="wav",
                           autoplay=False, loop=False,
                           layout=widgets.Layout(width=SENTENCE_PLAYER_WIDTH, height="32px"))
    label = widgets.HTML(f"{html.escape(spoken.text)} "
                         f"{grey(f'{spoken.seconds:.1f} s, made in {spoken.compute_s:.2f} s')}")
    return widgets.HBox([player, label], layout=widgets.Layout(align_items="center"))
