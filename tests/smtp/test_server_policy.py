"""Policy hooks: the embedding decides greeting, hello, sender, recipient, message and VRFY replies."""

import pytest

from maillab.smtp import Envelope, MessageReceived, Reply, ServerConfig, Session
from maillab.smtp import replies as R

from .helpers import MAIL, RCPT, Server, summary

UNKNOWN = b"RCPT TO:<nobody@example.net>\r\n"
MSG = b"DATA\r\nhello\r\n.\r\n"


class Recording:
    """A full ServerPolicy written from the Protocol (no DefaultPolicy base): records every call."""

    def __init__(self, **replies: Reply) -> None:
        self.replies = replies
        self.calls: list[tuple] = []

    def greeting(self, session: Session) -> Reply:
        self.calls.append(("greeting", session.peer))
        return self.replies.get("greeting", R.ready("mx.example"))

    def hello(self, session: Session, name: str) -> Reply | None:
        self.calls.append(("hello", name))
        return self.replies.get("hello") if name.startswith("bad") else None

    def sender(self, session: Session, envelope: Envelope, address: str, size: int | None) -> Reply:
        self.calls.append(("sender", address, size))
        return self.replies["sender"] if address.startswith("spammer") and "sender" in self.replies else R.SENDER_OK

    def recipient(self, session: Session, envelope: Envelope, address: str) -> Reply:
        self.calls.append(("recipient", address, tuple(envelope.recipients)))
        return R.NO_SUCH_USER if address.startswith("nobody") else R.RECIPIENT_OK

    def message(self, session: Session, envelope: Envelope) -> Reply:
        self.calls.append(("message", envelope.sender, tuple(envelope.recipients), envelope.content,
                           session.transactions))
        return self.replies.get("message", R.QUEUED)

    def verify(self, session: Session, address: str) -> Reply:
        self.calls.append(("verify", address))
        return Reply(250, "2.1.5", f"<{address}@example.net>") if address == "bob" else Reply(550, "5.1.1", "no")


def test_policy_sees_every_decision_in_order():
    policy = Recording()
    server = Server(policy=policy)
    server.send(b"MAIL FROM:<alice@example.org> SIZE=6\r\n" + RCPT + UNKNOWN + b"RCPT TO:<c@example.net>\r\n" + MSG)
    assert policy.calls == [
        ("greeting", "unknown"),
        ("hello", "client.example"),
        ("sender", "alice@example.org", 6),
        ("recipient", "bob@example.net", ()),
        ("recipient", "nobody@example.net", ("bob@example.net",)),
        ("recipient", "c@example.net", ("bob@example.net",)),
        ("message", "alice@example.org", ("bob@example.net", "c@example.net"), b"hello\r\n", 0),
    ]


def test_recipient_rejected_by_policy():
    server = Server(policy=Recording())
    out = server.send(MAIL + UNKNOWN + RCPT + MSG)
    assert summary(out) == ["250 2.1.0", "550 5.1.1", "250 2.1.5", "354", "250 2.0.0"]
    assert b"550 5.1.1 Recipient address rejected: User unknown in local recipient table\r\n" in out
    assert server.accepted_messages[0].recipients == ("bob@example.net",)


def test_all_recipients_rejected_then_data_gets_554():
    """§4.1.1.4 allows 503 or 554 here; after RCPTs were tried and all refused this engine says 554 5.5.1."""
    server = Server(policy=Recording())
    out = server.send(MAIL + UNKNOWN + UNKNOWN + b"DATA\r\n")
    assert summary(out) == ["250 2.1.0", "550 5.1.1", "550 5.1.1", "554 5.5.1"]
    assert out.endswith(b"554 5.5.1 Error: no valid recipients\r\n")
    assert server.messages == []
    assert server.conn.envelope.rejected == 2


def test_sender_rejected_by_policy_leaves_no_transaction():
    policy = Recording(sender=Reply(550, "5.7.1", "Sender rejected"))
    server = Server(policy=policy)
    out = server.send(b"MAIL FROM:<spammer@example.org>\r\n" + RCPT + MAIL)
    assert summary(out) == ["550 5.7.1", "503 5.5.1", "250 2.1.0"]


