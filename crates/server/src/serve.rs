//! `tidings serve`: opens the store, prepares TLS, binds the listeners and
//! runs until SIGTERM or Ctrl-C, then shuts down gracefully.
//!
//! Startup, in order: open the store (zero-config: add `localhost` to an
//! empty store; add the configured domains), make or load the certificate
//! and the DKIM key, handle SIGTERM and SIGINT, bind every listener (a bind
//! error stops the start), then give each its service (the HTTP one learns
//! the ports bound), and last, in zero-config mode, create
//! `postmaster@localhost` if it does not exist and print its one-time
//! password. A script that waits for that line can stop the server cleanly.
//!
//! Shutdown: stop accepting, cancel the sessions' token, wait for them at
//! most [`SHUTDOWN_GRACE`], then close the store (flushing its writer).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tidings_store::Store;
use tidings_types::Secret;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::{self, ZERO_CONFIG_DOMAIN};
use crate::config::{Protocol, Settings};
use tidings_net::{ConnectionLimits, Listener, Service, TlsMode};

/// How long sessions get to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The zero-config postmaster account.
pub const POSTMASTER: &str = "postmaster@localhost";

/// Runs the server until a shutdown signal.
pub fn run(settings: &Settings) -> anyhow::Result<()> {
    // Before any message is loaded: whole messages in memory, all sessions.
    tidings_store::set_memory_budget(settings.message_memory);
    // What may need root comes first, while the process has one thread:
    // the ports, then the TLS files; then root is dropped for good.
    let bound = bind(settings)?;
    let (acceptor, certs) = crate::tls::acceptor(
        &settings.cert,
        &settings.hostname,
        &settings.sni,
        settings.acme.as_ref().map(|a| a.dir.as_path()),
    )?;
    drop_root(settings)?;
    let store = admin::open_store(settings)?;
    let result = prepare_and_serve(settings, &store, bound, acceptor, certs);
    store.close();
    if result.is_ok() {
        tracing::info!("stopped");
    }
    result
}

/// A listening socket, bound before the runtime starts (and before root is
/// dropped, so ports below 1024 work).
type Bound = (Protocol, std::net::TcpListener, SocketAddr);

/// Binds every listener of the config.
fn bind(settings: &Settings) -> anyhow::Result<Vec<Bound>> {
    let mut bound = Vec::new();
    for &(protocol, addr) in &settings.listen {
        let tcp = std::net::TcpListener::bind(addr)
            .with_context(|| format!("cannot listen on {addr} for {protocol}"))?;
        tcp.set_nonblocking(true)
            .with_context(|| format!("cannot listen on {addr} for {protocol}"))?;
        let local = tcp.local_addr().unwrap_or(addr);
        bound.push((protocol, tcp, local));
    }
    Ok(bound)
}

/// Started as root with `user` set: gives the data dir to that user and
/// becomes it (see [`crate::privileges`]).
fn drop_root(settings: &Settings) -> anyhow::Result<()> {
    if !crate::privileges::is_root() {
        return Ok(());
    }
    let Some(name) = &settings.user else {
        tracing::warn!(
            "running as root; set `user = \"NAME\"` in the config to drop to an unprivileged user after binding"
        );
        return Ok(());
    };
    let user = crate::privileges::lookup(name)?;
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("cannot create {}", settings.data_dir.display()))?;
    crate::privileges::give(&settings.data_dir, &user)?;
    crate::privileges::become_user(&user)?;
    crate::privileges::check_data_dir(&settings.data_dir, &user)?;
    tracing::info!(
        "dropped root: running as user {} (uid {}, gid {})",
        user.name,
        user.uid,
        user.gid
    );
    Ok(())
}

