"""Plots run on real results, draw what they should, and save PNGs."""

from __future__ import annotations

import matplotlib
import pytest

from maillab import plots
from maillab.lab.demo import build_demo

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def demo_lab():
    return build_demo(seed=2, messages=30).run(until=86400)


def test_retry_timeline_draws_one_mark_per_attempt(demo_lab, tmp_path):
    figure = plots.retry_timeline(demo_lab, limit=1000)
    ax = figure.axes[0]
    *attempt_layers, delivered, bounced = ax.collections  # one layer per outcome, then the end marks
    assert sum(len(layer.get_offsets()) for layer in attempt_layers) == len(demo_lab.attempts)
    assert len(delivered.get_offsets()) == len(demo_lab.messages)  # NaN (not delivered) points are not drawn
    assert len(ax.get_yticks()) == demo_lab.messages.message_id.nunique()
    assert any(p.get_alpha() for p in ax.patches)  # the outage window is shaded
    figure.savefig(tmp_path / "timeline.png")
    assert (tmp_path / "timeline.png").stat().st_size > 10_000


def test_latency_cdf_compares_runs_on_one_axis(demo_lab, tmp_path):
    other = build_demo(seed=3, messages=30).run(until=86400)
    figure = plots.latency_cdf({"seed 2": demo_lab, "seed 3": other})
    lines = figure.axes[0].get_lines()
    assert len(lines) == 2
    delivered = (demo_lab.messages.status == "delivered").sum()
    assert lines[0].get_ydata()[-1] == pytest.approx(delivered / len(demo_lab.messages))
    figure.savefig(tmp_path / "cdf.png")


def test_queue_length_has_a_line_per_busy_host(demo_lab):
    figure = plots.queue_length(demo_lab)
    busy = {h for h, g in demo_lab.queue.groupby("host") if (g.active + g.deferred).max() > 0}
    assert {line.get_label() for line in figure.axes[0].get_lines()} == busy


def test_plots_reject_what_is_not_a_result(demo_lab):
    with pytest.raises(TypeError):
        plots.queue_length(42)