def test_temporary_sender_refusal():
    server = Server(policy=Recording(sender=R.INSUFFICIENT_STORAGE))
    assert summary(server.send(b"MAIL FROM:<spammer@example.org> SIZE=10\r\n")) == ["452 4.3.1"]


@pytest.mark.parametrize("reply", [R.INSUFFICIENT_STORAGE, R.LOCAL_ERROR, R.TOO_MANY_HOPS, R.QUOTA_EXCEEDED],
                         ids=str)
def test_message_refused_by_policy(reply):
    server = Server(policy=Recording(message=reply))
    out = server.send(MAIL + RCPT + MSG)
    assert summary(out)[-1] == f"{reply.code} {reply.enhanced}"
    [message] = server.messages
    assert message == MessageReceived("alice@example.org", ("bob@example.net",), b"hello\r\n", reply)
    assert not message.accepted and server.accepted_messages == []
    assert summary(server.send(RCPT)) == ["503 5.5.1"]  # the transaction is over either way


def test_policy_greeting_554():
    policy = Recording(greeting=R.no_service("mx.example"))
    server = Server(policy=policy, hello=None)
    assert summary(server.greeting) == ["554 5.3.2"]
    assert summary(server.send(b"EHLO c.example\r\nQUIT\r\n")) == ["503 5.5.1", "221 2.0.0"]
    assert [c[0] for c in policy.calls] == ["greeting"]  # no hello hook in the no-service state


def test_policy_refuses_hello():
    server = Server(policy=Recording(hello=Reply(550, "5.7.1", "Go away")), hello=None)
    out = server.send(b"EHLO bad.example\r\n" + MAIL + b"EHLO good.example\r\n" + MAIL)
    assert summary(out) == ["550 5.7.1", "503 5.5.1", "250", "250 2.1.0"]
    assert server.conn.session.helo == "good.example"


def test_refused_hello_keeps_the_transaction():
    server = Server(policy=Recording(hello=Reply(550, "5.7.1", "Go away")))
    out = server.send(MAIL + RCPT + b"EHLO bad.example\r\nDATA\r\n")
    assert summary(out) == ["250 2.1.0", "250 2.1.5", "550 5.7.1", "354"]


def test_policy_verify():
    server = Server(policy=Recording())
    assert server.send(b"VRFY bob\r\nVRFY eve\r\n") == b"250 2.1.5 <bob@example.net>\r\n550 5.1.1 no\r\n"


def test_session_counts_transactions_and_errors():
    policy = Recording()
    server = Server(policy=policy)
    server.send(MAIL + RCPT + MSG + MAIL + RCPT + MSG + b"FOO\r\n")
    assert [c[-1] for c in policy.calls if c[0] == "message"] == [0, 1]
    assert server.conn.session.transactions == 2 and server.conn.session.errors == 1


def test_policy_reply_without_enhanced_code_is_sent_as_is():
    server = Server(policy=Recording(message=Reply(250, None, "thanks")))
    assert server.send(MAIL + RCPT + MSG).endswith(b"354 End data with <CR><LF>.<CR><LF>\r\n250 thanks\r\n")


def test_policy_replies_count_toward_the_error_limit():
    server = Server(ServerConfig(hard_error_limit=2), policy=Recording())
    assert summary(server.send(MAIL + UNKNOWN + UNKNOWN + RCPT)) == ["250 2.1.0", "550 5.1.1", "550 5.1.1",
                                                                     "421 4.7.0"]


def test_a_policy_can_refuse_ehlo_only_and_the_client_falls_back_to_helo():
    from maillab.smtp import ClientConfig, ConnectionPair, DefaultPolicy, Transaction
    from maillab.smtp import replies as R

    class OldServer(DefaultPolicy):
        def hello(self, session, name):
            return R.UNRECOGNIZED if session.hello_verb == "EHLO" else None

    pair = ConnectionPair.build([Transaction("a@b.example", ("c@d.example",), b"hi\r\n")],
                                ClientConfig("b.example"), policy=OldServer()).run()
    lines = [line for side, line in pair.transcript if side == "C"]
    assert lines[:2] == [b"EHLO b.example", b"HELO b.example"]
    assert len(pair.messages) == 1 and pair.server.session.esmtp is False