fn prepare_and_serve(
    settings: &Settings,
    store: &Store,
    bound: Vec<Bound>,
    acceptor: TlsAcceptor,
    certs: Arc<crate::tls::Certificates>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(async {
        reload_certificates_on_change(certs.clone())?;
        serve(settings, store, acceptor, bound, certs).await
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// Creates `postmaster@localhost` with a random password when it does not
/// exist (and `localhost` is served); returns the password to show.
fn create_postmaster(store: &Store) -> anyhow::Result<Option<Secret<String>>> {
    if store.account(POSTMASTER)?.is_some()
        || !store
            .domains()?
            .iter()
            .any(|d| d.name == ZERO_CONFIG_DOMAIN)
    {
        return Ok(None);
    }
    let password = random_password(20)?;
    store
        .create_account(POSTMASTER, &password)
        .with_context(|| format!("cannot create {POSTMASTER}"))?;
    Ok(Some(password))
}

/// The SMTP services (MX on `smtp`, submission on `submission` and
/// `submissions`); they take precedence over [`service_for`].
fn smtp_service(
    protocol: Protocol,
    settings: &Settings,
    store: &Store,
    auth_limiter: &tidings_net::AuthLimiter,
    outbound: &tidings_smtp::outbound::OutboundHandle,
    dkim: Option<&Arc<tidings_smtp::auth::DkimKey>>,
    srs: &Arc<tidings_smtp::srs::Srs>,
) -> Option<Arc<dyn Service>> {
    use tidings_smtp::{Mode, SmtpConfig, SmtpService};
    let mode = match protocol {
        Protocol::Smtp => Mode::Mx,
        // STARTTLS on submission, implicit TLS on submissions.
        Protocol::Submission | Protocol::Submissions => Mode::Submission,
        _ => return None,
    };
    let config = SmtpConfig {
        hostname: settings.hostname.clone(),
        max_message_size: settings.smtp.max_message_size,
        max_recipients: usize::try_from(settings.smtp.max_recipients).unwrap_or(usize::MAX),
        greeting_timeout: settings.smtp.greeting_timeout,
        dns: settings.dns,
        send_limits: settings.smtp.send_limits,
        vacation_period: settings.smtp.vacation_period,
        expansion: tidings_store::ExpansionLimits {
            max_recipients: usize::try_from(settings.smtp.max_alias_recipients)
                .unwrap_or(usize::MAX),
            ..tidings_store::ExpansionLimits::default()
        },
        max_hops: usize::try_from(settings.smtp.max_hops).unwrap_or(usize::MAX),
        ..SmtpConfig::default()
    };
    let mut service = SmtpService::new(store.clone(), config, mode, auth_limiter.clone())
        .with_outbound(outbound.clone())
        .with_srs(Arc::clone(srs));
    if let Some(key) = dkim {
        service = service.with_dkim(Arc::clone(key));
    }
    Some(Arc::new(service))
}

/// `len` random letters and digits (about 5.95 bits each).
pub fn random_password(len: usize) -> anyhow::Result<Secret<String>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("no random numbers: {e}"))?;
        // 248 = 4 * 62: rejecting bytes above it keeps every character equally likely.
        for b in buf.iter().filter(|b| **b < 248) {
            if out.len() == len {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]));
        }
    }
    Ok(Secret::new(out))
}

/// The service behind each protocol; protocol crates plug in here as they
/// are built. A protocol without one gets no open port.
fn service_for(
    protocol: Protocol,
    settings: &Settings,
    store: &Store,
    auth_limiter: &tidings_net::AuthLimiter,
) -> Option<Arc<dyn Service>> {
    match protocol {
        // STLS on pop3, implicit TLS on pop3s; the listener knows which.
        Protocol::Pop3 | Protocol::Pop3s => Some(Arc::new(tidings_pop3::Pop3Service::new(
            store.clone(),
            tidings_pop3::Pop3Config {
                login_timeout: settings.login.pop3_login_timeout,
                ..tidings_pop3::Pop3Config::default()
            },
            auth_limiter.clone(),
        ))),
        // STARTTLS on imap, implicit TLS on imaps; the listener knows which.
        Protocol::Imap | Protocol::Imaps => Some(Arc::new(tidings_imap::ImapService::new(
            store.clone(),
            tidings_imap::ImapConfig {
                login_timeout: settings.imap.login_timeout,
                progress_interval: settings.imap.progress_interval,
                hostname: settings.hostname.clone(),
                ..tidings_imap::ImapConfig::default()
            },
            auth_limiter.clone(),
        ))),
        // Plain on http, implicit TLS on https: one service for both, made
        // in `serve` once the ports are bound.
        Protocol::Smtp
        | Protocol::Submission
        | Protocol::Submissions
        | Protocol::Http
        | Protocol::Https => None,
    }
}

