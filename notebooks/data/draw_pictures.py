"""Draw the pictures notebook 18 searches (made for ovnb, CC0): ``python notebooks/data/draw_pictures.py``.

Drawn from code rather than downloaded, so their origin and license are beyond doubt and anyone can
rebuild them. Each is one simple scene a caption can name; two are red, so a search for "the red
boat" has a near miss to pass over.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

SIZE = (320, 240)
OUT = Path(__file__).parent / "pictures"


def red_boat() -> Image.Image:
    """A red rowing boat on a blue lake, green hills behind."""
    image = Image.new("RGB", SIZE, (150, 200, 245))
    draw = ImageDraw.Draw(image)
    draw.polygon([(0, 140), (90, 90), (180, 135), (260, 95), (320, 130), (320, 150), (0, 150)],
                 fill=(60, 140, 70))
    draw.rectangle((0, 150, 320, 240), fill=(40, 90, 170))
    draw.polygon([(90, 170), (230, 170), (205, 200), (115, 200)], fill=(200, 30, 30))
    draw.line((150, 185, 120, 215), fill=(120, 80, 40), width=4)
    return image


def red_apple() -> Image.Image:
    """A red apple with a green leaf on a wooden table."""
    image = Image.new("RGB", SIZE, (235, 225, 205))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 170, 320, 240), fill=(150, 100, 55))
    draw.ellipse((115, 80, 215, 180), fill=(210, 25, 35))
    draw.line((165, 85, 170, 60), fill=(90, 60, 30), width=5)
    draw.ellipse((172, 55, 205, 75), fill=(60, 150, 50))
    return image


def snowy_mountains() -> Image.Image:
    """Grey mountains with snowy peaks under a pale sky."""
    image = Image.new("RGB", SIZE, (200, 220, 240))
    draw = ImageDraw.Draw(image)
    for left, peak, right, top in ((-40, 90, 200, 50), (120, 230, 350, 70)):
        draw.polygon([(left, 240), (peak, top), (right, 240)], fill=(110, 110, 120))
        draw.polygon([(peak - 30, top + 40), (peak, top), (peak + 30, top + 40)],
                     fill=(250, 250, 250))
    return image


def city_at_night() -> Image.Image:
    """Dark buildings with lit windows under a night sky and a moon."""
    image = Image.new("RGB", SIZE, (15, 20, 50))
    draw = ImageDraw.Draw(image)
    draw.ellipse((250, 25, 285, 60), fill=(240, 240, 210))
    for x, top in ((10, 90), (80, 60), (150, 110), (215, 80)):
        draw.rectangle((x, top, x + 60, 240), fill=(40, 40, 55))
        for wy in range(top + 10, 230, 22):
            for wx in range(x + 8, x + 52, 16):
                draw.rectangle((wx, wy, wx + 7, wy + 10), fill=(250, 210, 90))
    return image


def green_field() -> Image.Image:
    """A green field with a yellow sun and one white cloud."""
    image = Image.new("RGB", SIZE, (120, 190, 245))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 140, 320, 240), fill=(80, 175, 60))
    draw.ellipse((30, 25, 80, 75), fill=(250, 215, 40))
    for x, y in ((170, 50), (200, 40), (230, 50)):
        draw.ellipse((x, y, x + 50, y + 35), fill=(250, 250, 250))
    return image


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for draw in (red_boat, red_apple, snowy_mountains, city_at_night, green_field):
        draw().save(OUT / f"{draw.__name__.replace('_', '-')}.png", optimize=True)


if __name__ == "__main__":
    main()
