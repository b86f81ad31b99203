"""The shared render helpers: views kept per item, closed when their item goes."""
from __future__ import annotations

import ipywidgets as widgets

from ovnb.widgets.render import keyed_views


class Item:
    """An item compared by identity, as results and sentences are."""


def card(item: Item) -> widgets.Box:
    return widgets.VBox([widgets.Label("a card")])


def test_each_item_gets_one_view_made_once_and_dropped_ones_are_closed() -> None:
    views: dict[int, widgets.Box] = {}
    first, second = Item(), Item()
    shown = keyed_views(views, [first, second], card)
    assert len(shown) == 2 and shown[0] is not shown[1]
    assert keyed_views(views, [second, first], card) == shown[::-1]  # the same views, reordered
    gone, label = shown[0], shown[0].children[0]
    assert keyed_views(views, [second], card) == [shown[1]] and list(views) == [id(second)]
    assert gone.comm is None and label.comm is None  # closed with its children
    assert shown[1].comm is not None