/// JMAP EmailSubmission (RFC 8621 §7) and ActiveSync's SendMail through
/// SMTP submission's checks, DKIM signature and outbound queue
/// (`tidings_smtp::submit`).
#[derive(Debug)]
struct SubmissionOutbound(tidings_smtp::submit::Submitter);

impl tidings_eas::Outbound for SubmissionOutbound {
    fn send(
        &self,
        account: tidings_types::AccountId,
        mail_from: &str,
        rcpt_to: &[String],
        raw: &[u8],
    ) -> Result<(), tidings_eas::SendError> {
        use tidings_eas::SendError as E;
        use tidings_smtp::submit::SubmitError as S;
        let out = tidings_smtp::submit::Outgoing {
            account,
            sender: mail_from,
            recipients: rcpt_to,
            raw,
            not_before: 0,
        };
        self.0.submit(&out).map(|_| ()).map_err(|e| match e {
            e @ S::Forbidden { .. } => E::Forbidden(e.to_string()),
            e @ (S::OverHour(_) | S::OverDay(_)) => E::OverLimit(e.to_string()),
            e @ (S::Malformed(_) | S::NoRecipients) => E::Invalid(e.to_string()),
            e @ S::Store(_) => E::Failed(e.to_string()),
        })
    }
}

impl tidings_jmap::Outbound for SubmissionOutbound {
    fn send(
        &self,
        m: &tidings_jmap::Outgoing<'_>,
    ) -> Result<tidings_store::QueueId, tidings_jmap::SendError> {
        use tidings_jmap::SendError as J;
        use tidings_smtp::submit::SubmitError as S;
        let out = tidings_smtp::submit::Outgoing {
            account: m.account,
            sender: m.mail_from,
            recipients: m.rcpt_to,
            raw: m.raw,
            not_before: m.send_at,
        };
        self.0.submit(&out).map_err(|e| match e {
            e @ S::Forbidden { .. } => J::ForbiddenFrom(e.to_string()),
            e @ (S::OverHour(_) | S::OverDay(_)) => J::ForbiddenToSend(e.to_string()),
            e @ (S::Malformed(_) | S::NoRecipients) => J::InvalidEmail(e.to_string()),
            e @ S::Store(_) => J::Failed(e.to_string()),
        })
    }
}

