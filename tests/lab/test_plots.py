"""Plots run on real results, draw what they should, and save PNGs; ``maillab plot`` draws them from CSVs."""

from __future__ import annotations

import argparse

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from maillab import Lab, plots
from maillab.cli_plot import add_plot_arguments, load_results, run_plot
from maillab.errors import ConfigError
from maillab.lab.demo import build_demo
from maillab.lab.report import write_results

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def demo_lab():
    return build_demo(seed=2, messages=30).run(until=86400)


@pytest.fixture(scope="module")
def relay_lab():
    """ws -> submit -> (lan) relay -> (internet) mx, with a backup MX down for a while and a router."""
    lab = Lab(seed=1)
    lab.roles.update({"ws.a.example": "client", "relay.a.example": "relay", "mx.b.example": "mx",
                      "mx2.b.example": "mx"})
    lab.add_router("internet")
    lab.add_host("ws.a.example", relayhost="relay.a.example")
    lab.add_host("relay.a.example", relay_clients=["10.0.0.0/8"])
    lab.add_host("mx.b.example")
    lab.add_host("mx2.b.example")
    lab.add_link("ws.a.example", "relay.a.example", latency=0.001)
    lab.add_link("relay.a.example", "internet", latency=0.010)
    lab.add_link("mx.b.example", "internet", latency=0.020, bandwidth=1_250_000)
    lab.add_link("mx2.b.example", "internet", latency=0.030)
    lab.add_domain("a.example", mx="relay.a.example", users=["alice"])
    lab.add_domain("b.example", mx={"mx.b.example": 10, "mx2.b.example": 20}, users=["bob"])
    lab.fail("mx.b.example", "down", start=100, end=2000)
    lab.fail(("mx2.b.example", "internet"), "link", start=1500, end=1800)
    for i in range(6):
        lab.send(60 * i, "alice@a.example", "bob@b.example", via="ws.a.example")
    return lab.run(until=20000)


def saved(figure, tmp_path, name):
    path = tmp_path / f"{name}.png"
    figure.savefig(path, dpi=80)
    assert path.stat().st_size > 5_000
    return path


def offsets(ax, gid):
    return sum(len(c.get_offsets()) for c in ax.collections if c.get_gid() == gid)


def test_retry_timeline_draws_one_mark_per_attempt_origin_and_later_hops_apart(relay_lab, tmp_path):
    figure = plots.retry_timeline(relay_lab, limit=1000)
    ax = figure.axes[0]
    attempts, messages = relay_lab.attempts, relay_lab.messages
    from_origin = attempts.host == attempts.message_id.map(messages.groupby("message_id").origin.first())
    assert offsets(ax, "attempts-origin") == from_origin.sum() > 0
    assert offsets(ax, "attempts-hop") == (~from_origin).sum() > 0  # the relay's retries of the down MX
    hop_rows = {y for _, y in next(c for c in ax.collections if c.get_gid() == "attempts-hop").get_offsets()}
    assert all(y % 1 for y in hop_rows)  # later hops are drawn off the row, the origin's on it
    delivered = next(c for c in ax.collections if c.get_gid() == "delivered")
    assert np.isfinite(delivered.get_offsets()).all(axis=1).sum() == messages.delivered.notna().sum() == 6
    assert len(ax.get_yticks()) == messages.message_id.nunique()
    assert sum(1 for p in ax.patches if p.get_alpha()) == 2  # the outage and the link failure are shaded
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "attempt by the origin host" in legend and any("later hop" in t for t in legend)
    saved(figure, tmp_path, "timeline")


def test_retry_timeline_picks_retried_messages_first(demo_lab):
    figure = plots.retry_timeline(demo_lab, limit=5)
    shown = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    attempts = demo_lab.attempts
    troubled = set(attempts[(attempts.attempt > 1) | (attempts.outcome != "delivered")].message_id)
    assert len(shown) == 5 and all(f"{m.split('.')[0]}" in shown for m in sorted(troubled)[:5])
    first = plots.retry_timeline(demo_lab, limit=5, select="first")
    assert [t.get_text() for t in first.axes[0].get_yticklabels()][0] == "m000001"


