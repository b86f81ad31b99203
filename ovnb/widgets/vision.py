"""``ovnb.VisionChat``: a VisionSession and its view: the conversation, image and video pickers,
settings. A video shows as a strip of the frames the model gets, each with its time."""
from __future__ import annotations

import base64
import html
from typing import Any

import ipywidgets as widgets

from ovnb import video as videos
from ovnb.images import Picture, samples
from ovnb.sessions.vision import MOST_VIDEO_FRAMES, VisionSession
from ovnb.video import VideoClip
from ovnb.widgets.base import Front
from ovnb.widgets.chat import ConversationView, Message
from ovnb.widgets.lora import LoraMixer
from ovnb.widgets.media import (
    SampleDropdown,
    image_sample,
    path_box,
    picker_row,
    remove_button,
    show_choice,
    video_sample,
)
from ovnb.widgets.render import LABEL_WIDTH, bind, grey
from ovnb.widgets.upload import Upload

STRIP_SIDE = 64  # pixels: the longest side of a frame in the strip under the video picker
TURN_STRIP_SIDE = 48  # in the conversation
NO_VIDEO = "no video: upload one, type a path or pick a sample"


class VisionChatView(ConversationView):
    """The view of a VisionSession: the conversation, with an image and a video to ask about."""

    session: VisionSession

    placeholder = "Ask about the image or video, then press Enter"

    def __init__(self, session: VisionSession, mixer: LoraMixer | None = None) -> None:
        super().__init__(session, mixer)
        self._thumbs: dict[str, str] = {}  # image name -> data URI of its thumbnail, for turns
        self._strips: dict[str, str] = {}  # video name -> HTML of its frame strip, for turns
        self._shown: Picture | None = None  # the image in the preview (sent or not)
        self._shown_clip: VideoClip | None = None  # the video in the strip (sent or not)
        self.controls["undo"].layout.display = "none"  # the model keeps each turn's images
        self._layout(*self._inputs())
        session.observe(self._on_picture, "picture")
        session.observe(self._on_clip, "video_clip")

    def _inputs(self) -> tuple[widgets.Widget, ...]:
        """The rows above the prompt, built here (a subclass adds its own: an omni model's
        recording picker)."""
        self._build_picker()
        self._build_video_picker()
        return self.image_row, self.video_row

    def _build_picker(self) -> None:
        """Upload, samples and path box in one row, beside a small preview of the chosen image."""
        self._upload = Upload(accept="image/*", multiple=False, description="Upload")
        self._path = path_box("an image")
        self._samples = SampleDropdown("sample image…", samples())
        self._drop_btn = remove_button("remove the image")
        self.preview = widgets.Image(format="png", layout=widgets.Layout(display="none"))
        self.image_label = widgets.HTML(grey("no image: upload one, type a path or pick a sample"))
        self._upload.observe(self._on_upload, "value")
        self._path.observe(self._on_path, "value")
        self._samples.on_pick(lambda sample: self.session.choose(sample) or self._show_picture())
        self._drop_btn.on_click(self.remove_image)
        self.controls.update(upload=self._upload, image_path=self._path, samples=self._samples,
                             remove_image=self._drop_btn)
        pickers = picker_row([self._upload, self._samples, self._drop_btn, self._path])
        self.image_row = widgets.HBox([self.preview, widgets.VBox([pickers, self.image_label])])

    def _build_video_picker(self) -> None:
        """Upload, path box and samples for a video, above a strip of the frames it gives."""
        self._video_upload = Upload(accept="video/*,image/gif,.mkv", multiple=False,
                                    description="Video", icon="film")
        self._video_path = path_box("a video")
        self._video_samples = SampleDropdown("sample video…", videos.samples())
        self._drop_video_btn = remove_button("remove the video")
        self.frames_slider = widgets.IntSlider(
            self.session.max_video_frames, min=1, max=MOST_VIDEO_FRAMES,
            description="video frames", style={"description_width": LABEL_WIDTH},
            continuous_update=False,
            tooltip="frames a video is sampled to (from the next video chosen)")
        bind(self.frames_slider, self.session, "max_video_frames")
        self.video_label = widgets.HTML(grey(NO_VIDEO))
        self.strip = widgets.HTML()
        self._video_upload.observe(self._on_video_upload, "value")
        self._video_path.observe(self._on_video_path, "value")
        self._video_samples.on_pick(
            lambda sample: self.session.choose_video(sample) or self._show_clip())
        self._drop_video_btn.on_click(self.remove_video)
        self.controls.update(video_upload=self._video_upload, video_path=self._video_path,
                             video_samples=self._video_samples,
                             remove_video=self._drop_video_btn,
                             max_video_frames=self.frames_slider)
        pickers = picker_row([self._video_upload, self._video_samples, self._drop_video_btn,
                              self._video_path])
        self.video_row = widgets.VBox([pickers, self.video_label, self.strip])

    def _settings_panel(self, *extra: widgets.Widget) -> widgets.Accordion:
        return super()._settings_panel(self.frames_slider, *extra)

    # choosing an image ---------------------------------------------------------------------------
    def remove_image(self, button: Any = None) -> None:
        """Ask the next question without an image (images already sent stay in the history)."""
        self._shown = None
        self.session.remove_image()
        self._show_picture()

    def _on_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if files:
            upload = files[-1]
            self.session.choose(bytes(upload["content"]), upload.get("name"))

    def _on_path(self, change: dict[str, Any]) -> None:
        text = change["new"].strip()
        if text:
            self.session.choose(text)

    def _on_picture(self, change: dict[str, Any]) -> None:
        picture = change["new"]
        if picture is not None:  # None means sent (the preview keeps it) or removed (see below)
            self._shown = picture
            self._thumbs[picture.name] = _data_uri(picture.thumbnail_png(96))
        self._show_picture()

    def _show_picture(self) -> None:
        """A thumbnail of the shown image and a line saying whether the next question carries it."""
        picture = self._shown
        chosen = self.session.picture  # the next question's (None once sent)
        show_choice(self._samples, self._path, chosen, image_sample(chosen))
        self.preview.layout.display = "none" if picture is None else "block"
        self.preview.value = b"" if picture is None else picture.thumbnail_png()
        if picture is None:
            self.image_label.value = grey("no image: upload one, type a path or pick a sample")
            return
        size = "×".join(map(str, picture.size))
        if picture.downscaled:
            size += f" (downscaled from {'×'.join(map(str, picture.original_size))})"
        when = ("sent with your next question" if picture is self.session.picture
                else "in the conversation: later questions are about it too")
        self.image_label.value = grey(f"🖼 {picture.name} · {size} · {when}")

    # choosing a video ----------------------------------------------------------------------------
    def remove_video(self, button: Any = None) -> None:
        """Ask the next question without a video (videos already sent stay in the history)."""
        self._shown_clip = None
        self.session.remove_video()
        self._show_clip()

    def _on_video_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if files:
            upload = files[-1]
            self.session.choose_video(bytes(upload["content"]), upload.get("name"))

    def _on_video_path(self, change: dict[str, Any]) -> None:
        text = change["new"].strip()
        if text:
            self.session.choose_video(text)

    def _on_clip(self, change: dict[str, Any]) -> None:
        clip = change["new"]
        if clip is not None:  # None means sent (the strip keeps it) or removed
            self._shown_clip = clip
            self._strips[clip.name] = strip_html(clip, TURN_STRIP_SIDE)
        self._show_clip()

    def _show_clip(self) -> None:
        """The strip of the frames the model gets, and whether the next question carries them."""
        clip = self._shown_clip
        chosen = self.session.video_clip
        show_choice(self._video_samples, self._video_path, chosen, video_sample(chosen))
        if clip is None:
            self.video_label.value, self.strip.value = grey(NO_VIDEO), ""
            return
        when = ("sent with your next question" if clip is self.session.video_clip
                else "in the conversation: later questions are about it too")
        self.video_label.value = grey(f"🎞 {clip_line(clip)} · {when}")
        self.strip.value = strip_html(clip, STRIP_SIDE)

    # the views -----------------------------------------------------------------------------------
    def _show_turns(self, change: Any = None) -> None:
        super()._show_turns()
        system = self.controls.get("system_prompt")
        if system is not None:  # the system prompt opens a conversation: fixed until Clear
            system.disabled = bool(self.session.messages)
            system.placeholder = "applies from the next conversation (after Clear)"

    def _turn(self, message: Message) -> dict[str, str]:
        turn = super()._turn(message)
        name, video = message.get("image"), message.get("video")
        if video:
            frames = message.get("video_frames")
            turn["html"] = (f"{self._strips.get(video, '')}<div>🎞 {html.escape(video)} · "
                            f"{frames} frames</div>{turn['html']}")
        if name:
            thumb = self._thumbs.get(name)
            image = f"<img src='{thumb}' alt='{html.escape(name, quote=True)}'>" if thumb else ""
            turn["html"] = f"{image}<div>🖼 {html.escape(name)}</div>{turn['html']}"
        return turn

    def _metric_parts(self, m: dict[str, Any]) -> list[str]:
        what = "video frames" if m.get("video_frames") else "image"
        image = ([f"{what} encoded in {m['image_ms']:.0f} ms"] if m.get("image_ms") is not None
                 else [])
        return [*image, *super()._metric_parts(m)]

    def clear(self, button: Any = None) -> None:
        """Start a new conversation; the image and video shown go with its first question."""
        self.session.clear()
        if self._shown is not None and self.session.picture is None:
            self.session.publish_now(picture=self._shown)
        if self._shown_clip is not None and self.session.video_clip is None:
            self.session.publish_now(video_clip=self._shown_clip)


