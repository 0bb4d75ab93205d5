#!/usr/bin/env python3
"""A registry (HTTP API v2, read side) that misbehaves on purpose, for tasker's registry tests.

    fake_registry.py [--port N]

Listens on 127.0.0.1 (plain HTTP) and prints "PORT <n>" once it does. The repository name
chooses the behaviour; every repository holds the same small image (tag "latest": an OCI
manifest, its config, a 256 KiB layer) unless its mode says otherwise:

    ok            the image as it should be
    multi         tag "latest" is an index for linux/amd64 and linux/arm64 (configs differ)
    badblob       the layer's bytes do not match its digest
    bigmanifest   the manifest announces 100 MB (Content-Length) and sends it
    bigchunked    a 100 MB manifest without Content-Length (chunked)
    schema1       a Docker schema 1 manifest
    wrongdigest   the manifest comes with a Docker-Content-Digest that is not its own
    redirectloop  the manifest redirects to itself, forever
    redirect      blobs are redirected (307) to /storage/..., served there
    token         Bearer auth: a token from /token (any credentials), then required
    tokenfail     Bearer auth whose /token answers 500
    tokenjson     Bearer auth whose /token answers bytes that are not JSON
    status401     401 with a Basic challenge, whatever the credentials
    status403     403 (DENIED)
    status404     404 (MANIFEST_UNKNOWN)
    status429     429 with Retry-After: 1, always
    flaky         the first manifest request answers 503 with Retry-After: 1, then all is well
    cut           the layer's first transfer stops half-way (the connection closed); requests
                  with Range are answered 206 from there
    cutnorange    the same cut, but Range is ignored: the retry gets 200 and the whole layer
    tokenredirect Bearer auth as "token", and blobs redirected to http://localhost:PORT/storage/
                  (another host name): /count/storageauth counts the requests there that
                  carried an Authorization header
    stallblob     the layer's first transfer stalls half-way; the retry (Range) completes it
    stall         the manifest's headers and a few bytes, then nothing

GET /count/<name> answers how many requests of that kind came in: "range" (blob requests with
a Range header), "manifest", "token".
"""
import argparse
import hashlib
import http.server
import json
import os
import socketserver
import sys
import threading
import time

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_image(arch, layer):
    config = json.dumps({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["ARCH=" + arch]},
        "rootfs": {"type": "layers", "diff_ids": [digest(layer)]},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(layer),
                    "size": len(layer)}],
    }).encode()
    return config, manifest


