"""Run Debian's nginx, in the foreground and from a temporary prefix, with the shipped
docker/nginx/forward-auth.conf and second-factor.conf included verbatim in a server block whose
ports the test chooses."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.proxy import Proxy
from tests.processes import free_port, listening, running

REPO_ROOT = Path(__file__).resolve().parents[2]
FORWARD_AUTH_CONF = REPO_ROOT / "docker" / "nginx" / "forward-auth.conf"
SECOND_FACTOR_CONF = REPO_ROOT / "docker" / "nginx" / "second-factor.conf"
INSTALL_NGINX = (
    "nginx is not installed; these tests run the real thing. Install Debian's package: "
    "`apt-get install nginx` (`make system-packages` does it when run as root)."
)


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None
    )
    if found is None:
        pytest.fail(INSTALL_NGINX, pytrace=False)
    return found


def wrapper_conf(prefix: Path, port: int, sessionauth_ports: list[int], app_port: int) -> str:
    sessionauth = " ".join(f"server 127.0.0.1:{p};" for p in sessionauth_ports)
    temp_paths = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # Workers run as the master's user; as root nginx would switch them to `nobody`, who cannot
    # reach this private prefix.
    user = "user root;\n" if os.geteuid() == 0 else ""
    # The error log goes to stderr, which the test captures (Proxy.log(), and failure messages).
    return f"""{user}worker_processes 1;
pid {prefix / "nginx.pid"};
error_log stderr info;
events {{ worker_connections 256; }}
http {{
    access_log {prefix / "access.log"};
{temp_paths}
    upstream sessionauth {{ {sessionauth} keepalive 8; }}
    upstream app {{ server 127.0.0.1:{app_port}; keepalive 8; }}
    server {{
        listen 127.0.0.1:{port};
        include {FORWARD_AUTH_CONF};
        include {SECOND_FACTOR_CONF};
    }}
}}
"""


@contextmanager
def nginx_in_front(*, sessionauth_ports: list[int], app_port: int) -> Iterator[Proxy]:
    binary = nginx_binary()
    with tempfile.TemporaryDirectory(prefix="sessionauth-nginx-") as temporary:
        prefix = Path(temporary)
        port = free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(wrapper_conf(prefix, port, sessionauth_ports, app_port))
        # -e stderr: the log nginx writes before it has read the configuration goes there too.
        argv = [binary, "-p", str(prefix), "-c", str(conf), "-e", "stderr", "-g", "daemon off;"]
        with running(argv, name="nginx", ready=listening(port)) as process:
            yield Proxy(process, port, prefix)
