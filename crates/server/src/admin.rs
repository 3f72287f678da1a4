//! The administration commands: `user`, `domain`, `alias`, `check`.
//!
//! Each is a thin call into the store; what they print to standard output is
//! meant for people and for scripts (one item per line). Errors come back to
//! `main`, which prints them as one `error:` line.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use tidings_store::{Store, TokenKind};
use tidings_types::{LeavePolicy, PopPolicy, Secret};

use crate::config::Settings;

/// The domain a zero-config store starts with.
pub const ZERO_CONFIG_DOMAIN: &str = "localhost";

/// Opens the store of `settings`. In zero-config mode a store without any
/// domain gets `localhost`, so `user add someone@localhost` works at once.
pub fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = match &settings.store_url {
        // The URL holds a password: not in the message.
        Some(url) => {
            Store::open_with_blobs(&settings.data_dir, Some(url), settings.store_blobs.clone())
                .context("cannot open the PostgreSQL store of [store] url")?
        }
        None if settings.store_blobs.is_some() => bail!(
            "[store] blobs (an S3 blob store) needs the PostgreSQL store of [store] url; the embedded store keeps its blobs in its data directory"
        ),
        None => Store::open(&settings.data_dir)
            .with_context(|| format!("cannot open the store in {}", settings.data_dir.display()))?,
    };
    if settings.zero_config() && store.domains()?.is_empty() {
        store.add_domain(ZERO_CONFIG_DOMAIN)?;
    }
    // The config's `domains = [...]`, so that `user add` works on a fresh
    // config before the first `serve`.
    for domain in &settings.domains {
        match store.add_domain(domain) {
            Ok(()) => tracing::info!("added domain {domain} from the config"),
            Err(tidings_store::StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e).with_context(|| format!("cannot add domain {domain}")),
        }
    }
    Ok(store)
}

/// Where a password comes from.
#[derive(Debug)]
pub enum PasswordSource {
    /// `--password P`.
    Given(Secret<String>),
    /// `--password-stdin`: the first line of standard input.
    Stdin,
    /// Neither: prompt when standard input is a terminal, else refuse.
    Prompt,
}

/// Reads the password. The prompt does not hide what is typed: it goes to
/// standard error and the line is read from standard input.
pub fn read_password(source: PasswordSource, email: &str) -> anyhow::Result<Secret<String>> {
    let from_stdin = |what: &str| -> anyhow::Result<Secret<String>> {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .with_context(|| format!("cannot read the password from {what}"))?;
        let password = line.trim_end_matches(['\n', '\r']);
        if password.is_empty() {
            bail!("empty password");
        }
        Ok(Secret::new(password.to_string()))
    };
    match source {
        PasswordSource::Given(p) if p.expose().is_empty() => bail!("empty password"),
        PasswordSource::Given(p) => Ok(p),
        PasswordSource::Stdin => from_stdin("standard input"),
        PasswordSource::Prompt if std::io::stdin().is_terminal() => {
            eprint!("Password for {email} (shown as you type): ");
            std::io::stderr().flush().ok();
            from_stdin("the terminal")
        }
        PasswordSource::Prompt => {
            bail!("no password given: use --password or --password-stdin")
        }
    }
}

/// `user add`.
pub fn user_add(store: &Store, email: &str, password: &Secret<String>) -> anyhow::Result<()> {
    let Some((_, domain)) = email.rsplit_once('@') else {
        bail!("`{email}` is not an email address");
    };
    let domain = domain.to_ascii_lowercase();
    if !store
        .domains()?
        .iter()
        .any(|d| d.name.eq_ignore_ascii_case(&domain))
    {
        bail!(
            "domain {domain} is not served here; add it first with `tidings domain add {domain}`"
        );
    }
    store.create_account(email, password)?;
    println!("added {email}");
    Ok(())
}

/// `user list`: one account per line: address, used, quota, POP3 policy,
/// leave policy.
pub fn user_list(store: &Store) -> anyhow::Result<()> {
    let accounts = store.accounts()?;
    let width = accounts.iter().map(|a| a.email.len()).max().unwrap_or(0);
    for a in accounts {
        let quota = a.quota.map_or_else(|| "none".to_string(), format_size);
        println!(
            "{:<width$}  used {:>6}  quota {:>6}  pop {}  leave {}",
            a.email,
            format_size(a.used),
            quota,
            a.pop_policy,
            a.leave_policy
        );
    }
    Ok(())
}

