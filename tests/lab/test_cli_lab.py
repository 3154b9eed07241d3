"""The lab command line end to end: run, validate, list, schema, transcript; exit codes; determinism."""

from __future__ import annotations

import json

import jsonschema

from maillab.cli import main
from tests.lab.test_loader import BASE, write


def test_run_writes_every_output_and_same_seed_gives_identical_csvs(tmp_path, capsys):
    path = write(tmp_path, BASE)
    outputs = []
    for name in ("one", "two"):
        out = tmp_path / name
        assert main(["run", str(path), "--out", str(out), "--plots", "--quiet"]) == 0
        outputs.append(out)
    printed = capsys.readouterr().out
    assert "Two hosts and a link." in printed and "latency p50" in printed
    for table in ("messages", "attempts", "transcript", "queue", "sessions", "connections", "failures"):
        first, second = ((out / f"{table}.csv").read_bytes() for out in outputs)
        assert first == second and first, table
    for name in ("summary.json", "latency_cdf.png", "retry_timeline.png", "queue_length.png"):
        assert (outputs[0] / name).stat().st_size > 0
    assert (outputs[0] / "maildir" / "mx.b.example" / "bob@b.example" / "new").is_dir()


def test_set_and_seed_reach_the_model(tmp_path):
    path = write(tmp_path, BASE)
    out = tmp_path / "out"
    assert main(["run", str(path), "--quiet", "--out", str(out), "--seed", "9",
                 "--set", "workloads.0.messages.0.to=nobody@b.example"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 9 and summary["bounced"] == 1


def test_bad_input_exits_2_with_one_located_line(tmp_path, capsys):
    path = write(tmp_path, BASE.replace("latency: 5ms", "latency: soon"))
    assert main(["run", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "lab.yaml:7: links.0.latency" in err and "Traceback" not in err
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2
    assert main(["run", str(write(tmp_path, BASE, "ok.yaml")), "--set", "oops"]) == 2
    assert main(["run", str(write(tmp_path, BASE, "ok2.yaml")), "--until", "soon"]) == 2


def test_validate_and_schema(tmp_path, capsys):
    assert main(["validate", str(write(tmp_path, BASE))]) == 0
    assert "ok: 2 hosts, 1 links, 2 domains" in capsys.readouterr().out
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False


def test_transcript_prints_the_dialogue_of_a_message(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(write(tmp_path, BASE)), "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    message_id = (out / "messages.csv").read_text().splitlines()[1].split(",")[1]
    assert main(["transcript", str(out), "--message", message_id]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "--- connection c1"
    said = [line.split("] ", 1)[1] for line in lines[1:]]
    assert said[0].startswith("S: 220 ") and said[1].startswith("C: EHLO ") and said[-1].startswith("S: 221 ")
    assert main(["transcript", str(out), "--connection", "c99"]) == 2
    assert main(["transcript", str(tmp_path)]) == 2
