//! Certificates from files: the one a client gets depends on the name it
//! asks for (SNI, `[tls.sni]`), SIGHUP reloads them without dropping open
//! connections, and a broken file on reload keeps the certificates in use.
//! The client is Python's `ssl` (through imaplib); the certificates are made
//! by the `openssl` command.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Server, Setup};

const USER: &str = "bob@localhost";

/// A self-signed certificate for `name` at `dir/<file>.crt` and `.key`.
fn make_cert(dir: &Path, file: &str, name: &str) {
    let o = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
        ])
        .arg(format!("/CN={name}"))
        .arg("-addext")
        .arg(format!("subjectAltName=DNS:{name}"))
        .arg("-keyout")
        .arg(dir.join(format!("{file}.key")))
        .arg("-out")
        .arg(dir.join(format!("{file}.crt")))
        .output()
        .expect("openssl is needed: scripts/install-deps");
    common::assert_success(&o, "openssl req");
}

#[test]
fn sni_picks_the_certificate_and_sighup_reloads_without_dropping_connections() {
    let certs = tempfile::tempdir().unwrap();
    let dir = certs.path();
    make_cert(dir, "a", "mail.a.test");
    make_cert(dir, "b", "mail.b.test");
    make_cert(dir, "other", "other.test");
    make_cert(dir, "wild", "*.wild.test");
    // The served files start as copies of `a`.
    std::fs::copy(dir.join("a.crt"), dir.join("live.crt")).unwrap();
    std::fs::copy(dir.join("a.key"), dir.join("live.key")).unwrap();
    let d = dir.display();
    let extra = format!(
        "[tls]\ncert = \"{d}/live.crt\"\nkey = \"{d}/live.key\"\n\
         [tls.sni.\"Other.Test\"]\ncert = \"{d}/other.crt\"\nkey = \"{d}/other.key\"\n\
         [tls.sni.\"*.wild.test\"]\ncert = \"{d}/wild.crt\"\nkey = \"{d}/wild.key\"\n"
    );
    let server = Server::start(Setup {
        protocols: &["imaps"],
        users: &[USER],
        extra: &extra,
        ..Setup::default()
    });
    let script = format!(
        r#"
import hashlib, imaplib, os, shutil, signal, socket, ssl, time
dir, pid, port = "{d}", {pid}, int(os.environ["PORT_IMAPS"])

def der(name):
    return ssl.PEM_cert_to_DER_cert(open(os.path.join(dir, name + ".crt")).read())

def served(sni):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=sni) as t:
            return t.getpeercert(binary_form=True)

assert served("mail.a.test") == der("a"), "default certificate"
assert served("OTHER.test") == der("other"), "SNI picks other.test, in any case"
assert served("x.wild.test") == der("wild"), "*.wild.test covers x.wild.test"
assert served("a.b.wild.test") == der("a"), "a wildcard covers one label only"
assert served(None) == der("a"), "no SNI: the default"

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
kept = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx)
kept.login("{USER}", os.environ["PASSWORD"])

# Replace the files the way certbot does (new files renamed over), then SIGHUP.
for ext in ("crt", "key"):
    shutil.copy(os.path.join(dir, "b." + ext), os.path.join(dir, "new." + ext))
    os.rename(os.path.join(dir, "new." + ext), os.path.join(dir, "live." + ext))
os.kill(pid, signal.SIGHUP)
deadline = time.time() + 10
while served("mail.b.test") != der("b"):
    assert time.time() < deadline, "SIGHUP did not load the new certificate"
    time.sleep(0.05)
assert served("other.test") == der("other")
typ, _ = kept.noop()
assert typ == "OK", "the connection opened before the reload still works"
kept.select("INBOX")
kept.logout()

# A broken file: the reload fails, the certificate in use stays.
open(os.path.join(dir, "live.crt"), "w").write("not a certificate\n")
os.kill(pid, signal.SIGHUP)
"#,
        pid = server.pid()
    );
    server.run_python(Path::new("python3"), &script, "SNI and SIGHUP reload");
    let line = server.wait_for("not reloaded");
    assert!(line.contains("live.crt"), "{line}");
    server.run_python(
        Path::new("python3"),
        &format!(
            r#"
import os, socket, ssl
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with socket.create_connection(("127.0.0.1", int(os.environ["PORT_IMAPS"])), timeout=10) as s:
    with ctx.wrap_socket(s, server_hostname="mail.b.test") as t:
        got = t.getpeercert(binary_form=True)
want = ssl.PEM_cert_to_DER_cert(open("{d}/b.crt").read())
assert got == want, "after a failed reload the last good certificate is served"
"#
        ),
        "the certificate in use stays after a broken reload",
    );
}