class VisionChat(Front):
    """Chat about images and videos: ``VisionChat("tiny-vlm").send("What is this?",
    image="cat.jpg") -> str``; ``send(text, video="clip.mp4")`` on a video model (Qwen2-VL...).

    Its arguments are ``VisionSession``'s (``adapters`` may also be a ``LoraMixer``). Images come
    from an upload, a file path, the bundled samples, or ``send(text, image=...)`` with a path,
    file bytes, a PIL image or an array; videos likewise (mp4, webm, gif... or a sequence of
    frames), sampled evenly to ``max_video_frames`` with their times; a model that takes no video
    says so in one line.
    """

    session_class = VisionSession
    view_class = VisionChatView

    def remove_image(self) -> None:
        """Ask the next question without an image (images already sent stay in the history)."""
        self.view.remove_image()

    def remove_video(self) -> None:
        """Ask the next question without a video (videos already sent stay in the history)."""
        self.view.remove_video()

    def clear(self) -> None:
        """Start a new conversation; the image and video shown go with its first question."""
        self.view.clear()


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def clip_line(clip: VideoClip) -> str:
    """What a video gives the model, in a few words: frames of how many, size, length."""
    size = "×".join(map(str, clip.size))
    if clip.downscaled:
        size += f" (from {'×'.join(map(str, clip.original_size))})"
    notes = "".join(f" · {note}" for note in clip.notes)
    return (f"{clip.name} · {clip.count} of {clip.total_frames} frames · {size} · "
            f"{clip.duration:.1f} s{notes}")


def when(seconds: float, duration: float) -> str:
    """A frame's time, as precise as the video's length asks: 0.12 s, 2.5 s, 1:05."""
    if duration >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{seconds:.2f} s" if duration < 2 else f"{seconds:.1f} s"


def strip_html(clip: VideoClip, side: int) -> str:
    """The frames the model gets, side by side, each with its time in the video."""
    cells = "".join(
        f"<figure style='margin:0;text-align:center'><img src='{_data_uri(png)}' "
        f"alt='frame at {when(t, clip.duration)}'><figcaption class='ovnb-quiet' style='font-size:10px'>"
        f"{when(t, clip.duration)}</figcaption></figure>"
        for png, t in zip(clip.thumbnails(side), clip.timestamps))
    return f"<div style='display:flex;flex-wrap:wrap;gap:4px'>{cells}</div>"
