"""``ovnb.Omni``: an OmniSession and its view: vision chat's conversation, image and video
pickers, plus a recording to ask about, whether and in which voice answers are spoken, and a
player holding the last answer's speech."""
from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from ovnb.audio import SAMPLE, to_wav
from ovnb.sessions.conversation import Message
from ovnb.sessions.omni import MAX_AUDIO_SECONDS, OmniSession
from ovnb.widgets.media import (
    SampleDropdown,
    audio_sample,
    path_box,
    picker_row,
    remove_button,
    show_choice,
)
from ovnb.widgets.recorder import Recorder
from ovnb.widgets.render import bind, grey
from ovnb.widgets.vision import VisionChat, VisionChatView
from ovnb.widgets.upload import Upload

NO_AUDIO = "no recording: record one, upload one, type a path or pick the sample"


class OmniView(VisionChatView):
    """The view of an OmniSession: a conversation about images, videos and recordings, spoken."""

    session: OmniSession

    placeholder = "Ask about the recording, image or video (or just talk), then press Enter"

    def __init__(self, session: OmniSession) -> None:
        self._offering = False  # True while Python sets the voice dropdown's options
        super().__init__(session)
        c = self.controls
        c["audio_upload"].observe(self._on_audio_upload, "value")
        c["audio_path"].observe(self._on_audio_path, "value")
        c["audio_samples"].on_pick(
            lambda sample: self.session.choose_audio(sample) or self._show_audio())
        c["remove_audio"].on_click(self.remove_audio)
        c["record"].on_recorded(self._on_recording)
        c["voice"].observe(self._choose_voice, "value")
        bind(c["speak"], session, "speak")
        self.busy_controls([c["audio_upload"], c["record"]])
        session.observe(self._show_audio, "audio_clip")
        session.observe(self._show_speech, "speech")
        session.observe(self._offer_voices, ["voices", "voice", "has_talker"])
        self._offer_voices()

    def _inputs(self) -> tuple[widgets.Widget, ...]:
        """Vision chat's rows, the recording picker and the speech player (the settings panel,
        built right after, shows the speech controls made here)."""
        self._build_audio_picker()
        self.controls.update(
            speak=widgets.Checkbox(self.session.speak, description="speak the answers",
                                   indent=False),
            voice=widgets.Dropdown(options=[("default", "")], description="voice"))
        self.player = widgets.Audio(format="wav", autoplay=True, loop=False,
                                    layout=widgets.Layout(display="none"))
        self.speech_line = widgets.HTML()
        return (*super()._inputs(), self.audio_row,
                widgets.HBox([self.player, self.speech_line]))

    def _build_audio_picker(self) -> None:
        self.controls.update(
            audio_upload=Upload(accept="audio/*,.wav,.flac,.ogg,.mp3",
                                multiple=False, description="Audio", icon="microphone"),
            audio_path=path_box("an audio"),
            audio_samples=SampleDropdown("sample recording…", {SAMPLE.name: str(SAMPLE)}),
            remove_audio=remove_button("remove the recording"),
            record=Recorder(max_seconds=MAX_AUDIO_SECONDS))
        c = self.controls
        self.audio_label = widgets.HTML(grey(NO_AUDIO))
        pickers = picker_row([c["audio_upload"], c["audio_samples"], c["remove_audio"],
                              c["audio_path"]])
        self.audio_row = widgets.VBox([pickers, c["record"], self.audio_label])

    def _extra_settings(self) -> tuple[widgets.Widget, ...]:
        return self.controls["speak"], self.controls["voice"]

    # the recording -------------------------------------------------------------------------------
    def remove_audio(self, button: Any = None) -> None:
        """Ask the next question without a recording (earlier ones stay in the conversation)."""
        self.session.remove_audio()
        self._show_audio()

    def _on_audio_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if files:
            upload = files[-1]
            self.session.choose_audio(bytes(upload["content"]), upload.get("name"))

    def _on_recording(self, data: bytes, name: str) -> None:
        """A recording made in the page's microphone is the next question's, like an upload."""
        self.session.choose_audio(data, name)

    def _on_audio_path(self, change: dict[str, Any]) -> None:
        text = change["new"].strip()
        if text:
            self.session.choose_audio(text)

    def _show_audio(self, change: Any = None) -> None:
        sound = self.session.audio_clip
        c = self.controls
        show_choice(c["audio_samples"], c["audio_path"], sound, audio_sample(sound))
        self.audio_label.value = grey(NO_AUDIO if sound is None else
                                      f"🎤 {sound.name} · {sound.seconds:.1f} s · sent with your "
                                      "next question")

    # voices and speech ---------------------------------------------------------------------------
    def _offer_voices(self, change: Any = None) -> None:
        """The dropdown shows the talker's voices and the chosen one (it never chooses itself)."""
        session, voice = self.session, self.controls["voice"]
        first = f"default ({session.voices[0]})" if session.voices else "default"
        self._offering = True  # new options reset the value: not a choice of the learner's
        try:
            voice.options = [(first, ""), *((v, v) for v in session.voices)]
            voice.value = session.voice if session.voice in ("", *session.voices) else ""
        finally:
            self._offering = False
        voice.disabled = self.controls["speak"].disabled = bool(session.ready
                                                                and not session.has_talker)

    def _choose_voice(self, change: dict[str, Any]) -> None:
        if not self._offering and change["new"] != self.session.voice:
            self.session.voice = change["new"]

    def _show_speech(self, change: Any = None) -> None:
        speech = self.session.speech
        spoken = speech is not None and len(speech[0]) > 0
        self.player.value = to_wav(*speech) if spoken else b""
        self.player.layout.display = None if spoken else "none"
        self.speech_line.value = grey(f"🔊 the last answer, {len(speech[0]) / speech[1]:.1f} s"
                                      if spoken else "")

    def _turn(self, message: Message) -> dict[str, str]:
        turn = super()._turn(message)
        if message.get("audio"):
            heard = f"🎤 {html.escape(message['audio'])} · {message.get('audio_s', 0):.1f} s"
            turn["html"] = f"<div>{heard}</div>{turn['html']}"
        return turn

    def _metric_parts(self, m: dict[str, Any]) -> list[str]:
        spoken = [f"{m['speech_s']:.1f} s of speech"] if m.get("speech_s") else []
        return [*super()._metric_parts(m), *spoken]


class Omni(VisionChat):
    """Talk with a model that hears, sees and speaks: ``Omni("tiny-qwen3-omni").send("What do
    you hear?", audio="clip.flac") -> str``; the answer's speech in ``speech`` as
    ``(samples, rate)``, playing in the widget.

    Its arguments are ``OmniSession``'s (``voice``, ``speak``, ``system_prompt``, generation
    settings...). Images and videos come as in ``VisionChat``; a recording from an upload, a path,
    the bundled sample, the Record button (the browser's microphone), or ``send(text, audio=path or (samples, rate))``.
    """

    session_class = OmniSession  # type: ignore[assignment]
    view_class = OmniView  # type: ignore[assignment]

    def remove_audio(self) -> None:
        """Ask the next question without a recording (earlier ones stay in the conversation)."""
        self.view.remove_audio()
