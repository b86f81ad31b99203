"""Text to speech with a Text2SpeechPipeline: sentence by sentence, in a chosen voice, with Stop.

openvino_genai speaks one text per ``generate`` call and gives nothing back before it ends; its
SpeechT5 loop grows ~70 MB per second of speech, and a list of texts in one call returns every
text with the last one's audio (openvino_genai 2026.4.1, see tests/sources/test_tiny_speecht5.py).
So a text is split into sentences (``ovnb.sentences``), each spoken in its own call and published
as it arrives: the view can play the first sentence while the next is made, memory stays at one
sentence's, and Stop is heard between sentences. The whole speech is the sentences joined by a
short pause.

Memory no longer grows with every new sentence length. Each one makes OpenVINO's CPU plugin
compile kernels and buffers for new shapes (SpeechT5's decoder at each new step, its vocoder
~50-70 MB per new length at microsoft/speecht5_tts's size), and its runtime cache kept them all:
a plain pipeline reached 4751 MB on one 10 000-character text. So a CPU pipeline is built
without that cache (``families.SPEECH_OUT_CPU``); kernels come from oneDNN's primitive cache, a
bounded LRU (benchmarks/tts_shape_memory.py has the figures). A length spoken again is prepared
again, as a new one is, which costs little since ovnb prepares SpeechT5's decoder to run its
prenet on the newest frame only (``ovnb.prenet``; as exported it ran over every frame so far).
f32, 24 lengths spoken twice: random speecht5_tts-size model (int8) 1006 MB and 39.5 s for the
second pass, against 2886 MB and 39.9 s for a plain pipeline with the cache; tiny-speecht5
331 MB, 3.0 s against 709 MB, 2.3 s. The vocoder's buffers, which the plugin keeps at the
longest sentence's size whatever the cache, are bounded by preparing SpeechT5 with a vocoder that
works in windows of frames (``ovnb.vocoder``).

Text is checked before anything is spoken: empty text, or characters the model's tokenizer
cannot spell (they would be read as noise), are refused in one line that names them.
"""
from __future__ import annotations

import os
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import traitlets
from traitlets import Bool, Dict, Float, Int, List, Unicode

from ovnb import sentences
from ovnb.audio import write_audio
from ovnb.errors import OvnbError, explain
from ovnb.families import TEXT_TO_SPEECH
from ovnb.files import check_path
from ovnb.runtime.jobs import Job
from ovnb.runtime.pipelines import Loaded, load, open_tokenizer
from ovnb.runtime.views import post
from ovnb.sessions.base import Session, check_text
from ovnb.sessions.settings import Settings, setting
from ovnb.voices import read_speaker, read_voice, speakers

if TYPE_CHECKING:
    from openvino_genai import Text2SpeechPipeline

PAUSE_SECONDS = 0.25  # silence between two sentences in the joined speech
BUILTIN = ""  # the voice name of the model's own voice (SpeechT5: openvino_genai's built-in one)
FROM_MODEL = ("threshold", "minlenratio", "maxlenratio", "speed")
SHOWN_CHARACTERS = 8  # at most this many unsayable characters are named in the message
# typographic marks pasted from a web page, as the plain ones every tokenizer knows
TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
                            "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"',
                            "\u00bb": '"', "\u2013": "-", "\u2014": "-", "\u2212": "-",
                            "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
                            "\u200b": ""})


@dataclass(eq=False)
class Spoken:
    """One sentence and its speech (float32 mono samples at ``rate``)."""

    text: str
    samples: np.ndarray
    rate: int
    compute_s: float  # how long generate took for it

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate if self.rate else 0.0


@dataclass(eq=False)
class Speech:
    """A run's whole speech: the sentences joined, float32 mono samples at ``rate``."""

    samples: np.ndarray
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate if self.rate else 0.0


class SpeechSettings(Settings):
    """Speech generation settings (SpeechGenerationConfig names); the model's own are adopted."""

    threshold = setting(Float(0.5, help="SpeechT5 stops when its stop probability exceeds this"),
                        "stop threshold", 0.0, 1.0, 0.05)
    maxlenratio = setting(Float(20.0, help="speech at most this many decoder steps per token"),
                          "max length ratio", 0.1, 50.0, 0.1)
    minlenratio = setting(Float(0.0, help="speech at least this many decoder steps per token"),
                          "min length ratio", 0.0, 50.0, 0.1, control=False)
    speed = setting(Float(1.0, help="speaking speed (Kokoro only)"), "speed", 0.25, 4.0, 0.05,
                    control=False)

    @traitlets.validate(*FROM_MODEL)
    def _check(self, proposal: Any) -> Any:
        return self._check_setting(proposal)