/// What the HTTP server needs: the hostname and the mail ports that listen
/// (for autoconfig), the HTTPS port (for redirects from plain HTTP).
fn web_config(
    settings: &Settings,
    bound: &[(Protocol, SocketAddr)],
    submitter: tidings_smtp::submit::Submitter,
    acme_challenges: tidings_web::AcmeChallenges,
) -> anyhow::Result<tidings_web::WebConfig> {
    let mut mail_ports = Vec::new();
    let mut https_port = None;
    for &(protocol, addr) in bound {
        let name = match protocol {
            Protocol::Imap => "imap",
            Protocol::Imaps => "imaps",
            Protocol::Pop3 => "pop3",
            Protocol::Pop3s => "pop3s",
            Protocol::Submission => "submission",
            Protocol::Submissions => "submissions",
            Protocol::Https => {
                https_port = Some(addr.port());
                continue;
            }
            Protocol::Smtp | Protocol::Http => continue,
        };
        mail_ports.push(tidings_web::MailPort {
            protocol: name,
            port: addr.port(),
        });
    }
    let metrics_token = match &settings.metrics_token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read [metrics] token_file {}", path.display()))?;
            let token = text.trim().to_string();
            if token.len() < 16 {
                anyhow::bail!(
                    "[metrics] token_file {}: the token must be at least 16 characters",
                    path.display()
                );
            }
            Some(token)
        }
        None => None,
    };
    Ok(tidings_web::WebConfig {
        hostname: settings.hostname.clone(),
        mail_ports,
        https_port,
        metrics_token,
        acme_challenges,
        mta_sts_policy: Some(settings.mta_sts_policy.clone()),
        jmap: tidings_jmap::Limits {
            max_delayed_send: settings.smtp.max_delayed_send.as_secs(),
            max_size_upload: settings.jmap_max_size_upload,
            upload_quota: settings.jmap_upload_quota,
            ..tidings_jmap::Limits::default()
        },
        outbound: Some(Arc::new(SubmissionOutbound(submitter.clone()))),
        eas_outbound: Some(Arc::new(SubmissionOutbound(submitter))),
        // PushSubscription POSTs verify https servers against the
        // system's roots; without any, only loopback http pushes work.
        push_tls: match tidings_smtp::client::verifying_tls(None) {
            Ok(tls) => Some(tls),
            Err(e) => {
                tracing::warn!("JMAP push to https URLs disabled: {e}");
                None
            }
        },
        push_http_loopback: settings.jmap_push_http_loopback,
        activesync: settings.activesync.clone(),
        // The rule outbound SMTP follows: a push URL cannot steer the
        // server into the operator's network.
        push_address_allowed: tidings_smtp::dns::is_public,
        ..tidings_web::WebConfig::default()
    })
}

/// The failed-login accounting every protocol shares (`[limits]`): the n-th
/// failure from an address waits n × `login_failure_delay` (at most 5×);
/// an account past `max_login_failures` waits up to 15× before its logins
/// are checked.
fn auth_limiter(settings: &Settings) -> tidings_net::AuthLimiter {
    let login = &settings.login;
    tidings_net::AuthLimiter::new(
        login.max_failures,
        login.failure_window,
        login.failure_delay,
        login.failure_delay.saturating_mul(5),
    )
    .with_account_penalty(login.max_failures, login.failure_delay.saturating_mul(15))
}

