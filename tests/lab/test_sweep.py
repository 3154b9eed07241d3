"""Sweeps: the same table whatever the number of workers, common random numbers, resuming from the cache,
bad grids refused before anything runs, the summary statistics, the command line end to end, the plot."""

from __future__ import annotations

import math
import textwrap

import pandas as pd
import pytest

import maillab
from maillab import Lab
from maillab.cli import main
from maillab.errors import ConfigError
from maillab.sweep import plot_sweep, summarize, summary_table, sweep, t_quantile

TINY = """\
# Tiny sweep lab: one sender, one MX refusing connections at first.
lab: {duration: 3h, seed: 5, transcript: "off"}
hosts:
  mail.a.example: {role: submission}
  mx.b.example: {role: mx}
links:
  - {between: [mail.a.example, mx.b.example], latency: 5ms}
domains:
  a.example: {mx: mail.a.example, users: [alice, ann]}
  b.example: {mx: mx.b.example, users: [bob, bea]}
workloads:
  - poisson: {rate: 40/h, end: 1h, from: [a.example], to: [b.example]}
failures:
  - {kind: refuse, host: mx.b.example, start: 0, end: 20m}
"""
GRID = {"failures.0.end": ["10m", "40m"], "hosts.mail.a.example.retry": ["postfix", "exim"]}
CALLS: list[int] = []


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(textwrap.dedent(TINY))
    return path


@pytest.fixture(scope="module")
def one_worker():
    """A local Dask cluster of one worker, shared by the tests that need one (scheduler=client)."""
    from maillab.experiments.execute import dask_client

    with dask_client(1, None, 1) as client:
        yield client


def arrivals(lab):
    """A metric: the creation times of the run's messages, and a figure that depends on the parameters."""
    messages = lab.messages
    return {"arrivals": ";".join(f"{t:.6f}" for t in sorted(set(messages.created))),
            "latency_max": float(messages.latency.max())}


def counted_summary(lab):
    CALLS.append(lab.seed)
    return lab.summary()


def test_two_workers_give_the_table_one_worker_gives(tiny, one_worker):
    one = sweep(tiny, GRID, replications=2, seed=3, scheduler=one_worker)
    two = sweep(tiny, GRID, replications=2, seed=3, workers=2)
    pd.testing.assert_frame_equal(one, two)
    assert list(one.columns[:5]) == ["point", "failures.0.end", "hosts.mail.a.example.retry", "replication", "seed"]
    assert list(one.columns[5:]) == list(Lab(seed=0).summary())
    assert one.point.tolist() == [0, 0, 1, 1, 2, 2, 3, 3] and one.seed.tolist() == [3000, 3001] * 4
    assert one["failures.0.end"].tolist() == ["10m"] * 4 + ["40m"] * 4
    assert one.attrs["runs_executed"] == 8 and (one.delivered == one.messages).all()


def test_common_random_numbers_same_arrivals_in_every_grid_point(tiny):
    runs = sweep(tiny, GRID, replications=3, metrics=arrivals, scheduler="synchronous")
    assert sorted(set(runs.seed)) == [5000, 5001, 5002]  # the file's seed is the base
    per_replication = runs.groupby("replication").arrivals.nunique()
    assert (per_replication == 1).all()  # one arrival sequence per replication, shared by the 4 grid points
    assert runs.groupby("point").arrivals.nunique().eq(3).all()  # and three different ones across replications
    assert runs.groupby("replication").latency_max.nunique().gt(1).all()  # while the parameters did matter
    rebuilt = Lab.from_file(str(tiny), seed=5001, overrides={"failures.0.end": "40m"}).run()
    assert arrivals(rebuilt)["arrivals"] == runs.arrivals[runs.replication == 1].iloc[0]


def test_resuming_skips_finished_runs(tiny, tmp_path, one_worker):
    cache = tmp_path / "cache"
    CALLS.clear()
    first = sweep(tiny, {"failures.0.end": ["10m"], "hosts.mail.a.example.retry": ["postfix", "exim"]},
                  replications=2, metrics=counted_summary, scheduler="synchronous", cache_dir=cache)
    assert len(CALLS) == 4 and first.attrs["runs_executed"] == 4 and len(list(cache.glob("*.json"))) == 4
    CALLS.clear()
    extended = sweep(tiny, GRID, replications=2, metrics=counted_summary, scheduler="synchronous", cache_dir=cache)
    assert len(CALLS) == 4 and (extended.attrs["runs_executed"], extended.attrs["runs_cached"]) == (4, 4)
    fresh = sweep(tiny, GRID, replications=2, metrics=counted_summary, scheduler="synchronous")
    pd.testing.assert_frame_equal(extended, fresh)  # cached figures come back exactly
    next(iter(cache.glob("*.json"))).unlink()  # one run lost: on Dask, only that one runs again
    again = sweep(tiny, GRID, replications=2, metrics=counted_summary, scheduler=one_worker, cache_dir=cache)
    assert (again.attrs["runs_executed"], again.attrs["runs_cached"]) == (1, 7)
    pd.testing.assert_frame_equal(again, fresh)
    CALLS.clear()
    other_seed = sweep(tiny, GRID, replications=1, seed=9, metrics=counted_summary, scheduler="synchronous",
                       cache_dir=cache)
    assert other_seed.attrs["runs_executed"] == 4 and len(CALLS) == 4  # the seed is part of the key


