#!/usr/bin/env python3
"""Push latency across nodes (scripts/bench cluster): an IMAP session in
IDLE on one node, a message delivered over SMTP on another; the time from
the SMTP server's 250 after DATA (the commit) to the `* N EXISTS` the IDLE
session reads, and from the end of DATA (commit included) to it. ROUNDS (50) rounds; prints the median, p95 and max.

Environment: SMTP_PORT (the node that takes the mail), IMAP_PORT (the node
whose IDLE session waits), USER (u0@bench.test), PASSWORD (pw), ROUNDS.
Raw sockets for IDLE (Python 3.11's imaplib has no IDLE), smtplib to send.
"""
import os
import re
import smtplib
import socket
import statistics
import time

SMTP_PORT = int(os.environ["SMTP_PORT"])
IMAP_PORT = int(os.environ["IMAP_PORT"])
USER = os.environ.get("USER_ADDRESS", "u0@bench.test")
PASSWORD = os.environ.get("PASSWORD", "pw")
ROUNDS = int(os.environ.get("ROUNDS", "50"))


class Imap:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""
        self.line()  # greeting
        self.tag = 0

    def line(self, timeout=30):
        self.sock.settimeout(timeout)
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("IMAP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def command(self, text):
        self.tag += 1
        tag = f"a{self.tag}".encode()
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(line.decode())
                return

    def idle(self):
        self.tag += 1
        self.idle_tag = f"a{self.tag}".encode()
        self.sock.sendall(self.idle_tag + b" IDLE\r\n")
        while not self.line().startswith(b"+"):
            pass

    def done(self):
        self.sock.sendall(b"DONE\r\n")
        while not self.line().startswith(self.idle_tag + b" "):
            pass


def main():
    imap = Imap(IMAP_PORT)
    imap.command(f'LOGIN "{USER}" "{PASSWORD}"')
    imap.command("SELECT INBOX")
    smtp = smtplib.SMTP("127.0.0.1", SMTP_PORT)
    smtp.ehlo("bench.client")
    latencies = []
    whole = []
    for i in range(ROUNDS):
        imap.idle()
        msg = (
            f"From: push@bench.client\r\nTo: {USER}\r\n"
            f"Subject: push {i}\r\nMessage-ID: <push-{i}-{time.time()}@bench.client>\r\n\r\nround {i}\r\n"
        )
        smtp.mail("push@bench.client")
        smtp.rcpt(USER)
        # The 250 after DATA comes once the message is committed.
        sent = time.perf_counter()
        code, _ = smtp.data(msg.encode())
        committed = time.perf_counter()
        if code != 250:
            raise RuntimeError(f"DATA answered {code}")
        while not re.match(rb"\* \d+ EXISTS", imap.line()):
            pass
        seen = time.perf_counter()
        latencies.append((seen - committed) * 1000)
        whole.append((seen - sent) * 1000)
        imap.done()
    smtp.quit()
    for name, xs in (("250 -> EXISTS", latencies), ("end of DATA -> EXISTS", whole)):
        xs.sort()
        p95 = xs[min(len(xs) - 1, int(len(xs) * 0.95))]
        print(
            f"push ({name}): {ROUNDS} rounds: median {statistics.median(xs):.1f} ms, "
            f"p95 {p95:.1f} ms, max {xs[-1]:.1f} ms"
        )


if __name__ == "__main__":
    main()