/// `user passwd`.
pub fn user_passwd(store: &Store, email: &str, password: &Secret<String>) -> anyhow::Result<()> {
    store.set_password(email, password)?;
    println!("changed the password of {email}");
    Ok(())
}

/// `user verify`: succeeds only when the password is right.
pub fn user_verify(store: &Store, email: &str, password: &Secret<String>) -> anyhow::Result<()> {
    if store.account(email)?.is_none() {
        bail!("no account {email}");
    }
    match store.authenticate(email, password)? {
        Some(_) => {
            println!("password ok");
            Ok(())
        }
        None => bail!("wrong password"),
    }
}

/// `user del`.
pub fn user_del(store: &Store, email: &str) -> anyhow::Result<()> {
    store.delete_account(email)?;
    println!("deleted {email} and all its mail");
    Ok(())
}

/// `user token add EMAIL NAME [--expires DAYS]`: prints the token, once.
pub fn token_add(
    store: &Store,
    email: &str,
    name: &str,
    expires_days: Option<u32>,
) -> anyhow::Result<()> {
    let expires = expires_days.map(|d| unix_now() + i64::from(d) * 86_400);
    let token = store.add_token(email, name, TokenKind::App, expires, None)?;
    println!("{}", token.expose());
    eprintln!(
        "app password {name:?} of {email}: shown this once; use it as the password \
         (IMAP, POP3, SMTP, HTTP Basic) or as an HTTP Bearer token"
    );
    Ok(())
}

/// `user token list EMAIL`: name, kind, created, last used, expiry.
pub fn token_list(store: &Store, email: &str) -> anyhow::Result<()> {
    let tokens = store.tokens(email)?;
    let width = tokens.iter().map(|t| t.name.len()).max().unwrap_or(0);
    let date = |t: Option<i64>| t.map_or_else(|| "never".to_string(), format_time);
    for t in tokens {
        let expires = match (t.expires, t.idle) {
            (Some(e), _) => format_time(e),
            (None, Some(idle)) => format!("after {} h idle", idle / 3600),
            (None, None) => "never".into(),
        };
        println!(
            "{:<width$}  {}  created {}  last used {}  expires {}",
            t.name,
            t.kind.as_str(),
            format_time(t.created),
            date(t.last_used),
            expires
        );
    }
    Ok(())
}

/// `user token del EMAIL NAME`.
pub fn token_del(store: &Store, email: &str, name: &str) -> anyhow::Result<()> {
    store.delete_token(email, name)?;
    println!("revoked token {name:?} of {email}");
    Ok(())
}

fn account_id(store: &Store, email: &str) -> anyhow::Result<tidings_types::AccountId> {
    Ok(store
        .account(email)?
        .ok_or_else(|| anyhow::anyhow!("no account {email}"))?
        .id)
}

/// `user devices list EMAIL`.
pub fn devices_list(store: &Store, email: &str) -> anyhow::Result<()> {
    let devices = store.eas_devices(account_id(store, email)?)?;
    if devices.is_empty() {
        println!("{email} has no ActiveSync devices");
    }
    for d in devices {
        let state = match (d.wipe, d.policy_key) {
            (tidings_store::EasWipe::Requested, _) => "wipe requested",
            (tidings_store::EasWipe::Done, _) => "wiped",
            (_, 0) => "not provisioned",
            _ => "provisioned",
        };
        println!(
            "{}  {}  {}  {}  first seen {}  last seen {}",
            d.device_id,
            d.device_type,
            if d.model.is_empty() { "-" } else { &d.model },
            state,
            format_time(d.created),
            format_time(d.last_seen)
        );
    }
    Ok(())
}

/// `user devices wipe EMAIL DEVICE`.
pub fn devices_wipe(store: &Store, email: &str, device_id: &str) -> anyhow::Result<()> {
    let account = account_id(store, email)?;
    let mut d = store
        .eas_device(account, device_id)?
        .ok_or_else(|| anyhow::anyhow!("{email} has no device {device_id}"))?;
    d.wipe = tidings_store::EasWipe::Requested;
    store.eas_put_device(&d)?;
    println!("device {device_id} of {email} will be told to wipe itself at its next connection");
    Ok(())
}

