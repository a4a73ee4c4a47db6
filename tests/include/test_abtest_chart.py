"""The chart of an A/B test's looks (include/abtest/chart.py), from real looks of the decision rule."""

from __future__ import annotations

import io

import numpy as np
import pytest

from include.abtest import chart, decision
from include.abtest.msprt import Arm


def looks(n: int, rate_a: float, rate_b: float, seed: int = 3) -> list[list]:
    """Rows of `n` looks at a 50/50 test whose arms convert at the given rates."""
    rng = np.random.default_rng(seed)
    settings = decision.Settings(traffic_share=0.5, min_sessions=50, min_detectable_lift=0.2)
    state, rows, a, b = decision.State(), [], Arm(0, 0), Arm(0, 0)
    for index in range(1, n + 1):
        a = Arm(a.sessions + 100, a.conversions + int(rng.binomial(100, rate_a)))
        b = Arm(b.sessions + 100, b.conversions + int(rng.binomial(100, rate_b)))
        result = decision.look(a, b, index * 600.0, settings, state, [])
        state = result.state
        rows.append(chart.row({**result.figures(a, b), "elapsed_s": index * 600.0}))
    return rows


def test_a_look_is_one_compact_row():
    (first, *_, last) = looks(5, 0.1, 0.15)
    assert len(first) == len(chart.FIELDS) and first[:5] == [600.0, 100, first[2], 100, first[4]]
    assert last[0] == 3000.0 and last[1] == last[3] == 500
    assert 0 <= last[5] <= 1 and last[6] <= last[7]  # p-value, and the interval once the look counts
    assert first[6] is None or isinstance(first[6], float)


def test_the_chart_is_a_png_of_every_look():
    from PIL import Image

    png = chart.render(looks(30, 0.1, 0.14), title="rec-v1-vs-v2 on ep: 30 looks", alpha=0.05)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (800, 900)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is not None and len(colours) > 20  # lines, a shaded interval, text: not blank


def test_nothing_to_chart_or_a_malformed_look_is_an_error():
    with pytest.raises(ValueError, match="no looks"):
        chart.render([], title="t", alpha=0.05)
    with pytest.raises(ValueError, match="look 0 has 3 fields"):
        chart.render([[1, 2, 3]], title="t", alpha=0.05)
