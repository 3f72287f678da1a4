//! The optional S3-compatible blob store of the PostgreSQL backend
//! (`[store] blobs = "s3://bucket/prefix"`): the bytes of each email in an
//! object named by its SHA-256 (`prefix` + the 64 hex digits), content-
//! addressed as the `bytea` rows are; the `blobs` row keeps the size and
//! the reference count, with no data and `location = 's3'`.
//!
//! - Requests: rusty-s3 signs them (AWS Signature V4 in the query string,
//!   "presigned"; sans I/O), the hyper client sends them, HTTPS through
//!   rustls (ring) with the system's roots or `s3_ca_file`'s. Plain `http`
//!   only to a loopback endpoint (a local MinIO, Garage or test server).
//! - Write before commit: a blob is PUT before the transaction that
//!   references it commits (`PgCtx::put_blobs`, first thing in that
//!   transaction, under a shared advisory lock on the hash, before any
//!   account row is locked), so no reply acknowledges mail whose bytes are
//!   not stored; an error from S3 fails the write.
//! - Collect only unreferenced: the last reference's transaction deletes
//!   the row, not the object (another node may be about to commit a new
//!   reference to the same bytes). [`crate::Backend::collect_blobs`], run by
//!   each node's periodic maintenance, deletes the objects that have no row
//!   and were last PUT more than the grace period ago (a PUT of the same
//!   bytes refreshes LastModified); it holds the hash's advisory lock
//!   exclusively while it looks again and deletes, so it never deletes an
//!   object a writer has PUT and is about to reference.
//! - Reads GET the object; a prefix (a header) is a ranged GET.
//!
//! [`TestS3`] starts a private S3 server (moto, from the project's Python
//! venv) for the tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use tidings_types::Secret;

use crate::blob::BlobHash;
use crate::{Result, StoreError};

/// How long a signed request stays valid.
const SIGNED_FOR: Duration = Duration::from_secs(3600);
/// How long one request may take, body included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// The grace period's default: an object without a row is deleted a day
/// after its last PUT.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);

/// Where and how to reach the bucket (`[store] blobs` and the `s3_*` keys).
#[derive(Debug, Clone)]
pub struct S3Config {
    pub bucket: String,
    /// Put before each object's name: empty, or ends with `/`.
    pub prefix: String,
    /// `https://host[:port][/path]`; `http://` only to a loopback host.
    pub endpoint: String,
    pub region: String,
    /// Bucket in the path (`endpoint/bucket/key`, what most self-hosted
    /// servers want) rather than in the host name (`bucket.endpoint/key`).
    pub path_style: bool,
    pub access_key: Secret<String>,
    pub secret_key: Secret<String>,
    /// Trusted roots (PEM) instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// How old an object without a row must be before it is deleted.
    pub grace: Duration,
}

impl S3Config {
    /// Splits `s3://bucket/prefix` into the bucket and the prefix (with a
    /// trailing `/` when not empty).
    pub fn parse_location(location: &str) -> Result<(String, String)> {
        let rest = location.strip_prefix("s3://").ok_or_else(|| {
            StoreError::Refused(format!(
                "blob store {location:?}: expected s3://bucket/prefix"
            ))
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(StoreError::Refused(format!(
                "blob store {location:?}: {bucket:?} is not a bucket name (3 to 63 of a-z 0-9 . -)"
            )));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.contains("//") || prefix.bytes().any(|b| b.is_ascii_control()) {
            return Err(StoreError::Refused(format!(
                "blob store {location:?}: a prefix without empty parts or control characters"
            )));
        }
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        Ok((bucket.to_string(), prefix))
    }

    /// The endpoint AWS gives `region`.
    pub fn aws_endpoint(region: &str) -> String {
        format!("https://s3.{region}.amazonaws.com")
    }
}

fn s3_error(what: impl std::fmt::Display) -> StoreError {
    StoreError::Io(std::io::Error::other(format!("S3 blob store: {what}")))
}

/// Whether `host` (of a URL) is this machine.
fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(a) => a.is_loopback(),
        url::Host::Ipv6(a) => a.is_loopback(),
    }
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// An object of the bucket, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    /// The hash its name carries.
    pub hash: BlobHash,
    /// Its last PUT, in seconds since the epoch.
    pub modified: i64,
}