async fn serve(
    settings: &Settings,
    store: &Store,
    acceptor: TlsAcceptor,
    bound: Vec<Bound>,
    certs: Arc<crate::tls::Certificates>,
) -> anyhow::Result<()> {
    let signal = ShutdownSignal::install()?;
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let limits = ConnectionLimits::new(settings.max_connections, settings.max_connections_per_ip);

    let auth_limiter = auth_limiter(settings);
    // The DKIM key: `tidings init` makes it, and so does the first start
    // when the default key file is missing.
    let key_file = crate::init::ensure_dkim_key(settings)?;
    let key = tidings_smtp::auth::DkimKey::from_pem(&settings.dkim_selector, &key_file.pem)
        .with_context(|| format!("DKIM key {}", settings.dkim_key.display()))?;
    if key_file.made {
        tracing::info!(
            "made a DKIM key at {}; publish it as the TXT record {}._domainkey.<domain> \"v=DKIM1; k=rsa; p={}\" (tidings domain add prints every record)",
            settings.dkim_key.display(),
            settings.dkim_selector,
            key_file.public_key
        );
    }
    tracing::info!("DKIM signing with selector {}", settings.dkim_selector);
    let dkim = Some(Arc::new(key));
    // The SRS secrets, made like the DKIM key when missing.
    let (secrets, made) = crate::init::ensure_srs_key(settings)?;
    if made {
        tracing::info!("made an SRS secret at {}", settings.srs_key.display());
    }
    let srs = Arc::new(
        tidings_smtp::srs::Srs::new(&secrets, settings.srs_max_age_days)
            .context("no SRS secret")?,
    );
    say_dns_status(settings);
    // The outbound queue worker: its state is all in the store, so it
    // simply stops with the runtime.
    let outbound = tidings_smtp::outbound::OutboundHandle::new();
    tidings_smtp::outbound::spawn(
        store.clone(),
        tidings_smtp::outbound::OutboundConfig {
            hostname: settings.hostname.clone(),
            relay: settings.smtp.relay.clone(),
            relay_security: relay_security(settings)?,
            mx: settings.smtp.mx.clone(),
            lifetime: settings.smtp.queue_lifetime,
            retry_after: settings.smtp.retry_after,
            dns: settings.dns,
            srs: Some(Arc::clone(&srs)),
        },
        outbound.clone(),
        shutdown.clone(),
    );
    if settings.store_blobs.is_some() {
        collect_blobs(store.clone(), settings.blob_collect_every, shutdown.clone());
    }
    // TLS-RPT (RFC 8460) and DMARC aggregate (RFC 7489 §7.2) reports of
    // past days, checked hourly.
    match settings.dns.resolver() {
        Ok(resolver) => {
            tidings_smtp::reports::spawn(
                store.clone(),
                resolver,
                settings.dns.authenticator().ok(),
                crate::admin::reporter(settings, dkim.clone()),
                outbound.clone(),
                shutdown.clone(),
            );
        }
        Err(e) => tracing::info!("no TLS-RPT or DMARC reports without a resolver: {e}"),
    }
    // Bind first, so that autoconfig can describe the ports really bound
    // (`:0` in tests).
    let ports: Vec<(Protocol, SocketAddr)> = bound.iter().map(|(p, _, a)| (*p, *a)).collect();
    let acme_challenges = tidings_web::AcmeChallenges::default();
    let https_acceptor = crate::tls::acceptor_for(&certs, &crate::tls::HTTPS_ALPN)?;
    let web = Arc::new(tidings_web::WebService::new(
        store.clone(),
        web_config(
            settings,
            &ports,
            tidings_smtp::submit::Submitter::new(
                store.clone(),
                settings.hostname.clone(),
                dkim.clone(),
                settings.smtp.send_limits,
                outbound.clone(),
            ),
            acme_challenges.clone(),
        )?,
        auth_limiter.clone(),
    ));
    let mut listeners = Vec::new();
    for (protocol, tcp, local) in bound {
        let service = smtp_service(
            protocol,
            settings,
            store,
            &auth_limiter,
            &outbound,
            dkim.as_ref(),
            &srs,
        )
        .or_else(|| service_for(protocol, settings, store, &auth_limiter))
        .or_else(|| {
            matches!(protocol, Protocol::Http | Protocol::Https)
                .then(|| Arc::clone(&web) as Arc<dyn Service>)
        });
        let Some(service) = service else {
            tracing::warn!("{protocol} {local}: no service for this protocol; port closed");
            continue;
        };
        tracing::info!("{protocol} listening on {local}");
        let mode = if protocol.implicit_tls() {
            TlsMode::Implicit
        } else {
            TlsMode::StartTls
        };
        let tcp = TcpListener::from_std(tcp)
            .with_context(|| format!("cannot listen on {local} for {protocol}"))?;
        // HTTPS offers ALPN (HTTP/1.1, ACME's acme-tls/1); the mail ports
        // none.
        let acceptor = if protocol == Protocol::Https {
            https_acceptor.clone()
        } else {
            acceptor.clone()
        };
        listeners.push(Listener::new(tcp, mode, acceptor, service));
    }
    for listener in listeners {
        tracker.spawn(listener.run(limits.clone(), shutdown.clone(), tracker.clone()));
    }
    // With the HTTP port up: the CA's HTTP-01 requests can be answered.
    if let Some(acme) = &settings.acme {
        let needs = match acme.challenge {
            crate::config::AcmeChallenge::Http01 => Protocol::Http,
            crate::config::AcmeChallenge::TlsAlpn01 => Protocol::Https,
        };
        if !ports.iter().any(|(p, _)| *p == needs) {
            tracing::warn!(
                "[acme] is on but no {needs} port listens: the CA cannot check the names with {}",
                acme.challenge.as_str()
            );
        }
        crate::acme::spawn(acme.clone(), certs, acme_challenges, shutdown.clone());
    }
    tracker.spawn(web.push_delivery(shutdown.clone()));
    tracing::info!(
        data_dir = %settings.data_dir.display(),
        config = %settings.source.as_deref().map_or("none (zero-config)".into(), |p| p.display().to_string()),
        "tidings {} started",
        env!("CARGO_PKG_VERSION")
    );
    // Made last, once nothing can fail any more: a password never shown
    // would leave an account nobody can use.
    let postmaster = if settings.zero_config() {
        let store = store.clone();
        tokio::task::spawn_blocking(move || create_postmaster(&store))
            .await
            .context("creating the postmaster account failed")??
    } else {
        None
    };
    if let Some(password) = postmaster {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{POSTMASTER} password: {} (shown once; change it with tidings user passwd)",
            password.expose()
        )
        .and_then(|()| out.flush())
        .context("cannot print the postmaster password")?;
    }

    signal.wait().await;
    tracing::info!("shutting down: no new connections; sessions get {SHUTDOWN_GRACE:?} to finish");
    shutdown.cancel();
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("{} sessions still open; closing them", tracker.len());
    }
    Ok(())
}