class SpeakerState(traitlets.HasTraits):
    """What speaking shows: the voice, the sentences as they come, the whole speech, metrics."""

    voices = List(Unicode(), help="the voices the model offers (its voices/ folder, and loaded ones)")
    builtin_voice = Bool(False, help="whether the model has a voice of its own ('' chooses it)")
    voice = Unicode(BUILTIN, help="the voice to speak in: one of voices, or '' (the model's own)")
    text = Unicode("", help="the text of the last run")
    sentences = List(help="the sentences of the last run spoken so far (Spoken)")
    progress = traitlets.Tuple(Int(), Int(), default_value=(0, 0),
                               help="(sentences spoken, sentences in the text)")
    speech = traitlets.Instance(Speech, allow_none=True, help="the last run's whole speech")
    rate = Int(0, help="samples per second of speech (0 before any)")
    metrics = Dict(help="audio_s, seconds, rtf, sentences (spoken), sentences_asked (in the "
                        "text)")

    @traitlets.validate("voice")
    def _check_voice(self, proposal: Any) -> str:
        value = proposal["value"]
        if value != BUILTIN and self.voices and value not in self.voices:
            raise traitlets.TraitError(unknown_voice(value, self.voices, self.builtin_voice))
        return value


class SpeakerSession(Session, SpeakerState, SpeechSettings):
    """Text to speech: ``SpeakerSession("tiny-speecht5").speak("Hello.") -> (samples, rate)``.

    ``model`` is a catalog id or a prepared folder; ``voice`` a voice the model offers
    (``voices``), or '' for the model's own; ``properties`` OpenVINO properties; ``**settings``
    SpeechGenerationConfig fields (``threshold``, ``maxlenratio``, ``minlenratio``, ``speed``).
    """

    family = TEXT_TO_SPEECH

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU", voice: str = BUILTIN,
                 properties: dict[str, Any] | None = None, **settings: Any) -> None:
        super().__init__()
        self._apply(settings, type(self).__name__)
        self.voice = check_text(voice, "voice")
        self._open(model, device, properties)
        self.shape: tuple[int, ...] = ()
        self._embeddings: dict[str, np.ndarray] = {}  # voices loaded from code, by name
        self._files: dict[str, Path] = {}  # voices the model ships, read when first used
        self._alphabet: Alphabet | None = None
        self._load_in_background(lambda: self._load(model), self.model_name)

    def _load(self, model: Any) -> Loaded[Text2SpeechPipeline]:
        folder = self._folder(model)
        loaded = load(TEXT_TO_SPEECH, folder, self.device, self.properties)
        self.shape = tuple(int(d) for d in loaded.pipe.get_speaker_embedding_shape())
        self._files = speakers(folder)
        self._alphabet = Alphabet.of(folder)
        defaults = loaded.pipe.get_generation_config()
        values = {name: getattr(defaults, name) for name in FROM_MODEL}
        builtin = _model_type(folder) == "speecht5"
        names = [*self._files, *(n for n in self._embeddings if n not in self._files)]
        post(lambda: self._adopt(values))
        self.publish(voices=names, builtin_voice=builtin)
        return loaded

    # voices --------------------------------------------------------------------------------------
    def load_voice(self, source: str | os.PathLike[str] | np.ndarray, name: str | None = None
                   ) -> str | None:
        """Add a speaker embedding (a raw float32 ``.bin``, a ``.npy`` or an array) as a voice and
        choose it; its name, or None when it does not fit the model (one line shown)."""
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        try:
            self.wait_loaded()
            data = read_voice(source, self.shape)
        except OvnbError as exc:
            self.fail(explain(exc))
            return None
        name = name or (Path(source).stem if not isinstance(source, np.ndarray) else "custom")
        self._embeddings[name] = data
        voices = self.voices if name in self.voices else [*self.voices, name]
        self.succeed(voices=voices, voice=name, status=f"voice {name} loaded")
        return name

    def _embedding(self, voice: str) -> Any:
        """The ov.Tensor for ``voice`` (None: openvino_genai's built-in SpeechT5 voice)."""
        import openvino

        if voice and voice not in self.voices:
            raise OvnbError(unknown_voice(voice, self.voices, self.builtin_voice))
        if not voice and not self.builtin_voice:
            if not self.voices:
                raise OvnbError(f"{self.model_name} has no voice of its own and none in its "
                                "voices/ folder: load one with load_voice(path)")
            voice = self.voices[0]
        if not voice:
            return None
        if voice not in self._embeddings:
            self._embeddings[voice] = read_speaker(self._files[voice], self.shape)
        return openvino.Tensor(np.ascontiguousarray(self._embeddings[voice], np.float32))

    # runs ----------------------------------------------------------------------------------------
    def speak(self, text: str) -> tuple[np.ndarray, int]:
        """Speak ``text``; blocks. (float32 samples, rate); empty samples when refused or failed,
        what was spoken before Stop when stopped."""
        return self.call(self.submit(text, queue=True), (np.zeros(0, np.float32), self.rate))

    def submit(self, text: str, queue: bool = False) -> Job[tuple[np.ndarray, int]] | None:
        """Start speaking without waiting (the Speak button); None when refused."""
        text = check_text(text, "the text")
        if not text.strip():
            self.refuse("nothing to say: type some text first")
            return None

        def work(loaded: Loaded[Text2SpeechPipeline], job: Job[tuple[np.ndarray, int]]
                 ) -> tuple[np.ndarray, int]:
            parts = self._sentences(text)  # checked before anything is spoken or reset
            embedding = self._embedding(self.voice)
            return self._run(loaded, job, text, parts, embedding, self._call_settings())

        return self.start(work, queue=queue)

    def _sentences(self, text: str) -> list[str]:
        clean = unicodedata.normalize("NFC", text).translate(TYPOGRAPHY)
        if self._alphabet is not None:
            self._alphabet.check(clean, self.model_name)
        parts = sentences.split(clean)
        if not parts:
            raise OvnbError("nothing to say: type some text first")
        return parts

    def _call_settings(self) -> dict[str, Any]:
        values = self.settings()
        if values["maxlenratio"] <= values["minlenratio"]:
            raise OvnbError(f"maxlenratio ({values['maxlenratio']:g}) must be more than "
                            f"minlenratio ({values['minlenratio']:g}): raise the maximum")
        return values

    def _run(self, loaded: Loaded[Text2SpeechPipeline], job: Job[Any], text: str, parts: list[str],
             embedding: Any, settings: dict[str, Any]) -> tuple[np.ndarray, int]:
        """On the worker, under the pipeline's lock: one call per sentence, each published."""
        count = len(parts)
        self.publish(text=text, sentences=[], progress=(0, count), metrics={}, speech=None,
                     status=f"speaking sentence 1 of {count}…")
        job.on_stop(lambda: self.publish(status="stopping after this sentence…"))
        spoken: list[Spoken] = []
        for index, part in enumerate(parts, 1):
            if job.stopped:
                break
            spoken.append(self._say(loaded, part, embedding, settings))
            job.progressed()
            more = (f"speaking sentence {index + 1} of {count}…" if index < count else "finishing…")
            more = "stopping after this sentence…" if job.stopped and index < count else more
            self.publish(sentences=list(spoken), progress=(index, count), rate=spoken[0].rate,
                         status=more)
        rate = spoken[0].rate if spoken else self.rate
        speech = join(spoken, rate)
        stopped = len(spoken) < count
        self.publish(speech=Speech(speech, rate), rate=rate, metrics=speech_metrics(spoken, speech, rate, count),
                     status=f"stopped after {len(spoken)} of {count} sentences" if stopped
                     else "done")
        return speech, rate

    def _say(self, loaded: Loaded, part: str, embedding: Any, settings: dict[str, Any]) -> Spoken:
        """One sentence, one generate call (a list of texts in one call is wrong in genai)."""
        start = time.perf_counter()
        result = loaded.pipe.generate(part, embedding, **settings)
        samples = np.array(result.speeches[0].data, dtype=np.float32).reshape(-1)  # a copy
        return Spoken(part, samples, int(result.output_sample_rate), time.perf_counter() - start)

    def save(self, path: str | os.PathLike[str]) -> Path | None:
        """Save the last speech as WAV or FLAC (by the suffix); its path, or None (one line shown)."""
        check_path(path)  # a wrong type is raised before anything else
        try:
            if self.speech is None or self.speech.samples.size == 0:
                raise OvnbError("no speech yet: press Speak first")
            target = write_audio(path, self.speech.samples, self.speech.rate)
        except OvnbError as exc:
            self.fail(str(exc))
            return None
        self.succeed(status=f"saved {target.name}")
        return target


