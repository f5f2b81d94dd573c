"""A local fake of the Telegram Bot API: records sendMessage calls, serves queued updates,
and answers with scripted statuses (429 with retry_after, 500) when told to."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakeTelegram:
    def __init__(self, token: str) -> None:
        self.token = token
        self.sent: list[dict] = []
        self.script: list[tuple[int, dict]] = []   # responses to use before answering 200
        self.updates: list[dict] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                m = re.match(r"^/bot(?P<token>[^/]+)/(?P<method>\w+)$", self.path)
                if not m or m["token"] != fake.token:
                    return self._reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with fake.lock:
                    if fake.script:
                        status, body = fake.script.pop(0)
                        return self._reply(status, body)
                    fake.sent.append(payload)
                return self._reply(200, {"ok": True, "result": {"message_id": len(fake.sent)}})

            def do_GET(self) -> None:
                url = urlparse(self.path)
                if not url.path.endswith("/getUpdates") or f"/bot{fake.token}/" not in url.path:
                    return self._reply(404, {"ok": False})
                offset = int(parse_qs(url.query).get("offset", ["0"])[0])
                with fake.lock:
                    result = [u for u in fake.updates if u["update_id"] >= offset]
                return self._reply(200, {"ok": True, "result": result})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts(self, chat_id: int | None = None) -> list[str]:
        with self.lock:
            return [m["text"] for m in self.sent if chat_id is None or m["chat_id"] == chat_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
