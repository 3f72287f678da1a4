//! Mail client autoconfiguration, describing the ports this server really
//! listens on:
//! - Thunderbird's `config-v1.1.xml` (the "Autoconfig" format of
//!   Thunderbird's ISPDB, served at `/.well-known/autoconfig/mail/…` and
//!   `/mail/…`, with `?emailaddress=`);
//! - Outlook's POX autodiscover (`POST /autodiscover/autodiscover.xml`,
//!   the 2006 request/response schemas), IMAP/POP3/SMTP only.
//! - The same URL answers a phone's request with the `mobilesync`
//!   response schema (MS-ASCMD's autodiscover, MS-OXDSCLI §2.2.4): the
//!   ActiveSync endpoint on the HTTPS port.
//!
//! Implementation-notes: the address the client names is only echoed
//! (escaped); which account exists is not revealed.

/// One listening mail port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailPort {
    /// `imap`, `imaps`, `pop3`, `pop3s`, `submission`, `submissions`.
    pub protocol: &'static str,
    pub port: u16,
}

/// XML-escapes text for element content and attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The domain of an address, or `fallback`.
fn domain_of<'a>(address: Option<&'a str>, fallback: &'a str) -> &'a str {
    address
        .and_then(|a| a.rsplit_once('@'))
        .map(|(_, d)| d)
        .filter(|d| !d.is_empty())
        .unwrap_or(fallback)
}

/// Thunderbird's autoconfig document. Implicit TLS is listed first (RFC
/// 8314 §3: preferred), then STARTTLS.
pub fn thunderbird(hostname: &str, ports: &[MailPort], address: Option<&str>) -> String {
    let domain = escape(domain_of(address, hostname));
    let host = escape(hostname);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n  \
         <emailProvider id=\"{domain}\">\n    <domain>{domain}</domain>\n    \
         <displayName>{domain}</displayName>\n    <displayShortName>{domain}</displayShortName>\n"
    );
    let order = [
        ("imaps", "incomingServer", "imap", "SSL"),
        ("imap", "incomingServer", "imap", "STARTTLS"),
        ("pop3s", "incomingServer", "pop3", "SSL"),
        ("pop3", "incomingServer", "pop3", "STARTTLS"),
        ("submissions", "outgoingServer", "smtp", "SSL"),
        ("submission", "outgoingServer", "smtp", "STARTTLS"),
    ];
    for (protocol, element, kind, socket) in order {
        for p in ports.iter().filter(|p| p.protocol == protocol) {
            out.push_str(&format!(
                "    <{element} type=\"{kind}\">\n      <hostname>{host}</hostname>\n      \
                 <port>{}</port>\n      <socketType>{socket}</socketType>\n      \
                 <authentication>password-cleartext</authentication>\n      \
                 <username>%EMAILADDRESS%</username>\n    </{element}>\n",
                p.port
            ));
        }
    }
    out.push_str("  </emailProvider>\n</clientConfig>\n");
    out
}

/// The `EMailAddress` of an Outlook autodiscover request, if any.
pub fn request_address(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<EMailAddress>")? + "<EMailAddress>".len();
    let end = start + text[start..].find("</EMailAddress>")?;
    let address = text[start..end].trim();
    (!address.is_empty() && address.len() <= 320).then(|| address.to_string())
}

/// The response schema of an ActiveSync client's autodiscover request.
const MOBILESYNC: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006";

/// Whether an autodiscover request asks for the `mobilesync` schema (a
/// phone) rather than Outlook's.
pub fn wants_mobilesync(body: &[u8]) -> bool {
    std::str::from_utf8(body).is_ok_and(|t| t.contains(MOBILESYNC))
}

