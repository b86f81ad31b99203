"""Draw the bundled sample video (made for ovnb, CC0): ``python ovnb/data/videos/draw_samples.py``.

Drawn from code, like the sample images, so its origin and license are beyond doubt and anyone can
rebuild it. A simple scene with one clear motion, so a video-language model has something to tell
apart from a still: a sailboat crossing the sea from left to right while the sun goes down.
"""
from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = (320, 240)
FRAMES = 30  # 3 seconds at FPS
FPS = 10
HERE = Path(__file__).parent


def sailboat_frame(t: float) -> Image.Image:
    """The scene at ``t`` in [0, 1]: the boat's bow at 20% .. 80% of the width, the sun sinking."""
    sky = (250 - round(40 * t), 170 - round(50 * t), 110)
    image = Image.new("RGB", SIZE, sky)
    draw = ImageDraw.Draw(image)
    sun_y = 100 + round(60 * t)
    draw.ellipse((200, sun_y, 260, sun_y + 60), fill=(250, 120, 50))
    draw.rectangle((0, 150, 320, 240), fill=(20, 60, 130))
    for y in range(165, 240, 18):
        draw.line((10, y, 310, y), fill=(60, 100, 170), width=2)
    x = round(40 + 180 * t)  # the hull's left end
    draw.polygon([(x, 185), (x + 100, 185), (x + 84, 203), (x + 16, 203)], fill=(120, 70, 30))
    mast = x + 50
    draw.line((mast, 80, mast, 185), fill=(60, 40, 20), width=3)
    draw.polygon([(mast + 3, 85), (mast + 3, 178), (mast + 45, 178)], fill=(250, 250, 245))
    draw.polygon([(mast - 3, 98), (mast - 3, 178), (mast - 32, 178)], fill=(235, 235, 230))
    return image


def main() -> None:
    sys.path.insert(0, str(HERE.parents[2]))  # run from a checkout: the ovnb beside this file
    from ovnb.video import write_video

    frames = [sailboat_frame(k / (FRAMES - 1)) for k in range(FRAMES)]
    write_video(frames, HERE / "sailboat.mp4", FPS)


if __name__ == "__main__":
    main()
