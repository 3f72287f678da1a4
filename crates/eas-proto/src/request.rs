//! The request line of an ActiveSync command (MS-ASHTTP §2.2.1.1.1):
//! `POST /Microsoft-Server-ActiveSync?Cmd=Sync&User=…&DeviceId=…&DeviceType=…`
//! or the same facts packed in base64 (§2.2.1.1.1.1), which some clients
//! send to save bytes.

use base64::Engine;

/// An ActiveSync command, as named in `Cmd=` (MS-ASCMD §2.2.1) with its
/// code in the base64 form (MS-ASHTTP §2.2.1.1.1.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    Sync,
    SendMail,
    SmartForward,
    SmartReply,
    GetAttachment,
    FolderSync,
    FolderCreate,
    FolderDelete,
    FolderUpdate,
    MoveItems,
    GetItemEstimate,
    MeetingResponse,
    Search,
    Settings,
    Ping,
    ItemOperations,
    Provision,
    ResolveRecipients,
    ValidateCert,
    Find,
}

impl Command {
    /// Every command with its name and base64-form code.
    pub const ALL: [(Command, &'static str, u8); 20] = [
        (Command::Sync, "Sync", 0),
        (Command::SendMail, "SendMail", 1),
        (Command::SmartForward, "SmartForward", 2),
        (Command::SmartReply, "SmartReply", 3),
        (Command::GetAttachment, "GetAttachment", 4),
        (Command::FolderSync, "FolderSync", 9),
        (Command::FolderCreate, "FolderCreate", 10),
        (Command::FolderDelete, "FolderDelete", 11),
        (Command::FolderUpdate, "FolderUpdate", 12),
        (Command::MoveItems, "MoveItems", 13),
        (Command::GetItemEstimate, "GetItemEstimate", 14),
        (Command::MeetingResponse, "MeetingResponse", 15),
        (Command::Search, "Search", 16),
        (Command::Settings, "Settings", 17),
        (Command::Ping, "Ping", 18),
        (Command::ItemOperations, "ItemOperations", 19),
        (Command::Provision, "Provision", 20),
        (Command::ResolveRecipients, "ResolveRecipients", 21),
        (Command::ValidateCert, "ValidateCert", 22),
        (Command::Find, "Find", 23),
    ];

    pub fn from_name(name: &str) -> Option<Command> {
        Self::ALL
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(c, _, _)| *c)
    }

    pub fn from_code(code: u8) -> Option<Command> {
        Self::ALL
            .iter()
            .find(|(_, _, k)| *k == code)
            .map(|(c, _, _)| *c)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(c, _, _)| *c == self)
            .map_or("", |(_, n, _)| n)
    }
}

/// What the request line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestLine {
    pub command: Command,
    /// `User=`; absent in a base64 request that leaves it out.
    pub user: Option<String>,
    pub device_id: String,
    pub device_type: String,
    /// The policy key of the base64 form (the plain form sends it as the
    /// `X-MS-PolicyKey` header).
    pub policy_key: Option<u32>,
    /// The protocol version of the base64 form (`16.1`); the plain form
    /// sends `MS-ASProtocolVersion`.
    pub protocol_version: Option<String>,
    /// The other parameters (`CollectionId`, `ItemId`, `SaveInSent`, …).
    pub params: Vec<(String, String)>,
}

