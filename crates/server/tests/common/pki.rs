//! A test PKI made with the `openssl` command: a CA, certificates it
//! signed (or self-signed ones) for the names a test gives, and the
//! digests TLSA records (RFC 6698) carry. For the tests that check
//! certificates (MTA-STS, DANE, a peer's `verify`).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::assert_success;

/// A test CA and certificates it signed, in `dir`.
pub struct Pki {
    pub dir: PathBuf,
}

pub fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl is needed: scripts/install-deps");
    assert_success(&o, &format!("openssl {}", args.join(" ")));
}

impl Pki {
    pub fn new(dir: &Path) -> Pki {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=Tidings test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        Pki {
            dir: dir.to_path_buf(),
        }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A certificate for `names`, signed by the CA or, with `trusted`
    /// false, by itself: `(cert, key)`.
    pub fn leaf(&self, file: &str, names: &[&str], trusted: bool) -> (PathBuf, PathBuf) {
        let ext = self.dir.join(format!("{file}.ext"));
        let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
        std::fs::write(
            &ext,
            format!(
                "subjectAltName={}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
                san.join(",")
            ),
        )
        .unwrap();
        let (key, csr, cert) = (
            format!("{file}.key"),
            format!("{file}.csr"),
            format!("{file}.pem"),
        );
        let subject = format!("/CN={}", names[0]);
        openssl(
            &self.dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &subject,
            ],
        );
        let ext = ext.to_str().unwrap();
        let mut args = vec!["x509", "-req", "-in", &csr, "-out", &cert, "-days", "2"];
        args.extend(["-extfile", ext]);
        if trusted {
            args.extend(["-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"]);
        } else {
            args.extend(["-signkey", &key]);
        }
        openssl(&self.dir, &args);
        (self.dir.join(cert), self.dir.join(key))
    }
}

/// The output of a shell pipeline of `openssl` commands run in `dir`.
pub fn openssl_pipe(dir: &Path, pipeline: &str) -> Vec<u8> {
    let o = Command::new("bash")
        .current_dir(dir)
        .args(["-c", &format!("set -eo pipefail; {pipeline}")])
        .output()
        .expect("bash and openssl are needed: scripts/install-deps");
    assert_success(&o, pipeline);
    o.stdout
}

/// SHA-256 of a PEM certificate's SubjectPublicKeyInfo (TLSA selector 1,
/// matching type 1).
pub fn spki_sha256(cert: &Path) -> Vec<u8> {
    let d = openssl_pipe(
        cert.parent().unwrap(),
        &format!(
            "openssl x509 -in '{}' -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary",
            cert.display()
        ),
    );
    assert_eq!(d.len(), 32);
    d
}

/// SHA-256 of a PEM certificate's DER (TLSA selector 0, matching type 1).
pub fn cert_sha256(cert: &Path) -> Vec<u8> {
    let d = openssl_pipe(
        cert.parent().unwrap(),
        &format!(
            "openssl x509 -in '{}' -outform DER | openssl dgst -sha256 -binary",
            cert.display()
        ),
    );
    assert_eq!(d.len(), 32);
    d
}
