"""The policy tile maps read without colour and with enough contrast (WCAG 2.1: 1.4.1, 1.4.3 and 1.4.11).

tests/test_policy.py checks what a drawn map says about each state; here, the style every status is drawn in.
"""

from __future__ import annotations

import pytest

from evidencebook._maps import STATUS_STYLE, _EDGE, _HATCH, contrast_ratio

PAGE = "#FFFFFF"  # the site's and the PDF's background behind the map


@pytest.mark.parametrize(("foreground", "background", "ratio"), [
    ("#000000", "#FFFFFF", 21.0), ("#FFFFFF", "#FFFFFF", 1.0), ("#767676", "#FFFFFF", 4.54),
    ("#595959", "#FFFFFF", 7.0)])
def test_contrast_ratio_gives_the_figures_wcag_tools_give(foreground: str, background: str, ratio: float) -> None:
    assert round(contrast_ratio(foreground, background), 2) == ratio
    assert contrast_ratio(background, foreground) == contrast_ratio(foreground, background)


def test_each_status_is_told_by_a_letter_of_its_own_not_by_colour_alone() -> None:
    letters = [style.letter for style in STATUS_STYLE.values()]
    assert len(set(letters)) == len(letters) == 4 and all(letters)
    for style in STATUS_STYLE.values():  # the legend explains the letter in words
        assert style.label.startswith(f"{style.letter}: ") and len(style.label) > len(style.letter) + 4
    # and two statuses carry a second cue that is no colour: a pattern, a heavy border
    assert sum(style.hatch is not None for style in STATUS_STYLE.values()) == 1
    assert sum(style.edge_width > 2 for style in STATUS_STYLE.values()) == 1


@pytest.mark.parametrize("status", list(STATUS_STYLE))
def test_every_colour_of_a_tile_has_enough_contrast(status: str) -> None:
    style = STATUS_STYLE[status]
    # text (the state's code and the letter): 4.5:1 with the tile, and with the hatch lines it is drawn over
    assert contrast_ratio(style.text, style.face) >= 4.5, (status, style.text, style.face)
    if style.hatch:
        assert contrast_ratio(style.text, _HATCH) >= 4.5, (status, style.text, _HATCH)
    # the tile's outline against the page: 3:1, the bound for shapes that carry meaning (1.4.11)
    assert contrast_ratio(_EDGE, PAGE) >= 3.0
