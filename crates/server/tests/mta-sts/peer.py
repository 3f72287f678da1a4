"""The other side of the MTA-STS tests: a receiving MX with STARTTLS and
the domain's HTTPS policy server, both on addresses of a private network
namespace (see tests/mta_sts.rs).

    peer.py OUT SMTP_ADDR CERT KEY STARTTLS HTTPS_ADDR CERT KEY

OUT: a directory; each message the MX takes is written to OUT/msg-N.eml,
preceded by the lines `X-Peer-TLS: yes|no` and `X-Peer-Mail: ` with the
MAIL command as received; each policy fetch appends a line
to OUT/fetches; the policy served is OUT/policy (read at each request, so
the test can change it; missing: 404); a POST (a TLS-RPT report) is
written to OUT/post-N.gz, its host, path and media type to OUT/post-N.meta,
unless OUT/post-status holds an HTTP status to answer instead (each such
refusal appends a line to OUT/post-refused). STARTTLS: "yes" or "no" (offered in
EHLO or not), or "requiretls" (offered, and REQUIRETLS after it, RFC 8689). Prints "ready" once both listen.
"""

import http.server
import itertools
import os
import socketserver
import ssl
import sys
import threading

out, smtp_addr, smtp_cert, smtp_key, starttls = sys.argv[1:6]
https_addr, https_cert, https_key = sys.argv[6:9]
counter = itertools.count(1)


def split(addr):
    host, port = addr.rsplit(":", 1)
    return host, int(port)


class Smtp(socketserver.StreamRequestHandler):
    def handle(self):
        conn, tls = self.request, False
        rfile, wfile = self.rfile, self.wfile

        def say(line):
            wfile.write(line.encode() + b"\r\n")
            wfile.flush()

        say("220 mx ESMTP test peer")
        mail = None
        while True:
            line = rfile.readline()
            if not line:
                return
            verb = line.decode("latin-1").strip().split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                lines = ["mx", "8BITMIME"]
                if starttls != "no" and not tls:
                    lines.append("STARTTLS")
                if starttls == "requiretls" and tls:
                    lines.append("REQUIRETLS")
                for i, l in enumerate(lines):
                    say(("250 " if i == len(lines) - 1 else "250-") + l)
            elif verb == "STARTTLS" and starttls != "no" and not tls:
                say("220 go ahead")
                ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                ctx.load_cert_chain(smtp_cert, smtp_key)
                try:
                    conn = ctx.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    return
                tls = True
                rfile, wfile = conn.makefile("rb"), conn.makefile("wb")
            elif verb == "MAIL":
                mail = line.decode("latin-1").strip()
                say("250 ok")
            elif verb == "RCPT":
                say("250 ok")
            elif verb == "DATA":
                say("354 go")
                body = []
                while True:
                    l = rfile.readline()
                    if not l or l in (b".\r\n", b".\n"):
                        break
                    body.append(l[1:] if l.startswith(b"..") else l)
                n = next(counter)
                with open(os.path.join(out, f"msg-{n}.eml.tmp"), "wb") as f:
                    f.write(b"X-Peer-TLS: " + (b"yes" if tls else b"no") + b"\r\n")
                    f.write(b"X-Peer-Mail: " + mail.encode() + b"\r\n")
                    f.writelines(body)
                os.rename(
                    os.path.join(out, f"msg-{n}.eml.tmp"),
                    os.path.join(out, f"msg-{n}.eml"),
                )
                say("250 queued")
            elif verb == "QUIT":
                say("221 bye")
                return
            elif verb in ("RSET", "NOOP"):
                say("250 ok")
            else:
                say("502 no")


class Policy(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(os.path.join(out, "fetches"), "a") as f:
            f.write(f"{self.headers.get('Host')} {self.path}\n")
        try:
            with open(os.path.join(out, "policy"), "rb") as f:
                body = f.read()
        except FileNotFoundError:
            self.send_error(404)
            return
        if self.path != "/.well-known/mta-sts.txt":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        # A TLS-RPT report (RFC 8460 §5.4): OUT/post-N.gz, and its path and
        # media type in OUT/post-N.meta.
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        # OUT/post-status, while it exists, is the answer instead (e.g. 503).
        try:
            with open(os.path.join(out, "post-status")) as f:
                status = int(f.read().strip())
            with open(os.path.join(out, "post-refused"), "a") as f:
                f.write(f"{self.path} {status}\n")
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        except FileNotFoundError:
            pass
        n = next(counter)
        with open(os.path.join(out, f"post-{n}.gz"), "wb") as f:
            f.write(body)
        with open(os.path.join(out, f"post-{n}.meta.tmp"), "w") as f:
            f.write(f"{self.headers.get('Host')} {self.path} {self.headers.get('Content-Type')}\n")
        os.rename(os.path.join(out, f"post-{n}.meta.tmp"), os.path.join(out, f"post-{n}.meta"))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Threading(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


class HttpsServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


smtp = Threading(split(smtp_addr), Smtp)
https = HttpsServer(split(https_addr), Policy)
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(https_cert, https_key)
https.socket = ctx.wrap_socket(https.socket, server_side=True)
threading.Thread(target=https.serve_forever, daemon=True).start()
print("ready", flush=True)
smtp.serve_forever()
