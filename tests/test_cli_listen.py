"""`mitmllm run` and `mitmllm web` when the listen address is wrong or taken
(docs/architecture.md#command-line): one line that names the option to change and the exit
code (2 for a malformed option, 1 for a port someone else holds), never a traceback or
mitmproxy's own advice (`--set web_port=...`, `--mode ...`).

Every test here ends before mitmproxy serves anything: the processes exit by themselves.
"""

from __future__ import annotations

import errno
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support.cli import Cli, Result
from support.proxy import free_port

from mitmllm.cli.listen import bind_problem

QUIET_CONFIG = "local:\n  enabled: false\n"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    cli = Cli(tmp_path)
    cli.write(QUIET_CONFIG)
    return cli


@contextmanager
def taken_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A port another program listens on, bound as servers bind (SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def no_mitmproxy_advice(result: Result) -> None:
    for advice in ("--set", "--mode", "web_port", "connection_strategy", "Traceback"):
        assert advice not in result.stderr, result.stderr


@pytest.mark.parametrize(("command", "value"), [
    ("run", "99999"), ("run", "0"), ("run", "-1"), ("run", "abc"), ("web", "65536")])
def test_a_port_out_of_range_is_one_line_naming_the_option(cli: Cli, command: str,
                                                            value: str) -> None:
    result = cli(command, f"--port={value}")
    result.one_line_error(f"argument --port: expected a port number from 1 to 65535, got "
                          f"'{value}'", code=2)
    assert result.stdout == ""


@pytest.mark.parametrize("value", ["99999", "x"])
def test_a_web_port_out_of_range_is_one_line_naming_the_option(cli: Cli, value: str) -> None:
    cli("web", f"--web-port={value}").one_line_error(
        f"argument --web-port: expected a port number from 1 to 65535, got '{value}'", code=2)


def test_a_busy_port_is_one_line_naming_port_and_the_config_field(cli: Cli) -> None:
    with taken_port() as port:
        result = cli("run", "--port", str(port))
    line = result.one_line_error(code=1)
    assert line == (f"mitmllm: 127.0.0.1:{port} is already in use (another mitmllm?); choose "
                    f"another port with --port N or listen.port in {cli.config}")
    no_mitmproxy_advice(result)


def test_a_busy_port_from_the_config_file_is_reported_the_same_way(cli: Cli) -> None:
    with taken_port() as port:
        cli.write(f"listen:\n  port: {port}\n{QUIET_CONFIG}")
        for command in (["run"], ["web", "--web-port", str(free_port())]):
            result = cli(*command)
            result.one_line_error(f"127.0.0.1:{port} is already in use", "listen.port", code=1)
            no_mitmproxy_advice(result)


def test_the_first_run_on_a_busy_port_creates_no_config_and_says_one_line(cli: Cli) -> None:
    cli.config.unlink()
    with taken_port() as port:
        result = cli("run", "--port", str(port))
    result.one_line_error("is already in use", code=1)
    assert not cli.config.exists()


def test_a_busy_web_port_names_web_port(cli: Cli) -> None:
    with taken_port() as web_port:
        result = cli("web", "--port", str(free_port()), "--web-port", str(web_port))
    line = result.one_line_error(code=1)
    assert line == (f"mitmllm: 127.0.0.1:{web_port} (mitmweb) is already in use (another "
                    f"mitmllm web?); choose another port with --web-port N")
    no_mitmproxy_advice(result)


def test_the_same_port_for_proxy_and_mitmweb_is_refused(cli: Cli) -> None:
    port = str(free_port())
    cli("web", "--port", port, "--web-port", port).one_line_error(
        f"--web-port {port} is the listen port too", code=2)


@pytest.mark.parametrize(("value", "hint"), [
    ("http://127.0.0.1:8080/v1", "; use --host 127.0.0.1 --port 8080"),
    ("0.0.0.0:8080", "; use --host 0.0.0.0 --port 8080"),
    ("local host", ""),
])
def test_a_url_as_listen_host_is_one_line_with_the_options_to_use(cli: Cli, value: str,
                                                                   hint: str) -> None:
    line = cli("run", "--host", value).one_line_error(code=2)
    assert line == (f"mitmllm: --host expects a host name or address to listen on, such as "
                    f"127.0.0.1 or 0.0.0.0, got {value!r}{hint}")


def test_a_url_in_listen_host_of_the_file_is_refused_with_the_fields_to_write(cli: Cli) -> None:
    cli.write("listen:\n  host: http://127.0.0.1:8080\n")
    cli("run").one_line_error(
        f"{cli.config}: field 'listen.host': expected an address such as 127.0.0.1, got "
        "'http://127.0.0.1:8080'; write host: 127.0.0.1, port: 8080", code=2)


# --- when mitmproxy meets the busy port itself ----------------------------------------------
# The CLI checks the ports before mitmproxy starts; a port taken in between is mitmproxy's
# own failure. These run the CLI with that check switched off, as if the port had been free.

UNCHECKED = """
import sys
import mitmllm.cli.listen as listen
real = listen.bind_problem
def bind_problem(host, port):  # free for the CLI's check, the truth for anyone else
    return None if sys._getframe(1).f_globals["__name__"] == "mitmllm.cli.run" else real(host, port)
listen.bind_problem = bind_problem
from mitmllm.cli import main
sys.exit(main())
"""


def unchecked(cli: Cli, *args: str) -> Result:
    done = subprocess.run([sys.executable, "-c", UNCHECKED, *args, "--config", str(cli.config)],
                          capture_output=True, text=True, env=cli.environment(None),
                          cwd=cli.root, timeout=60, check=False)
    return Result(args, done.returncode, done.stdout, done.stderr)


def test_mitmproxys_own_busy_port_failure_ends_in_the_same_line(cli: Cli) -> None:
    with taken_port() as port:
        result = unchecked(cli, "run", "--port", str(port))
    assert result.returncode == 1, result
    assert result.stderr.splitlines()[-1] == (
        f"mitmllm: 127.0.0.1:{port} is already in use (another mitmllm?); choose another port "
        f"with --port N or listen.port in {cli.config}")
    no_mitmproxy_advice(result)


def test_mitmwebs_own_busy_port_failure_ends_in_the_same_line(cli: Cli) -> None:
    with taken_port() as web_port:
        result = unchecked(cli, "web", "--port", str(free_port()), "--web-port", str(web_port))
    assert result.returncode == 1, result
    assert result.stderr.splitlines()[-1] == (
        f"mitmllm: 127.0.0.1:{web_port} (mitmweb) is already in use (another mitmllm web?); "
        "choose another port with --web-port N")
    no_mitmproxy_advice(result)


# --- the trial bind ------------------------------------------------------------------------


def test_bind_problem_sees_a_listening_port_and_not_a_free_one() -> None:
    with taken_port() as port:
        problem = bind_problem("127.0.0.1", port)
        assert problem is not None and problem.errno == errno.EADDRINUSE
    assert bind_problem("127.0.0.1", port) is None
    assert bind_problem("localhost", free_port()) is None  # IPv4 and, where there is one, ::1


def test_bind_problem_names_an_address_the_machine_lacks() -> None:
    problem = bind_problem("192.0.2.1", free_port())  # TEST-NET-1: never a local address
    assert problem is not None and problem.errno == errno.EADDRNOTAVAIL
    unknown = bind_problem("no-such-host.invalid", free_port())
    assert unknown is not None and unknown.errno == errno.EADDRNOTAVAIL