/// The `mobilesync` autodiscover response: the ActiveSync URL on the
/// HTTPS port, or an error response when HTTPS does not listen.
pub fn mobilesync(hostname: &str, https_port: Option<u16>, address: Option<&str>) -> String {
    let head = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover \
                xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n  ";
    let Some(port) = https_port else {
        return format!(
            "{head}<Response xmlns=\"{MOBILESYNC}\">\n    <Culture>en:us</Culture>\n    \
             <Action>\n      <Error>\n        <Status>2</Status>\n        \
             <Message>ActiveSync needs HTTPS, which this server does not listen on</Message>\n      \
             </Error>\n    </Action>\n  </Response>\n</Autodiscover>\n"
        );
    };
    let host = escape(hostname);
    let port = if port == 443 {
        String::new()
    } else {
        format!(":{port}")
    };
    let url = format!("https://{host}{port}/Microsoft-Server-ActiveSync");
    let address = escape(address.unwrap_or(""));
    let name = escape(address.split('@').next().unwrap_or(""));
    format!(
        "{head}<Response xmlns=\"{MOBILESYNC}\">\n    <Culture>en:us</Culture>\n    <User>\n      \
         <DisplayName>{name}</DisplayName>\n      <EMailAddress>{address}</EMailAddress>\n    </User>\n    \
         <Action>\n      <Settings>\n        <Server>\n          <Type>MobileSync</Type>\n          \
         <Url>{url}</Url>\n          <Name>{url}</Name>\n        </Server>\n      </Settings>\n    \
         </Action>\n  </Response>\n</Autodiscover>\n"
    )
}

/// Outlook's POX autodiscover response (schema `outlook/responseschema/2006a`).
pub fn outlook(hostname: &str, ports: &[MailPort], address: Option<&str>) -> String {
    let host = escape(hostname);
    let login = escape(address.unwrap_or(""));
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n  \
         <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">\n    \
         <Account>\n      <AccountType>email</AccountType>\n      <Action>settings</Action>\n",
    );
    let order = [
        ("imaps", "IMAP", "<SSL>on</SSL>"),
        ("imap", "IMAP", "<SSL>on</SSL><Encryption>TLS</Encryption>"),
        ("pop3s", "POP3", "<SSL>on</SSL>"),
        ("pop3", "POP3", "<SSL>on</SSL><Encryption>TLS</Encryption>"),
        ("submissions", "SMTP", "<SSL>on</SSL>"),
        (
            "submission",
            "SMTP",
            "<SSL>on</SSL><Encryption>TLS</Encryption>",
        ),
    ];
    for (protocol, kind, tls) in order {
        for p in ports.iter().filter(|p| p.protocol == protocol) {
            out.push_str(&format!(
                "      <Protocol>\n        <Type>{kind}</Type>\n        <Server>{host}</Server>\n        \
                 <Port>{}</Port>\n        <LoginName>{login}</LoginName>\n        \
                 <DomainRequired>off</DomainRequired>\n        <SPA>off</SPA>\n        {tls}\n        \
                 <AuthRequired>on</AuthRequired>\n      </Protocol>\n",
                p.port
            ));
        }
    }
    out.push_str("    </Account>\n  </Response>\n</Autodiscover>\n");
    out
}