class Alphabet:
    """What a model's tokenizer can spell: characters it maps to its unknown token are not.

    The unknown token is found by probing, not by name: two private-use characters (no vocabulary
    has them) must encode alike, with one id that a plain letter does not use. A tokenizer without
    an unknown token (byte-level BPE spells each in its own bytes) gives no Alphabet.
    """

    def __init__(self, tokenizer: Any, unknown: int) -> None:
        self._tokenizer = tokenizer
        self._unknown = unknown
        self._known: dict[str, bool] = {}

    @classmethod
    def of(cls, folder: Path) -> Alphabet | None:
        if not (folder / "openvino_tokenizer.xml").is_file():
            return None
        try:
            tokenizer = open_tokenizer(folder)
        except RuntimeError:
            return None
        first, second, letter = (_ids(tokenizer, probe) for probe in ("\ue000", "\ue001", "a"))
        unknown = set(first) - set(letter)
        if first != second or len(unknown) != 1:  # bytes spell each probe differently
            return None
        return cls(tokenizer, unknown.pop())

    def sayable(self, character: str) -> bool:
        if character.isspace():
            return True
        if character not in self._known:
            self._known[character] = self._unknown not in _ids(self._tokenizer, character)
        return self._known[character]

    def check(self, text: str, model: str) -> None:
        """Refuse ``text`` in one line when it has characters the model cannot say."""
        missing = [c for c in dict.fromkeys(text) if not self.sayable(c)]
        if missing:
            raise OvnbError(unsayable(missing, model))


