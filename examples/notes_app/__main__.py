"""`python -m examples.notes_app [--host 127.0.0.1] [--port 8001]`."""

import argparse

import uvicorn

parser = argparse.ArgumentParser(prog="python -m examples.notes_app")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8001)
args = parser.parse_args()
# proxy_headers off: uvicorn would otherwise believe X-Forwarded-For from loopback peers, and
# sessionauth's throttles count by client address (TRUSTED_PROXIES says whom to believe).
uvicorn.run(
    "examples.notes_app.app:create_app_from_env",
    factory=True,
    host=args.host,
    port=args.port,
    proxy_headers=False,
)