LAYER = bytes((i * 7 + 3) % 251 for i in range(256 * 1024))
CONFIG, MANIFEST = make_image("amd64", LAYER)
ARM_CONFIG, ARM_MANIFEST = make_image("arm64", LAYER)
INDEX = json.dumps({
    "schemaVersion": 2, "mediaType": OCI_INDEX,
    "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": digest(MANIFEST), "size": len(MANIFEST),
         "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": OCI_MANIFEST, "digest": digest(ARM_MANIFEST), "size": len(ARM_MANIFEST),
         "platform": {"os": "linux", "architecture": "arm64"}},
    ],
}).encode()
SCHEMA1 = json.dumps({"schemaVersion": 1, "name": "schema1", "tag": "latest", "fsLayers": []}).encode()
BLOBS = {digest(b): b for b in (LAYER, CONFIG, ARM_CONFIG, MANIFEST, ARM_MANIFEST)}
MANIFESTS = {digest(b): b for b in (MANIFEST, ARM_MANIFEST, INDEX)}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def count(self, name):
        with self.server.lock:
            self.server.counts[name] = self.server.counts.get(name, 0) + 1

    def answer(self, status, body=b"", headers=(), content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, message, headers=()):
        body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
        self.answer(status, body, headers)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        parts = path.strip("/").split("/")
        if parts[0] == "count":
            self.answer(200, str(self.server.counts.get(parts[1], 0)).encode(), content_type="text/plain")
            return
        if parts[0] == "token":
            self.count("token")
            mode = self.server.token_mode(self.path)
            if mode == "tokenfail":
                self.answer(500, b"token service down", content_type="text/plain")
            elif mode == "tokenjson":
                self.answer(200, b"<html>not json", content_type="text/html")
            else:
                self.answer(200, json.dumps({"access_token": "good-token", "expires_in": 300}).encode())
            return
        if parts[0] == "storage":
            if self.headers.get("Authorization"):
                self.count("storageauth")
            self.blob(parts[1], "ok")
            return
        if parts == ["v2"]:
            self.answer(200, b"{}")
            return
        if len(parts) < 4 or parts[0] != "v2":
            self.answer(404, b"no such route", content_type="text/plain")
            return
        mode, kind, ref = parts[1], parts[2], parts[3]
        if mode in ("token", "tokenfail", "tokenjson", "tokenredirect"):
            if self.headers.get("Authorization") != "Bearer good-token":
                realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
                challenge = f'Bearer realm="{realm}",service="fake,registry",scope="repository:{mode}:pull"'
                self.error(401, "UNAUTHORIZED", "authentication required", [("WWW-Authenticate", challenge)])
                return
        if mode == "status401":
            self.error(401, "UNAUTHORIZED", "authentication required",
                       [("WWW-Authenticate", 'Basic realm="fake"')])
            return
        if mode == "status403":
            self.error(403, "DENIED", "requested access to the resource is denied")
            return
        if mode == "status404":
            self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            return
        if mode == "status429":
            self.error(429, "TOOMANYREQUESTS", "slow down", [("Retry-After", "1")])
            return
        if kind == "manifests":
            self.count("manifest")
            self.manifest(mode, ref)
        elif kind == "blobs":
            self.blob(ref, mode)
        else:
            self.answer(404, b"no such route", content_type="text/plain")

    def manifest(self, mode, ref):
        if mode == "flaky" and self.server.counts.get("manifest", 0) == 1:
            self.error(503, "UNAVAILABLE", "try again", [("Retry-After", "1")])
            return
        if mode == "redirectloop":
            self.send_response(302)
            self.send_header("Location", self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if mode == "schema1":
            self.answer(200, SCHEMA1, content_type="application/vnd.docker.distribution.manifest.v1+prettyjws")
            return
        if mode in ("bigmanifest", "bigchunked"):
            self.send_response(200)
            self.send_header("Content-Type", OCI_MANIFEST)
            if mode == "bigmanifest":
                self.send_header("Content-Length", str(100 << 20))
            else:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b" " * (1 << 20)
            try:
                for _ in range(100):
                    if mode == "bigmanifest":
                        self.wfile.write(chunk)
                    else:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                if mode == "bigchunked":
                    self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
            return
        if mode == "stall":
            self.send_response(200)
            self.send_header("Content-Type", OCI_MANIFEST)
            self.send_header("Content-Length", str(len(MANIFEST)))
            self.end_headers()
            self.wfile.write(MANIFEST[:10])
            self.wfile.flush()
            time.sleep(30)
            self.close_connection = True
            return
        if ref == "latest":
            body = INDEX if mode == "multi" else MANIFEST
        elif ref in MANIFESTS:
            body = MANIFESTS[ref]
        else:
            self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            return
        media = OCI_INDEX if body is INDEX else OCI_MANIFEST
        announced = digest(body + b" ") if mode == "wrongdigest" else digest(body)
        self.answer(200, body, [("Docker-Content-Digest", announced)], content_type=media)

    def blob(self, ref, mode):
        if ref not in BLOBS:
            self.error(404, "BLOB_UNKNOWN", "blob unknown to registry")
            return
        data = BLOBS[ref]
        if mode in ("redirect", "tokenredirect"):
            self.send_response(307)
            where = f"http://localhost:{self.server.server_address[1]}" if mode == "tokenredirect" else ""
            self.send_header("Location", f"{where}/storage/{ref}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if mode == "badblob" and data is LAYER:
            data = bytes([data[0] ^ 1]) + data[1:]
        ranged = self.headers.get("Range")
        if mode in ("cut", "cutnorange", "stallblob") and data is LAYER:
            if ranged:
                self.count("range")
            if ranged and mode == "cutnorange":
                self.answer(200, data, content_type="application/octet-stream")
                return
            if ranged:
                start = int(ranged.split("=", 1)[1].split("-", 1)[0])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                self.wfile.write(data[start:])
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            if mode == "stallblob":
                time.sleep(30)
            self.close_connection = True
            return
        self.answer(200, data, content_type="application/octet-stream")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *args):
        super().__init__(*args)
        self.lock = threading.Lock()
        self.counts = {}

    def token_mode(self, path):
        for mode in ("tokenfail", "tokenjson"):
            if f"repository%3A{mode}%3A" in path or f"repository:{mode}:" in path:
                return mode
        return "token"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