/// `user devices del EMAIL DEVICE`.
pub fn devices_del(store: &Store, email: &str, device_id: &str) -> anyhow::Result<()> {
    if !store.eas_delete_device(account_id(store, email)?, device_id)? {
        anyhow::bail!("{email} has no device {device_id}");
    }
    println!("forgot device {device_id} of {email}");
    Ok(())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Unix seconds as `YYYY-MM-DD HH:MM UTC`.
fn format_time(t: i64) -> String {
    let (y, m, d) = tidings_types::civil::civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        s / 3600,
        s % 3600 / 60
    )
}

/// `user quota EMAIL SIZE`.
pub fn user_quota(store: &Store, email: &str, size: &str) -> anyhow::Result<()> {
    let quota = parse_size(size)?;
    store.set_quota(email, quota)?;
    match quota {
        Some(q) => println!("quota of {email}: {}", format_size(q)),
        None => println!("quota of {email}: none"),
    }
    Ok(())
}

/// `user limit EMAIL [--per-hour N] [--per-day M]`: sets the limits given
/// (a number, `none` for no limit, `default` for the server's), then prints
/// them with the messages sent in the last hour and day.
pub fn user_limit(
    store: &Store,
    email: &str,
    per_hour: Option<&str>,
    per_day: Option<&str>,
) -> anyhow::Result<()> {
    // The stored form: NULL is the server's default; "none" is stored as
    // u32::MAX, which no count reaches.
    let parse = |v: &str, flag: &str| -> anyhow::Result<Option<u32>> {
        match v {
            "default" => Ok(None),
            "none" => Ok(Some(u32::MAX)),
            n => n
                .parse::<u32>()
                .map(Some)
                .with_context(|| format!("--{flag} `{n}`: a number, `none` or `default`")),
        }
    };
    let now = tidings_smtp::message::now();
    let (mut limits, _, _) = store.send_limits(email, now)?;
    if let Some(v) = per_hour {
        limits.per_hour = parse(v, "per-hour")?;
    }
    if let Some(v) = per_day {
        limits.per_day = parse(v, "per-day")?;
    }
    if per_hour.is_some() || per_day.is_some() {
        store.set_send_limits(email, limits)?;
    }
    let (limits, hour, day) = store.send_limits(email, now)?;
    let show = |l: Option<u32>| match l {
        None => "the server's".to_string(),
        Some(u32::MAX) => "none".to_string(),
        Some(n) => n.to_string(),
    };
    println!(
        "{email}: per hour {} (sent {hour}), per day {} (sent {day})",
        show(limits.per_hour),
        show(limits.per_day)
    );
    Ok(())
}

/// `user policy EMAIL [--pop P] [--leave L]`: sets the policies given,
/// then prints both.
pub fn user_policy(
    store: &Store,
    email: &str,
    pop: Option<&str>,
    leave: Option<&str>,
) -> anyhow::Result<()> {
    let pop = pop
        .map(|p| PopPolicy::parse(p).with_context(|| format!("unknown POP policy `{p}`")))
        .transpose()?;
    let leave = leave
        .map(|l| LeavePolicy::parse(l).with_context(|| format!("unknown leave policy `{l}`")))
        .transpose()?;
    if pop.is_some() || leave.is_some() {
        store.set_policies(email, leave, pop)?;
    }
    let Some(account) = store.account(email)? else {
        bail!("no account {email}");
    };
    println!(
        "{email}: pop {}  leave {}",
        account.pop_policy, account.leave_policy
    );
    Ok(())
}

/// `domain add`: adds the domain and prints the DNS records to publish for
/// it (the DKIM key is made if there is none yet, as `serve` would).
pub fn domain_add(store: &Store, settings: &Settings, name: &str) -> anyhow::Result<()> {
    let key = crate::init::ensure_dkim_key(settings)?;
    store.add_domain(name)?;
    let domain = name.trim_end_matches('.').to_ascii_lowercase();
    println!("added domain {domain}; publish these DNS records for it:\n");
    print!(
        "{}",
        crate::init::dns_records(
            &domain,
            &settings.hostname,
            &settings.dkim_selector,
            &key.public_key,
            &settings.mta_sts_policy,
        )
    );
    Ok(())
}

