"""Omni: a conversation that hears and speaks, with openvino_genai's OmniPipeline (Qwen3-Omni).

A Qwen3-Omni folder holds three models: the *thinker* (a vision-language model with an audio
encoder) answers in text; the *talker* turns the thinker's hidden states into codec tokens (a code
predictor adds the other codebooks of each frame) and *code2wav* turns those into 24 kHz speech.
``OmniSession`` is vision chat's conversation (images and videos go the same way, and stay in
the ChatHistory for later turns) with audio in and speech out:

- audio (a file, upload bytes or ``(samples, rate)``) is read by ``ovnb.audio`` as 16 kHz mono,
  what the audio encoder hears; a recording at another rate is resampled and the status says so;
  one too long for the model is refused in one line before anything runs;
- each call passes a list of audio, an empty one when the turn has none: openvino_genai 2026.4.1
  gives a call without audio the previous call's (tests/sources/test_tiny_qwen3_omni.py);
- the speech comes in chunks of codec frames (``speech_streamer``): Stop is heard there as in the
  text, and the speech made so far is kept in ``speech`` as ``(samples, rate)``;
- a Qwen3-Omni without a talker (``enable_audio_output`` false: the Thinking model) is refused
  by OmniPipeline, so its thinker runs as a VLMPipeline: text, images and video in, text out;
  speech or audio asked of it is refused in one line.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import traitlets
from traitlets import Bool, Int, List, Unicode

from ovnb.audio import RATE, read_audio
from ovnb.errors import OvnbError, explain
from ovnb.families import OMNI, Family
from ovnb.images import Source
from ovnb.layout import has_talker
from ovnb.runtime.pipelines import Loaded, load, open_tokenizer
from ovnb.runtime.streams import TokenStream
from ovnb.runtime.views import wait_for
from ovnb.sessions.base import check_flag, check_text
from ovnb.sessions.conversation import Budget, ChatRequest, Message, check_context
from ovnb.sessions.vision import VisionRequest, VisionSession, carried
from ovnb.video import MAX_FRAMES, VideoSource

SPEECH_RATE = 24000  # Qwen3-Omni's code2wav: 1920 samples per 80 ms codec frame
AUDIO_TOKENS_PER_SECOND = 12.5  # 100 mel frames a second, three stride-2 convolutions
MAX_AUDIO_SECONDS = 300.0  # 3750 audio tokens: longer recordings belong in a transcriber
NO_TALKER = ("{model} has no talker (its config turns audio output off, or the talker's files "
             "are missing): it answers in text only; set speak=False")
NO_AUDIO_IN = ("{model} has no talker, so openvino_genai runs its thinker as a VLMPipeline, "
               "which takes no audio: describe the sound in text, or pick a model that speaks")
Speech = tuple[np.ndarray, int]


@dataclass(frozen=True, eq=False)
class Sound:
    """A recording as the audio encoder hears it: float32 mono at 16 kHz, with its name."""

    samples: np.ndarray
    name: str
    note: str = ""  # what reading it changed (resampled), for the status line

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE

    def tensor(self) -> Any:
        import openvino

        return openvino.Tensor(np.ascontiguousarray(self.samples, np.float32))


@dataclass(frozen=True)
class OmniRequest(VisionRequest):
    """A question with what it carries (an image, a video, a recording) and whether the answer
    is spoken, fixed when it is asked."""

    sound: Sound | None = None
    speak: bool = True


class OmniModel:
    """What the conversation reads of a pipeline, for OmniPipeline (which offers neither its
    tokenizer nor its generation config) or, without a talker, the thinker's VLMPipeline."""

    def __init__(self, pipe: Any, folder: Path, talker: bool) -> None:
        self.pipe = pipe
        self.folder = folder
        self.talker = talker
        self._tokenizer = open_tokenizer(folder)
        self._last_audio: bytes | None = None  # the recording the last call encoded

    def get_tokenizer(self) -> Any:
        return self._tokenizer

    def get_generation_config(self) -> Any:
        """A fresh copy of the folder's text settings (callers write theirs into it)."""
        import openvino_genai as ov_genai

        return ov_genai.GenerationConfig(str(self.folder / "generation_config.json"))

    def voices(self) -> list[str]:
        """The talker's speaker names ([] without a talker)."""
        return sorted(self.pipe.get_talker().list_speakers()) if self.talker else []

    def generate(self, history: Any, media: dict[str, Any], config: Any, speech: Any,
                 streamer: Any, speech_streamer: Any) -> Any:
        if not self.talker:
            return self.pipe.generate(history, **media, generation_config=config,
                                      streamer=streamer)
        heard = _digest(media["audios"][0])
        if heard is not None and heard == self._last_audio:
            self._forget_audio()
        result = self.pipe.generate(history, **media, text_config=config,
                                    talker_speech_config=speech, streamer=streamer,
                                    speech_streamer=speech_streamer)
        self._last_audio = heard
        return result

    def _forget_audio(self) -> None:
        """A one-token call with an empty recording: openvino_genai 2026.4.1 speaks a recording
        sent in two calls in a row differently the second time (its text is the same;
        tests/sources/test_tiny_qwen3_omni.py), and a call between with none clears that."""
        import openvino
        import openvino_genai as ov_genai

        history = ov_genai.ChatHistory()
        history.append({"role": "user", "content": "."})
        text = self.get_generation_config()
        text.max_new_tokens = 1
        quiet = ov_genai.OmniTalkerSpeechConfig()
        quiet.return_audio = False
        self.pipe.generate(history, audios=[openvino.Tensor(np.zeros(0, np.float32))],
                           text_config=text, talker_speech_config=quiet)
        self._last_audio = None


