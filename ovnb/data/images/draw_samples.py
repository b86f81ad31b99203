"""Draw the bundled sample images (made for ovnb, CC0): ``python ovnb/data/images/draw_samples.py``.

Drawn from code rather than downloaded, so their origin and license are beyond doubt and anyone
can rebuild them. Each is a simple scene a vision-language model can describe in a sentence.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

SIZE = (320, 240)
HERE = Path(__file__).parent


def house() -> Image.Image:
    """A red house with a tree under a blue sky and a yellow sun, on green grass."""
    image = Image.new("RGB", SIZE, (135, 195, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 170, 320, 240), fill=(70, 160, 60))
    draw.ellipse((250, 20, 300, 70), fill=(250, 210, 40))
    draw.rectangle((60, 110, 170, 190), fill=(190, 40, 40))
    draw.polygon([(50, 112), (115, 60), (180, 112)], fill=(110, 60, 30))
    draw.rectangle((100, 145, 125, 190), fill=(90, 50, 20))
    draw.rectangle((135, 125, 160, 145), fill=(230, 240, 255), outline=(60, 60, 60), width=2)
    draw.rectangle((226, 130, 238, 190), fill=(100, 65, 30))
    draw.ellipse((200, 80, 264, 144), fill=(30, 120, 40))
    return image


def sailboat() -> Image.Image:
    """A white-sailed boat on a dark blue sea at sunset, with two birds."""
    image = Image.new("RGB", SIZE, (250, 170, 110))
    draw = ImageDraw.Draw(image)
    draw.ellipse((130, 110, 210, 190), fill=(250, 120, 50))
    draw.rectangle((0, 150, 320, 240), fill=(20, 60, 130))
    for y in range(165, 240, 18):
        draw.line((20, y, 300, y), fill=(60, 100, 170), width=2)
    draw.polygon([(70, 185), (190, 185), (170, 205), (90, 205)], fill=(120, 70, 30))
    draw.line((130, 70, 130, 185), fill=(60, 40, 20), width=3)
    draw.polygon([(133, 75), (133, 178), (185, 178)], fill=(250, 250, 245))
    draw.polygon([(127, 90), (127, 178), (92, 178)], fill=(235, 235, 230))
    for x, y in ((230, 60), (262, 80)):
        draw.line((x - 12, y - 6, x, y, x + 12, y - 6), fill=(40, 40, 40), width=2)
    return image


def main() -> None:
    for name, draw in (("house", house), ("sailboat", sailboat)):
        draw().save(HERE / f"{name}.png", optimize=True)


if __name__ == "__main__":
    main()