/// `domain list`: one per line.
pub fn domain_list(store: &Store) -> anyhow::Result<()> {
    for d in store.domains()? {
        println!("{}", d.name);
    }
    Ok(())
}

/// `domain del`.
pub fn domain_del(store: &Store, name: &str) -> anyhow::Result<()> {
    store.remove_domain(name)?;
    println!("deleted domain {name}");
    Ok(())
}

/// `alias add`: one account, or several targets (accounts, aliases,
/// remote addresses).
pub fn alias_add(store: &Store, address: &str, targets: &[String]) -> anyhow::Result<()> {
    store.add_alias_targets(address, targets)?;
    println!("added alias {address} -> {}", targets.join(", "));
    Ok(())
}

/// `alias list`: `address -> target, target…`, one alias per line.
pub fn alias_list(store: &Store) -> anyhow::Result<()> {
    for a in store.aliases()? {
        println!("{} -> {}", a.address, a.targets.join(", "));
    }
    Ok(())
}

/// `alias del`.
pub fn alias_del(store: &Store, address: &str) -> anyhow::Result<()> {
    store.remove_alias(address)?;
    println!("deleted alias {address}");
    Ok(())
}

/// The account `owner` and its mailbox `name`.
fn owned_mailbox(
    store: &Store,
    owner: &str,
    name: &str,
) -> anyhow::Result<(tidings_types::AccountId, tidings_store::Mailbox)> {
    let account = store
        .account(owner)?
        .ok_or_else(|| anyhow::anyhow!("no account {owner}"))?;
    let name = tidings_types::MailboxName::new(name)?;
    let mailbox = store
        .mailbox(account.id, &name)?
        .ok_or_else(|| anyhow::anyhow!("{owner} has no mailbox {name}"))?;
    Ok((account.id, mailbox))
}

/// `mailbox share` (`rights`) and `mailbox unshare` (`None`).
pub fn mailbox_share(
    store: &Store,
    owner: &str,
    mailbox: &str,
    grantee: &str,
    rights: Option<&str>,
) -> anyhow::Result<()> {
    let (account, m) = owned_mailbox(store, owner, mailbox)?;
    let rights = rights
        .map(tidings_store::Rights::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}: rights are letters of lrswipkxtea"))?;
    let who = tidings_store::Grantee::parse(grantee);
    store.set_rights(account, m.id, &who, rights)?;
    match rights.filter(|r| !r.is_empty()) {
        Some(r) => println!("granted {who} {r} on {owner}'s {mailbox}"),
        None => println!("{who} has no rights on {owner}'s {mailbox} any more"),
    }
    Ok(())
}

/// `mailbox acl`: `identifier rights`, one per line, the owner first.
pub fn mailbox_acl(store: &Store, owner: &str, mailbox: &str) -> anyhow::Result<()> {
    let (account, m) = owned_mailbox(store, owner, mailbox)?;
    for e in store.acl(account, m.id)? {
        println!("{} {}", e.grantee, e.rights);
    }
    Ok(())
}