def test_latency_cdf_compares_runs_on_one_axis(demo_lab, tmp_path):
    other = build_demo(seed=3, messages=30).run(until=86400)
    figure = plots.latency_cdf({"seed 2": demo_lab, "seed 3": other})
    lines = figure.axes[0].get_lines()
    assert len(lines) == 2
    delivered = (demo_lab.messages.status == "delivered").sum()
    assert lines[0].get_ydata()[-1] == pytest.approx(delivered / len(demo_lab.messages))
    assert lines[0].get_ydata()[0] == 0
    assert figure.axes[0].get_xscale() == "log"
    assert {t.get_text() for t in figure.axes[0].get_xticklabels()} & {"1 s", "1 min", "1 h"}
    saved(figure, tmp_path, "cdf")


def test_latency_histogram_counts_every_delivered_message(demo_lab, tmp_path):
    other = build_demo(seed=3, messages=30).run(until=86400)
    figure = plots.latency_histogram({"a": demo_lab, "b": other}, bins=20)
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert labels == [f"a: {demo_lab.messages.latency.notna().sum()} delivered",
                      f"b: {other.messages.latency.notna().sum()} delivered"]
    saved(figure, tmp_path, "histogram")


def test_queue_length_has_a_line_per_busy_host(demo_lab, tmp_path):
    figure = plots.queue_length(demo_lab)
    busy = {h for h, g in demo_lab.queue.groupby("host") if (g.active + g.deferred).max() > 0}
    assert {line.get_label() for line in figure.axes[0].get_lines()} == busy
    saved(figure, tmp_path, "queue")


def test_qshape_agrees_with_the_queue_table(relay_lab, tmp_path):
    queue = relay_lab.queue
    for when in (150.0, 1000.0, 1900.0):
        shape = plots.qshape(relay_lab, at=when)
        last = queue[queue.time <= when].groupby("host").last()
        expected = {h: n for h, n in (last.active + last.deferred).items() if n}
        assert shape["T"].groupby(level=0).sum().to_dict() == expected
        assert (shape.drop(columns="T").sum(axis=1) == shape["T"]).all()
    busiest = plots.qshape(relay_lab)
    totals = queue.assign(n=queue.active + queue.deferred).pivot_table("n", "time", "host", aggfunc="last").ffill()
    assert busiest["T"].sum() == totals.fillna(0).sum(axis=1).max()  # by default: when most was queued
    figure = plots.queue_shape(relay_lab, at=1000.0)
    image = figure.axes[0].images[0].get_array()
    assert np.nansum(image) == plots.qshape(relay_lab, at=1000.0)["T"].sum()
    saved(figure, tmp_path, "qshape")
    by_destination = plots.qshape(relay_lab, at=1000.0, by="destination")
    assert list(by_destination.index) == ["b.example"]


def test_topology_draws_every_node_and_greys_what_is_down(relay_lab, tmp_path):
    graph = relay_lab.network.graph
    figure = plots.topology(relay_lab, at=1600)
    ax = figure.axes[0]
    nodes = [c for c in ax.collections if str(c.get_gid()).startswith("nodes-")]
    assert sum(len(c.get_offsets()) for c in nodes) == len(relay_lab.network.hosts) + 1 == graph.number_of_nodes()
    assert {c.get_gid() for c in nodes} == {"nodes-client", "nodes-relay", "nodes-mx", "nodes-router"}
    latency_labels = [t.get_text() for t in ax.texts if t.get_text().endswith(" ms")]
    assert sorted(latency_labels) == sorted(["1 ms", "10 ms", "20 ms", "30 ms"])
    mx = next(c for c in nodes if c.get_gid() == "nodes-mx")
    assert tuple(mx.get_facecolors()[0][:3]) == pytest.approx(matplotlib.colors.to_rgb("#e9ecef"))  # down
    assert "(down)" in " ".join(t.get_text() for t in ax.texts)
    assert "mx2.b.example - internet" in ax.get_title()  # the failed link
    saved(figure, tmp_path, "topology")
    calm = plots.topology(relay_lab, at=50)
    assert "greyed" not in calm.axes[0].get_title()


