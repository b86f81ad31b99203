"""Vision chat: a conversation about images and videos with a VLMPipeline.

The conversation lives in one ``openvino_genai.ChatHistory`` per session, kept across turns: the
pipeline attaches each turn's images and videos to that object, so a later question still sees
the picture of an earlier turn. An image or video is therefore sent once, with the question that
introduced it (a rebuilt history would silently lose it). A failed turn is taken back out of the
history.

A video goes as a few frames sampled evenly with their times (``ovnb.video``), never decoded
whole. Only some VLM families take video (``ovnb.layout.takes_video``): for the others, a video
is refused in one line before it is even decoded (LLaVA would fail with "Video preprocessing
isn't implemented for this model").
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import traitlets

from ovnb import lora
from ovnb.errors import OvnbError, explain
from ovnb.families import VISION_CHAT
from ovnb.images import Picture, Source, load_image
from ovnb.layout import takes_video
from ovnb.runtime.pipelines import Loaded, load
from ovnb.runtime.streams import TokenStream
from ovnb.runtime.views import wait_for
from ovnb.sessions.adapters import WithAdapters
from ovnb.sessions.base import check_text
from ovnb.sessions.conversation import Budget, ChatRequest, ConversationSession, Message
from ovnb.video import MAX_FRAMES, VideoClip, VideoSource, check_source, load_video

if TYPE_CHECKING:
    from openvino_genai import VLMPipeline

MOST_VIDEO_FRAMES = 64  # more frames than this cost thousands of tokens per question


@dataclass(frozen=True)
class VisionRequest(ChatRequest):
    """A question about an image and/or a video: what it carries, fixed when it is asked."""

    picture: Picture | None = None
    clip: VideoClip | None = None


class VideoInput(traitlets.HasTraits):
    """The video the next question carries and how many frames a video gives (session and view)."""

    video_clip = traitlets.Any(None, allow_none=True,
                               help="the video the next question carries (an ovnb.video.VideoClip)")
    max_video_frames = traitlets.Int(MAX_FRAMES, help="frames a video is sampled to, evenly, "
                                     "with their times")

    @traitlets.validate("max_video_frames")
    def _check_frames(self, proposal: Any) -> int:
        value = proposal["value"]
        if not 1 <= value <= MOST_VIDEO_FRAMES:
            raise traitlets.TraitError(f"max_video_frames must be between 1 and "
                                       f"{MOST_VIDEO_FRAMES}, not {value!r}")
        return value


class VisionSession(ConversationSession, VideoInput, WithAdapters):
    """Chat about images and videos: ``VisionSession("tiny-vlm").send("What is this?",
    image="cat.jpg")``, ``VisionSession("tiny-qwen2-vl").send("What happens?", video="a.mp4")``.

    ``model`` is a catalog id or a prepared folder; ``adapters`` LoRA files for the language model;
    ``system_prompt`` opens each conversation (it applies from the next one, after ``clear``);
    ``properties`` OpenVINO properties; ``max_video_frames`` how many frames a video is sampled to;
    ``**settings`` generation settings (openvino_genai's names).
    """

    family = VISION_CHAT
    picture = traitlets.Any(None, allow_none=True,
                            help="the image the next question carries (an ovnb.images.Picture)")

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU", adapters: Any = None,
                 system_prompt: str = "", properties: dict[str, Any] | None = None,
                 max_video_frames: int = MAX_FRAMES, **settings: Any) -> None:
        super().__init__()
        self._apply(settings, type(self).__name__)
        self.max_video_frames = max_video_frames
        self.system_prompt = check_text(system_prompt, "system_prompt")
        self._open(model, device, properties)
        self._init_adapters(adapters)
        self._history: Any = None  # the ChatHistory (its images live in it)
        self._load_in_background(lambda: self._load(model), self.model_name)

    def _load(self, model: Any) -> Loaded[VLMPipeline]:
        folder = self._folder(model)
        self.adapter_set.check(folder, VISION_CHAT)
        made: dict[Path, Any] = {}

        def options() -> dict[str, Any]:
            # all adapters now, and no prefix caching (it would reuse state of other adapters)
            return self._build_adapters(folder, VISION_CHAT, made)

        loaded = load(VISION_CHAT, folder, self.device, self.properties,
                      self.adapter_set.key() or None, options)
        lora.attach(loaded, made)
        return loaded

    # images and videos ---------------------------------------------------------------------------
    def choose(self, source: Source, name: str | None = None) -> Picture | None:
        """Make ``source`` the image of the next question; None (error shown) if unreadable."""
        try:
            picture = load_image(source, name)
        except TypeError:  # a wrong kind of argument is the caller's: raised
            raise
        except Exception as exc:  # a bad file is the learner's to fix, never the kernel's problem
            self.fail(explain(exc))
            return None
        self.succeed(picture=picture)
        return picture

    def remove_image(self) -> None:
        """Ask the next question without an image (images already sent stay in the history)."""
        self.publish_now(picture=None)

    def choose_video(self, source: VideoSource, name: str | None = None) -> VideoClip | None:
        """Make ``source`` (a video file, its bytes, or frames) the video of the next question,
        sampled to ``max_video_frames``; None (error shown) if unreadable or not for this model."""
        try:
            clip = self._read_video(source, name)
        except TypeError:
            raise
        except Exception as exc:
            self.fail(explain(exc))
            return None
        self.succeed(video_clip=clip, **({"status": "; ".join(clip.notes)} if clip.notes else {}))
        return clip

    def remove_video(self) -> None:
        """Ask the next question without a video (videos already sent stay in the history)."""
        self.publish_now(video_clip=None)

    @property
    def takes_video(self) -> bool | None:
        """Whether the model takes video (None until it is loaded)."""
        return None if self._loaded is None else takes_video(self._loaded.folder)

    def _read_video(self, source: VideoSource, name: str | None) -> VideoClip:
        """The clip, once the model is known to take video (refused before decoding if not)."""
        check_source(source)  # a wrong kind of source is a TypeError, whatever the model
        if self.takes_video is False:
            raise OvnbError(no_video_line(self._loaded.folder))
        return load_video(source, name, max_frames=self.max_video_frames)

    def send(self, text: str, image: Source | None = None,  # type: ignore[override]
             video: VideoSource | None = None, **options: Any) -> str:
        """Ask ``text`` about ``image`` and/or ``video`` (else the chosen ones); the answer, ''
        on error. Nothing is chosen unless both read: a bad one leaves the choices as they were."""
        try:
            request = self.request(text, **options)  # wrong types: raised before anything is read
        except OvnbError as exc:  # a value it cannot use: one line, nothing chosen
            self.refuse(str(exc))
            return ""
        carrying = self._carrying(request, image, video)
        return "" if carrying is None else self.call(self._submit(carrying, queue=True), "")

    def _carrying(self, request: VisionRequest, image: Source | None,
                  video: VideoSource | None) -> VisionRequest | None:
        """``request`` carrying ``image`` and ``video`` where given, both chosen together; a bad
        one leaves both choices as they were (one line shown, None)."""
        if image is None and video is None:
            return request
        if video is not None:
            wait_for(self._loading)  # whether the model takes video decides before any decoding
        try:
            picture = load_image(image) if image is not None else self.picture
            clip = self._read_video(video, None) if video is not None else self.video_clip
        except TypeError:
            raise
        except Exception as exc:
            self.fail(explain(exc))
            return None
        notes = clip.notes if clip is not None and clip is not self.video_clip else ()
        self.publish_now(picture=picture, video_clip=clip,
                         **({"status": "; ".join(notes)} if notes else {}))
        return replace(request, picture=picture, clip=clip)

    def request(self, text: str, adapters: Any = None, **unknown: Any) -> VisionRequest:
        """``text`` (and ``adapters``: file or name -> strength for this answer) with the image
        and video chosen now: a question carries what was chosen when it was asked."""
        if unknown:
            raise TypeError(f"send() got an unexpected argument {sorted(unknown)[0]!r}: its "
                            "options are image, video and adapters")
        return VisionRequest(check_text(text, "the message").strip(),
                             adapters=self.strengths(adapters) if adapters is not None else None,
                             picture=self.picture, clip=self.video_clip)

    def undo(self) -> None:
        """Not offered: the pipeline keeps each turn's images in its history; use ``clear``."""
        self.fail("undo is not offered in vision chat (the model keeps each turn's images): "
                  "press Clear to start again")

    # one turn ------------------------------------------------------------------------------------
    def _question_notes(self, request: ChatRequest) -> dict[str, Any]:
        picture, clip = carried(request)
        notes: dict[str, Any] = {"image": picture.name} if picture is not None else {}
        if clip is not None:
            notes.update(video=clip.name, video_frames=clip.count)
        return notes

    def _forget(self, count: int) -> None:
        if count >= len(self.messages):
            self._history = None

    def _conversation(self) -> Any:
        """This conversation's ChatHistory; a new one opens with the current system prompt."""
        import openvino_genai as ov_genai

        if self._history is None or not self.messages:
            self._history = ov_genai.ChatHistory()
            for message in self._opening():
                self._history.append(message)
        return self._history

    def _generate(self, loaded: Loaded[VLMPipeline], history: list[Message], stream: TokenStream,
                  request: ChatRequest, offer: str) -> tuple[Any, Budget]:
        """One turn; on failure the question is taken back, so the history stays as it was."""
        picture, clip = carried(request)
        if clip is not None and not takes_video(loaded.folder):  # chosen while it loaded
            if self.video_clip is clip:
                self.publish(video_clip=None)  # it can never go to this model
            raise OvnbError(no_video_line(loaded.folder))
        conversation = self._conversation()
        kept = len(conversation.get_messages())
        conversation.append({"role": "user", "content": history[-1]["content"]})
        visuals: dict[str, Any] = {"images": [picture.tensor()] if picture is not None else []}
        if clip is not None:
            visuals.update(videos=[clip.tensor()], videos_metadata=[clip.metadata()])
        try:
            budget = self._budget(loaded, conversation)
            result = loaded.pipe.generate(
                conversation, **visuals, streamer=stream.streamer(),
                generation_config=self._config(loaded, budget[0]),
                **lora.call_kwargs(loaded, request.adapters if request.adapters is not None
                                   else self.strengths()))
        except BaseException:
            while len(conversation.get_messages()) > kept:
                conversation.pop()
            raise
        conversation.append({"role": "assistant", "content": result.texts[0]})
        self.publish_taken(picture=picture, video_clip=clip)  # the history keeps them from now on
        return result, budget

    def _metrics(self, result: Any, request: ChatRequest) -> dict[str, Any]:
        """A tiny vision encoder can report 0 ms: ``image_ms`` (the vision encoder's time, images
        and video frames together) is set whenever an image or a video went out."""
        picture, clip = carried(request)
        sent = picture is not None or clip is not None
        image_ms = result.perf_metrics.get_vision_encoding_duration().mean if sent else None
        return {**super()._metrics(result, request), "image_ms": image_ms,
                "video_frames": clip.count if clip is not None else None}


def carried(request: ChatRequest) -> tuple[Picture | None, VideoClip | None]:
    """The image and video a question carries (none for a plain ChatRequest)."""
    if isinstance(request, VisionRequest):
        return request.picture, request.clip
    return None, None


def no_video_line(folder: Path) -> str:
    """The one line for a video sent to a model that takes none."""
    return (f"{lora.model_name(folder)} takes no video (only Qwen2-VL, Qwen2.5-VL, Qwen3-VL, "
            "LLaVA-NeXT-Video and a few more do): send frames as images, or pick a video model "
            "(tiny-qwen2-vl, Qwen/Qwen2-VL-2B-Instruct)")