/// The bucket, ready for requests (they run on the caller's tokio runtime).
pub(crate) struct S3Blobs {
    bucket: Bucket,
    credentials: Credentials,
    prefix: String,
    client: HttpsClient,
    pub grace: Duration,
    /// `s3://bucket/prefix`, for messages.
    name: String,
}

impl std::fmt::Debug for S3Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Blobs({})", self.name)
    }
}

/// rustls with the system's roots, or those of `ca_file`.
fn tls(ca_file: Option<&Path>) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| StoreError::Refused(format!("s3_ca_file {}: {e}", path.display())))?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    StoreError::Refused(format!("s3_ca_file {}: {e}", path.display()))
                })?;
                roots.add(cert).map_err(|e| {
                    StoreError::Refused(format!("s3_ca_file {}: {e}", path.display()))
                })?;
            }
            if roots.is_empty() {
                return Err(StoreError::Refused(format!(
                    "s3_ca_file {}: no certificate in it",
                    path.display()
                )));
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| s3_error(format!("TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

impl S3Blobs {
    /// Checks `config` (without a request: see [`S3Blobs::check_bucket`]).
    pub fn new(config: S3Config) -> Result<S3Blobs> {
        let endpoint: url::Url = config
            .endpoint
            .parse()
            .map_err(|e| StoreError::Refused(format!("s3_endpoint {:?}: {e}", config.endpoint)))?;
        match (endpoint.scheme(), endpoint.host()) {
            ("https", Some(_)) => {}
            ("http", Some(host)) if is_loopback(&host) => {}
            ("http", Some(_)) => {
                return Err(StoreError::Refused(format!(
                    "s3_endpoint {:?}: plain http only to this machine (127.0.0.1, ::1, localhost); use https",
                    config.endpoint
                )));
            }
            _ => {
                return Err(StoreError::Refused(format!(
                    "s3_endpoint {:?}: expected https://host[:port]",
                    config.endpoint
                )));
            }
        }
        let style = if config.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let name = format!("s3://{}/{}", config.bucket, config.prefix);
        let bucket = Bucket::new(endpoint, style, config.bucket, config.region)
            .map_err(|e| StoreError::Refused(format!("blob store {name}: {e:?}")))?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls(config.ca_file.as_deref())?)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(S3Blobs {
            bucket,
            credentials: Credentials::new(
                config.access_key.expose().clone(),
                config.secret_key.expose().clone(),
            ),
            prefix: config.prefix,
            client,
            grace: config.grace,
            name,
        })
    }

    /// The object name of `hash`.
    fn key(&self, hash: &BlobHash) -> String {
        format!("{}{}", self.prefix, hash.as_str())
    }

    /// Sends one request; its status and body.
    async fn send(
        &self,
        method: hyper::Method,
        url: url::Url,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<(hyper::StatusCode, hyper::HeaderMap, Bytes)> {
        let what = format!("{method} {}", url.path());
        let mut req = hyper::Request::builder().method(method).uri(url.as_str());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req = req
            .header(hyper::header::CONTENT_LENGTH, body.len())
            .body(Full::new(body))
            .map_err(|e| s3_error(format!("{what}: {e}")))?;
        let exchange = async {
            let res = self
                .client
                .request(req)
                .await
                .map_err(|e| s3_error(format!("{what} at {}: {e}", self.name)))?;
            let (parts, body) = res.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| s3_error(format!("{what}: reading the reply: {e}")))?
                .to_bytes();
            Ok::<_, StoreError>((parts.status, parts.headers, body))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| s3_error(format!("{what}: no reply in {REQUEST_TIMEOUT:?}")))?
    }

    /// An error for a reply of status `status` (S3's XML error names why).
    fn refused(&self, what: &str, status: hyper::StatusCode, body: &[u8]) -> StoreError {
        let text = String::from_utf8_lossy(body);
        let code = text
            .split_once("<Code>")
            .and_then(|(_, r)| r.split_once("</Code>"))
            .map_or("", |(c, _)| c);
        s3_error(format!("{what} in {}: {status} {code}", self.name))
    }

    /// Stores `bytes` as the object of `hash` (again, if it exists: that
    /// refreshes its LastModified, which the collector goes by).
    pub async fn put(&self, hash: &BlobHash, bytes: Bytes) -> Result<()> {
        let key = self.key(hash);
        let url = self
            .bucket
            .put_object(Some(&self.credentials), &key)
            .sign(SIGNED_FOR);
        let (status, _, body) = self.send(hyper::Method::PUT, url, &[], bytes).await?;
        if !status.is_success() {
            return Err(self.refused(&format!("PUT {key}"), status, &body));
        }
        Ok(())
    }

    /// The bytes of `hash`, or the first `len` of them (a ranged GET).
    pub async fn get(&self, hash: &BlobHash, len: Option<u64>) -> Result<Vec<u8>> {
        let key = self.key(hash);
        let url = self
            .bucket
            .get_object(Some(&self.credentials), &key)
            .sign(SIGNED_FOR);
        let range = match len {
            Some(0) => return Ok(Vec::new()),
            Some(n) => vec![("range", format!("bytes=0-{}", n - 1))],
            None => Vec::new(),
        };
        let (status, _, body) = self
            .send(hyper::Method::GET, url, &range, Bytes::new())
            .await?;
        match status.as_u16() {
            200 | 206 => {
                let mut bytes = body.to_vec();
                // A server that ignores Range sends it all.
                if let Some(n) = len {
                    bytes.truncate(usize::try_from(n).unwrap_or(usize::MAX));
                }
                Ok(bytes)
            }
            // An empty object has no byte 0.
            416 => Ok(Vec::new()),
            404 => Err(StoreError::Corrupt(format!(
                "blob {} is missing from {} (its row says it is there)",
                hash.as_str(),
                self.name
            ))),
            _ => Err(self.refused(&format!("GET {key}"), status, &body)),
        }
    }

    /// When the object of `hash` was last PUT (seconds since the epoch),
    /// if it exists.
    pub async fn modified(&self, hash: &BlobHash) -> Result<Option<i64>> {
        let key = self.key(hash);
        let url = self
            .bucket
            .head_object(Some(&self.credentials), &key)
            .sign(SIGNED_FOR);
        let (status, headers, body) = self
            .send(hyper::Method::HEAD, url, &[], Bytes::new())
            .await?;
        match status.as_u16() {
            200 => {
                let date = headers
                    .get(hyper::header::LAST_MODIFIED)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| s3_error(format!("HEAD {key}: no Last-Modified")))?;
                let at = jiff::fmt::rfc2822::parse(date)
                    .map_err(|e| s3_error(format!("HEAD {key}: Last-Modified {date:?}: {e}")))?;
                Ok(Some(at.timestamp().as_second()))
            }
            404 => Ok(None),
            _ => Err(self.refused(&format!("HEAD {key}"), status, &body)),
        }
    }

    /// Deletes the object of `hash` (gone already is fine).
    pub async fn delete(&self, hash: &BlobHash) -> Result<()> {
        let key = self.key(hash);
        let url = self
            .bucket
            .delete_object(Some(&self.credentials), &key)
            .sign(SIGNED_FOR);
        let (status, _, body) = self
            .send(hyper::Method::DELETE, url, &[], Bytes::new())
            .await?;
        if status.is_success() || status.as_u16() == 404 {
            Ok(())
        } else {
            Err(self.refused(&format!("DELETE {key}"), status, &body))
        }
    }

    /// Every object under the prefix whose name is a hash, a page (up to
    /// 1,000) at a time to `each`. Other names are left alone.
    pub async fn list(&self, mut each: impl AsyncFnMut(Vec<S3Object>) -> Result<()>) -> Result<()> {
        let mut token: Option<String> = None;
        loop {
            let mut action = self.bucket.list_objects_v2(Some(&self.credentials));
            if !self.prefix.is_empty() {
                action.with_prefix(self.prefix.as_str());
            }
            if let Some(t) = &token {
                action.with_continuation_token(t.clone());
            }
            let url = action.sign(SIGNED_FOR);
            let (status, _, body) = self
                .send(hyper::Method::GET, url, &[], Bytes::new())
                .await?;
            if !status.is_success() {
                return Err(self.refused("LIST", status, &body));
            }
            let text = std::str::from_utf8(&body)
                .map_err(|_| s3_error("LIST: a reply that is not UTF-8"))?;
            let page = rusty_s3::actions::ListObjectsV2::parse_response(text)
                .map_err(|e| s3_error(format!("LIST: {e}")))?;
            let mut objects = Vec::with_capacity(page.contents.len());
            for o in page.contents {
                let Some(hash) = o
                    .key
                    .strip_prefix(self.prefix.as_str())
                    .and_then(BlobHash::parse)
                else {
                    continue;
                };
                let modified = o
                    .last_modified
                    .as_deref()
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .ok_or_else(|| {
                        s3_error(format!("LIST: {} has no LastModified one can read", o.key))
                    })?
                    .as_second();
                objects.push(S3Object { hash, modified });
            }
            each(objects).await?;
            match page.next_continuation_token {
                Some(t) => token = Some(t),
                None => return Ok(()),
            }
        }
    }

    /// Whether the bucket is there and the credentials open it (at start:
    /// a mistake in the configuration fails then, not at the first mail).
    pub async fn check_bucket(&self) -> Result<()> {
        let url = self
            .bucket
            .head_bucket(Some(&self.credentials))
            .sign(SIGNED_FOR);
        let (status, _, body) = self
            .send(hyper::Method::HEAD, url, &[], Bytes::new())
            .await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(self.refused("HEAD (the bucket)", status, &body))
        }
    }

    /// `s3://bucket/prefix`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A private S3 server for tests: moto (PyPI `moto[server]`, Apache-2.0,
/// installed into the project's venv by `scripts/install-deps`) on
/// 127.0.0.1 on a port of its own, with one empty bucket. Stopped when
/// dropped.
#[derive(Debug)]
pub struct TestS3 {
    child: std::process::Child,
    /// `http://127.0.0.1:port`.
    pub endpoint: String,
    pub bucket: String,
}

/// Access key and secret the test server is given (moto takes any).
pub const TEST_ACCESS_KEY: &str = "tidings-test-key";
pub const TEST_SECRET_KEY: &str = "tidings-test-secret";

impl TestS3 {
    /// Starts the server and makes the bucket `bucket`. The error says why
    /// it could not (a test then fails with it).
    pub fn start(bucket: &str) -> std::result::Result<TestS3, String> {
        let venv = std::env::var("TIDINGS_PYVENV").unwrap_or_else(|_| {
            format!(
                "{}/.cache/tidings/pyvenv",
                std::env::var("HOME").unwrap_or_default()
            )
        });
        let python = Path::new(&venv).join("bin/python");
        if !python.is_file() {
            return Err(format!(
                "{} is missing: run scripts/install-deps as root",
                python.display()
            ));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let child = std::process::Command::new(&python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("{} -m moto.server: {e}", python.display()))?;
        let mut s3 = TestS3 {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket: bucket.to_string(),
        };
        // Up when it answers; a bucket made by a plain PUT (path style).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = s3.child.try_wait() {
                return Err(format!(
                    "moto.server exited ({status}): is moto[server] in {venv}? run scripts/install-deps as root"
                ));
            }
            if s3.create_bucket().is_ok() {
                return Ok(s3);
            }
            if std::time::Instant::now() > deadline {
                return Err("moto.server did not answer within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn create_bucket(&self) -> std::result::Result<(), String> {
        match self.request("PUT", &format!("/{}", self.bucket))? {
            (200, _) => Ok(()),
            (status, _) => Err(format!("PUT bucket: {status}")),
        }
    }

    /// A request for `path` (with its query): its status and body.
    fn request(&self, method: &str, path: &str) -> std::result::Result<(u16, Vec<u8>), String> {
        use std::io::{Read, Write};
        let addr = self.endpoint.trim_start_matches("http://");
        let mut c = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
        write!(
            c,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut reply = Vec::new();
        c.read_to_end(&mut reply).map_err(|e| e.to_string())?;
        let end = reply
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or("a reply without a header end")?;
        let head = String::from_utf8_lossy(&reply[..end]).to_string();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("a reply without a status: {head}"))?;
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            return Err("a chunked reply (not expected from the test server)".into());
        }
        Ok((status, reply[end + 4..].to_vec()))
    }

    /// A signed request's path and query.
    fn signed(url: url::Url) -> String {
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    fn bucket(&self) -> std::result::Result<(Bucket, Credentials), String> {
        let endpoint = self.endpoint.parse().map_err(|e| format!("{e}"))?;
        let bucket = Bucket::new(endpoint, UrlStyle::Path, self.bucket.clone(), "us-east-1")
            .map_err(|e| format!("{e:?}"))?;
        Ok((bucket, Credentials::new(TEST_ACCESS_KEY, TEST_SECRET_KEY)))
    }

    /// The bytes of the object `key` (prefix included), if it exists.
    pub fn object(&self, key: &str) -> std::result::Result<Option<Vec<u8>>, String> {
        let (bucket, creds) = self.bucket()?;
        let url = bucket.get_object(Some(&creds), key).sign(SIGNED_FOR);
        match self.request("GET", &Self::signed(url))? {
            (200, body) => Ok(Some(body)),
            (404, _) => Ok(None),
            (status, _) => Err(format!("GET {key}: {status}")),
        }
    }

    /// Deletes the object `key` behind the store's back.
    pub fn delete_object(&self, key: &str) -> std::result::Result<(), String> {
        let (bucket, creds) = self.bucket()?;
        let url = bucket.delete_object(Some(&creds), key).sign(SIGNED_FOR);
        match self.request("DELETE", &Self::signed(url))? {
            (204 | 200, _) => Ok(()),
            (status, _) => Err(format!("DELETE {key}: {status}")),
        }
    }

    /// The names of the bucket's objects.
    pub fn keys(&self) -> std::result::Result<Vec<String>, String> {
        let (bucket, creds) = self.bucket()?;
        let url = bucket.list_objects_v2(Some(&creds)).sign(SIGNED_FOR);
        let (status, body) = self.request("GET", &Self::signed(url))?;
        if status != 200 {
            return Err(format!("LIST: {status}"));
        }
        let text = String::from_utf8_lossy(&body);
        Ok(text
            .split("<Key>")
            .skip(1)
            .filter_map(|s| s.split_once("</Key>").map(|(k, _)| k.to_string()))
            .collect())
    }

    /// A configuration for this server's bucket, under `prefix`.
    pub fn config(&self, prefix: &str) -> S3Config {
        S3Config {
            bucket: self.bucket.clone(),
            prefix: prefix.to_string(),
            endpoint: self.endpoint.clone(),
            region: "us-east-1".into(),
            path_style: true,
            access_key: Secret::new(TEST_ACCESS_KEY.into()),
            secret_key: Secret::new(TEST_SECRET_KEY.into()),
            ca_file: None,
            grace: DEFAULT_GRACE,
        }
    }
}

impl Drop for TestS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            S3Config::parse_location("s3://mail/tidings").unwrap(),
            ("mail".to_string(), "tidings/".to_string())
        );
        assert_eq!(
            S3Config::parse_location("s3://mail-1.b").unwrap(),
            ("mail-1.b".to_string(), String::new())
        );
        assert_eq!(
            S3Config::parse_location("s3://mail/a/b/").unwrap().1,
            "a/b/"
        );
        for bad in [
            "mail/x",
            "s3://",
            "s3://Mail/x",
            "s3://ab",
            "s3://mail/a//b",
        ] {
            assert!(S3Config::parse_location(bad).is_err(), "{bad}");
        }
    }

    fn config(endpoint: &str) -> S3Config {
        S3Config {
            bucket: "mail".into(),
            prefix: String::new(),
            endpoint: endpoint.into(),
            region: "us-east-1".into(),
            path_style: true,
            access_key: Secret::new("k".into()),
            secret_key: Secret::new("s".into()),
            ca_file: None,
            grace: DEFAULT_GRACE,
        }
    }

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(S3Blobs::new(config("http://127.0.0.1:9000")).is_ok());
        assert!(S3Blobs::new(config("http://[::1]:9000")).is_ok());
        assert!(S3Blobs::new(config("http://localhost:9000")).is_ok());
        assert!(S3Blobs::new(config("https://s3.example.net")).is_ok());
        for bad in [
            "http://s3.example.net",
            "http://10.0.0.1:9000",
            "ftp://x",
            "s3.example.net",
        ] {
            assert!(S3Blobs::new(config(bad)).is_err(), "{bad}");
        }
    }
}