@pytest.mark.parametrize(("grid", "options", "message"), [
    ({"hosts.mx.c.example.retry": ["exim"]}, {}, "--grid hosts.mx.c.example.retry: hosts has no key 'mx'"),
    ({"hosts.mx.b.example.retri": ["exim"]}, {}, "--grid hosts.mx.b.example: Additional properties"),
    ({"hosts.mx.b.example.retry": ["exim", "bogus"]}, {}, "'bogus' is not one of"),
    ({"failures.0.end": ["10m", "soon"], "hosts.mx.b.example.retry": ["exim"]}, {},
     "--grid failures.0.end: 'soon' is not a duration"),
    ({"lab.seed": [1, 2]}, {}, "do not sweep it"),
    ({"failures.0.end": []}, {}, "non-empty list"),
    ({"failures.0.end": ["1h", "1h"]}, {}, "listed twice"),
    ({}, {"replications": 0}, "replications must be"),
    ({}, {"workers": 0}, "workers must be a positive integer"),
    ({}, {"workers": 2, "scheduler": "tcp://127.0.0.1:1"}, "not both"),
    ({}, {"metrics": ["delivered", "speed"]}, "'speed' is not a figure of lab.summary()"),
    ({}, {"until": "soon"}, "until: 'soon' is not a duration"),
    ({"failures.0.end": ["1h"]}, {"overrides": {"failures.0.end": "2h"}}, "both set (overrides) and swept"),
])
def test_bad_grids_and_options_raise_config_error_before_running(tiny, grid, options, message):
    with pytest.raises(ConfigError) as caught:
        sweep(tiny, grid, **options)
    assert message in str(caught.value)


def test_summarize_gives_mean_and_student_t_interval():
    runs = pd.DataFrame({"point": [0] * 5 + [1] * 3, "x": [1] * 5 + [2] * 3, "replication": [0, 1, 2, 3, 4, 0, 1, 2],
                         "seed": [0, 1, 2, 3, 4, 0, 1, 2], "m": [1.0, 2, 3, 4, 5, 7, 7, 7],
                         "lat": [1.0, math.nan, 3, 5, math.nan, 1, 2, math.nan]})
    summary = summarize(runs)
    assert list(summary.columns) == ["point", "x", "metric", "n", "mean", "std", "half_width", "ci_low", "ci_high",
                                     "confidence"]
    first = summary[(summary.x == 1) & (summary.metric == "m")].iloc[0]
    assert first.n == 5 and first["mean"] == 3 and first["std"] == pytest.approx(math.sqrt(2.5))
    assert first.half_width == pytest.approx(2.776445 * math.sqrt(2.5) / math.sqrt(5), rel=1e-6)
    assert (first.ci_low, first.ci_high) == pytest.approx((3 - first.half_width, 3 + first.half_width))
    constant = summary[(summary.x == 2) & (summary.metric == "m")].iloc[0]
    assert (constant["mean"], constant["std"], constant.half_width) == (7, 0, 0)
    nan_left_out = summary[(summary.x == 1) & (summary.metric == "lat")].iloc[0]
    assert nan_left_out.n == 3 and nan_left_out["mean"] == 3
    assert nan_left_out.half_width == pytest.approx(4.302653 * 2 / math.sqrt(3), rel=1e-6)
    single = summarize(runs[runs.replication == 0])
    assert single.half_width.isna().all() and (single.n == 1).all()
    assert "7 ± 0" not in summary_table(summary, ["m"]) and "3.0 ± 2.0" in summary_table(summary, ["m"])


@pytest.mark.parametrize(("p", "df", "expected"), [
    (0.975, 1, 12.7062), (0.975, 2, 4.3027), (0.975, 4, 2.7764), (0.975, 9, 2.2622), (0.975, 30, 2.0423),
    (0.975, 120, 1.9799), (0.975, 1000, 1.9623), (0.95, 5, 2.0150), (0.995, 10, 3.1693), (0.025, 9, -2.2622),
])
def test_t_quantiles_match_the_tables(p, df, expected):
    assert t_quantile(p, df) == pytest.approx(expected, abs=1e-4)


