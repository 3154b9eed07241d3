"""CPython's smtplib (REFERENCE §6) against maillab's realnet smtpd, over loopback."""

from __future__ import annotations

import mailbox
import re
import smtplib
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from realnet_support import DOMAIN, TIMEOUT

SENDER = "sender@elsewhere.example"
RECEIVED = re.compile(
    r"^from (?P<helo>\S+) \(\[127\.0\.0\.1\]\)\s+by example\.test with (?P<proto>E?SMTP) id (?P<id>[0-9A-F]{12});"
    r"\s+(?P<date>.+)$"
)


def connect(server) -> smtplib.SMTP:
    return smtplib.SMTP(server.address.host, server.address.port, timeout=TIMEOUT)


def stored(maildir: Path, user: str) -> list[bytes]:
    box = mailbox.Maildir(maildir / user, create=False)
    return [box.get_bytes(key) for key in sorted(box.keys())]


def body_after_trace(data: bytes) -> bytes:
    """What follows the Return-Path: and (three-line, folded) Received: headers we prepend."""
    lines = data.split(b"\n")
    assert lines[0].startswith(b"Return-Path: <"), lines[0]
    assert lines[1].startswith(b"Received: from "), lines[1]
    assert lines[2].startswith(b"\tby ") and lines[3].startswith(b"\t"), lines[2:4]
    return b"\n".join(lines[4:])


def test_multi_recipient_delivery_to_each_maildir(smtpd, maildir):
    message = b"Subject: to both\r\n\r\nHello both.\r\n"
    with connect(smtpd) as client:
        refused = client.sendmail(SENDER, [f"alice@{DOMAIN}", f"bob@{DOMAIN}"], message)
    assert refused == {}
    for user in ("alice", "bob"):
        (data,) = stored(maildir, user)
        assert body_after_trace(data) == b"Subject: to both\n\nHello both.\n"


def test_leading_dots_survive_dot_stuffing(smtpd, maildir):
    lines = [b"Subject: dots", b"", b".one dot", b"..two dots", b".", b"...", b"last line", b". final dot-space"]
    with connect(smtpd) as client:
        client.sendmail(SENDER, [f"alice@{DOMAIN}"], b"\r\n".join(lines) + b"\r\n")
    (data,) = stored(maildir, "alice")
    assert body_after_trace(data).split(b"\n") == [*lines, b""]


def test_maildir_is_readable_with_mailbox_and_has_trace_headers(smtpd, maildir):
    with connect(smtpd) as client:
        client.ehlo("client.example")
        client.sendmail(SENDER, [f"alice@{DOMAIN}"], b"Subject: trace\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n")
    box = mailbox.Maildir(maildir / "alice", create=False)
    assert len(box) == 1
    message = next(iter(box))
    assert isinstance(message, mailbox.MaildirMessage)
    assert message.get_subdir() == "new"
    assert message["Return-Path"] == f"<{SENDER}>"
    assert message["Subject"] == "trace" and message.get_payload() == "body\n"
    received = message.get_all("Received")
    assert len(received) == 1
    match = RECEIVED.match(" ".join(received[0].split()))
    assert match is not None, received[0]
    assert match["helo"] == "client.example" and match["proto"] == "ESMTP"
    when = parsedate_to_datetime(match["date"])
    assert abs(datetime.now(when.tzinfo) - when) < timedelta(minutes=1)
    assert list(message.keys())[:2] == ["Return-Path", "Received"]  # prepended, in this order


def test_helo_session_is_recorded_as_smtp(smtpd, maildir):
    with connect(smtpd) as client:
        client.helo("old.example")
        client.sendmail(SENDER, [f"alice@{DOMAIN}"], b"Subject: helo\r\n\r\nx\r\n")
    (data,) = stored(maildir, "alice")
    assert b"Received: from old.example ([127.0.0.1])\n\tby example.test with SMTP id " in data


def test_size_is_advertised_and_declared_size_accepted(start_smtpd):
    server = start_smtpd(max_message_size=2000)
    with connect(server) as client:
        code, _ = client.ehlo()
        assert code == 250
        assert client.has_extn("size") and client.esmtp_features["size"] == "2000"
        assert client.has_extn("pipelining")
        code, text = client.mail(SENDER, ["size=1500"])  # smtplib writes: mail FROM:<...> size=1500
        assert (code, text) == (250, b"2.1.0 Ok")