def _ids(tokenizer: Any, text: str) -> list[int]:
    return [int(i) for i in tokenizer.encode(text, add_special_tokens=False).input_ids.data[0]]


def unsayable(characters: list[str], model: str) -> str:
    """The refusal: which characters, of which scripts, and what to do."""
    shown = " ".join(characters[:SHOWN_CHARACTERS]) + (" …" if len(characters) > SHOWN_CHARACTERS
                                                      else "")
    kinds = ", ".join(dict.fromkeys(_kind(c) for c in characters))
    return (f"{model} cannot say {len(characters)} character{'s' if len(characters) > 1 else ''} "
            f"of this text: {shown} ({kinds}): write it in the letters, digits and punctuation "
            "the model knows, or choose a speech model for that language")


def _kind(character: str) -> str:
    """A letter's script ("Cyrillic", "CJK"), else the character's name ("euro sign")."""
    name = unicodedata.name(character, f"U+{ord(character):04X}")
    if unicodedata.category(character).startswith("L"):
        script = name.split()[0]
        accented = " with accents" if script == "LATIN" and " WITH " in name else ""
        return (script if script == "CJK" else script.title()) + accented
    return name.lower()


def unknown_voice(voice: str, voices: list[str], builtin: bool) -> str:
    """The refusal of a voice the model does not offer, with the ones it does."""
    offered = ", ".join(voices) if voices else "none in its voices/ folder"
    own = " or '' for its own voice" if builtin else ""
    return (f"voice {voice!r} is not one this model offers: choose {offered}{own}, or load one "
            "with load_voice(path)")


def spans(spoken: list[Spoken], rate: int) -> list[tuple[int, int]]:
    """Where each sentence lies in the joined speech, as (first sample, end sample): one after
    another with a short pause between two. The one layout: ``join`` and the player's list."""
    pause = int(PAUSE_SECONDS * rate)
    places, start = [], 0
    for part in spoken:
        places.append((start, start + len(part.samples)))
        start += len(part.samples) + pause
    return places


def join(spoken: list[Spoken], rate: int) -> np.ndarray:
    """The sentences' speech laid out as ``spans`` says."""
    places = spans(spoken, rate)
    speech = np.zeros(places[-1][1] if places else 0, np.float32)
    for part, (start, end) in zip(spoken, places):
        speech[start:end] = part.samples
    return speech


def speech_metrics(spoken: list[Spoken], speech: np.ndarray, rate: int, count: int) -> dict[str, Any]:
    """Seconds of speech, seconds of work, the real-time factor (work / speech: below 1 is faster
    than real time), and how many sentences of how many were spoken."""
    audio_s = len(speech) / rate if rate else 0.0
    seconds = sum(s.compute_s for s in spoken)
    return {"audio_s": audio_s, "seconds": seconds,
            "rtf": seconds / audio_s if audio_s else 0.0, "sentences": len(spoken),
            "sentences_asked": count}


def _model_type(folder: Path) -> str:
    import json

    try:
        return str(json.loads((folder / "config.json").read_text()).get("model_type", ""))
    except (OSError, ValueError, AttributeError):
        return ""
