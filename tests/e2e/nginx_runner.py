"""Run Debian's nginx, in the foreground and from a temporary prefix, with the shipped
docker/nginx/forward-auth.conf included verbatim in a server block whose ports the test chooses."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.processes import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
FORWARD_AUTH_CONF = REPO_ROOT / "docker" / "nginx" / "forward-auth.conf"
INSTALL_NGINX = (
    "nginx is not installed; these tests run the real thing. Install Debian's package: "
    "`apt-get install nginx` (`make test` does it when run as root)."
)
START_TIMEOUT = 20  # seconds for nginx to listen


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None
    )
    if found is None:
        pytest.fail(INSTALL_NGINX, pytrace=False)
    return found


class Nginx:
    def __init__(self, process: subprocess.Popen[bytes], port: int, prefix: Path) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.prefix = prefix

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text("utf-8", errors="replace")[-4000:] if path.exists() else ""


def wrapper_conf(prefix: Path, port: int, sessionauth_ports: list[int], app_port: int) -> str:
    sessionauth = " ".join(f"server 127.0.0.1:{p};" for p in sessionauth_ports)
    temp_paths = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # Workers run as the master's user; as root nginx would switch them to `nobody`, who cannot
    # reach this private prefix.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} info;
events {{ worker_connections 256; }}
http {{
    access_log {prefix / "access.log"};
{temp_paths}
    upstream sessionauth {{ {sessionauth} keepalive 8; }}
    upstream app {{ server 127.0.0.1:{app_port}; keepalive 8; }}
    server {{
        listen 127.0.0.1:{port};
        include {FORWARD_AUTH_CONF};
    }}
}}
"""


@contextmanager
def nginx_in_front(*, sessionauth_ports: list[int], app_port: int) -> Iterator[Nginx]:
    binary = nginx_binary()
    prefix = Path(tempfile.mkdtemp(prefix="sessionauth-nginx-"))
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(wrapper_conf(prefix, port, sessionauth_ports, app_port))
    process = subprocess.Popen(
        [
            binary,
            "-p",
            str(prefix),
            "-c",
            str(conf),
            "-e",
            str(prefix / "error.log"),
            "-g",
            "daemon off;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    nginx = Nginx(process, port, prefix)
    try:
        _wait_listening(nginx)
        yield nginx
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if process.stderr is not None:
            process.stderr.close()
        shutil.rmtree(prefix, ignore_errors=True)


def _wait_listening(nginx: Nginx) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if nginx.process.poll() is not None:
            stderr = (
                nginx.process.stderr.read().decode(errors="replace") if nginx.process.stderr else ""
            )
            pytest.fail(
                f"nginx exited {nginx.process.returncode}:\n{stderr}\n{nginx.error_log()}",
                pytrace=False,
            )
        try:
            socket.create_connection(("127.0.0.1", nginx.port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(
        f"nginx did not listen within {START_TIMEOUT} s:\n{nginx.error_log()}", pytrace=False
    )