/// An Apple configuration profile (`.mobileconfig`, payload type
/// `com.apple.mail.managed`) that sets up one mail account on iOS and
/// macOS: IMAP and SMTP submission on the ports that listen (implicit TLS
/// preferred, else STARTTLS), the address as the user name, the password
/// asked on the device (the profile holds none). `None` without an IMAP
/// or submission port. Its identifiers are derived from the host name and
/// the address, so a second download replaces the first profile instead
/// of adding another.
pub fn mobileconfig(hostname: &str, ports: &[MailPort], address: &str) -> Option<String> {
    let pick = |tls: &str, plain: &str| {
        ports
            .iter()
            .find(|p| p.protocol == tls)
            .map(|p| (p.port, true))
            .or_else(|| {
                ports
                    .iter()
                    .find(|p| p.protocol == plain)
                    .map(|p| (p.port, false))
            })
    };
    let (imap_port, imap_tls) = pick("imaps", "imap")?;
    let (smtp_port, smtp_tls) = pick("submissions", "submission")?;
    let uuid = |what: &str| {
        use sha2::Digest;
        let h = sha2::Sha256::digest(format!("{hostname}\n{address}\n{what}").as_bytes());
        let hex: String = h.iter().take(16).map(|b| format!("{b:02X}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    };
    let reverse: Vec<&str> = hostname.rsplit('.').collect();
    let id = escape(&format!("{}.mail", reverse.join(".")));
    let host = escape(hostname);
    let addr = escape(address);
    let b = |v: bool| if v { "<true/>" } else { "<false/>" };
    Some(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
<plist version=\"1.0\">\n<dict>\n\
  <key>PayloadContent</key>\n  <array>\n    <dict>\n\
      <key>EmailAccountDescription</key><string>{addr}</string>\n\
      <key>EmailAccountType</key><string>EmailTypeIMAP</string>\n\
      <key>EmailAddress</key><string>{addr}</string>\n\
      <key>IncomingMailServerAuthentication</key><string>EmailAuthPassword</string>\n\
      <key>IncomingMailServerHostName</key><string>{host}</string>\n\
      <key>IncomingMailServerPortNumber</key><integer>{imap_port}</integer>\n\
      <key>IncomingMailServerUseSSL</key>{imap_tls}\n\
      <key>IncomingMailServerUsername</key><string>{addr}</string>\n\
      <key>OutgoingMailServerAuthentication</key><string>EmailAuthPassword</string>\n\
      <key>OutgoingMailServerHostName</key><string>{host}</string>\n\
      <key>OutgoingMailServerPortNumber</key><integer>{smtp_port}</integer>\n\
      <key>OutgoingMailServerUseSSL</key>{smtp_tls}\n\
      <key>OutgoingMailServerUsername</key><string>{addr}</string>\n\
      <key>OutgoingPasswordSameAsIncomingPassword</key><true/>\n\
      <key>PayloadDisplayName</key><string>{addr}</string>\n\
      <key>PayloadIdentifier</key><string>{id}.account</string>\n\
      <key>PayloadType</key><string>com.apple.mail.managed</string>\n\
      <key>PayloadUUID</key><string>{account_uuid}</string>\n\
      <key>PayloadVersion</key><integer>1</integer>\n\
    </dict>\n  </array>\n\
  <key>PayloadDisplayName</key><string>Mail: {addr}</string>\n\
  <key>PayloadIdentifier</key><string>{id}</string>\n\
  <key>PayloadRemovalDisallowed</key><false/>\n\
  <key>PayloadType</key><string>Configuration</string>\n\
  <key>PayloadUUID</key><string>{profile_uuid}</string>\n\
  <key>PayloadVersion</key><integer>1</integer>\n\
</dict>\n</plist>\n",
        imap_tls = b(imap_tls),
        smtp_tls = b(smtp_tls),
        account_uuid = uuid("account"),
        profile_uuid = uuid("profile"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thunderbird_lists_only_open_ports_and_escapes() {
        let ports = [
            MailPort {
                protocol: "imaps",
                port: 993,
            },
            MailPort {
                protocol: "submission",
                port: 587,
            },
        ];
        let xml = thunderbird("mail.example.org", &ports, Some("a@ex<ample.org"));
        assert!(xml.contains("<port>993</port>"));
        assert!(xml.contains("<socketType>STARTTLS</socketType>"));
        assert!(!xml.contains("pop3"));
        assert!(xml.contains("ex&lt;ample.org"));
    }

    #[test]
    fn mobilesync_names_the_activesync_url() {
        let req = br#"<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"><Request><EMailAddress>bob@example.org</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006</AcceptableResponseSchema></Request></Autodiscover>"#;
        assert!(wants_mobilesync(req));
        assert!(!wants_mobilesync(b"<Autodiscover/>"));
        let xml = mobilesync("mail.example.org", Some(443), Some("bob@example.org"));
        assert!(
            xml.contains("<Url>https://mail.example.org/Microsoft-Server-ActiveSync</Url>"),
            "{xml}"
        );
        assert!(
            xml.contains("<EMailAddress>bob@example.org</EMailAddress>"),
            "{xml}"
        );
        let xml = mobilesync("h", Some(8443), None);
        assert!(
            xml.contains("https://h:8443/Microsoft-Server-ActiveSync"),
            "{xml}"
        );
        assert!(mobilesync("h", None, None).contains("<Error>"));
    }

    #[test]
    fn outlook_request_address() {
        let body = b"<Autodiscover><Request><EMailAddress>bob@x.org</EMailAddress></Request></Autodiscover>";
        assert_eq!(request_address(body).as_deref(), Some("bob@x.org"));
        assert_eq!(request_address(b"<nothing/>"), None);
    }
}
