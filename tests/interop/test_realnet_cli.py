"""The ``maillab send`` and ``maillab smtpd`` command lines: output, exit codes, and the real process."""

from __future__ import annotations

import io
import os
import re
import selectors
import signal
import smtplib
import socket
import subprocess
import sys
from email import message_from_bytes
from pathlib import Path

import pytest
from realnet_support import DOMAIN, TIMEOUT

from maillab.cli import EXIT_INTERNAL, EXIT_OK, EXIT_UNDELIVERED, EXIT_USAGE, TranscriptPrinter, main

RESULT_LINE = re.compile(r"^(accepted|temporary|permanent) +(\S+)  (\d{3}) (\d\.\d{1,3}\.\d{1,3} )?.*$")


@pytest.fixture
def message_file(tmp_path: Path) -> Path:
    path = tmp_path / "message.eml"
    path.write_bytes(b"Subject: from the cli\n\n.a dotted line\nbody\n")
    return path


def send_args(port: int, *extra: str) -> list[str]:
    return ["send", "--server", f"127.0.0.1:{port}", "--from", "bob@example.org", "--timeout", str(TIMEOUT), *extra]


def test_send_prints_one_line_per_recipient_and_exits_0(aiosmtpd, message_file, capsys):
    code = main(send_args(aiosmtpd.port, "--to", "a@example.test", "--to", "b@example.test", str(message_file)))
    out, err = capsys.readouterr()
    assert code == EXIT_OK, err
    assert out.splitlines() == [
        "accepted   a@example.test  250 Message accepted for delivery",
        "accepted   b@example.test  250 Message accepted for delivery",
    ]
    assert all(RESULT_LINE.match(line) for line in out.splitlines())
    (got,) = aiosmtpd.handler.envelopes
    assert got.content == b"Subject: from the cli\r\n\r\n.a dotted line\r\nbody\r\n"


def test_send_with_a_refused_recipient_exits_3(aiosmtpd, message_file, capsys):
    code = main(send_args(aiosmtpd.port, "--to", "a@example.test", "--to", "reject@example.test", str(message_file)))
    out, _ = capsys.readouterr()
    assert code == EXIT_UNDELIVERED
    lines = out.splitlines()
    assert lines[0].startswith("accepted   a@example.test  250 ")
    assert lines[1] == ("permanent  reject@example.test  550 5.1.1 <reject@example.test>: "
                        "Recipient address rejected: User unknown")


def test_send_to_our_smtpd_shows_enhanced_codes(smtpd, message_file, capsys):
    port = smtpd.address.port
    code = main(send_args(port, "--to", f"alice@{DOMAIN}", "--to", "x@elsewhere.example", str(message_file)))
    out, _ = capsys.readouterr()
    assert code == EXIT_UNDELIVERED
    accepted, refused = out.splitlines()
    assert re.match(rf"^accepted   alice@{DOMAIN}  250 2\.0\.0 Ok: queued as [0-9A-F]{{12}}$", accepted)
    assert refused == "permanent  x@elsewhere.example  554 5.7.1 Relay access denied"


def test_send_transcript_shows_the_dialogue_and_elides_long_content(smtpd, tmp_path, capsys):
    path = tmp_path / "long.eml"
    path.write_text("Subject: long\n\n" + "".join(f"line {i}\n" for i in range(50)))
    code = main(send_args(smtpd.address.port, "--to", f"alice@{DOMAIN}", "--transcript", "--transcript-lines", "5",
                          str(path)))
    out, _ = capsys.readouterr()
    assert code == EXIT_OK
    lines = out.splitlines()
    assert lines[0] == f"S: 220 {DOMAIN} ESMTP maillab"
    assert lines[1] == "C: EHLO localhost"
    assert "C: Subject: long" in lines and "C: line 2" in lines and "C: line 3" not in lines
    assert "C: [... 47 more message lines not shown; see --transcript-lines]" in lines
    dot = lines.index("C: .")
    assert lines[dot + 1].startswith("S: 250 2.0.0 Ok: queued as ")
    assert lines[-3:-1] == ["C: QUIT", f"S: 221 2.0.0 {DOMAIN} closing connection"]
    assert lines[-1].startswith(f"accepted   alice@{DOMAIN}  250 2.0.0")


def test_send_from_stdin_without_headers_adds_them(aiosmtpd, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"Hello Alice,\n.see you\n")))
    code = main(send_args(aiosmtpd.port, "--to", "alice@example.test", "--to", "carol@example.test",
                          "--subject", "greetings", "-"))
    assert code == EXIT_OK, capsys.readouterr().err
    message = message_from_bytes(aiosmtpd.handler.envelopes[0].content)
    assert message["From"] == "bob@example.org"
    assert message["To"] == "alice@example.test, carol@example.test"
    assert message["Subject"] == "greetings"
    assert message["Date"] and re.match(r"^<.+@example\.org>$", message["Message-ID"])
    assert message.get_payload() == "Hello Alice,\r\n.see you\r\n"


def test_send_connection_refused_exits_3_with_a_clear_message(capsys, message_file):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        code = main(send_args(port, "--to", "a@example.test", str(message_file)))
    out, err = capsys.readouterr()
    assert code == EXIT_UNDELIVERED and out == ""
    assert err == f"maillab send: could not connect to 127.0.0.1:{port}: connection refused; nothing was sent\n"


