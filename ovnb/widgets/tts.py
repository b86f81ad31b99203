"""``ovnb.Speaker``: a view of a SpeakerSession: text in, a voice, speech sentence by sentence.

The speech plays in one player, its sentences listed under it: the sentence being played lights
up and a click plays from it (the Transcriber's word player, ``WordPlayer``, with sentences for
words). While speaking, the list fills as sentences come and the player gets the speech so far,
so the first sentence can be heard while the rest is made; the playhead stays where it is when
the speech grows. The speech so far is re-sent only when it has doubled since it was last sent
(and once at the end): a long text costs at most about three times its WAV in messages, where
sending it after every sentence would send the beginning again each time (quadratic).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ovnb.audio import to_wav
from ovnb.sessions.speech import clock
from ovnb.sessions.tts import BUILTIN, SpeakerSession, Spoken, join, spans
from ovnb.widgets.base import Front, View
from ovnb.widgets.render import metrics_line, setting_controls
from ovnb.widgets.speech import WordPlayer
from ovnb.widgets.upload import Upload

GROWTH = 2.0  # the speech so far is sent again once it is this many times what was sent


class SentencePlayer(WordPlayer):
    """One player for the whole speech with its sentences listed under it, one a line; the one
    being played lights up (``position``: its index, from the browser), a click plays from it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("ovnb-sentence-player")

    def __repr__(self) -> str:
        return f"SentencePlayer({len(self.words)} sentences)"


class SpeakerView(View):
    """The view of a SpeakerSession: text, a voice, Speak/Stop, the sentences as they come."""

    session: SpeakerSession

    def __init__(self, session: SpeakerSession) -> None:
        super().__init__(session)
        self._sent = 0  # samples of speech in the player (0: none, or a new run's first)
        self._offering = False  # True while Python sets the voice dropdown's options
        self._build_view()
        self._wire()

    def _build_view(self) -> None:
        self.controls.update(
            text=widgets.Textarea(placeholder="Type what to say, then press Speak",
                                  layout=widgets.Layout(width="auto", height="6em")),
            voice=widgets.Dropdown(options=self._voice_options(), description="voice"),
            voice_upload=Upload(accept=".bin,.npy", multiple=False,
                                description="Load voice",
                                tooltip="a speaker embedding: raw float32 .bin or .npy"),
            run=widgets.Button(description="Speak", button_style="primary", icon="volume-up"),
            stop=widgets.Button(description="Stop", icon="stop",
                                tooltip="stop after the sentence being spoken"),
            filename=widgets.Text("speech.wav", description="file",
                                  tooltip="a .wav or .flac name"),
            save=widgets.Button(description="Save", icon="save"),
            **setting_controls(self.session))
        c = self.controls
        self.progress = widgets.IntProgress(0, min=0, max=1, description="sentences")
        self.player = SentencePlayer(layout=widgets.Layout(display="none"))
        self.figures_line = widgets.HTML()
        settings = [c[n] for n in self.session.trait_names(setting=True, control=True)]
        # SpeechT5's stop threshold and length ratio are rarely touched: folded away
        advanced = widgets.Accordion([widgets.VBox(settings)], titles=("Advanced",),
                                     selected_index=None)
        self.children = [
            c["text"], widgets.HBox([c["voice"], c["voice_upload"]]),
            widgets.HBox([c["run"], c["stop"], self.progress]), advanced,
            self.player, self.figures_line, self.status_line, self.error_line,
            widgets.HBox([c["filename"], c["save"]])]

    def _wire(self) -> None:
        c, session = self.controls, self.session
        c["run"].on_click(self._speak)
        c["stop"].on_click(self.press_stop)
        c["save"].on_click(self._save)
        c["voice_upload"].observe(self._on_upload, "value")
        self.busy_controls([c["run"], c["voice"], c["voice_upload"]], [c["stop"]])
        session.observe(self._offer_voices, ["voices", "builtin_voice", "voice"])
        session.observe(self._show_sentences, "sentences")
        session.observe(self._show_progress, "progress")
        session.observe(self._show_speech, ["speech", "metrics"])
        session.observe(self._show_text, "text")
        self._offer_voices()
        c["voice"].observe(self._choose_voice, "value")

    # voices --------------------------------------------------------------------------------------
    def _voice_options(self) -> list[tuple[str, str]]:
        session = self.session
        own = ("the model's own" if session.builtin_voice or not session.voices
               else "default (the first)")
        options = [(own, BUILTIN), *((name, name) for name in session.voices)]
        if session.voice and session.voice not in session.voices:  # asked for before loading
            options.append((session.voice, session.voice))
        return options

    def _offer_voices(self, change: Any = None) -> None:
        """The dropdown shows the voices offered and the chosen one (it never chooses itself)."""
        self._offering = True
        try:
            self.controls["voice"].options = self._voice_options()
            self.controls["voice"].value = self.session.voice
        finally:
            self._offering = False

    def _choose_voice(self, change: dict[str, Any]) -> None:
        if not self._offering and change["new"] != self.session.voice:
            self.session.voice = change["new"]

    def _on_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        upload = files[-1]
        name = Path(upload.get("name") or "voice.bin")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / name.name
            path.write_bytes(bytes(upload["content"]))
            self.session.load_voice(path, name.stem)

    # results -------------------------------------------------------------------------------------
    def _show_text(self, change: dict[str, Any]) -> None:
        """The text box shows what was spoken last (also when code spoke it)."""
        if change["new"] and self.controls["text"].value != change["new"]:
            self.controls["text"].value = change["new"]

    def _show_progress(self, change: Any = None) -> None:
        done, total = self.session.progress
        self.progress.max = max(total, 1)
        self.progress.value = min(done, self.progress.max)

    def _show_sentences(self, change: Any = None) -> None:
        """The list grows by each sentence as it comes; the audio by the speech so far, when due."""
        spoken = self.session.sentences
        if not spoken:
            self._show_audio([], b"", 0)
            return
        total = speech_samples(spoken)
        if due(self._sent, total):
            self._show_audio(spoken, to_wav(join(spoken, spoken[0].rate), spoken[0].rate), total)
        else:
            self.player.words = sentence_times(spoken)

    def _show_audio(self, spoken: list[Spoken], wav: bytes, samples: int) -> None:
        """The player's sentences and audio in one message; a grown speech continues playing."""
        with self.player.hold_sync():
            self.player.continues = self._sent > 0 and samples > 0
            self.player.words = sentence_times(spoken)
            self.player.wav = wav
            self.player.layout.display = None if samples else "none"
        self._sent = samples

    def _show_speech(self, change: Any = None) -> None:
        speech, spoken = self.session.speech, self.session.sentences
        if speech is not None and spoken and speech.samples.size != self._sent:
            self._show_audio(spoken, to_wav(speech.samples, speech.rate), int(speech.samples.size))
        m = self.session.metrics
        if not m:
            self.figures_line.value = ""
            return
        times = (f"{1 / m['rtf']:.1f}× faster than real time" if 0 < m["rtf"] < 1
                 else f"{m['rtf']:.1f}× slower than real time" if m["rtf"] else "")
        self.figures_line.value = metrics_line([
            f"{clock(m['audio_s'])} of speech in {m['seconds']:.2f} s",
            f"real-time factor {m['rtf']:.2f} ({times})" if m["rtf"] else "",
            f"{m['sentences']} of {m['sentences_asked']} sentences"])

    # actions -------------------------------------------------------------------------------------
    def _speak(self, button: Any = None) -> None:
        self.session.submit(self.controls["text"].value)

    def _save(self, button: Any = None) -> None:
        self.session.save(self.controls["filename"].value)


