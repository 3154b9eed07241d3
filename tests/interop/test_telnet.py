"""The classic lesson: talk SMTP by hand over a raw socket, as with ``telnet 127.0.0.1 2525``."""

from __future__ import annotations

import mailbox
import smtplib
import time

from realnet_support import DOMAIN, TIMEOUT


def test_a_whole_session_by_hand(smtpd, telnet, maildir):
    s = telnet(smtpd.address.host, smtpd.address.port)
    assert s.reply() == [f"220 {DOMAIN} ESMTP maillab"]
    s.send("EHLO me.example")
    assert s.reply() == [f"250-{DOMAIN} greets me.example", "250-PIPELINING", "250-SIZE 10240000", "250-8BITMIME",
                         "250 ENHANCEDSTATUSCODES"]
    assert s.command("MAIL FROM:<me@me.example>") == "250 2.1.0 Ok"
    assert s.command(f"RCPT TO:<alice@{DOMAIN}>") == "250 2.1.5 Ok"
    assert s.command(f"RCPT TO:<carol@{DOMAIN}>").startswith("550 5.1.1 ")
    assert s.command("RCPT TO:<alice@elsewhere.example>") == "554 5.7.1 Relay access denied"
    assert s.command("DATA") == "354 End data with <CR><LF>.<CR><LF>"
    for line in ("Subject: typed by hand", "", "..a line that starts with a dot", "bye"):
        s.send(line)
    final = s.command(".")
    assert final.startswith("250 2.0.0 Ok: queued as ")
    assert s.command("QUIT") == f"221 2.0.0 {DOMAIN} closing connection"
    assert s.at_eof()
    (message,) = mailbox.Maildir(maildir / "alice", create=False)
    assert message.get_payload() == ".a line that starts with a dot\nbye\n"
    assert final.split()[-1] in message["Received"]


def test_sequence_and_syntax_errors(smtpd, telnet):
    s = telnet(smtpd.address.host, smtpd.address.port)
    s.reply()
    assert s.command("MAIL FROM:<me@me.example>").startswith("503 5.5.1")  # no EHLO yet
    assert s.command("HELO me.example") == f"250 {DOMAIN}"
    assert s.command(f"RCPT TO:<alice@{DOMAIN}>") == "503 5.5.1 Error: need MAIL command"
    assert s.command("DATA") == "503 5.5.1 Error: need MAIL command"
    assert s.command("XYZZY").startswith("500 5.5.1")
    assert s.command("NOOP") == "250 2.0.0 Ok"
    assert s.command("MAIL FROM:<me@me.example>") == "250 2.1.0 Ok"
    assert s.command("MAIL FROM:<me@me.example>") == "503 5.5.1 Error: nested MAIL command"
    assert s.command("RSET") == "250 2.0.0 Ok"
    assert s.command("QUIT").startswith("221")


def test_a_pipelined_group_typed_at_once_is_answered_in_order(smtpd, telnet):
    s = telnet(smtpd.address.host, smtpd.address.port)
    s.reply()
    s.command("EHLO me.example")
    s.sock.sendall(f"MAIL FROM:<me@me.example>\r\nRCPT TO:<nobody@{DOMAIN}>\r\nRCPT TO:<bob@{DOMAIN}>\r\nDATA\r\n"
                   .encode())
    replies = [s.reply()[-1] for _ in range(4)]
    assert [r[:3] for r in replies] == ["250", "550", "250", "354"]
    s.sock.sendall(b"Subject: x\r\n\r\nx\r\n.\r\nQUIT\r\n")
    assert s.reply()[-1].startswith("250 2.0.0")
    assert s.reply()[-1].startswith("221")


def test_idle_client_gets_421_and_is_disconnected(start_smtpd, telnet):
    server = start_smtpd(idle_timeout=0.3)
    s = telnet(server.address.host, server.address.port)
    s.reply()
    started = time.monotonic()
    assert s.reply() == [f"421 4.4.2 {DOMAIN} Error: timeout exceeded"]
    assert s.at_eof()
    assert time.monotonic() - started < 5


def test_open_sessions_hear_421_when_the_server_stops(start_smtpd, telnet):
    server = start_smtpd()
    s = telnet(server.address.host, server.address.port)
    s.reply()
    s.command("EHLO me.example")
    server.stop()
    assert s.reply()[-1].startswith("421 4.3.2 ")
    assert s.at_eof()


def test_hanging_up_during_data_delivers_nothing(smtpd, telnet, maildir):
    s = telnet(smtpd.address.host, smtpd.address.port)
    s.reply()
    s.command("EHLO me.example")
    s.command("MAIL FROM:<me@me.example>")
    s.command(f"RCPT TO:<alice@{DOMAIN}>")
    assert s.command("DATA").startswith("354")
    s.send("Subject: cut short")
    s.close()  # RFC 5321 §3.8: no final dot, no delivery
    with smtplib.SMTP(smtpd.address.host, smtpd.address.port, timeout=TIMEOUT) as probe:  # a later session still works, and the first left nothing behind
        assert probe.noop()[0] == 250
    assert not (maildir / "alice").exists()


def test_bare_lf_dot_lf_does_not_end_the_data(smtpd, telnet, maildir):
    """The 'SMTP smuggling' case: only CRLF.CRLF ends the content (RFC 5321 §4.1.1.4)."""
    s = telnet(smtpd.address.host, smtpd.address.port)
    s.reply()
    s.command("EHLO me.example")
    s.command("MAIL FROM:<me@me.example>")
    s.command(f"RCPT TO:<alice@{DOMAIN}>")
    s.command("DATA")
    s.sock.sendall(f"Subject: x\r\n\r\nhello\n.\nMAIL FROM:<evil@x.example>\nRCPT TO:<bob@{DOMAIN}>\r\n.\r\n".encode())
    assert s.reply()[-1].startswith("250 2.0.0")
    assert s.command("QUIT").startswith("221")
    (message,) = mailbox.Maildir(maildir / "alice", create=False)
    assert "MAIL FROM:<evil@x.example>" in message.get_payload()
    assert not (maildir / "bob").exists()
