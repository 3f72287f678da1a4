"""ActiveSync benchmark (scripts/bench eas): run by the project's venv
Python (pyactivesync) against a running release server.

  1. the initial sync of an INBOX of N messages in windows of 100
     (pyactivesync, one device): seconds and messages per second;
  2. Ping wake-up latency: a Ping waits (the server's log says so), one
     message arrives over SMTP; the time from the SMTP 250 to the Ping's
     answer, ROUNDS times: median and worst;
  3. PINGS devices holding a Ping at once (raw HTTP over TLS, asyncio):
     the server's RSS before and with them.

Arguments: https_port smtp_port log_file server_pid cert messages pings rounds
"""
import asyncio, os, smtplib, ssl, statistics, sys, threading, time

from pyactivesync import Client
from pyactivesync._wbxml import WBXMLWriter, wtag

https, smtp_port, log, pid, cert = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
messages, pings, rounds = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
PASSWORD = "bench password"


def rss_kib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def waiting_lines():
    with open(log, errors="replace") as f:
        return sum("Ping waiting" in line for line in f)


c = Client("localhost:" + https, "bob@localhost", PASSWORD, device_id="bench1", verify_ssl=cert, timeout=600)
c.provision()
inbox = [f for f in c.list_folders() if f.name == "INBOX"][0].id

# 1. Initial sync.
key = c.sync_folder(inbox).sync_key
t0 = time.monotonic()
seen = 0
while True:
    r = c.sync_folder(inbox, key, window_size=100)
    key = r.sync_key
    seen += len(r.added)
    if not r.more_available:
        break
took = time.monotonic() - t0
assert seen == messages, (seen, messages)
print(f"initial sync: {seen} messages in windows of 100: {took:.1f} s, {seen / took:.0f} messages/s")

# 2. Ping wake-up latency.
lat = []
for i in range(rounds):
    before = waiting_lines()
    out = {}

    def ping():
        r = c.ping(inbox, heartbeat=300, timeout=300)
        out["t"] = time.monotonic()
        out["r"] = r

    th = threading.Thread(target=ping)
    th.start()
    while waiting_lines() == before:
        time.sleep(0.01)
    s = smtplib.SMTP("127.0.0.1", smtp_port)
    s.sendmail("ann@example.org", ["bob@localhost"], b"Subject: ping %d\r\n\r\nwake\r\n" % i)
    t_ok = time.monotonic()
    s.quit()
    th.join()
    assert out["r"].status == "2", out
    lat.append(max(0.0, out["t"] - t_ok) * 1000)
    r = c.sync_folder(inbox, key, window_size=100)
    key = r.sync_key
print(f"Ping wake-up after an SMTP delivery ({rounds} rounds, from the 250 to the answer): "
      f"median {statistics.median(lat):.1f} ms, worst {max(lat):.1f} ms")

# 3. Many devices holding a Ping (no provisioning required in the bench config).
body = WBXMLWriter()
body.tag("Ping", "Ping", children=[wtag("Ping", "HeartbeatInterval", text="900"), wtag("Ping", "Folders", children=[
    wtag("Ping", "Folder", children=[wtag("Ping", "Id", text=inbox), wtag("Ping", "Class", text="Email")])])])
ping_body = body.render()
import base64
auth = base64.b64encode(b"bob@localhost:" + PASSWORD.encode()).decode()
ctx = ssl.create_default_context(cafile=cert)


async def hold(n, ready, release):
    reader, writer = await asyncio.open_connection("127.0.0.1", int(https), ssl=ctx, server_hostname="localhost")
    req = (f"POST /Microsoft-Server-ActiveSync?Cmd=Ping&User=bob@localhost&DeviceId=p{n}&DeviceType=bench HTTP/1.1\r\n"
           f"Host: localhost\r\nAuthorization: Basic {auth}\r\nMS-ASProtocolVersion: 16.1\r\n"
           f"Content-Type: application/vnd.ms-sync.wbxml\r\nContent-Length: {len(ping_body)}\r\n\r\n").encode() + ping_body
    writer.write(req)
    await writer.drain()
    ready.append(n)
    await release.wait()
    writer.close()


async def many():
    ready, release = [], asyncio.Event()
    before = rss_kib()
    tasks = []
    for n in range(pings):
        tasks.append(asyncio.create_task(hold(n, ready, release)))
        if n % 200 == 199:
            await asyncio.sleep(0.2)
    while len(ready) < pings:
        await asyncio.sleep(0.1)
    # Every Ping reached its wait: the log says so once per Ping.
    target = waiting_lines_start + pings
    while waiting_lines() < target:
        await asyncio.sleep(0.2)
    with_pings = rss_kib()
    print(f"{pings} devices holding a Ping: server RSS {before // 1024} MB before, {with_pings // 1024} MB with them, "
          f"{(with_pings - before) * 1024 // pings} bytes per Ping")
    release.set()
    await asyncio.gather(*tasks, return_exceptions=True)


waiting_lines_start = waiting_lines()
asyncio.run(many())
