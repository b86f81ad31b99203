"""``ovnb.Speaker``: a view of a SpeakerSession: text in, a voice, speech sentence by sentence.

Each sentence gets its own small player as soon as it is spoken (a long text can be heard while
the rest is made); when the run ends, the main player holds the whole speech. One player per
sentence sends each sentence's audio once, where re-sending a growing recording would send
the beginning again with every sentence.
"""
from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ovnb.audio import to_wav
from ovnb.sessions.speech import clock
from ovnb.sessions.tts import BUILTIN, SpeakerSession, Spoken
from ovnb.widgets.base import Front, View
from ovnb.widgets.render import grey, keyed_views, metrics_line, setting_controls
from ovnb.widgets.upload import Upload

SENTENCE_PLAYER_WIDTH = "260px"


class SpeakerView(View):
    """The view of a SpeakerSession: text, a voice, Speak/Stop, the sentences as they come."""

    session: SpeakerSession

    def __init__(self, session: SpeakerSession) -> None:
        super().__init__(session)
        self._players: dict[int, widgets.Widget] = {}  # id(Spoken) -> its row
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
        self.sentence_list = widgets.VBox()
        self.player = widgets.Audio(format="wav", autoplay=False, loop=False,
                                     layout=widgets.Layout(display="none"))
        self.figures_line = widgets.HTML()
        settings = [c[n] for n in self.session.trait_names(setting=True, control=True)]
        # SpeechT5's stop threshold and length ratio are rarely touched: folded away
        advanced = widgets.Accordion([widgets.VBox(settings)], titles=("Advanced",),
                                     selected_index=None)
        self.children = [
            c["text"], widgets.HBox([c["voice"], c["voice_upload"]]),
            widgets.HBox([c["run"], c["stop"], self.progress]), advanced,
            self.sentence_list, self.player, self.figures_line, self.status_line, self.error_line,
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
        """A player per sentence spoken, each made once, as it arrives."""
        self.sentence_list.children = keyed_views(self._players, self.session.sentences,
                                                   _sentence_row)

    def _show_speech(self, change: Any = None) -> None:
        speech = self.session.speech
        has = speech is not None and speech.samples.size > 0
        self.player.value = to_wav(speech.samples, speech.rate) if has else b""
        self.player.layout.display = None if has else "none"
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


def _sentence_row(spoken: Spoken) -> widgets.Widget:
    """A small player and the sentence it says."""
    player = widgets.Audio(value=to_wav(spoken.samples, spoken.rate), format="wav",
                           autoplay=False, loop=False,
                           layout=widgets.Layout(width=SENTENCE_PLAYER_WIDTH, height="32px"))
    label = widgets.HTML(f"{html.escape(spoken.text)} "
                         f"{grey(f'{spoken.seconds:.1f} s, made in {spoken.compute_s:.2f} s')}")
    return widgets.HBox([player, label], layout=widgets.Layout(align_items="center"))