def test_cli_sweep_writes_runs_and_summary_and_resumes(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["sweep", str(tiny), "--grid", "failures.0.end=10m,40m", "--grid", "hosts.mail.a.example.retry=exim",
            "--reps", "2", "--workers", "1", "--until", "2h", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "grid 2 x 1 = 2 points x 2 replications = 4 runs" in printed and "4 runs executed" in printed
    runs, summary = pd.read_csv(out / "runs.csv"), pd.read_csv(out / "summary.csv")
    assert len(runs) == 4 and runs.seed.tolist() == [5000, 5001] * 2 and set(runs["failures.0.end"]) == {"10m", "40m"}
    assert len(summary) == 2 * len(Lab(seed=0).summary()) and (summary.n == 2).all()
    pd.testing.assert_frame_equal(summarize(runs), summary, check_dtype=False)  # runs.csv keeps the layout
    assert main(argv) == 0
    assert "0 runs executed, 4 from the cache" in capsys.readouterr().out


def test_cli_sweep_bad_grid_key_exits_2_with_one_line(tiny, capsys):
    assert main(["sweep", str(tiny), "--grid", "hosts.mx.b.exampel.retry=exim", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--grid hosts.mx.b.exampel.retry: hosts has no key 'mx'" in err
    assert main(["sweep", str(tiny), "--grid", "failures.0.end"]) == 2
    assert main(["sweep", str(tiny), "--grid", "lab.warmup=0", "--grid", "lab.warmup=1m"]) == 2
    assert main(["sweep", str(tiny), "--workers", "1", "--scheduler", "tcp://127.0.0.1:1"]) == 2


def test_plot_sweep_draws_the_interval_as_error_bars(tiny, tmp_path):
    import matplotlib.pyplot as plt
    from matplotlib.image import imread

    runs = maillab.sweep(tiny, GRID, replications=3, scheduler="synchronous")  # the module is callable
    summary = summarize(runs)
    figure = plot_sweep(summary, x="failures.0.end", y="latency_max", hue="hosts.mail.a.example.retry")
    path = tmp_path / "sweep.png"
    figure.savefig(path, dpi=80)
    plt.close(figure)
    assert imread(path).shape[0] > 100
    with pytest.raises(ConfigError, match="hosts.mail.a.example.retry varies too"):
        plot_sweep(summary, x="failures.0.end", y="latency_max")
    with pytest.raises(ConfigError, match="no metric 'speed'"):
        plot_sweep(summary, x="failures.0.end", y="speed", hue="hosts.mail.a.example.retry")


def fails_on_second_replication(lab):
    if lab.seed % 1000 == 1:
        raise RuntimeError("boom")
    return {"bad": [1, 2]} if lab.seed % 1000 == 2 else {"ok": 1}


def test_a_failing_run_stops_the_sweep_and_says_which_run(tiny, tmp_path):
    with pytest.raises(RuntimeError, match="boom") as caught:
        sweep(tiny, {"failures.0.end": ["10m"]}, replications=2, metrics=fails_on_second_replication,
              scheduler="synchronous", cache_dir=tmp_path)
    assert "grid point 0 (failures.0.end='10m'), replication 1 (seed 5001)" in caught.value.__notes__[0]
    assert len(list(tmp_path.glob("*.json"))) == 1  # the run that finished is kept
    with pytest.raises(ConfigError, match=r"replication 2 \(seed 5002\): metric 'bad': \[1, 2\] is not a number"):
        sweep(tiny, {}, replications=3, seed=5, metrics=lambda lab: fails_on_second_replication(lab)
              if lab.seed % 1000 != 1 else {"ok": 1}, scheduler="synchronous")


def test_a_worker_running_other_code_is_refused(tiny):
    from dataclasses import replace

    from maillab.experiments.plan import make_plan
    from maillab.experiments.runner import run_one

    task = make_plan(tiny, {}, 1, None, None, None, None).tasks[0]
    assert run_one(task)["messages"] > 0
    with pytest.raises(ConfigError, match="other maillab code"):
        run_one(replace(task, code="0123456789abcdef"))


def make_tiny_lab(seed, params):
    lab = Lab(seed=seed, transcript_mode="off")
    lab.add_host("out.a.example")
    lab.add_host("mx.b.example")
    lab.add_link("out.a.example", "mx.b.example", latency=0.005)
    lab.add_domain("a.example", mx="out.a.example", users=["alice"])
    lab.add_domain("b.example", mx="mx.b.example", users=["bob"])
    lab.fail("mx.b.example", "refuse", start=0, end=params["outage"])
    lab.send(0, "alice@a.example", "bob@b.example")
    return lab


def test_a_factory_lab_can_be_swept(tmp_path):
    runs = sweep(make_tiny_lab, {"outage": [100, 7500]}, replications=2, metrics=["latency_max"], until=86400,
                 scheduler="synchronous", cache_dir=tmp_path / "cache")
    assert runs.latency_max.tolist()[2:] == pytest.approx([9000.05, 9000.05], abs=0.01)  # Postfix: README
    with pytest.raises(ConfigError, match="must return Lab"):
        sweep(lambda seed, params: make_tiny_lab(1, {"outage": 10}), replications=2, scheduler="synchronous")


def test_public_face_and_light_import():
    import subprocess
    import sys

    assert set(maillab.sweep.__all__) == {"SEED_STRIDE", "plot_sweep", "replication_seed", "summarize",
                                          "summary_table", "sweep", "t_quantile"}
    assert all(hasattr(maillab.sweep, name) for name in maillab.sweep.__all__)
    code = "import sys, maillab.sweep; print(sorted(m for m in ('distributed', 'matplotlib') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