impl RequestLine {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request line is refused (HTTP 400).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the request names no {0}")]
    Missing(&'static str),
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    #[error("invalid {0}")]
    Invalid(&'static str),
}

/// The longest DeviceId and DeviceType accepted (MS-ASHTTP says 32;
/// some clients send more).
pub const MAX_DEVICE_FIELD: usize = 64;

fn device_field(s: &str, what: &'static str) -> Result<String, QueryError> {
    let ok =
        !s.is_empty() && s.len() <= MAX_DEVICE_FIELD && s.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(s.to_string())
    } else {
        Err(QueryError::Invalid(what))
    }
}

/// Parses the query string of a request, in either form.
pub fn parse_query(query: &str) -> Result<RequestLine, QueryError> {
    let plain = query.split('&').any(|p| {
        p.split_once('=')
            .is_some_and(|(k, _)| k.eq_ignore_ascii_case("Cmd"))
    });
    if plain {
        parse_plain(query)
    } else {
        parse_base64(query)
    }
}

fn parse_plain(query: &str) -> Result<RequestLine, QueryError> {
    let mut cmd = None;
    let mut user = None;
    let mut device_id = None;
    let mut device_type = None;
    let mut params = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v, true);
        match k {
            k if k.eq_ignore_ascii_case("Cmd") => cmd = Some(v),
            k if k.eq_ignore_ascii_case("User") => user = Some(v),
            k if k.eq_ignore_ascii_case("DeviceId") => device_id = Some(v),
            k if k.eq_ignore_ascii_case("DeviceType") => device_type = Some(v),
            k => params.push((k.to_string(), v)),
        }
    }
    let cmd = cmd.ok_or(QueryError::Missing("Cmd"))?;
    Ok(RequestLine {
        command: Command::from_name(&cmd).ok_or(QueryError::UnknownCommand(cmd))?,
        user,
        device_id: device_field(
            &device_id.ok_or(QueryError::Missing("DeviceId"))?,
            "DeviceId",
        )?,
        device_type: device_field(
            &device_type.ok_or(QueryError::Missing("DeviceType"))?,
            "DeviceType",
        )?,
        policy_key: None,
        protocol_version: None,
        params,
    })
}

/// MS-ASHTTP §2.2.1.1.1.1: version, command code, locale (2 bytes),
/// DeviceId, PolicyKey and DeviceType each after a length byte, then
/// (tag, length, value) parameters.
fn parse_base64(query: &str) -> Result<RequestLine, QueryError> {
    // A `+` here is base64's, not a form-encoded space: clients send the
    // base64 text as it is (some percent-encode it).
    let text = percent_decode(query, false);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| QueryError::Invalid("base64 query"))?;
    let mut r = bytes.iter().copied();
    let mut next = || {
        r.next()
            .ok_or(QueryError::Invalid("base64 query: too short"))
    };
    let version = next()?;
    let code = next()?;
    let _locale = (next()?, next()?);
    let field = |next: &mut dyn FnMut() -> Result<u8, QueryError>| -> Result<Vec<u8>, QueryError> {
        let len = next()?;
        (0..len).map(|_| next()).collect()
    };
    let device_id = field(&mut next)?;
    let key = field(&mut next)?;
    let device_type = field(&mut next)?;
    let policy_key = match key.len() {
        0 => None,
        4 => Some(u32::from_le_bytes([key[0], key[1], key[2], key[3]])),
        _ => return Err(QueryError::Invalid("base64 query: policy key length")),
    };
    let mut user = None;
    let mut params = Vec::new();
    while let Ok(tag) = next() {
        let value = field(&mut next)?;
        let value = String::from_utf8_lossy(&value).into_owned();
        let name = match tag {
            0 => "AttachmentName",
            1 => "CollectionId",
            3 => "ItemId",
            4 => "LongId",
            6 => "Occurrence",
            7 => "Options",
            8 => {
                user = Some(value);
                continue;
            }
            _ => return Err(QueryError::Invalid("base64 query: parameter tag")),
        };
        // Options (§2.2.1.1.1.1.7): bit 0x01 SaveInSent, 0x02 AcceptMultiPart.
        if name == "Options" {
            let bits = value.bytes().next().unwrap_or(0);
            if bits & 0x01 != 0 {
                params.push(("SaveInSent".to_string(), "T".to_string()));
            }
            if bits & 0x02 != 0 {
                params.push(("AcceptMultiPart".to_string(), "T".to_string()));
            }
            continue;
        }
        params.push((name.to_string(), value));
    }
    let utf8 = |b: Vec<u8>, what| String::from_utf8(b).map_err(|_| QueryError::Invalid(what));
    Ok(RequestLine {
        command: Command::from_code(code)
            .ok_or_else(|| QueryError::UnknownCommand(code.to_string()))?,
        user,
        device_id: device_field(&utf8(device_id, "DeviceId")?, "DeviceId")?,
        device_type: device_field(&utf8(device_type, "DeviceType")?, "DeviceType")?,
        policy_key,
        protocol_version: Some(format!("{}.{}", version / 10, version % 10)),
        params,
    })
}