/// Says at start, loudly, when there is no DNS resolver; checks in the
/// background that a resolver named by `[dns] resolver` answers.
/// The smarthost's TLS and login, when `[smtp] relay_user` is set: the
/// password file and the CA file are read at start, so a mistake stops the
/// start with a clear error instead of bouncing mail later.
/// The S3 blob store's collector (`tidings_store::s3`): every `every`,
/// deletes the objects no row names any more once past their grace
/// period. Every node runs it; the store keeps two from colliding.
fn collect_blobs(store: Store, every: std::time::Duration, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let store = store.clone();
            match tokio::task::spawn_blocking(move || store.collect_blobs()).await {
                Ok(Ok(0)) => tracing::debug!("collecting S3 blobs: done, none deleted"),
                Ok(Ok(n)) => {
                    tracing::info!("deleted {n} unreferenced blobs from the S3 blob store")
                }
                Ok(Err(e)) => tracing::warn!("collecting S3 blobs: {e}"),
                Err(e) => tracing::warn!("collecting S3 blobs: {e}"),
            }
        }
    });
}

fn relay_security(
    settings: &Settings,
) -> anyhow::Result<Option<Arc<tidings_smtp::client::RelaySecurity>>> {
    let Some(auth) = &settings.smtp.relay_auth else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&auth.password_file).with_context(|| {
        format!(
            "[smtp] relay_password_file {}",
            auth.password_file.display()
        )
    })?;
    let password = text.lines().next().unwrap_or_default().to_string();
    if password.is_empty() {
        anyhow::bail!(
            "[smtp] relay_password_file {} is empty",
            auth.password_file.display()
        );
    }
    let tls = tidings_smtp::client::verifying_tls(auth.ca_file.as_deref())
        .map_err(|e| anyhow::anyhow!("[smtp] relay TLS: {e}"))?;
    tracing::info!(
        "relay {}: TLS ({}) with a verified certificate, login as {}",
        settings.smtp.relay.as_deref().unwrap_or_default(),
        if auth.implicit_tls {
            "implicit"
        } else {
            "STARTTLS"
        },
        auth.user
    );
    Ok(Some(Arc::new(tidings_smtp::client::RelaySecurity {
        tls,
        implicit: auth.implicit_tls,
        auth: Some(tidings_smtp::client::Credentials {
            user: auth.user.clone(),
            password: tidings_types::Secret::new(password),
        }),
    })))
}