/// `queue list`: one line per message, then one per recipient.
pub fn queue_list(store: &Store) -> anyhow::Result<()> {
    let queued = store.queue_list()?;
    if queued.is_empty() {
        println!("the queue is empty");
    }
    for m in queued {
        let sender = if m.sender.is_empty() { "<>" } else { &m.sender };
        println!(
            "{}  from {sender}  {}  attempts {}  next {}",
            m.id,
            format_size(m.size),
            m.attempts,
            if m.next_attempt == 0 {
                "now".to_string()
            } else {
                format!("at {}", m.next_attempt)
            }
        );
        for r in m.recipients {
            let status = match r.status {
                tidings_store::DeliveryStatus::Pending => "pending",
                tidings_store::DeliveryStatus::Delivered => "delivered",
                tidings_store::DeliveryStatus::Failed => "failed",
            };
            println!(
                "  {status:9} {}  {}",
                r.address,
                r.reply.unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// `queue retry ID`.
pub fn queue_retry(store: &Store, id: &str) -> anyhow::Result<()> {
    let id: tidings_store::QueueId = id.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    store.queue_retry(id)?;
    println!("{id} will be tried again now");
    Ok(())
}

/// `queue delete ID`.
pub fn queue_delete(store: &Store, id: &str) -> anyhow::Result<()> {
    let id: tidings_store::QueueId = id.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    store.queue_delete(id)?;
    println!("deleted {id} from the queue");
    Ok(())
}

/// The DNS part of `check`: says whether there is a resolver and, with a
/// config file, whether it answers (one question; in zero-config mode
/// nothing is sent). A warning, not a store problem: the exit status stays
/// the store's (mail is still taken without DNS, only unchecked).
pub fn check_dns(settings: &crate::config::Settings) {
    let dns = settings.dns;
    if let Err(why) = dns.hickory() {
        println!(
            "warning: no DNS resolver ({why}): inbound mail is not checked (SPF/DKIM/DMARC), \
             outbound mail leaves only through [smtp] relay or [smtp.mx]"
        );
        return;
    }
    if settings.zero_config() {
        println!("dns: {} (not asked in zero-config mode)", dns.resolver);
        return;
    }
    let probe = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(dns.probe()));
    match probe {
        Ok(()) => println!("dns: {} answers", dns.resolver),
        Err(why) => println!(
            "warning: DNS does not work ({why}): inbound checks end in temperror, \
             outbound mail waits"
        ),
    }
}

/// `dns check DOMAIN`: one line per record (`ok`, `missing`, `wrong`,
/// `unknown`); fails when a required record is not `ok`.
pub fn dns_check(settings: &Settings, domain: &str) -> anyhow::Result<()> {
    let resolver = settings
        .dns
        .resolver()
        .map_err(|why| anyhow::anyhow!("no DNS resolver: {why}"))?;
    let public_key = if settings.dkim_key.exists() {
        Some(crate::init::ensure_dkim_key(settings)?.public_key)
    } else {
        None
    };
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let sts_id = tidings_smtp::records::mta_sts_id(&settings.mta_sts_policy);
    let expected = tidings_smtp::records::Expected {
        domain: &domain,
        hostname: &settings.hostname,
        selector: &settings.dkim_selector,
        dkim_public_key: public_key.as_deref(),
        mta_sts_id: Some(&sts_id),
    };
    let findings = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(tidings_smtp::records::check(&resolver, &expected));
    let width = findings.iter().map(|f| f.record.len()).max().unwrap_or(0);
    let mut failed = 0;
    for f in &findings {
        let mark = if f.required { "" } else { " (recommended)" };
        println!(
            "{:<8} {:<width$}  {}{mark}",
            f.status.as_str(),
            f.record,
            f.detail
        );
        if f.required && f.status != tidings_smtp::records::Status::Ok {
            failed += 1;
        }
    }
    if failed > 0 {
        bail!("{failed} required record(s) of {domain} are missing, wrong or could not be checked");
    }
    Ok(())
}

/// `backup PATH`.
pub fn backup(store: &Store, path: &std::path::Path) -> anyhow::Result<()> {
    let r = store
        .backup(path)
        .with_context(|| format!("cannot back up to {}", path.display()))?;
    println!(
        "backed up {} emails, {} blob files, {} bytes to {}",
        r.emails,
        r.blob_files,
        r.bytes,
        path.display()
    );
    Ok(())
}

/// The file `tidings backup` writes in its directory for a PostgreSQL store.
pub const PG_DUMP_FILE: &str = "tidings.pgdump";

/// The command that restores a dump of [`backup_postgres`] into an empty
/// database (the password from `PGPASSWORD` or `~/.pgpass`).
fn pg_restore_command(url: &str, dump: &std::path::Path) -> String {
    format!(
        "pg_restore --no-owner --exit-on-error --dbname='{url}' '{}'",
        dump.display()
    )
}

/// `backup PATH` of a PostgreSQL store: PostgreSQL's own `pg_dump` (one
/// consistent snapshot of every table, blobs included) into
/// `PATH/tidings.pgdump`, custom format, fsynced. The password goes to
/// `pg_dump` in `PGPASSWORD`, never on its command line. With the blobs in
/// S3 (`s3`), the dump has the rows only: it says so.
pub fn backup_postgres(
    url: &str,
    s3: Option<&tidings_store::s3::S3Config>,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let Some((public, password)) = tidings_store::postgres::split_password(url) else {
        bail!("[store] url is not a PostgreSQL URL");
    };
    let dump = path.join(PG_DUMP_FILE);
    let by_hand = format!(
        "pg_dump --format=custom --file='{}' --dbname='{public}'",
        dump.display()
    );
    if path.exists() && std::fs::read_dir(path)?.next().is_some() {
        bail!(
            "{} is not empty: a backup goes into a new directory",
            path.display()
        );
    }
    std::fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        // The dump holds password hashes and mail: the owner's only.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    let mut cmd = std::process::Command::new("pg_dump");
    cmd.arg("--format=custom")
        .arg(format!("--file={}", dump.display()))
        .arg(format!("--dbname={public}"));
    if let Some(p) = &password {
        cmd.env("PGPASSWORD", p);
    }
    let status = match cmd.status() {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let _ = std::fs::remove_dir(path);
            bail!(
                "the store is in PostgreSQL and pg_dump is not installed (Debian: apt install \
                 postgresql-client, of the server's major version or newer); back it up with: \
                 {by_hand}, or with continuous archiving (docs/operations.md)"
            );
        }
        Err(e) => return Err(e).context("cannot run pg_dump"),
    };
    if !status.success() {
        let _ = std::fs::remove_file(&dump);
        let _ = std::fs::remove_dir(path);
        bail!("pg_dump failed ({status}); nothing was backed up (by hand: {by_hand})");
    }
    std::fs::File::open(&dump)?.sync_all()?;
    std::fs::File::open(path)?.sync_all()?;
    let bytes = std::fs::metadata(&dump)?.len();
    println!(
        "backed up the PostgreSQL database ({bytes} bytes, one snapshot) to {}",
        dump.display()
    );
    println!(
        "restore it into an empty database with: {}",
        pg_restore_command(&public, &dump)
    );
    if let Some(s3) = s3 {
        println!(
            "the bytes of messages stored in the S3 bucket {} (prefix {:?}) are not in the dump: \
             back the bucket up too (bucket versioning, or a copy started now: objects are \
             never rewritten, but ones the dump names may be collected once their mail is gone)",
            s3.bucket, s3.prefix
        );
    }
    Ok(())
}

/// `restore PATH`: into the settings' data directory, then `check`. A
/// PostgreSQL dump is restored with `pg_restore`: this says how.
/// `tidings migrate`: the SQLite store of `from` (or the data directory)
/// into the empty PostgreSQL database `to`, with each table's rows shown
/// as they are copied.
pub fn migrate(
    settings: &Settings,
    from: Option<&std::path::Path>,
    to: &str,
) -> anyhow::Result<()> {
    let from = from.unwrap_or(&settings.data_dir);
    if !from.join("tidings.db").is_file() {
        bail!("{} holds no Tidings store", from.display());
    }
    // The URL holds a password: not in messages.
    let pg = tidings_store::postgres::PgBackend::open(to)
        .context("cannot open the PostgreSQL database of --to")?;
    let report = pg
        .migrate_from_sqlite(from, &mut |table, rows| println!("{table}: {rows} rows"))
        .with_context(|| format!("cannot migrate {}", from.display()))?;
    let rows: u64 = report.tables.iter().map(|(_, n)| n).sum();
    println!(
        "migrated {} ({rows} rows) into PostgreSQL; set [store] url to it and start the nodes",
        from.display()
    );
    Ok(())
}

pub fn restore(settings: &Settings, path: &std::path::Path) -> anyhow::Result<()> {
    let dump = path.join(PG_DUMP_FILE);
    if dump.is_file() {
        let url = settings
            .store_url
            .as_deref()
            .and_then(tidings_store::postgres::split_password)
            .map_or_else(
                || "postgresql://USER@HOST:PORT/DATABASE".to_string(),
                |(u, _)| u,
            );
        bail!(
            "{} is a backup of a PostgreSQL store: restore it into an empty database with \
             PostgreSQL's own tool: {}",
            path.display(),
            pg_restore_command(&url, &dump)
        );
    }
    let r = Store::restore(path, &settings.data_dir).with_context(|| {
        format!(
            "cannot restore {} into {}",
            path.display(),
            settings.data_dir.display()
        )
    })?;
    println!(
        "restored {} emails, {} blob files, {} bytes into {}",
        r.emails,
        r.blob_files,
        r.bytes,
        settings.data_dir.display()
    );
    let store = open_store(settings)?;
    let result = check(&store);
    store.close();
    result
}

/// `check`: prints a summary, the notes and the problems; fails if there
/// are problems.
pub fn check(store: &Store) -> anyhow::Result<()> {
    let report = store.check()?;
    println!(
        "checked {} accounts, {} emails, {} blobs: {}",
        report.accounts,
        report.emails,
        report.blobs,
        if report.is_clean() {
            "clean"
        } else {
            "PROBLEMS"
        }
    );
    for note in &report.notes {
        println!("note: {note}");
    }
    for problem in &report.problems {
        println!("problem: {problem}");
    }
    match report.problems.len() {
        0 => Ok(()),
        n => bail!("the store check found {n} problem(s)"),
    }
}

const UNITS: [(char, u64); 4] = [
    ('T', 1 << 40),
    ('G', 1 << 30),
    ('M', 1 << 20),
    ('K', 1 << 10),
];

/// Parses a quota: bytes, or a number with `K`, `M`, `G` or `T` (powers of
/// 1024, optionally followed by `B` or `iB`); `none` or `unlimited` for no quota.
pub fn parse_size(text: &str) -> anyhow::Result<Option<u64>> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("unlimited") {
        return Ok(None);
    }
    let upper = t.to_ascii_uppercase();
    let t = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (digits, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], Some(c)),
        _ => (t, None),
    };
    let multiplier = match unit {
        None => 1,
        Some(u) => match UNITS.iter().find(|(c, _)| *c == u) {
            Some((_, m)) => *m,
            None => bail!("`{text}`: unknown unit `{u}` (use K, M, G or T)"),
        },
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| anyhow::anyhow!("`{text}` is not a size like 500M, 2G or none"))?;
    n.checked_mul(multiplier)
        .map(Some)
        .with_context(|| format!("`{text}` is too large"))
}