def build(family: Family, folder: Path, device: str, properties: dict[str, Any],
          **options: Any) -> OmniModel:
    """OmniPipeline for a folder with a talker, the thinker's VLMPipeline for one without."""
    import openvino_genai as ov_genai

    talker = has_talker(folder)
    kind = ov_genai.OmniPipeline if talker else ov_genai.VLMPipeline
    return OmniModel(kind(str(folder), device, **properties), folder, talker)


class SpeechOut(traitlets.HasTraits):
    """Whether answers are spoken, in which voice, and the last answer's speech."""

    speak = Bool(True, help="speak each answer too (the talker; off: text only, faster)")
    voice = Unicode("", help="the talker's speaker: one of voices ('' the model's first)")
    voices = List(Unicode(), help="the speakers the model's talker offers ([] before loading)")
    has_talker = Bool(False, help="whether the model can speak (known once loaded)")
    speech_seed = Int(0, help="seed of the talker's sampling: the same seed, the same speech")
    speech = traitlets.Any(None, allow_none=True,
                           help="the last answer's speech: (float32 samples, rate), or None")
    audio_clip = traitlets.Any(None, allow_none=True,
                               help="the recording the next question carries (a Sound)")

    @traitlets.validate("voice")
    def _check_voice(self, proposal: Any) -> str:
        value = proposal["value"]
        if value and self.voices and value not in self.voices:
            raise traitlets.TraitError(f"voice {value!r} is not one this model offers: choose "
                                       f"{', '.join(self.voices)}, or '' for its first")
        return value

    @traitlets.validate("speech_seed")
    def _check_seed(self, proposal: Any) -> int:
        if proposal["value"] < 0:
            raise traitlets.TraitError(f"speech_seed must be at least 0, not {proposal['value']}")
        return proposal["value"]