def test_sequence_diagram_has_two_lanes_and_an_arrow_per_write(relay_lab, tmp_path):
    transcript = relay_lab.transcript
    connection = relay_lab.attempts.query("mx == 'mx2.b.example' and outcome == 'delivered'").connection.iloc[0]
    lines = transcript[transcript.connection == connection]
    writes = len(lines.groupby(["time", "direction"]))
    figure = plots.sequence_diagram(relay_lab, connection=connection)
    ax = figure.axes[0]
    assert sum(1 for line in ax.lines if line.get_gid() == "lane") == 2
    smtp = [p for p in ax.patches if p.get_gid() == "arrow-smtp"]
    tcp = [p for p in ax.patches if p.get_gid() == "arrow-tcp"]
    assert len(smtp) == writes and len(tcp) == 4  # SYN, SYN-ACK, ACK; the client's FIN
    delay = relay_lab.network.path_latency("relay.a.example", "mx2.b.example")
    (x0, y0), (x1, y1) = tcp[0]._posA_posB
    assert (x0, x1) == (0.0, 1.0) and y1 - y0 == pytest.approx(delay * 1000)  # slope: the one-way delay in ms
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "SYN-ACK" in texts and "220 " in texts and "QUIT" in texts
    saved(figure, tmp_path, "sequence")
    by_message = plots.sequence_diagram(relay_lab, message=relay_lab.messages.message_id.iloc[0])
    assert by_message.axes[0].get_title().startswith("SMTP connection")
    with pytest.raises(ValueError):
        plots.sequence_diagram(relay_lab, connection="c999")


def test_sequence_diagram_labels_pipelined_groups_and_multiline_replies():
    assert plots._label(["250-mx greets you", "250-PIPELINING", "250 SIZE 1000"]) == "250 PIPELINING SIZE"
    assert plots._label(["MAIL FROM:<a@a.example>", "RCPT TO:<b@b.example>", "RCPT TO:<c@b.example>",
                         "DATA"]) == "MAIL FROM · 2× RCPT TO · DATA (pipelined)"
    assert plots._label(["<message content: 12 lines, 900 octets, ending with .>"]).startswith("message content")
    assert plots._label(["221 2.0.0 bye"]).endswith("+ FIN")


def test_attempts_per_message_bars(demo_lab, relay_lab, tmp_path):
    figure = plots.attempts_per_message(demo_lab)
    bars = figure.axes[0].patches
    assert sum(b.get_height() for b in bars) == demo_lab.messages.message_id.nunique()
    saved(figure, tmp_path, "attempts")
    both = plots.attempts_per_message({"demo": demo_lab, "relay": relay_lab})
    heights = [b.get_height() for b in both.axes[0].patches]
    assert sum(heights) == pytest.approx(200)  # two runs, each as shares summing to 100 %