/// A size as `parse_size` reads it: exact (`500M`) when it can be, else
/// rounded to one decimal (`1.2M`).
pub fn format_size(bytes: u64) -> String {
    for (unit, size) in UNITS {
        if bytes >= size {
            return if bytes.is_multiple_of(size) {
                format!("{}{unit}", bytes / size)
            } else {
                format!("{:.1}{unit}", bytes as f64 / size as f64)
            };
        }
    }
    bytes.to_string()
}

/// `tidings user vacation`: shows, sets (`--text-file`, `--html-file`,
/// `--subject`) or turns off (`--off`) the account's vacation response.
pub fn user_vacation(
    store: &Store,
    email: &str,
    subject: Option<&str>,
    text_file: Option<&std::path::Path>,
    html_file: Option<&std::path::Path>,
    off: bool,
) -> anyhow::Result<()> {
    let account = store
        .account(email)?
        .with_context(|| format!("no account {email}"))?;
    let mut vacation = store.vacation(account.id)?;
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
    };
    if off {
        vacation.enabled = false;
        store.set_vacation(account.id, &vacation)?;
    } else if subject.is_some() || text_file.is_some() || html_file.is_some() {
        if let Some(s) = subject {
            if s.contains(['\r', '\n']) {
                anyhow::bail!("--subject must be one line");
            }
            vacation.subject = Some(s.to_string()).filter(|s| !s.is_empty());
        }
        if let Some(p) = text_file {
            vacation.text_body = Some(read(p)?);
        }
        if let Some(p) = html_file {
            vacation.html_body = Some(read(p)?);
        }
        vacation.enabled = true;
        store.set_vacation(account.id, &vacation)?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{email}: vacation reply {}{}",
        if vacation.enabled { "on" } else { "off" },
        vacation
            .subject
            .as_deref()
            .map(|s| format!(", subject {s:?}"))
            .unwrap_or_default()
    )?;
    Ok(())
}

