"""The compose stack's demo application: what any application behind nginx's forward auth sees.

Standard library only, so that a bare python image runs it. It trusts X-Auth-User-Id and
X-Auth-Username because only nginx can reach it (its port is not published): nginx sets both on
every request it lets through and replaces any a client sent.
"""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

PORT = 8080


class DemoApplication(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive with nginx

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        user_id = self.headers.get("x-auth-user-id")
        username = self.headers.get("x-auth-username")
        body = json.dumps(
            {
                "message": "Hello from the demo application",
                "method": self.command,
                "path": self.path,
                "user_id": user_id,
                # percent-encoded UTF-8 on the wire (headers are latin-1): decode before use
                "username": unquote(username) if username is not None else None,
            },
            ensure_ascii=False,
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("cache-control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer


if __name__ == "__main__":
    print(f"demo application listening on :{PORT}", flush=True)
    # Every interface of its container, so nginx's container can reach it; the port is not published.
    ThreadingHTTPServer(("0.0.0.0", PORT), DemoApplication).serve_forever()  # noqa: S104