fn say_dns_status(settings: &Settings) {
    let dns = settings.dns;
    match dns.hickory() {
        Err(why) => tracing::warn!(
            "no DNS resolver ({why}): inbound mail is accepted WITHOUT SPF/DKIM/DMARC checks \
             (marked `Authentication-Results: {}; none`), and outbound mail leaves only \
             through [smtp] relay or [smtp.mx]",
            settings.hostname
        ),
        // Only a resolver named in the config is asked at start (one
        // question); the system's is asked by `tidings check`, and a dead
        // one shows in the log at the first message's checks anyway.
        Ok(_) if !matches!(dns.resolver, tidings_smtp::dns::Resolver::Addr(_)) => {
            tracing::info!("DNS: {}", dns.resolver);
        }
        Ok(_) => {
            tracing::info!("DNS: {}", dns.resolver);
            tokio::spawn(async move {
                if let Err(why) = dns.probe().await {
                    tracing::warn!(
                        "DNS does not work ({why}): inbound checks will end in temperror \
                         and outbound mail will wait"
                    );
                }
            });
        }
    }
    if dns.dnssec && dns.hickory().is_ok() {
        tracing::info!(
            "DANE on: {} is trusted to validate DNSSEC ([dns] dnssec = true); TLSA records of MX hosts are applied",
            dns.resolver
        );
    }
}

/// How often the certificate files' modification times are looked at.
const CERT_CHECK_EVERY: Duration = Duration::from_secs(30);

/// Reloads the certificates on SIGHUP and when a file changes (checked
/// every [`CERT_CHECK_EVERY`]); a reload that fails keeps the certificates
/// in use and is logged, and a changed file is retried only when it
/// changes again. The task ends with the runtime.
fn reload_certificates_on_change(certs: Arc<crate::tls::Certificates>) -> anyhow::Result<()> {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot handle SIGHUP")?;
    tokio::spawn(async move {
        let mut seen = certs.file_times();
        let mut tick = tokio::time::interval(CERT_CHECK_EVERY);
        tick.tick().await;
        loop {
            #[cfg(unix)]
            let why = tokio::select! {
                _ = hup.recv() => "SIGHUP",
                _ = tick.tick() => "changed",
            };
            #[cfg(not(unix))]
            let why = {
                tick.tick().await;
                "changed"
            };
            let now = certs.file_times();
            if why == "changed" && now == seen {
                continue;
            }
            seen = now;
            let certs = certs.clone();
            match tokio::task::spawn_blocking(move || certs.reload()).await {
                Ok(Ok(())) => tracing::info!("TLS certificates reloaded ({why})"),
                Ok(Err(e)) => tracing::warn!(
                    "TLS certificates not reloaded ({why}): {e:#}; the ones in use stay"
                ),
                Err(e) => tracing::warn!("TLS certificates not reloaded: {e}"),
            }
        }
    });
    Ok(())
}

/// SIGTERM or Ctrl-C (SIGINT), installed before the server says it is ready.
struct ShutdownSignal {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    #[cfg(unix)]
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(ShutdownSignal {
            term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
        })
    }

    #[cfg(not(unix))]
    fn install() -> anyhow::Result<Self> {
        Ok(ShutdownSignal {})
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => tracing::info!("SIGTERM"),
            _ = self.interrupt.recv() => tracing::info!("interrupted"),
        }
        #[cfg(not(unix))]
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot wait for Ctrl-C ({e}); stopping");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_alphanumeric_and_differ() {
        let a = random_password(20).unwrap();
        let b = random_password(20).unwrap();
        assert_eq!(a.expose().len(), 20);
        assert!(a.expose().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.expose(), b.expose());
    }
}