@pytest.mark.parametrize(("args", "expected"), [
    (["--to", "not-an-address"], "--to 'not-an-address': not a mail address"),
    (["--server", "127.0.0.1:99999", "--to", "a@example.test"], "port 99999 is out of range"),
    (["--to", "a@example.test", "--pipelining", "maybe"], "argument --pipelining: invalid choice"),
    (["--to", "a@example.test", "--timeout", "-1"], "must be greater than 0"),
])
def test_send_bad_input_exits_2_with_one_line(args, expected, capsys, message_file):
    code = main(["send", "--from", "bob@example.org", *args, str(message_file)])
    _, err = capsys.readouterr()
    assert code == EXIT_USAGE
    assert err.count("\n") == 1 and err.startswith("maillab send: error: ") and expected in err, err


def test_send_unreadable_file_exits_2(capsys, tmp_path):
    code = main(["send", "--from", "bob@example.org", "--to", "a@example.test", str(tmp_path / "missing.eml")])
    _, err = capsys.readouterr()
    assert code == EXIT_USAGE
    assert err == f"maillab send: error: cannot read message file '{tmp_path / 'missing.eml'}': no such file or directory\n"


def test_internal_error_exits_1_with_a_hint_and_no_traceback(monkeypatch, capsys, message_file):
    async def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("maillab.realnet.send_smtp", broken)
    code = main(["send", "--from", "bob@example.org", "--to", "a@example.test", str(message_file)])
    _, err = capsys.readouterr()
    assert code == EXIT_INTERNAL
    assert err == "maillab send: internal error: RuntimeError: boom; rerun with --debug for the traceback\n"
    code = main(["send", "--debug", "--from", "bob@example.org", "--to", "a@example.test", str(message_file)])
    _, err = capsys.readouterr()
    assert code == EXIT_INTERNAL and "Traceback (most recent call last)" in err and "RuntimeError: boom" in err


@pytest.mark.parametrize(("listen", "expected"), [
    ("bad", "argument --listen: address 'bad': no port"),
    ("127.0.0.1", "no port"),
    ("127.0.0.1:", "no port"),
    ("127.0.0.1:65536", "port 65536 is out of range 0-65535"),
    ("127.0.0.1:http", "port 'http' is not a number"),
])
def test_smtpd_bad_listen_exits_2(listen, expected, capsys, tmp_path):
    code = main(["smtpd", "--listen", listen, "--domain", DOMAIN, "--maildir", str(tmp_path)])
    _, err = capsys.readouterr()
    assert code == EXIT_USAGE
    assert err.count("\n") == 1 and err.startswith("maillab smtpd: error: ") and expected in err, err


def test_smtpd_address_in_use_exits_2(capsys, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        code = main(["smtpd", "--listen", f"127.0.0.1:{port}", "--domain", DOMAIN, "--maildir", str(tmp_path)])
    _, err = capsys.readouterr()
    assert code == EXIT_USAGE
    assert err.splitlines()[-1] == f"maillab smtpd: error: cannot listen on 127.0.0.1:{port}: address already in use"


@pytest.mark.parametrize(("args", "expected"), [
    (["--domain", "not a domain"], "domain 'not a domain' is not a valid domain name"),
    (["--domain", DOMAIN, "--user", "../etc"], "user '../etc' is not a usable local-part"),
])
def test_smtpd_bad_domain_or_user_exits_2(args, expected, capsys, tmp_path):
    code = main(["smtpd", "--listen", "127.0.0.1:0", "--maildir", str(tmp_path), *args])
    _, err = capsys.readouterr()
    assert code == EXIT_USAGE and expected in err.splitlines()[-1]


def test_no_command_and_help():
    assert main([]) == EXIT_USAGE
    assert main(["--help"]) == EXIT_OK
    assert main(["send", "--help"]) == EXIT_OK


def test_transcript_printer_elides_only_message_content():
    shown: list[str] = []
    printer = TranscriptPrinter(limit=1, out=shown.append)
    for side, line in [("C", b"DATA"), ("S", b"354 go"), ("C", b"a"), ("C", b"b"), ("C", b"c"), ("C", b"."),
                       ("S", b"250 ok"), ("C", b"QUIT")]:
        printer(side, line)
    assert shown == ["C: DATA", "S: 354 go", "C: a", "C: [... 2 more message lines not shown; see --transcript-lines]",
                     "C: .", "S: 250 ok", "C: QUIT"]


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise TimeoutError("no output from maillab smtpd")
    return proc.stdout.readline()


def test_smtpd_process_serves_and_exits_0_on_ctrl_c(tmp_path):
    maildir = tmp_path / "mail"
    proc = subprocess.Popen(
        [sys.executable, "-m", "maillab", "smtpd", "--listen", "127.0.0.1:0", "--domain", DOMAIN, "--user", "alice",
         "--maildir", str(maildir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    try:
        line = read_line(proc, TIMEOUT)
        match = re.match(r"^maillab smtpd: listening on 127\.0\.0\.1:(\d+) for @example\.test \(alice\), "
                         r"mail in .+; try: telnet 127\.0\.0\.1 (\d+)", line)
        assert match and match[1] == match[2], line
        with smtplib.SMTP("127.0.0.1", int(match[1]), timeout=TIMEOUT) as client:
            assert client.sendmail("bob@example.org", [f"alice@{DOMAIN}"], b"Subject: x\r\n\r\nx\r\n") == {}
        idle = socket.create_connection(("127.0.0.1", int(match[1])), timeout=TIMEOUT)  # still open at Ctrl-C
        assert idle.recv(100).startswith(b"220 ")
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)  # impatient users press twice
        assert idle.recv(200).startswith(b"421 4.3.2 ")
        idle.close()
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "delivered to alice" in err and err.rstrip().endswith("maillab smtpd: stopped")
    assert len(os.listdir(maildir / "alice" / "new")) == 1