class Speaker(Front):
    """Text to speech: ``Speaker("tiny-speecht5").speak("Hello.") -> (samples, rate)``.

    Its arguments are ``SpeakerSession``'s: ``voice`` one the model offers (``voices``; '' its
    own), chosen in the dropdown or loaded from a speaker embedding file (``load_voice``). Long
    text is spoken sentence by sentence; Stop ends it after the sentence being spoken.
    """

    session_class = SpeakerSession
    view_class = SpeakerView

    def save(self, path: str | os.PathLike[str] | None = None) -> Any:
        """Save the last speech as WAV or FLAC (the file box's name when no path); its path."""
        return self.session.save(path if path is not None else
                                 self.view.controls["filename"].value)


def speech_samples(spoken: list[Spoken]) -> int:
    """How many samples the sentences joined make."""
    return spans(spoken, spoken[0].rate)[-1][1] if spoken else 0


def sentence_times(spoken: list[Spoken]) -> list[list[Any]]:
    """[start s, end s, text] of each sentence in the joined speech, as the player lists them."""
    if not spoken:
        return []
    rate = spoken[0].rate
    return [[start / rate, end / rate, s.text] for s, (start, end) in zip(spoken, spans(spoken, rate))]


def due(sent: int, total: int) -> bool:
    """Whether the speech so far (``total`` samples) goes to the player, which has ``sent``:
    the first sentence at once, then each time the speech has doubled."""
    return total > 0 and (sent == 0 or total >= GROWTH * sent)
