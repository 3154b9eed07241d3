"""maillab.smtp is the foundation: standard library only, importable without SimPy, asyncio, sockets or pandas
(DESIGN: "smtp must stay importable without the rest"), and its public surface is curated (httpx style)."""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import maillab.smtp

FORBIDDEN = ("simpy", "asyncio", "socket", "pandas", "matplotlib")
SMTP_DIR = Path(maillab.smtp.__file__).parent
SOURCES = sorted(SMTP_DIR.glob("*.py"))

EXERCISE = """
import maillab.smtp as smtp
t = smtp.Transaction("a@example.org", ("b@example.net",), b"..x\\r\\n")
pair = smtp.ConnectionPair.build([t]).run()
assert pair.messages[0].content == b"..x\\r\\n", pair.dialogue()
"""


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=60, check=False)


def test_imports_and_runs_with_the_heavy_modules_blocked():
    blocked = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in FORBIDDEN)
    result = run_python(blocked + EXERCISE)
    assert result.returncode == 0, result.stderr


def test_leaves_the_heavy_modules_unimported():
    check = f"""
import sys
before = {{name for name in {FORBIDDEN!r} if name in sys.modules}}
{EXERCISE}
after = {{name for name in {FORBIDDEN!r} if name in sys.modules}}
import logging
assert not logging.getLogger().handlers, "importing the engine must not configure logging"
print(sorted(after - before))
"""
    result = run_python(check)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_sources_were_found():
    assert {p.name for p in SOURCES} >= {"__init__.py", "client.py", "server.py", "replies.py", "commands.py",
                                          "reader.py", "policy.py", "pair.py"}


def imported_modules(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            found.append((str(node.args[0].value), node.lineno))
    return found


@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_source_imports_only_the_standard_library_and_its_own_layer(path):
    for module, line in imported_modules(path):
        top = module.split(".")[0]
        assert top not in FORBIDDEN, f"{path.name}:{line} imports {module}"
        if top == "maillab":
            assert module.startswith("maillab.smtp") or module == "maillab.errors", f"{path.name}:{line}: {module}"
        else:
            assert top in sys.stdlib_module_names or top == "__future__", f"{path.name}:{line}: {module}"


def test_errors_module_is_standard_library_only():
    errors = SMTP_DIR.parent / "errors.py"
    assert all(m.split(".")[0] in sys.stdlib_module_names | {"__future__"} for m, _ in imported_modules(errors))


# --- the public surface ------------------------------------------------------------------------------------

PUBLIC = {
    "NEED_DATA", "SEQUENCE_ERRORS", "ClientConfig", "ClientConnection", "ClientTimeouts", "Closed", "Command",
    "ConnectionPair", "Data", "DefaultPolicy", "Ehlo", "Envelope", "Greeted", "Helo", "Help",
    "LocalProtocolError", "Mail", "MessageReceived", "Noop", "ProtocolError", "Quit", "Rcpt",
    "RecipientResult", "RemoteProtocolError", "Replied", "Reply", "ReplyClass", "ReplyParser", "Rset",
    "ServerConfig", "ServerConnection", "ServerPolicy", "ServerReplied", "ServerState", "Session",
    "SessionDone", "Stage", "Status", "Transaction", "TransactionDone", "TransactionResult", "Vrfy",
    "command_line", "is_mailbox", "parse_command", "replies", "stuff", "unstuff",
}


def test_public_api_is_exactly_all():
    """A guard: adding or removing a public name is a decision, so it has to be made here too."""
    assert set(maillab.smtp.__all__) == PUBLIC
    assert len(maillab.smtp.__all__) == len(PUBLIC)
    for name in PUBLIC:
        assert getattr(maillab.smtp, name) is not None


def test_star_import_gives_all():
    namespace: dict = {}
    exec("from maillab.smtp import *", namespace)
    assert set(namespace) - {"__builtins__"} == PUBLIC