def test_declared_size_over_the_limit_is_refused_552(start_smtpd):
    server = start_smtpd(max_message_size=1000)
    with connect(server) as client, pytest.raises(smtplib.SMTPSenderRefused) as refused:
        client.sendmail(SENDER, [f"alice@{DOMAIN}"], b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 20)
    assert refused.value.smtp_code == 552
    assert refused.value.smtp_error.startswith(b"5.3.4")


def test_undeclared_size_over_the_limit_is_refused_after_the_dot_552(start_smtpd, maildir):
    server = start_smtpd(max_message_size=1000)
    with connect(server) as client:
        client.ehlo()
        assert client.mail(SENDER)[0] == 250  # no SIZE= this time
        assert client.rcpt(f"alice@{DOMAIN}")[0] == 250
        code, text = client.data(b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 20)  # 1456 octets
        assert (code, text[:6]) == (552, b"5.3.4 ")
        assert client.noop()[0] == 250  # the session goes on
    assert not (maildir / "alice").exists()


def test_unknown_user_550_5_1_1(smtpd, maildir):
    with connect(smtpd) as client, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        client.sendmail(SENDER, [f"nobody@{DOMAIN}"], b"Subject: x\r\n\r\nx\r\n")
    code, text = refused.value.recipients[f"nobody@{DOMAIN}"]
    assert code == 550 and text.startswith(b"5.1.1 ")
    assert not maildir.exists() or not any(maildir.iterdir())


def test_some_recipients_refused_the_others_delivered(smtpd, maildir):
    with connect(smtpd) as client:
        refused = client.sendmail(SENDER, [f"nobody@{DOMAIN}", f"bob@{DOMAIN}"], b"Subject: x\r\n\r\nx\r\n")
    assert list(refused) == [f"nobody@{DOMAIN}"] and refused[f"nobody@{DOMAIN}"][0] == 550
    assert len(stored(maildir, "bob")) == 1


def test_other_domain_is_relay_denied_554_5_7_1(smtpd):
    with connect(smtpd) as client, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        client.sendmail(SENDER, ["alice@elsewhere.example"], b"Subject: x\r\n\r\nx\r\n")
    assert refused.value.recipients["alice@elsewhere.example"] == (554, b"5.7.1 Relay access denied")


def test_local_parts_are_case_insensitive_and_one_copy_per_mailbox(smtpd, maildir):
    with connect(smtpd) as client:
        client.sendmail(SENDER, [f"Alice@{DOMAIN.upper()}", f"alice@{DOMAIN}"], b"Subject: x\r\n\r\nx\r\n")
    assert len(stored(maildir, "alice")) == 1


def test_postmaster_always_exists(smtpd, maildir):
    with connect(smtpd) as client:
        client.ehlo()
        client.mail(SENDER)
        assert client.rcpt("Postmaster")[0] == 250  # RFC 5321 §4.5.1: without a domain too
        assert client.rcpt(f"postmaster@{DOMAIN}")[0] == 250
        assert client.data(b"Subject: to the postmaster\r\n\r\nhi\r\n")[0] == 250
    assert len(stored(maildir, "postmaster")) == 1


def test_without_a_user_list_any_safe_local_part_exists(start_smtpd, maildir):
    server = start_smtpd(users=None)
    with connect(server) as client:
        assert client.sendmail(SENDER, [f"anyone.at-all@{DOMAIN}"], b"Subject: x\r\n\r\nx\r\n") == {}
        client.mail(SENDER)
        assert client.rcpt(f'"odd name"@{DOMAIN}')[0] == 550  # no safe folder name for a quoted local-part
        assert client.rcpt("x@elsewhere.example")[0] == 554
    assert len(stored(maildir, "anyone.at-all")) == 1


def test_null_sender_bounce_is_accepted(smtpd, maildir):
    with connect(smtpd) as client:
        assert client.sendmail("<>", [f"alice@{DOMAIN}"], b"Subject: bounce\r\n\r\nx\r\n") == {}
    (data,) = stored(maildir, "alice")
    assert data.startswith(b"Return-Path: <>\n")
