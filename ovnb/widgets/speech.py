"""``ovnb.Transcriber``: a TranscriberSession and its view: audio in, a player, the transcript."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as widgets
import traitlets

from ovnb.audio import sample, to_wav
from ovnb.sessions.speech import AUTO, Clip, TranscriberSession, clock
from ovnb.widgets.base import Front, View
from ovnb.widgets.recorder import Recorder
from ovnb.widgets.render import bind, grey, metrics_line
from ovnb.widgets.upload import Upload

PLAYBACK_SECONDS = 20 * 60  # longer audio gets no player (its WAV would be too heavy for the page)
# a recording made in the page stops here: 10 minutes of 64 kbit/s opus (about 4.8 MB) is one
# websocket message safely under the server's 10 MiB; longer talks are files to upload
RECORD_SECONDS = 10 * 60
STATIC = Path(__file__).with_name("static")

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
        f"<tr><td class='ovnb-quiet' style='white-space:nowrap'>{clock(start)}</td>"
        f"<td class='ovnb-quiet' style='white-space:nowrap'>{clock(end if end >= 0 else audio_end)}</td>"
        f"<td style='text-align:left'>{html.escape(text.strip())}</td></tr>"
        for start, end, text in chunks)
    return ("<table style='border-collapse:collapse'><thead><tr><th>start</th><th>end</th>"
            f"<th style='text-align:left'>text</th></tr></thead><tbody>{rows}</tbody></table>")


def word_table(words: list[tuple[float, float, str]]) -> str:
    """The timed words as an HTML table (start, end, word), folded under a summary line."""
    if not words:
        return ""
    rows = "".join(
        f"<tr><td class='ovnb-quiet'>{clock(start)}</td><td class='ovnb-quiet'>{clock(end)}</td>"
        f"<td style='text-align:left'>{html.escape(word.strip())}</td></tr>"
        for start, end, word in words)
    return (f"<details><summary>{len(words)} words with their times</summary>"
            "<table style='border-collapse:collapse'><thead><tr><th>start</th><th>end</th>"
            f"<th style='text-align:left'>word</th></tr></thead><tbody>{rows}</tbody></table>"
            "</details>")


class WordPlayer(anywidget.AnyWidget):
    """The audio with its words: the word being spoken lights up; a click plays from a word.

    The Speaker shows sentences in it the same way (``ovnb.widgets.tts.SentencePlayer``)."""

    _esm = STATIC / "words.js"
    _css = STATIC / "words.css"
    wav = traitlets.Bytes(b"", help="the audio, as WAV bytes").tag(sync=True)
    words = traitlets.List(help="[start s, end s, word] of each word").tag(sync=True)
    position = traitlets.Int(-1, help="index of the word being played (-1: none), from the "
                                      "browser").tag(sync=True)
    continues = traitlets.Bool(False, help="whether a new wav is the current one grown (speech so "
                               "far): the playhead stays and playing goes on").tag(sync=True)

    def __repr__(self) -> str:
        return f"WordPlayer({len(self.words)} words)"


class TranscriberView(View):
    """The view of a TranscriberSession: audio in (upload, path, sample), a player, the text."""

    session: TranscriberSession

    def __init__(self, session: TranscriberSession) -> None:
        super().__init__(session)
        self._sample: Clip | None = None  # the bundled clip, when it was chosen here
        self._reference = ""  # its reference transcript
        self._build_view()
        self._wire()

    def _build_view(self) -> None:
        session = self.session
        self.controls.update(
            upload=Upload(accept="audio/*,.wav,.flac,.ogg,.oga,.mp3",
                          multiple=False, description="Upload"),
            path=widgets.Text(placeholder="or type a file path and press Enter",
                              continuous_update=False, layout=widgets.Layout(width="40%")),
            sample=widgets.Button(description="Sample", icon="book",
                                  tooltip="a public-domain LibriVox clip"),
            language=widgets.Dropdown(options=[("detect", AUTO)], value=AUTO,
                                      description="language"),
            task=widgets.ToggleButtons(options=["transcribe"], value="transcribe"),
            return_timestamps=widgets.Checkbox(session.return_timestamps,
                                               description="timestamps"),
            word_timestamps=widgets.Checkbox(session.word_timestamps,
                                             description="word timestamps"),
            run=widgets.Button(description="Transcribe", button_style="primary",
                               icon="microphone"),
            stop=widgets.Button(description="Stop", icon="stop"),
            record=Recorder(max_seconds=RECORD_SECONDS))
        c = self.controls
        self.audio_label = widgets.HTML()
        self.player = widgets.Audio(format="wav", autoplay=False, loop=False,
                                     layout=widgets.Layout(display="none"))
        self.choices = widgets.HBox([c["language"], c["task"]],
                                     layout=widgets.Layout(display="none"))
        self.transcript_box = widgets.Textarea(placeholder="the transcript appears here",
                                      layout=widgets.Layout(width="auto", height="8em"))
        self.chunk_table = widgets.HTML()
        self.word_player = WordPlayer(layout=widgets.Layout(display="none"))
        self.word_list = widgets.HTML()
        self.figures_line = widgets.HTML()
        self.children = [
            widgets.HBox([c["upload"], c["path"], c["sample"]]), c["record"], self.audio_label,
            self.player, self.choices,
            widgets.HBox([c["return_timestamps"], c["word_timestamps"], c["run"], c["stop"]]),
            self.transcript_box, self.word_player, self.word_list, self.chunk_table, self.figures_line,
            self.status_line, self.error_line]

    def _wire(self) -> None:
        c, session = self.controls, self.session
        c["upload"].observe(self._on_upload, "value")
        c["path"].observe(self._on_path, "value")
        c["sample"].on_click(self.choose_sample)
        c["record"].on_recorded(self._on_recording)
        bind(c["return_timestamps"], session, "return_timestamps")
        bind(c["word_timestamps"], session, "word_timestamps")
        c["run"].on_click(self._transcribe)
        c["stop"].on_click(self.press_stop)
        self.busy_controls([c["run"], c["record"]], [c["stop"]])
        session.observe(self._offer_choices, ["languages", "tasks"])
        session.observe(self._show_audio, "audio")
        session.observe(self._show_live, "live")
        session.observe(self._show_transcript, "transcript")
        session.observe(self._show_results, ["chunks", "metrics"])
        session.observe(self._show_words, "words")
        self._offer_choices()

    def _offer_choices(self, change: Any = None) -> None:
        """Language and task choosers for a multilingual model; hidden for a ``.en`` one."""
        session, c = self.session, self.controls
        if not session.languages or not session.tasks:  # (both arrive together, one at a time)
            self.choices.layout.display = "none"
            c["language"].disabled = c["task"].disabled = True
            return
        c["language"].disabled = c["task"].disabled = False
        language, task = session.language, session.task  # before the options reset the controls
        c["language"].options = [("detect", AUTO),
                                 *((language_label(t), t) for t in session.languages)]
        c["task"].options = session.tasks or ["transcribe"]
        c["language"].value = language if language in session.languages else AUTO
        c["task"].value = task if task in c["task"].options else c["task"].options[0]
        if not getattr(self, "_bound_choices", False):
            bind(c["language"], session, "language")
            bind(c["task"], session, "task")
            self._bound_choices = True
        self.choices.layout.display = "flex"

    # audio ---------------------------------------------------------------------------------------
    def choose_sample(self, button: Any = None) -> Clip | None:
        """The bundled clip, with its reference transcript to compare against (the Sample button)."""
        path, reference = sample()
        self._reference = reference
        clip = self._sample = self.session.choose(path, "the LibriVox sample (public domain)")
        if clip is not None:
            self._show_audio()
        return clip

    def _on_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if files:
            upload = files[-1]
            self.session.choose(bytes(upload["content"]), upload.get("name") or "the uploaded audio")

    def _on_recording(self, data: bytes, name: str) -> None:
        """A recording made in the page's microphone is the audio to transcribe, like an upload."""
        self.session.choose(data, name)

    def _on_path(self, change: dict[str, Any]) -> None:
        text = change["new"].strip()
        if text:
            self.session.choose(text, Path(text).name)

    def _show_audio(self, change: Any = None) -> None:
        clip = self.session.audio
        if clip is None:
            return
        silent = " · silent: expect an empty transcript" if clip.silent else ""
        label = grey(f"🎧 {clip.name} · {clock(clip.seconds)}{silent}")
        if clip is self._sample:
            label += "<br>" + grey("reference: ") + f"<i>{html.escape(self._reference)}</i>"
        self.audio_label.value = label
        playable = clip.seconds <= PLAYBACK_SECONDS
        self.player.value = to_wav(clip.samples) if playable else b""
        self.player.layout.display = None if playable else "none"
        self.word_player.layout.display = "none"  # new audio: its words come with its transcript
        self.word_player.wav = b""

    # actions -------------------------------------------------------------------------------------
    def _transcribe(self, button: Any = None) -> None:
        self.session.submit()

    def _show_words(self, change: Any = None) -> None:
        """The word player (the audio with its words) replaces the plain player while shown."""
        session = self.session
        words = [[float(a), float(b), w] for a, b, w in session.words]
        self.word_list.value = word_table(session.words)
        clip = session.audio
        playable = bool(words) and clip is not None and clip.seconds <= PLAYBACK_SECONDS
        self.word_player.words = words
        if playable:  # sent once per audio: a run that empties the words first only hides it
            self.word_player.wav = bytes(self.player.value)
        self.word_player.layout.display = None if playable else "none"
        if clip is not None and clip.seconds <= PLAYBACK_SECONDS:
            self.player.layout.display = "none" if playable else None

    def _show_live(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self.transcript_box.value = f"{change['new']} ▌"

    def _show_transcript(self, change: dict[str, Any]) -> None:
        self.transcript_box.value = change["new"]

    def _show_results(self, change: Any = None) -> None:
        session = self.session
        self.chunk_table.value = chunk_table(session.chunks, session.audio_seconds)
        m = session.metrics
        if not m:
            self.figures_line.value = ""
            return
        self.figures_line.value = metrics_line([
            f"{clock(m['audio_s'])} of audio in {m['seconds']:.2f} s ({m['realtime']:.1f}× real time)",
            f"{m['tokens']} tokens", f"first token {m['ttft_ms']:.0f} ms",
            f"language {m['language']}" if m.get("language") else ""])


class Transcriber(Front):
    """Speech to text: ``Transcriber("openai/whisper-tiny.en").transcribe("talk.flac") -> str``.

    Its arguments are ``TranscriberSession``'s. Audio comes from an upload, a file path, the
    Record button (the browser's microphone, up to 10 minutes), the bundled LibriVox sample (with its reference transcript), or ``transcribe(audio)`` with a path,
    file bytes or ``(samples, rate)``; ``srt()`` / ``vtt()`` / ``save_subtitles(path)`` give the
    last transcript as subtitles.
    """

    session_class = TranscriberSession
    view_class = TranscriberView

    def choose_sample(self) -> Clip | None:
        """The bundled clip, with its reference transcript to compare against."""
        return self.view.choose_sample()
