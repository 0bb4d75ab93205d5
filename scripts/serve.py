#!/usr/bin/env python3
"""A loopback HTTP server for tasker's demo and tests.

    serve.py DIRECTORY [--port N]

Serves the files of DIRECTORY on 127.0.0.1 and prints "PORT <n>" on its first line of stdout
once it listens (--port 0, the default, picks a free port). Besides plain files it has routes
that misbehave on purpose, for tests of tasker's download errors:

    /status/<code>            answers with that HTTP status and a short body
    /redirect/<n>/<file>      redirects n times, then serves <file>
    /truncate/<file>          announces the full length, sends half, closes the connection
    /stall/<file>             sends the headers and 1 KiB, then sends nothing more

Plain files carry Last-Modified and answer If-Modified-Since with 304 (http.server does).
"""
import argparse
import http.server
import os
import socketserver
import sys
import threading
import time


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    def log_request(self, code="-", size="-"):
        if self.server.log:
            with open(self.server.log, "a") as log:
                log.write(f"{code} {getattr(self, 'path', '-')}\n")

    def _file(self, name):
        path = os.path.join(self.server.directory, name.lstrip("/"))
        with open(path, "rb") as f:
            return f.read()

    def do_GET(self):
        parts = self.path.split("/", 3)
        try:
            if len(parts) >= 3 and parts[1] == "status":
                code = int(parts[2])
                body = f"status {code}\n".encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif len(parts) >= 4 and parts[1] == "redirect":
                count = int(parts[2])
                target = f"/redirect/{count - 1}/{parts[3]}" if count > 1 else "/" + parts[3]
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif len(parts) >= 3 and parts[1] == "truncate":
                data = self._file("/".join(parts[2:]))
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
            elif len(parts) >= 3 and parts[1] == "stall":
                data = self._file("/".join(parts[2:]))
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[:1024])
                self.wfile.flush()
                time.sleep(600)
            else:
                super().do_GET()
        except FileNotFoundError:
            self.send_error(404)
        except (BrokenPipeError, ConnectionResetError):
            pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", help="append one line per request to this file: STATUS PATH")
    parser.add_argument("--exit-on-eof", action="store_true",
                        help="exit when standard input closes (so a test's server dies with it)")
    args = parser.parse_args()
    directory = os.path.abspath(args.directory)

    def handler(*a, **kw):
        return Handler(*a, directory=directory, **kw)

    server = Server(("127.0.0.1", args.port), handler)
    server.directory = directory
    server.log = args.log
    print(f"PORT {server.server_address[1]}", flush=True)
    if args.exit_on_eof:
        def watch():
            sys.stdin.read()
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