/// `%XX` decoded; with `plus_is_space`, `+` is a space (form encoding).
fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%'
            && let Some(h) = bytes.get(i + 1..i + 3)
            && let Some(v) = std::str::from_utf8(h)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if plus_is_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_form() {
        let q =
            "Cmd=Sync&User=alice%40example.org&DeviceId=ABC123&DeviceType=iPhone&CollectionId=5";
        let r = parse_query(q).unwrap();
        assert_eq!(r.command, Command::Sync);
        assert_eq!(r.user.as_deref(), Some("alice@example.org"));
        assert_eq!(r.device_id, "ABC123");
        assert_eq!(r.device_type, "iPhone");
        assert_eq!(r.param("collectionid"), Some("5"));
        assert_eq!(
            parse_query("Cmd=Nope&DeviceId=a&DeviceType=b"),
            Err(QueryError::UnknownCommand("Nope".into()))
        );
        assert_eq!(
            parse_query("Cmd=Sync&DeviceType=b"),
            Err(QueryError::Missing("DeviceId"))
        );
        assert_eq!(
            parse_query("Cmd=Sync&DeviceId=a%20b&DeviceType=b"),
            Err(QueryError::Invalid("DeviceId"))
        );
    }

    #[test]
    fn base64_form_of_ms_ashttp() {
        // MS-ASHTTP §4.1.1 style: 14.1, SendMail, en-US, device id, policy
        // key, type, User and Options=SaveInSent.
        let mut b = vec![141, 1, 0x09, 0x04];
        b.push(4);
        b.extend(b"dev1");
        b.push(4);
        b.extend(7u32.to_le_bytes());
        b.push(6);
        b.extend(b"Phone1");
        b.extend([8, 3]);
        b.extend(b"bob");
        b.extend([7, 1, 0x01]);
        let q = base64::engine::general_purpose::STANDARD.encode(&b);
        let r = parse_query(&q).unwrap();
        assert_eq!(r.command, Command::SendMail);
        assert_eq!(r.protocol_version.as_deref(), Some("14.1"));
        assert_eq!(r.device_id, "dev1");
        assert_eq!(r.device_type, "Phone1");
        assert_eq!(r.policy_key, Some(7));
        assert_eq!(r.user.as_deref(), Some("bob"));
        assert_eq!(r.param("SaveInSent"), Some("T"));
        // Cut anywhere in the fixed part: refused, no panic.
        for cut in 0..13 {
            let q = base64::engine::general_purpose::STANDARD.encode(&b[..cut]);
            assert!(parse_query(&q).is_err(), "cut {cut}");
        }
        assert_eq!(parse_query("!!!"), Err(QueryError::Invalid("base64 query")));
    }

    /// A `+` of the base64 text is base64's (a policy key made one, and
    /// the test with pyactivesync failed one run in a few), whether sent
    /// as it is or percent-encoded.
    #[test]
    fn a_plus_in_the_base64_form_is_base64s() {
        let mut b = vec![161, 9, 0x09, 0x04, 3];
        b.extend(b"d12");
        b.push(4);
        // 0xFB 0xEF 0xBE: "++++" in base64 wherever it lines up.
        b.extend([0xFB, 0xEF, 0xBE, 0xFB]);
        b.push(1);
        b.extend(b"p");
        let q = base64::engine::general_purpose::STANDARD.encode(&b);
        assert!(q.contains('+'), "{q}");
        let want = Some(u32::from_le_bytes([0xFB, 0xEF, 0xBE, 0xFB]));
        assert_eq!(parse_query(&q).unwrap().policy_key, want);
        let encoded = q
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        assert_eq!(parse_query(&encoded).unwrap().policy_key, want);
    }
}