class OmniSession(VisionSession, SpeechOut):
    """Talk with a model that hears and speaks: ``OmniSession("tiny-qwen3-omni").send("What do
    you hear?", audio="clip.flac")`` -> the answer; its speech in ``speech``.

    ``model`` is a catalog id or a prepared folder; ``voice`` one of the talker's speakers
    (``voices``); ``speak`` whether answers are spoken; ``system_prompt`` opens each conversation;
    ``properties`` OpenVINO properties; ``max_video_frames`` how many frames a video is sampled
    to; ``**settings`` the thinker's generation settings (openvino_genai's names).
    """

    family = OMNI

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU", voice: str = "",
                 speak: bool = True, system_prompt: str = "",
                 properties: dict[str, Any] | None = None, max_video_frames: int = MAX_FRAMES,
                 **settings: Any) -> None:
        self.speak = check_flag(speak, "speak")
        self.voice = check_text(voice, "voice")
        super().__init__(model, device, None, system_prompt, properties, max_video_frames,
                         **settings)

    def _load(self, model: Any) -> Loaded[OmniModel]:
        loaded = load(OMNI, self._folder(model), self.device, self.properties)
        omni: OmniModel = loaded.pipe
        voices = omni.voices()
        values: dict[str, Any] = {"voices": voices, "has_talker": omni.talker}
        if self.voice and self.voice not in voices:  # asked for before the voices were known
            values.update(voice="", status=f"no voice {self.voice!r} here: the model's first "
                                           "speaks")
        if not omni.talker and self.speak:
            values.update(speak=False, status="this model has no talker: it answers in text")
        self.publish(**values)
        return loaded

    # audio ---------------------------------------------------------------------------------------
    def choose_audio(self, source: Any, name: str | None = None) -> Sound | None:
        """Make ``source`` (a file path, the bytes of an upload, or ``(samples, rate)``) the
        recording the next question carries; None (one line shown) when it cannot be heard."""
        sound = self._heard(source, name)
        if sound is not None:
            self.succeed(audio_clip=sound, **_noted(sound))
        return sound

    def _heard(self, source: Any, name: str | None) -> Sound | None:
        """The recording, or None with one line shown; a wrong kind of argument is raised."""
        try:
            return self._read_audio(source, name)
        except TypeError:
            raise
        except Exception as exc:  # a bad file is the learner's to fix, never the kernel's problem
            self.fail(explain(exc))
            return None

    def remove_audio(self) -> None:
        """Ask the next question without a recording (earlier ones stay in the conversation)."""
        self.publish_now(audio_clip=None)

    def _read_audio(self, source: Any, name: str | None) -> Sound:
        """The recording at 16 kHz, refused (OvnbError) when the model cannot take it."""
        if isinstance(source, (list, np.ndarray)):
            raise TypeError("audio must be a file path, the bytes of an audio file, or "
                            "(samples, rate): a bare array has no rate")
        if self._speaks() is False:
            raise OvnbError(NO_AUDIO_IN.format(model=self.model_name))
        samples, rate = read_audio(source, name)
        label = name or (Path(source).name if isinstance(source, (str, os.PathLike))
                         else "the recording")
        seconds = len(samples) / RATE
        if seconds > MAX_AUDIO_SECONDS:
            raise OvnbError(f"{label} is {seconds:.0f} s long; {self.model_name} hears at most "
                            f"{MAX_AUDIO_SECONDS:.0f} s at once ({AUDIO_TOKENS_PER_SECOND:g} "
                            "tokens a second): cut it, or transcribe it with ovnb.Transcriber")
        note = f"{label} resampled from {rate} Hz to {RATE} Hz" if rate != RATE else ""
        return Sound(samples, label, note)

    # asking --------------------------------------------------------------------------------------
    def send(self, text: str, image: Source | None = None,  # type: ignore[override]
             video: VideoSource | None = None, audio: Any = None, speak: bool | None = None
             ) -> str:
        """Ask ``text`` with an image, a video and/or a recording (else the chosen ones); the
        answer ('' on error, ``last_error`` says why); its speech in ``speech`` when spoken.
        ``speak`` overrides the setting for this answer. Nothing is chosen unless all read."""
        request = self.request(text, speak=speak)  # wrong types: raised before anything is read
        sound = None
        if audio is not None:
            wait_for(self._loading)  # whether the model hears audio decides before any reading
            sound = self._heard(audio, None)
            if sound is None:
                return ""
        carrying = self._carrying(request, image, video)
        if carrying is None:
            return ""
        request = carrying
        if sound is not None:
            self.publish_now(audio_clip=sound, **_noted(sound))
            request = replace(request, sound=sound)
        return self.call(self._submit(request, queue=True), "")

    def _asks(self, request: ChatRequest) -> bool:
        """Text, or a recording, image or video alone (the model answers what it hears or sees);
        empty text with nothing else is refused."""
        picture, clip = carried(request)
        sound = request.sound if isinstance(request, OmniRequest) else None
        return bool(request.text) or any(m is not None for m in (picture, clip, sound))

    def request(self, text: str, speak: bool | None = None,  # type: ignore[override]
                **unknown: Any) -> OmniRequest:
        """``text`` with what is chosen now; ``speak`` for this answer (None: the setting)."""
        if unknown:
            raise TypeError(f"send() got an unexpected argument {sorted(unknown)[0]!r}: its "
                            "options are image, video, audio and speak")
        if speak is not None:
            check_flag(speak, "speak")
        return OmniRequest(check_text(text, "the message").strip(), picture=self.picture,
                           clip=self.video_clip, sound=self.audio_clip,
                           speak=self.speak if speak is None else speak)

    def _checked(self, request: ChatRequest) -> ChatRequest:
        """A spoken answer or a recording asked of a model without a talker: one line."""
        if isinstance(request, OmniRequest) and self._speaks() is False:
            if request.speak:
                raise OvnbError(NO_TALKER.format(model=self.model_name))
            if request.sound is not None:
                raise OvnbError(NO_AUDIO_IN.format(model=self.model_name))
        return request

    def _speaks(self) -> bool | None:
        """Whether the loaded model has a talker (None until it is loaded)."""
        return None if self._loaded is None else bool(self._loaded.pipe.talker)

    # one turn ------------------------------------------------------------------------------------
    def _question_notes(self, request: ChatRequest) -> dict[str, Any]:
        notes = super()._question_notes(request)
        sound = request.sound if isinstance(request, OmniRequest) else None
        if sound is not None:
            notes.update(audio=sound.name, audio_s=round(sound.seconds, 2))
        return notes

    def _budget_with(self, loaded: Loaded[Any], history: Any, sound: Sound | None) -> Budget:
        """The text budget once this turn's recording has its tokens (the context check counts
        text only); a recording the context cannot hold is one line."""
        used, limit = check_context(loaded, history)
        heard = int(sound.seconds * AUDIO_TOKENS_PER_SECOND) + 2 if sound is not None else 0
        if limit is None:
            return self.max_new_tokens, None
        left = limit - used - heard
        if left < 1:
            raise OvnbError(f"{sound.name if sound else 'the conversation'} takes more tokens "
                            f"than the model's context of {limit} has left: press Clear, or "
                            "send a shorter recording")
        return (left, "context") if left < self.max_new_tokens else (self.max_new_tokens, None)

    def _generate(self, loaded: Loaded[Any], history: list[Message], stream: TokenStream,
                  request: ChatRequest, offer: str) -> tuple[Any, Budget]:
        """One turn; on failure the question is taken back, so the history stays as it was."""
        picture, clip = carried(request)
        sound = request.sound if isinstance(request, OmniRequest) else None
        speak = request.speak if isinstance(request, OmniRequest) else False
        conversation = self._conversation()
        kept = len(conversation.get_messages())
        conversation.append({"role": "user", "content": history[-1]["content"]})
        media = self._media(loaded.pipe, picture, clip, sound)
        chunks: list[np.ndarray] = []
        try:
            budget = self._budget_with(loaded, conversation, sound)
            result = loaded.pipe.generate(
                conversation, media, self._config(loaded, budget[0]), self._speech_config(speak),
                stream.streamer(), self._speech_streamer(stream, chunks))
        except BaseException:
            while len(conversation.get_messages()) > kept:
                conversation.pop()
            raise
        conversation.append({"role": "assistant", "content": result.texts[0]})
        speech = self._speech(result, chunks) if speak else None
        self.publish(speech=speech, status=_done_line(sound, speech))
        self.publish_taken(picture=picture, video_clip=clip, audio_clip=sound)
        return result, budget

    def _media(self, model: OmniModel, picture: Any, clip: Any, sound: Sound | None
               ) -> dict[str, Any]:
        """generate's images, videos and audios: always a list of audio for OmniPipeline (an
        empty recording when none: else the previous call's is heard again)."""
        import openvino

        media: dict[str, Any] = {"images": [picture.tensor()] if picture is not None else []}
        if clip is not None:
            media.update(videos=[clip.tensor()], videos_metadata=[clip.metadata()])
        if model.talker:
            empty = openvino.Tensor(np.zeros(0, np.float32))
            media["audios"] = [sound.tensor() if sound is not None else empty]
        return media

    def _speech_config(self, speak: bool) -> Any:
        import openvino_genai as ov_genai

        config = ov_genai.OmniTalkerSpeechConfig()
        config.return_audio, config.rng_seed = speak, self.speech_seed
        config.speaker = self.voice
        return config

    def _speech_streamer(self, stream: TokenStream, chunks: list[np.ndarray]) -> Any:
        """Collects each chunk of speech; Stop (the text stream's) ends the speech too."""
        import openvino_genai as ov_genai

        def heard(chunk: Any) -> Any:
            if not chunks:
                self.publish(status="speaking…")
            chunks.append(np.array(chunk.data, np.float32).reshape(-1))
            return ov_genai.StreamingStatus.STOP if stream.stopped else \
                ov_genai.StreamingStatus.RUNNING

        return heard

    def _speech(self, result: Any, chunks: list[np.ndarray]) -> Speech:
        """The answer's speech: the pipeline's waveform, or the chunks heard before Stop."""
        waves = _waveforms(result)
        samples = (np.array(waves[0].data, np.float32).reshape(-1) if waves
                   else np.concatenate(chunks) if chunks else np.zeros(0, np.float32))
        return samples, SPEECH_RATE

    def _metrics(self, result: Any, request: ChatRequest) -> dict[str, Any]:
        waves = _waveforms(result)
        seconds = (int(np.prod(waves[0].get_shape())) / SPEECH_RATE) if waves else None
        return {**super()._metrics(result, request), "speech_s": seconds}

    def clear(self) -> None:
        """Start a new conversation (its speech goes too); refused while an answer runs."""
        if not self.running:
            super().clear()
            self.publish_now(speech=None)


def _noted(sound: Sound) -> dict[str, str]:
    """The status a chosen recording sets: how long it is (a recording made in the page is
    otherwise unseen until sent) and what reading it changed, if anything."""
    heard = f"heard {sound.name}: {sound.seconds:.1f} s"
    return {"status": f"{heard}; {sound.note}" if sound.note else heard}


def _done_line(sound: Sound | None, speech: Speech | None) -> str:
    """The status after an answer: what reading the recording changed, how much was spoken."""
    parts = [sound.note] if sound is not None and sound.note else []
    if speech is not None:
        parts.append(f"spoke {len(speech[0]) / speech[1]:.1f} s" if len(speech[0])
                     else "no speech (the talker ended at once)")
    return " · ".join(parts) or "answered"


def _waveforms(result: Any) -> list[Any]:
    """The speech of a result ([] for a VLMPipeline's, which has none)."""
    speech = getattr(result, "speech_result", None)
    return list(speech.waveforms) if speech is not None else []


def _digest(audio: Any) -> bytes | None:
    """A fingerprint of a recording sent to the pipeline (None for the empty one)."""
    import hashlib

    samples = np.asarray(audio.data)
    return hashlib.sha256(samples.tobytes()).digest() if samples.size else None