/// The reporter of TLS-RPT (and other) reports: the first mail domain (or
/// the host name), signing with the DKIM key when it exists.
pub fn reporter(
    settings: &Settings,
    dkim: Option<std::sync::Arc<tidings_smtp::auth::DkimKey>>,
) -> tidings_smtp::tlsrpt::Reporter {
    tidings_smtp::tlsrpt::Reporter {
        domain: settings
            .domains
            .first()
            .cloned()
            .unwrap_or_else(|| settings.hostname.clone()),
        hostname: settings.hostname.clone(),
        dkim,
    }
}

/// The DKIM key, when it exists (reports are signed with it).
fn dkim_if_any(
    settings: &Settings,
) -> anyhow::Result<Option<std::sync::Arc<tidings_smtp::auth::DkimKey>>> {
    if !settings.dkim_key.exists() {
        return Ok(None);
    }
    let key_file = crate::init::ensure_dkim_key(settings)?;
    Ok(Some(std::sync::Arc::new(
        tidings_smtp::auth::DkimKey::from_pem(&settings.dkim_selector, &key_file.pem)
            .with_context(|| format!("DKIM key {}", settings.dkim_key.display()))?,
    )))
}

/// `tidings dmarc send`: queues the DMARC aggregate reports of past days
/// (and of today with `now`).
pub fn dmarc_send(store: &Store, settings: &Settings, now: bool) -> anyhow::Result<()> {
    let authenticator = settings
        .dns
        .authenticator()
        .map_err(|why| anyhow::anyhow!("no DNS resolver: {why}"))?;
    let reporter = reporter(settings, dkim_if_any(settings)?);
    let today = tidings_smtp::message::now().div_euclid(86_400);
    let last_day = if now { today } else { today - 1 };
    let lines = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(tidings_smtp::dmarc_report::send(
            store,
            &authenticator,
            &reporter,
            last_day,
            &tidings_smtp::outbound::OutboundHandle::new(),
        ))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if lines.is_empty() {
        println!("no DMARC evaluations to report");
    }
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

/// `tidings tlsrpt send`: queues the TLS-RPT reports of past days (and of
/// today with `now`).
pub fn tlsrpt_send(store: &Store, settings: &Settings, now: bool) -> anyhow::Result<()> {
    let resolver = settings
        .dns
        .resolver()
        .map_err(|why| anyhow::anyhow!("no DNS resolver: {why}"))?;
    let dkim = if settings.dkim_key.exists() {
        let key_file = crate::init::ensure_dkim_key(settings)?;
        Some(std::sync::Arc::new(
            tidings_smtp::auth::DkimKey::from_pem(&settings.dkim_selector, &key_file.pem)
                .with_context(|| format!("DKIM key {}", settings.dkim_key.display()))?,
        ))
    } else {
        None
    };
    let reporter = reporter(settings, dkim);
    let today = tidings_smtp::message::now().div_euclid(86_400);
    let last_day = if now { today } else { today - 1 };
    let lines = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(tidings_smtp::tlsrpt::send(
            store,
            &resolver,
            &reporter,
            last_day,
            &tidings_smtp::outbound::OutboundHandle::new(),
        ))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if lines.is_empty() {
        println!("no TLS sessions to report");
    }
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("500M").unwrap(), Some(500 << 20));
        assert_eq!(parse_size("2g").unwrap(), Some(2 << 30));
        assert_eq!(parse_size("10KiB").unwrap(), Some(10 << 10));
        assert_eq!(parse_size("1TB").unwrap(), Some(1 << 40));
        assert_eq!(parse_size("1234").unwrap(), Some(1234));
        assert_eq!(parse_size("none").unwrap(), None);
        for bad in ["", "M", "5X", "-1M", "1.5G", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(format_size(500 << 20), "500M");
        assert_eq!(format_size(1_234_567), "1.2M");
        assert_eq!(format_size(999), "999");
        assert_eq!(parse_size(&format_size(3 << 30)).unwrap(), Some(3 << 30));
    }
}