def test_latency_vs_load_one_point_per_run(tmp_path):
    runs = {}
    for load in (30, 60, 120):
        runs[load] = build_demo(seed=1, messages=load // 3, duration=1200).run(until=86400)
    figure = plots.latency_vs_load(runs, percentiles=(50, 90))
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["p50", "p90"]
    assert list(lines[0].get_xdata()) == [30, 60, 120]
    assert lines[1].get_ydata()[0] == pytest.approx(runs[30].messages.latency.quantile(0.9))
    saved(figure, tmp_path, "load")
    measured = plots.latency_vs_load([runs[30], runs[120]])
    assert measured.axes[0].get_lines()[0].get_xdata()[0] == pytest.approx(
        plots.offered_load(runs[30].messages))


def test_queue_length_compares_runs_as_totals(demo_lab, relay_lab, tmp_path):
    figure = plots.queue_length({"demo": demo_lab, "relay": relay_lab})
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["demo", "relay"]
    totals = relay_lab.queue.assign(n=relay_lab.queue.active + relay_lab.queue.deferred)
    peak = totals.pivot_table("n", "time", "host", aggfunc="last").ffill().fillna(0).sum(axis=1).max()
    assert max(lines[1].get_ydata()) == peak
    saved(figure, tmp_path, "queues")


def test_attempt_rate_counts_every_attempt_once(relay_lab, tmp_path):
    figure = plots.attempt_rate(relay_lab, bin=300)
    ax = figure.axes[0]
    layers = ax.collections
    outcomes = relay_lab.attempts.outcome.value_counts()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == sorted(
        outcomes.index, key=list(plots.OUTCOME_COLOURS).index)
    attempts = relay_lab.attempts
    busiest = np.histogram(attempts.start, bins=np.arange(0, attempts.end.max() + 300, 300))[0].max()
    assert layers[-1].get_paths()[0].vertices[:, 1].max() == busiest  # the stack's top: all outcomes
    assert ax.get_ylabel() == "attempts per 5 min"
    saved(figure, tmp_path, "rate")


def test_message_path_has_a_bar_per_attempt(relay_lab, tmp_path):
    message = relay_lab.messages.message_id.iloc[-1]
    figure = plots.message_path(relay_lab, message)
    ax = figure.axes[0]
    attempts = relay_lab.attempts[relay_lab.attempts.message_id == message]
    assert len(ax.patches) == len(attempts) > 2  # the relay's retries of the down MX, then the backup's
    assert [t.get_text() for t in ax.get_yticklabels()][0] == "ws.a.example → relay.a.example"
    saved(figure, tmp_path, "path")
    with pytest.raises(ValueError):
        plots.message_path(relay_lab, "nobody@maillab")


def test_standard_figures_name_every_applicable_plot(relay_lab, demo_lab, tmp_path):
    assert set(plots.standard_figures(relay_lab)) == {
        "latency_cdf.png", "latency_histogram.png", "retry_timeline.png", "queue_length.png", "queue_shape.png",
        "attempts_per_message.png", "sequence_diagram.png", "topology.png"}
    written = plots.write_figures(plots.standard_figures(relay_lab, at=1600), tmp_path, dpi=60)
    assert all(p.stat().st_size > 3_000 for p in written)
    assert plt.get_fignums() == []  # each figure is closed once saved


def test_plots_draw_on_a_given_axis_and_reject_what_is_not_a_result(demo_lab):
    figure, (left, right) = plt.subplots(1, 2)
    assert plots.latency_cdf(demo_lab, ax=left) is figure
    assert plots.queue_length(demo_lab, ax=right) is figure
    with pytest.raises(TypeError):
        plots.queue_length(42)
    with pytest.raises(TypeError):
        plots.topology(demo_lab.messages)


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_plot_arguments(parser)
    return parser.parse_args([str(a) for a in argv])


def test_maillab_plot_draws_every_figure_from_the_csvs(relay_lab, tmp_path, capsys):
    write_results(relay_lab, tmp_path / "run", plots=False)
    results = load_results(tmp_path / "run")
    assert len(results.transcript) == len(relay_lab.transcript)
    assert run_plot(parse(tmp_path / "run", "--to", tmp_path / "png", "--at", "25m")) == 0
    names = {p.name for p in (tmp_path / "png").iterdir()}
    assert names == {"latency_cdf.png", "latency_histogram.png", "retry_timeline.png", "queue_length.png",
                     "queue_shape.png", "attempts_per_message.png", "sequence_diagram.png"}
    assert "wrote" in capsys.readouterr().out
    assert run_plot(parse(tmp_path / "run", tmp_path / "run", "--to", tmp_path / "cmp")) == 0
    assert {p.name for p in (tmp_path / "cmp").iterdir()} == {
        "compare_latency_cdf.png", "compare_latency_histogram.png", "compare_attempts_per_message.png",
        "compare_latency_vs_load.png"}


def test_maillab_plot_bad_input_is_a_config_error(relay_lab, tmp_path):
    with pytest.raises(ConfigError, match="no such directory"):
        run_plot(parse(tmp_path / "nothing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="messages.csv"):
        run_plot(parse(tmp_path / "empty"))
    write_results(relay_lab, tmp_path / "run", plots=False)
    with pytest.raises(ConfigError, match="--at"):
        run_plot(parse(tmp_path / "run", "--at", "soon"))
    with pytest.raises(ConfigError, match="--to"):
        run_plot(parse(tmp_path / "run", tmp_path / "run"))
    with pytest.raises(ConfigError, match="c999"):
        run_plot(parse(tmp_path / "run", "--connection", "c999", "--to", tmp_path / "png"))
    with pytest.raises(ConfigError, match="no such file"):
        run_plot(parse(tmp_path / "run", "--lab", tmp_path / "nope.yaml"))
