//! `tidings`: the command line of the Tidings mail server.
//!
//! The command line is a contract scripts rely on: subcommands and flags
//! only grow; every failure exits non-zero with exactly one `error: ...`
//! line on standard error (usage errors exit 2, others 1). Logs go to
//! standard error too, at the level `RUST_LOG` says (default `info` for
//! `serve`, `warn` for the other commands); standard output carries only
//! results.

#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tidings_server::admin::{self, PasswordSource};
use tidings_server::config::{DEFAULT_CONFIG_FILE, DEFAULT_DATA_DIR, Settings};
use tidings_server::init::{self, InitOptions};
use tidings_server::serve;
use tidings_server::transfer;
use tidings_store::Store;
use tidings_types::Secret;

/// Tidings: a self-hosted mail server (SMTP, IMAP, POP3, webmail) in one binary.
#[derive(Debug, Parser)]
#[command(name = "tidings", version, arg_required_else_help = true)]
struct Cli {
    /// The config file [default: ./tidings.toml when it exists, else no config:
    /// the zero-config defaults]
    #[arg(long, global = true, value_name = "FILE", env = "TIDINGS_CONFIG")]
    config: Option<PathBuf>,
    /// The data directory; overrides the config's data_dir [default: ./tidings-data]
    #[arg(long, global = true, value_name = "DIR", env = "TIDINGS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server until SIGTERM or Ctrl-C
    Serve,
    /// Write a config for a domain, make its DKIM key, print the DNS records
    Init {
        /// The mail domain, e.g. example.org
        #[arg(long)]
        domain: String,
        /// This server's host name, e.g. mail.example.org
        #[arg(long)]
        hostname: String,
        /// Overwrite an existing config file
        #[arg(long)]
        force: bool,
    },
    /// Manage accounts
    #[command(subcommand)]
    User(UserCommand),
    /// Manage the mail domains served
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Copy the store (database and blob files) into the new or empty
    /// directory PATH; safe while the server runs (a PostgreSQL store:
    /// pg_dump into PATH/tidings.pgdump)
    Backup { path: PathBuf },
    /// Make the data directory (--data-dir, or the config's) from a backup;
    /// it must not exist or be empty. The result is checked
    Restore { path: PathBuf },
    /// Copy the embedded store of a data directory (--from, else the
    /// config's; its server stopped) into the empty PostgreSQL database
    /// --to, keeping ids, UIDs and MODSEQs, so clients do not resync; then
    /// point `[store] url` at it
    Migrate {
        /// The data directory to copy [default: --data-dir, or the config's]
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
        /// postgresql://user:password@host:port/database
        #[arg(long, value_name = "URL", env = "TIDINGS_MIGRATE_TO")]
        to: String,
    },
    /// Check a domain's published DNS records
    #[command(subcommand)]
    Dns(DnsCommand),
    /// The Sender Rewriting Scheme secrets of forwarded mail
    #[command(subcommand)]
    Srs(SrsCommand),
    /// DMARC aggregate reports receivers sent to a domain's rua= address
    #[command(subcommand)]
    Dmarc(DmarcCommand),
    /// TLS-RPT (RFC 8460) reports on our outbound TLS sessions
    #[command(subcommand)]
    Tlsrpt(TlsrptCommand),
    /// Manage aliases (an address `@domain` is the domain's catch-all)
    #[command(subcommand)]
    Alias(AliasCommand),
    /// Share mailboxes between accounts (IMAP ACL rights, RFC 4314)
    #[command(subcommand)]
    Mailbox(MailboxCommand),
    /// Store the message on standard input for each recipient (a local
    /// delivery agent). Exit codes: 0 delivered, 67 unknown recipient,
    /// 75 over quota or disk full (try later), 65 empty or too large.
    Deliver {
        /// Recipient addresses (accounts, aliases, catch-alls)
        #[arg(required = true)]
        recipients: Vec<String>,
        /// Mailbox to deliver into (default INBOX; INBOX if a recipient has none)
        #[arg(long)]
        mailbox: Option<String>,
        /// A flag to set, e.g. '\Seen' (repeatable)
        #[arg(long = "flag")]
        flags: Vec<String>,
    },
    /// Show and manage the outbound queue (mail waiting for other servers)
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Import mail from an mbox file, a maildir or another IMAP server
    /// (safe while the server runs)
    #[command(subcommand)]
    Import(ImportCommand),
    /// Export an account's mail to an mbox file or a maildir
    #[command(subcommand)]
    Export(ExportCommand),
    /// Verify the store's integrity; exit 1 if there are problems
    Check,
    /// Print the version
    Version,
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// Import an mbox file (mboxrd or mboxo) into one mailbox: `Status`,
    /// `X-Status` and `X-Keywords` give the flags, each `From ` line's date
    /// the INTERNALDATE
    Mbox {
        file: PathBuf,
        /// The account to import into
        #[arg(long, value_name = "EMAIL")]
        to: String,
        /// The mailbox to import into (made if missing)
        #[arg(long, value_name = "NAME", default_value = "INBOX")]
        mailbox: String,
    },
    /// Import a maildir tree (Dovecot or Courier: INBOX at the top, folders
    /// `.A.B` or `A/B`), with the flags of the file names and
    /// `dovecot-keywords`
    Maildir {
        dir: PathBuf,
        /// The account to import into
        #[arg(long, value_name = "EMAIL")]
        to: String,
    },
    /// Copy every folder of an account on another IMAP server, with flags
    /// and INTERNALDATEs; running it again copies only what is new
    Imap {
        /// The source server's host name or address
        #[arg(long)]
        host: String,
        /// [default: 143, or 993 with --tls]
        #[arg(long)]
        port: Option<u16>,
        /// Connect with TLS from the start (IMAPS)
        #[arg(long, conflicts_with = "starttls")]
        tls: bool,
        /// Start TLS with STARTTLS after connecting
        #[arg(long)]
        starttls: bool,
        /// Trust the certificates in this PEM file instead of the system's
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
        /// The user name on the source server
        #[arg(long)]
        user: String,
        #[command(flatten)]
        password: PasswordArgs,
        /// The account to import into
        #[arg(long, value_name = "EMAIL")]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
enum ExportCommand {
    /// Write one mailbox as a new mbox file (mboxrd, flags in `Status`,
    /// `X-Status` and `X-Keywords`)
    Mbox {
        /// The account to export
        #[arg(long, value_name = "EMAIL")]
        from: String,
        /// The file to write (must not exist)
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[arg(long, value_name = "NAME", default_value = "INBOX")]
        mailbox: String,
    },
    /// Write every mailbox (but the virtual All Mail and Starred) as a
    /// Maildir++ tree, the layout Dovecot reads
    Maildir {
        /// The account to export
        #[arg(long, value_name = "EMAIL")]
        from: String,
        /// The directory to write (must not exist or be empty)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum QueueCommand {
    /// List queued messages with each recipient's status and last reply
    List,
    /// Try a message again now (its id as listed, like Q12)
    Retry { id: String },
    /// Drop a message from the queue without a bounce
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account (its domain must exist)
    Add {
        email: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// List the accounts
    List,
    /// Change an account's password
    Passwd {
        email: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Check a password: exit 0 if right, 1 if wrong
    Verify {
        email: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Delete an account and all its mail
    Del { email: String },
    /// Set an account's quota
    Quota {
        email: String,
        /// Like 500M, 2G (powers of 1024), a number of bytes, or `none`
        size: String,
    },
    /// Show or set how many messages an account may send per hour and per
    /// day (`default`: the server's `[smtp]` limits; `none`: no limit)
    Limit {
        email: String,
        #[arg(long, value_name = "N|none|default")]
        per_hour: Option<String>,
        #[arg(long, value_name = "N|none|default")]
        per_day: Option<String>,
    },
    /// Show or set the vacation auto-reply (RFC 3834; the same one JMAP's
    /// VacationResponse sets): once per sender per `[smtp]
    /// vacation_period`, never to lists or automatic mail
    Vacation {
        email: String,
        /// The reply's subject (default: `Re: ` and the original's)
        #[arg(long)]
        subject: Option<String>,
        /// A file with the reply's text (UTF-8); turns the reply on
        #[arg(long, value_name = "FILE")]
        text_file: Option<std::path::PathBuf>,
        /// A file with an HTML version of the reply
        #[arg(long, value_name = "FILE")]
        html_file: Option<std::path::PathBuf>,
        /// Turn the reply off
        #[arg(long, conflicts_with_all = ["subject", "text_file", "html_file"])]
        off: bool,
    },
    /// App passwords: tokens that work as the password (IMAP, POP3, SMTP
    /// AUTH, HTTP Basic) and as HTTP Bearer tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Exchange ActiveSync devices: list them, wipe one remotely, forget one
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// Show or set what POP3 deletions and leaving the last folder do
    Policy {
        email: String,
        /// What POP3 DELE + QUIT does to a message for the other devices
        /// (default mark-read); whatever it is, POP3 never offers it again
        #[arg(long, value_parser = ["keep", "mark-read", "archive", "trash", "delete"])]
        pop: Option<String>,
        /// What happens to an email taken out of its last folder (default archive)
        #[arg(long, value_parser = ["archive", "trash", "delete"])]
        leave: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Make an app password and print it (the only time it is shown)
    Add {
        email: String,
        /// A name to tell it by, like the device's
        name: String,
        /// It stops working after this many days (default: never)
        #[arg(long, value_name = "DAYS")]
        expires: Option<u32>,
    },
    /// List an account's tokens (app passwords and webmail sessions)
    List { email: String },
    /// Revoke a token by name
    Del { email: String, name: String },
}

#[derive(Debug, Subcommand)]
enum DevicesCommand {
    /// List an account's ActiveSync devices
    List { email: String },
    /// Ask a device to wipe itself at its next connection (MS-ASPROV remote
    /// wipe); it is refused everything else until it has
    Wipe { email: String, device_id: String },
    /// Forget a device and its sync state (it starts over, provisioning
    /// included, at its next connection)
    Del { email: String, device_id: String },
}

#[derive(Debug, Args)]
struct PasswordArgs {
    /// The password (others on this machine may see it in the process list;
    /// prefer --password-stdin). Without either flag, prompt on a terminal
    #[arg(long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from the first line of standard input
    #[arg(long)]
    password_stdin: bool,
}

impl PasswordArgs {
    fn source(self) -> PasswordSource {
        match (self.password, self.password_stdin) {
            (Some(p), _) => PasswordSource::Given(Secret::new(p)),
            (None, true) => PasswordSource::Stdin,
            (None, false) => PasswordSource::Prompt,
        }
    }
}

#[derive(Debug, Subcommand)]
enum DomainCommand {
    /// Serve a mail domain
    Add { name: String },
    /// List the domains
    List,
    /// Stop serving a domain (refused while accounts or aliases use it)
    Del { name: String },
}

#[derive(Debug, Subcommand)]
enum DnsCommand {
    /// Ask the resolver for DOMAIN's MX, address, SPF, DKIM, DMARC and SRV
    /// records; exit 1 if a required one is missing or wrong
    Check { domain: String },
}

#[derive(Debug, Subcommand)]
enum TlsrptCommand {
    /// Queue the reports of past days (the server does it hourly) to the
    /// domains whose _smtp._tls record asks for them; the running server
    /// delivers them
    Send {
        /// Report today's sessions so far too
        #[arg(long)]
        now: bool,
    },
}

#[derive(Debug, Subcommand)]
enum DmarcCommand {
    /// Queue the aggregate reports of past days (the server does it
    /// hourly) to the domains we received mail from whose DMARC record
    /// asks for them; the running server delivers them
    Send {
        /// Report today's messages so far too
        #[arg(long)]
        now: bool,
    },
    /// Sum up the aggregate reports (gzip, zip or XML attachments) in an
    /// account's mailbox: messages per domain and source, passed or failed
    Report {
        /// The account the reports are mailed to
        #[arg(long)]
        from: String,
        /// The mailbox they are in (default INBOX)
        #[arg(long)]
        mailbox: Option<String>,
        /// Only reports about this domain
        #[arg(long)]
        domain: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum SrsCommand {
    /// Put a new secret first in the SRS key file (it signs after the next
    /// start); the old ones keep verifying bounces until removed from it
    Rotate,
}

#[derive(Debug, Subcommand)]
enum AliasCommand {
    /// Deliver mail for ADDRESS to TARGETs: accounts, other aliases, or
    /// addresses elsewhere (forwarded, with the sender rewritten by SRS)
    Add {
        address: String,
        #[arg(required = true, num_args = 1..)]
        targets: Vec<String>,
    },
    /// List the aliases
    List,
    /// Delete an alias
    Del { address: String },
}

#[derive(Debug, Subcommand)]
enum MailboxCommand {
    /// Grant GRANTEE (an account, or `anyone`) RIGHTS on OWNER's MAILBOX:
    /// letters of `lrswipkxtea` (RFC 4314), e.g. `lr` to read, `lrswi` to
    /// read, flag and add
    Share {
        owner: String,
        mailbox: String,
        grantee: String,
        rights: String,
    },
    /// Take all of GRANTEE's rights on OWNER's MAILBOX away
    Unshare {
        owner: String,
        mailbox: String,
        grantee: String,
    },
    /// List who may do what with OWNER's MAILBOX
    Acl { owner: String, mailbox: String },
}

fn main() -> ExitCode {
    private_files();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    if matches!(cli.command, Command::Serve) {
        fixed_mmap_threshold();
    }
    let serving = matches!(cli.command, Command::Serve);
    let format = if serving {
        tidings_server::config::LogFormat::choose(cli.config.as_deref())
    } else {
        tidings_server::config::LogFormat::Text
    };
    init_logging(serving, format);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            match e.downcast_ref::<tidings_server::deliver::DeliverError>() {
                Some(d) => ExitCode::from(d.code),
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// glibc's malloc raises its mmap threshold each time a large block is
/// freed (up to 32 MiB); after that, the whole messages the server loads
/// for parsing and DKIM (`tidings_store::spool`) come from per-thread
/// arenas that keep freed memory resident, so the peak memory grows with
/// threads × message size whatever `[limits] message_memory` says (measured:
/// 10 concurrent 20 MiB uploads, +178 MiB peak instead of +37 MiB). A fixed
/// threshold of 1 MiB keeps such blocks mapped on their own and returned
/// when freed. glibc reads it from the environment only at start, so
/// `serve` executes itself again once with `MALLOC_MMAP_THRESHOLD_` set,
/// unless it is set already (any value: the operator's choice stands). If
/// that fails, the server runs on as it is.
fn fixed_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        const VAR: &str = "MALLOC_MMAP_THRESHOLD_";
        if std::env::var_os(VAR).is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let error = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(VAR, "1048576")
            .exec();
        eprintln!("warning: cannot fix the malloc mmap threshold: {error}");
    }
}

/// Every file and directory any `tidings` command creates (the store, its
/// SQLite journal files, blobs, the self-signed certificate and key, the
/// config and DKIM key of `init`) is private to the user it runs as: umask
/// 077. The store and the key writers set their modes explicitly as well.
fn private_files() {
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Help and version go out as clap writes them; a usage error becomes one
/// `error:` line (clap's message without its usage block).
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = e.print();
        return ExitCode::from(2);
    }
    let text = e.render().to_string();
    let line = text
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let line = if line.starts_with("error:") {
        line
    } else {
        format!("error: {line}")
    };
    eprintln!("{line} (see tidings --help)");
    ExitCode::from(2)
}

fn init_logging(serving: bool, format: tidings_server::config::LogFormat) {
    let default = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    if format == tidings_server::config::LogFormat::Json {
        // One JSON object per line, with the spans (connection id,
        // protocol, peer) that the text form prints as a prefix.
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli {
        config,
        data_dir,
        command,
    } = cli;
    let settings = || Settings::load(config.as_deref(), data_dir.as_deref());
    // Runs `f` on the store and closes it (flushing its writer) either way.
    let with_store = |f: &dyn Fn(&Store) -> anyhow::Result<()>| {
        let store = admin::open_store(&settings()?)?;
        let result = f(&store);
        store.close();
        result
    };
    match command {
        Command::Version => {
            println!("tidings {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Init {
            domain,
            hostname,
            force,
        } => {
            let opts = InitOptions {
                domain,
                hostname,
                config: config.unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE)),
                data_dir: data_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
                force,
            };
            print!("{}", init::run(&opts)?);
            Ok(())
        }
        Command::Serve => serve::run(&settings()?),
        Command::User(cmd) => user(cmd, with_store),
        Command::Domain(cmd) => with_store(&|store| match &cmd {
            DomainCommand::Add { name } => admin::domain_add(store, &settings()?, name),
            DomainCommand::List => admin::domain_list(store),
            DomainCommand::Del { name } => admin::domain_del(store, name),
        }),
        Command::Backup { path } => match &settings()?.store_url {
            // PostgreSQL's own tool takes a PostgreSQL store's backup.
            Some(url) => {
                let settings = settings()?;
                admin::backup_postgres(url, settings.store_blobs.as_ref(), &path)
            }
            None => with_store(&|store| admin::backup(store, &path)),
        },
        Command::Restore { path } => admin::restore(&settings()?, &path),
        Command::Migrate { from, to } => admin::migrate(&settings()?, from.as_deref(), &to),
        Command::Dns(DnsCommand::Check { domain }) => admin::dns_check(&settings()?, &domain),
        Command::Tlsrpt(TlsrptCommand::Send { now }) => {
            let settings = settings()?;
            let store = admin::open_store(&settings)?;
            let result = admin::tlsrpt_send(&store, &settings, now);
            store.close();
            result
        }
        Command::Dmarc(DmarcCommand::Send { now }) => {
            let settings = settings()?;
            let store = admin::open_store(&settings)?;
            let result = admin::dmarc_send(&store, &settings, now);
            store.close();
            result
        }
        Command::Dmarc(DmarcCommand::Report {
            from,
            mailbox,
            domain,
        }) => with_store(&|store| {
            tidings_server::dmarc::report(store, &from, mailbox.as_deref(), domain.as_deref())
        }),
        Command::Srs(SrsCommand::Rotate) => {
            let settings = settings()?;
            let n = init::rotate_srs_key(&settings)?;
            println!(
                "{}: a new secret signs after the next start; {n} secrets verify",
                settings.srs_key.display()
            );
            Ok(())
        }
        Command::Alias(cmd) => with_store(&|store| match &cmd {
            AliasCommand::Add { address, targets } => admin::alias_add(store, address, targets),
            AliasCommand::List => admin::alias_list(store),
            AliasCommand::Del { address } => admin::alias_del(store, address),
        }),
        Command::Mailbox(cmd) => with_store(&|store| match &cmd {
            MailboxCommand::Share {
                owner,
                mailbox,
                grantee,
                rights,
            } => admin::mailbox_share(store, owner, mailbox, grantee, Some(rights)),
            MailboxCommand::Unshare {
                owner,
                mailbox,
                grantee,
            } => admin::mailbox_share(store, owner, mailbox, grantee, None),
            MailboxCommand::Acl { owner, mailbox } => admin::mailbox_acl(store, owner, mailbox),
        }),
        Command::Import(ImportCommand::Imap {
            host,
            port,
            tls,
            starttls,
            ca_file,
            user,
            password,
            to,
        }) => {
            let password = admin::read_password(password.source(), &user)?;
            let source = transfer::imap::Source {
                port: port.unwrap_or(if tls { 993 } else { 143 }),
                host,
                tls: match (tls, starttls) {
                    (true, _) => transfer::imap::Tls::Implicit,
                    (false, true) => transfer::imap::Tls::StartTls,
                    (false, false) => transfer::imap::Tls::None,
                },
                ca_file,
                user,
                password,
            };
            with_store(&|store| transfer::imap::import(store, &source, &to))
        }
        Command::Import(ImportCommand::Mbox { file, to, mailbox }) => {
            with_store(&|store| transfer::mbox::import(store, &file, &to, Some(&mailbox)))
        }
        Command::Import(ImportCommand::Maildir { dir, to }) => {
            with_store(&|store| transfer::maildir::import(store, &dir, &to))
        }
        Command::Export(cmd) => with_store(&|store| match &cmd {
            ExportCommand::Mbox { from, out, mailbox } => {
                transfer::mbox::export(store, from, out, Some(mailbox))
            }
            ExportCommand::Maildir { from, out } => transfer::maildir::export(store, from, out),
        }),
        Command::Check => {
            let result = with_store(&admin::check);
            admin::check_dns(&settings()?);
            result
        }
        Command::Queue(cmd) => with_store(&|store| match &cmd {
            QueueCommand::List => admin::queue_list(store),
            QueueCommand::Retry { id } => admin::queue_retry(store, id),
            QueueCommand::Delete { id } => admin::queue_delete(store, id),
        }),
        Command::Deliver {
            recipients,
            mailbox,
            flags,
        } => with_store(&|store| {
            tidings_server::deliver::deliver(store, &recipients, mailbox.as_deref(), &flags)
        }),
    }
}

/// The `user` commands. A password is read before the store is opened.
fn user(
    cmd: UserCommand,
    with_store: impl Fn(&dyn Fn(&Store) -> anyhow::Result<()>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add { email, password } => {
            let password = admin::read_password(password.source(), &email)?;
            with_store(&|store| admin::user_add(store, &email, &password))
        }
        UserCommand::Passwd { email, password } => {
            let password = admin::read_password(password.source(), &email)?;
            with_store(&|store| admin::user_passwd(store, &email, &password))
        }
        UserCommand::Verify { email, password } => {
            let password = admin::read_password(password.source(), &email)?;
            with_store(&|store| admin::user_verify(store, &email, &password))
        }
        UserCommand::List => with_store(&admin::user_list),
        UserCommand::Del { email } => with_store(&|store| admin::user_del(store, &email)),
        UserCommand::Quota { email, size } => {
            with_store(&|store| admin::user_quota(store, &email, &size))
        }
        UserCommand::Limit {
            email,
            per_hour,
            per_day,
        } => with_store(&|store| {
            admin::user_limit(store, &email, per_hour.as_deref(), per_day.as_deref())
        }),
        UserCommand::Vacation {
            email,
            subject,
            text_file,
            html_file,
            off,
        } => with_store(&|store| {
            admin::user_vacation(
                store,
                &email,
                subject.as_deref(),
                text_file.as_deref(),
                html_file.as_deref(),
                off,
            )
        }),
        UserCommand::Token(TokenCommand::Add {
            email,
            name,
            expires,
        }) => with_store(&|store| admin::token_add(store, &email, &name, expires)),
        UserCommand::Token(TokenCommand::List { email }) => {
            with_store(&|store| admin::token_list(store, &email))
        }
        UserCommand::Token(TokenCommand::Del { email, name }) => {
            with_store(&|store| admin::token_del(store, &email, &name))
        }
        UserCommand::Devices(DevicesCommand::List { email }) => {
            with_store(&|store| admin::devices_list(store, &email))
        }
        UserCommand::Devices(DevicesCommand::Wipe { email, device_id }) => {
            with_store(&|store| admin::devices_wipe(store, &email, &device_id))
        }
        UserCommand::Devices(DevicesCommand::Del { email, device_id }) => {
            with_store(&|store| admin::devices_del(store, &email, &device_id))
        }
        UserCommand::Policy { email, pop, leave } => {
            with_store(&|store| admin::user_policy(store, &email, pop.as_deref(), leave.as_deref()))
        }
    }
}
