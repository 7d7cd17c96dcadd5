"""A file server on 127.0.0.1 for download tests: HTTP Range requests (206) like openslr's servers, or, with
``ranges=False``, a server that ignores them (200 with the whole file); ``cut_after`` bytes makes every
response stop there, as a dropped connection does. Runs in a thread of the test process; ``stop()`` ends it."""
import http.server
import threading
from pathlib import Path


class FileServer:
    def __init__(self, root: Path, ranges: bool = True):
        self.root, self.ranges, self.cut_after, self.requests = Path(root), ranges, None, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = server.root / self.path.lstrip("/")
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                if not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                start = int(rng.split("=")[1].split("-")[0]) if rng and server.ranges else 0
                if start >= len(data) and start > 0:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.end_headers()
                    return
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                self.wfile.write(body if server.cut_after is None else body[:server.cut_after])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()
