"""maillab's client (``send_smtp``) against aiosmtpd 1.4 and against our own smtpd, over loopback."""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import fields

import pytest
from realnet_support import DOMAIN, TIMEOUT

from maillab.realnet import SmtpConnectError, send_smtp
from maillab.smtp import ClientTimeouts, Stage, Status

QUICK = ClientTimeouts(**{f.name: TIMEOUT for f in fields(ClientTimeouts)})
SENDER = "bob@example.org"
DOTTY = b"Subject: dots\r\n\r\n.one dot\r\n..two dots\r\n.\r\n...\r\n\r\nlast\r\n"


def send(host, port, recipients, content=b"Subject: hi\r\n\r\nhello\r\n", **options):
    lines: list[str] = []
    options.setdefault("timeouts", QUICK)
    options.setdefault("connect_timeout", TIMEOUT)
    result = asyncio.run(send_smtp(host, port, SENDER, recipients, content,
                                   transcript=lambda side, line: lines.append(f"{side}: {line.decode()}"),
                                   **options))
    return result, lines


def first_index(lines, prefix):
    return next(i for i, line in enumerate(lines) if line.startswith(prefix))


@pytest.mark.parametrize("pipelining", ["auto", "off"])
def test_content_arrives_byte_for_byte(aiosmtpd, pipelining):
    result, _ = send(aiosmtpd.host, aiosmtpd.port, ["alice@example.test"], DOTTY, pipelining=pipelining)
    assert [r.status for r in result.recipients] == [Status.ACCEPTED]
    (got,) = aiosmtpd.handler.envelopes
    assert got.mail_from == SENDER and got.rcpt_tos == ["alice@example.test"]
    assert got.content == DOTTY  # dot-stuffed by us, un-stuffed by aiosmtpd


def test_lf_content_goes_out_with_crlf(aiosmtpd):
    send(aiosmtpd.host, aiosmtpd.port, ["alice@example.test"], b"Subject: lf\n\n.dot\nbody")
    assert aiosmtpd.handler.envelopes[0].content == b"Subject: lf\r\n\r\n.dot\r\nbody\r\n"


@pytest.mark.parametrize("pipelining", ["auto", "off"])
def test_aiosmtpd_does_not_offer_pipelining_so_we_wait_for_each_reply(aiosmtpd, pipelining):
    result, lines = send(aiosmtpd.host, aiosmtpd.port, ["a@example.test", "b@example.test"], pipelining=pipelining)
    assert not any(line == "S: 250-PIPELINING" for line in lines)
    mail_reply = first_index(lines, "C: MAIL") + 1
    assert lines[mail_reply].startswith("S: 250")  # MAIL's reply came before the first RCPT went out
    assert first_index(lines, "C: RCPT") > mail_reply
    assert lines[0].startswith("S: 220 ") and "Python SMTP 1.4" in lines[0]
    assert "SIZE=" in lines[first_index(lines, "C: MAIL")]  # aiosmtpd advertises SIZE 33554432


def test_multi_recipient_with_one_refused_by_the_handler(aiosmtpd):
    result, _ = send(aiosmtpd.host, aiosmtpd.port, ["a@example.test", "reject@example.test", "c@example.test"])
    by_rcpt = {r.recipient: r for r in result.recipients}
    assert [r.recipient for r in result.recipients] == ["a@example.test", "reject@example.test", "c@example.test"]
    assert by_rcpt["a@example.test"].status is Status.ACCEPTED
    assert by_rcpt["c@example.test"].status is Status.ACCEPTED
    refused = by_rcpt["reject@example.test"]
    assert refused.status is Status.PERMANENT and refused.stage is Stage.RCPT
    assert (refused.reply.code, refused.reply.enhanced) == (550, "5.1.1")
    (got,) = aiosmtpd.handler.envelopes
    assert got.rcpt_tos == ["a@example.test", "c@example.test"]


def test_all_recipients_refused_sends_no_data(aiosmtpd):
    result, lines = send(aiosmtpd.host, aiosmtpd.port, ["reject1@example.test", "reject2@example.test"])
    assert all(r.status is Status.PERMANENT for r in result.recipients)
    assert "C: DATA" not in lines and aiosmtpd.handler.envelopes == []


def test_pipelined_against_our_smtpd_mail_rcpt_data_go_before_any_reply(smtpd, maildir):
    host, port = smtpd.address.host, smtpd.address.port
    result, lines = send(host, port, [f"alice@{DOMAIN}", f"nobody@{DOMAIN}", f"bob@{DOMAIN}"], DOTTY)
    assert "S: 250-PIPELINING" in lines
    mail, data = first_index(lines, "C: MAIL"), first_index(lines, "C: DATA")
    first_mail_reply = first_index(lines, "S: 250 2.1.0")
    assert mail < first_index(lines, "C: RCPT") < data < first_mail_reply  # one group, then the replies
    assert lines[mail:data + 1] == [lines[mail], f"C: RCPT TO:<alice@{DOMAIN}>", f"C: RCPT TO:<nobody@{DOMAIN}>",
                                    f"C: RCPT TO:<bob@{DOMAIN}>", "C: DATA"]
    assert [r.status for r in result.recipients] == [Status.ACCEPTED, Status.PERMANENT, Status.ACCEPTED]
    assert result.recipients[1].reply.enhanced == "5.1.1"


def test_not_pipelined_against_our_smtpd_when_off(smtpd):
    host, port = smtpd.address.host, smtpd.address.port
    result, lines = send(host, port, [f"alice@{DOMAIN}"], pipelining="off")
    assert "S: 250-PIPELINING" in lines
    assert first_index(lines, "S: 250 2.1.0") < first_index(lines, "C: RCPT") < first_index(lines, "S: 250 2.1.5")
    assert result.recipients[0].status is Status.ACCEPTED


def test_connection_refused_raises_a_clear_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(SmtpConnectError, match=rf"could not connect to 127\.0\.0\.1:{port}: connection refused"):
            send("127.0.0.1", port, ["a@example.test"])


class SilentServer:
    """Accepts connections and then says nothing, or only a greeting, or hangs up after greeting."""

    def __init__(self, greeting: bytes = b"", hang_up: bool = False) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.greeting, self.hang_up = greeting, hang_up
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(TIMEOUT)
            conn.sendall(self.greeting)
            if not self.hang_up:
                try:
                    while conn.recv(4096):
                        pass
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()
        self.thread.join(TIMEOUT)


def test_no_greeting_times_out_as_451_4_4_2():
    server = SilentServer()
    try:
        result, _ = send("127.0.0.1", server.port, ["a@example.test"], timeouts=ClientTimeouts(greeting=0.3))
    finally:
        server.close()
    (rcpt,) = result.recipients
    assert rcpt.status is Status.TEMPORARY and rcpt.stage is Stage.GREETING
    assert (rcpt.reply.code, rcpt.reply.enhanced, rcpt.reply.text) == (451, "4.4.2", "Conversation timed out")


def test_server_hanging_up_after_greeting_is_connection_lost():
    server = SilentServer(b"220 hello\r\n", hang_up=True)
    try:
        result, lines = send("127.0.0.1", server.port, ["a@example.test"])
    finally:
        server.close()
    (rcpt,) = result.recipients
    assert rcpt.status is Status.TEMPORARY and rcpt.reply.enhanced == "4.4.2"
    assert lines[:2] == ["S: 220 hello", "C: EHLO localhost"]
