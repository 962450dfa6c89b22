//! SIP messages (RFC 3261 §7): a bounded parser and a builder.
//!
//! The parser is deliberately strict about structure (start line, `name: value` headers,
//! `Content-Length`) and lenient about what it does not need to understand: unknown headers are
//! kept as text. Every failure is a [`SipError`]; nothing here panics on any input.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};

use super::SipError;

/// The largest message accepted (and the largest UDP datagram read).
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024;
/// The most header fields one message may carry.
pub const MAX_HEADERS: usize = 128;
/// The RFC 3261 branch prefix ("magic cookie").
pub const BRANCH_COOKIE: &str = "z9hG4bK";

/// A request method.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    /// Any other token (INFO, SUBSCRIBE, …): answered `501 Not Implemented`.
    Other(String),
}

impl Method {
    fn parse(s: &str) -> Result<Self, SipError> {
        if s.is_empty() || !s.bytes().all(is_token_byte) {
            return Err(SipError::Malformed("method is not a token"));
        }
        Ok(match s {
            "INVITE" => Self::Invite,
            "ACK" => Self::Ack,
            "BYE" => Self::Bye,
            "CANCEL" => Self::Cancel,
            "REGISTER" => Self::Register,
            "OPTIONS" => Self::Options,
            other => Self::Other(other.to_owned()),
        })
    }

    /// The method as written on the wire.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Invite => "INVITE",
            Self::Ack => "ACK",
            Self::Bye => "BYE",
            Self::Cancel => "CANCEL",
            Self::Register => "REGISTER",
            Self::Options => "OPTIONS",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Header fields in order, names in their canonical long form (compact forms expanded).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// The first value of `name` (case-insensitive).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Appends a field.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// Replaces every field `name` by one with `value`, keeping the position of the first.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.0.iter().position(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(i) => {
                self.0[i].1 = value;
                let mut k = 0;
                self.0.retain(|(n, _)| {
                    k += 1;
                    k - 1 == i || !n.eq_ignore_ascii_case(name)
                });
            }
            None => self.0.push((name.to_owned(), value)),
        }
    }

    /// Removes every field `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// All fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

fn canonical_name(name: &str) -> String {
    let long = match name.to_ascii_lowercase().as_str() {
        "v" | "via" => "Via",
        "f" | "from" => "From",
        "t" | "to" => "To",
        "i" | "call-id" => "Call-ID",
        "m" | "contact" => "Contact",
        "l" | "content-length" => "Content-Length",
        "c" | "content-type" => "Content-Type",
        "k" | "supported" => "Supported",
        "s" | "subject" => "Subject",
        "e" | "content-encoding" => "Content-Encoding",
        "cseq" => "CSeq",
        "max-forwards" => "Max-Forwards",
        "expires" => "Expires",
        "www-authenticate" => "WWW-Authenticate",
        "authorization" => "Authorization",
        "retry-after" => "Retry-After",
        "record-route" => "Record-Route",
        "route" => "Route",
        _ => return name.to_owned(),
    };
    long.to_owned()
}

/// A SIP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The Request-URI as written.
    pub uri: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// A request or a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SipMessage {
    Request(Request),
    Response(Response),
}

impl SipMessage {
    /// Parses one complete message (a UDP datagram, or a frame cut by [`frame_length`]).
    ///
    /// # Errors
    /// [`SipError::TooLarge`] over [`MAX_MESSAGE_SIZE`], [`SipError::Malformed`] for anything not
    /// shaped like RFC 3261 §7, [`SipError::MissingHeader`] without Via, From, To, Call-ID or CSeq.
    pub fn parse(bytes: &[u8]) -> Result<Self, SipError> {
        if bytes.len() > MAX_MESSAGE_SIZE {
            return Err(SipError::TooLarge { size: bytes.len(), max: MAX_MESSAGE_SIZE });
        }
        // RFC 3261 §7.5: ignore CRLFs before the start line (keep-alives).
        let start = bytes.iter().position(|b| *b != b'\r' && *b != b'\n').unwrap_or(bytes.len());
        let bytes = &bytes[start..];
        let head_end = find(bytes, b"\r\n\r\n").ok_or(SipError::Malformed("no empty line after the headers"))?;
        let head = std::str::from_utf8(&bytes[..head_end]).map_err(|_| SipError::Malformed("headers are not UTF-8"))?;
        let rest = &bytes[head_end + 4..];
        let mut lines = unfold(head).into_iter();
        let start_line = lines.next().ok_or(SipError::Malformed("empty message"))?;
        let mut headers = Headers::default();
        for line in lines {
            if headers.len() >= MAX_HEADERS {
                return Err(SipError::Malformed("too many header fields"));
            }
            let (name, value) = line.split_once(':').ok_or(SipError::Malformed("header line without a colon"))?;
            let name = name.trim();
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return Err(SipError::Malformed("header name is not a token"));
            }
            let name = canonical_name(name);
            let value = value.trim();
            if name == "Via" {
                for part in split_top_level(value, ',') {
                    headers.push("Via", part.trim());
                }
            } else {
                headers.push(name, value);
            }
        }
        let body = match headers.get("Content-Length") {
            Some(v) => {
                let len: usize = v.trim().parse().map_err(|_| SipError::Malformed("Content-Length is not a number"))?;
                if len > rest.len() {
                    return Err(SipError::Malformed("body shorter than Content-Length"));
                }
                rest[..len].to_vec()
            }
            None => rest.to_vec(),
        };
        if !start_line.starts_with("SIP/2.0 ") && !start_line.ends_with(" SIP/2.0") {
            return Err(SipError::Malformed("start line is neither a SIP/2.0 request nor a status line"));
        }
        for required in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if headers.get(required).is_none() {
                return Err(SipError::MissingHeader(required));
            }
        }
        if let Some(status_line) = start_line.strip_prefix("SIP/2.0 ") {
            let (code, reason) = status_line.split_once(' ').unwrap_or((status_line, ""));
            let status: u16 = code.parse().map_err(|_| SipError::Malformed("status code is not a number"))?;
            if !(100..=699).contains(&status) || code.len() != 3 {
                return Err(SipError::Malformed("status code out of range"));
            }
            let msg = Response { status, reason: reason.to_owned(), headers, body };
            msg.cseq()?;
            return Ok(Self::Response(msg));
        }
        let mut parts = start_line.split(' ');
        let (Some(method), Some(uri), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SipError::Malformed("request line is not `METHOD URI SIP/2.0`"));
        };
        if version != "SIP/2.0" {
            return Err(SipError::Malformed("unsupported SIP version"));
        }
        if uri.is_empty() || uri.bytes().any(|b| b.is_ascii_control()) {
            return Err(SipError::Malformed("bad Request-URI"));
        }
        let method = Method::parse(method)?;
        let req = Request { method, uri: uri.to_owned(), headers, body };
        let (_, cseq_method) = req.cseq()?;
        if cseq_method != req.method {
            return Err(SipError::Malformed("CSeq method differs from the request method"));
        }
        Ok(Self::Request(req))
    }

    /// The header fields.
    #[must_use]
    pub fn headers(&self) -> &Headers {
        match self {
            Self::Request(r) => &r.headers,
            Self::Response(r) => &r.headers,
        }
    }

    /// The wire form.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Request(r) => r.to_bytes(),
            Self::Response(r) => r.to_bytes(),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Joins continuation lines (RFC 3261 §7.3.1: a line starting with SP or HTAB continues the previous).
fn unfold(head: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t'])
            && let Some(last) = out.last_mut()
        {
            last.push(' ');
            last.push_str(line.trim());
            continue;
        }
        out.push(line.to_owned());
    }
    out
}

/// Splits on `sep` outside double quotes and angle brackets.
fn split_top_level(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut escaped, mut start) = (false, false, false, 0);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            c if c == sep && !quoted && !angle => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// How many bytes the first message in a TCP stream buffer takes, once its headers and body are
/// all there (RFC 3261 §18.3: framing by `Content-Length`, which is then mandatory).
///
/// `Ok(None)`: more bytes are needed. Leading CRLF keep-alives count as part of the frame.
///
/// # Errors
/// [`SipError::TooLarge`] when the frame would exceed [`MAX_MESSAGE_SIZE`];
/// [`SipError::Malformed`] when the headers end without a usable `Content-Length`.
pub fn frame_length(buf: &[u8]) -> Result<Option<usize>, SipError> {
    let start = buf.iter().position(|b| *b != b'\r' && *b != b'\n').unwrap_or(buf.len());
    let Some(head_end) = find(&buf[start..], b"\r\n\r\n") else {
        if buf.len() > MAX_MESSAGE_SIZE {
            return Err(SipError::TooLarge { size: buf.len(), max: MAX_MESSAGE_SIZE });
        }
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[start..start + head_end]);
    let mut len = None;
    for line in head.split("\r\n").skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
                len = Some(value.trim().parse::<usize>().map_err(|_| SipError::Malformed("bad Content-Length"))?);
            }
        }
    }
    let len = len.ok_or(SipError::MissingHeader("Content-Length"))?;
    let total = start.saturating_add(head_end).saturating_add(4).saturating_add(len);
    if total > MAX_MESSAGE_SIZE {
        return Err(SipError::TooLarge { size: total, max: MAX_MESSAGE_SIZE });
    }
    Ok((buf.len() >= total).then_some(total))
}

fn write_message(start: &str, headers: &Headers, body: &[u8]) -> Vec<u8> {
    let mut head = String::with_capacity(512);
    head.push_str(start);
    head.push_str("\r\n");
    for (n, v) in headers.iter() {
        if n.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        let _ = write!(head, "{n}: {v}\r\n");
    }
    let _ = write!(head, "Content-Length: {}\r\n\r\n", body.len());
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

impl Request {
    /// A request with no headers yet.
    #[must_use]
    pub fn new(method: Method, uri: impl Into<String>) -> Self {
        Self { method, uri: uri.into(), headers: Headers::default(), body: Vec::new() }
    }

    /// The wire form (Content-Length always written from the body).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        write_message(&format!("{} {} SIP/2.0", self.method, self.uri), &self.headers, &self.body)
    }

    /// `CSeq`: sequence number and method.
    ///
    /// # Errors
    /// Missing or malformed CSeq.
    pub fn cseq(&self) -> Result<(u32, Method), SipError> {
        parse_cseq(&self.headers)
    }

    /// The topmost Via.
    ///
    /// # Errors
    /// Missing or malformed Via.
    pub fn top_via(&self) -> Result<Via, SipError> {
        Via::parse(self.headers.get("Via").ok_or(SipError::MissingHeader("Via"))?)
    }

    /// The From header.
    ///
    /// # Errors
    /// Missing or malformed From.
    pub fn from(&self) -> Result<NameAddr, SipError> {
        NameAddr::parse(self.headers.get("From").ok_or(SipError::MissingHeader("From"))?)
    }

    /// The To header.
    ///
    /// # Errors
    /// Missing or malformed To.
    pub fn to(&self) -> Result<NameAddr, SipError> {
        NameAddr::parse(self.headers.get("To").ok_or(SipError::MissingHeader("To"))?)
    }

    /// The Call-ID.
    #[must_use]
    pub fn call_id(&self) -> &str {
        self.headers.get("Call-ID").unwrap_or("")
    }

    /// The first Contact, if any (`*` is returned as a URI of that text).
    ///
    /// # Errors
    /// A malformed Contact.
    pub fn contact(&self) -> Result<Option<NameAddr>, SipError> {
        self.headers.get("Contact").map(|v| NameAddr::parse(split_top_level(v, ',')[0])).transpose()
    }

    /// Every Contact value (comma-separated ones split).
    ///
    /// # Errors
    /// Any malformed Contact.
    pub fn contacts(&self) -> Result<Vec<NameAddr>, SipError> {
        let mut out = Vec::new();
        for v in self.headers.get_all("Contact") {
            for part in split_top_level(v, ',') {
                out.push(NameAddr::parse(part)?);
            }
        }
        Ok(out)
    }

    /// `Max-Forwards`, if present.
    ///
    /// # Errors
    /// A value that is not a number 0..=255.
    pub fn max_forwards(&self) -> Result<Option<u8>, SipError> {
        self.headers
            .get("Max-Forwards")
            .map(|v| v.trim().parse().map_err(|_| SipError::Malformed("Max-Forwards is not 0..255")))
            .transpose()
    }

    /// `Expires`, if present.
    ///
    /// # Errors
    /// A value that is not a number.
    pub fn expires(&self) -> Result<Option<u32>, SipError> {
        parse_opt_u32(self.headers.get("Expires"), "Expires is not a number")
    }
}

impl Response {
    /// A response to `req` (RFC 3261 §8.2.6): Via, From, To, Call-ID and CSeq copied; `to_tag`
    /// added to To when it has none (never on `100 Trying`).
    #[must_use]
    pub fn to_request(req: &Request, status: u16, to_tag: Option<&str>) -> Self {
        let mut headers = Headers::default();
        for v in req.headers.get_all("Via") {
            headers.push("Via", v);
        }
        for name in ["From", "To", "Call-ID", "CSeq"] {
            if let Some(v) = req.headers.get(name) {
                headers.push(name, v);
            }
        }
        if let (Some(tag), true) = (to_tag, status > 100)
            && let Some(to) = req.headers.get("To")
            && !has_tag(to)
        {
            headers.set("To", format!("{to};tag={tag}"));
        }
        Self { status, reason: reason_phrase(status).to_owned(), headers, body: Vec::new() }
    }

    /// The wire form.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        write_message(&format!("SIP/2.0 {} {}", self.status, self.reason), &self.headers, &self.body)
    }

    /// `CSeq`: sequence number and method.
    ///
    /// # Errors
    /// Missing or malformed CSeq.
    pub fn cseq(&self) -> Result<(u32, Method), SipError> {
        parse_cseq(&self.headers)
    }

    /// The topmost Via.
    ///
    /// # Errors
    /// Missing or malformed Via.
    pub fn top_via(&self) -> Result<Via, SipError> {
        Via::parse(self.headers.get("Via").ok_or(SipError::MissingHeader("Via"))?)
    }

    /// The To header.
    ///
    /// # Errors
    /// Missing or malformed To.
    pub fn to(&self) -> Result<NameAddr, SipError> {
        NameAddr::parse(self.headers.get("To").ok_or(SipError::MissingHeader("To"))?)
    }

    /// The Call-ID.
    #[must_use]
    pub fn call_id(&self) -> &str {
        self.headers.get("Call-ID").unwrap_or("")
    }

    /// The first Contact, if any.
    ///
    /// # Errors
    /// A malformed Contact.
    pub fn contact(&self) -> Result<Option<NameAddr>, SipError> {
        self.headers.get("Contact").map(|v| NameAddr::parse(split_top_level(v, ',')[0])).transpose()
    }
}

fn parse_opt_u32(v: Option<&str>, err: &'static str) -> Result<Option<u32>, SipError> {
    v.map(|v| v.trim().parse().map_err(|_| SipError::Malformed(err))).transpose()
}

fn parse_cseq(h: &Headers) -> Result<(u32, Method), SipError> {
    let v = h.get("CSeq").ok_or(SipError::MissingHeader("CSeq"))?;
    let (n, m) = v.trim().split_once(' ').ok_or(SipError::Malformed("CSeq is not `number METHOD`"))?;
    let n: u32 = n.parse().map_err(|_| SipError::Malformed("CSeq number is not a 32-bit number"))?;
    Ok((n, Method::parse(m.trim())?))
}

fn has_tag(name_addr: &str) -> bool {
    NameAddr::parse(name_addr).map(|n| n.tag.is_some()).unwrap_or(false)
}

/// The standard reason phrase of a status code.
#[must_use]
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "Unknown",
    }
}

/// `;name=value` parameters, in order, names lower-cased.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, Option<String>)>);

impl Params {
    fn parse(s: &str) -> Self {
        Self(
            split_top_level(s, ';')
                .into_iter()
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((n, v)) => (n.trim().to_ascii_lowercase(), Some(v.trim().trim_matches('"').to_owned())),
                    None => (p.to_ascii_lowercase(), None),
                })
                .collect(),
        )
    }

    /// Whether `name` is present (with or without a value).
    #[must_use]
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    /// The value of `name`, when present with one.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref())
    }
}

/// One Via value: `SIP/2.0/UDP host:port;branch=…;received=…;rport`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// `UDP`, `TCP`, … (upper-cased).
    pub transport: String,
    pub host: String,
    pub port: Option<u16>,
    pub params: Params,
}

impl Via {
    /// Parses one Via value.
    ///
    /// # Errors
    /// Anything not `SIP/2.0/<transport> <sent-by>[;params]`.
    pub fn parse(v: &str) -> Result<Self, SipError> {
        let v = v.trim();
        let rest = v.get(..8).filter(|p| p.eq_ignore_ascii_case("SIP/2.0/")).map(|_| &v[8..]);
        let rest = rest.ok_or(SipError::Malformed("Via does not start with SIP/2.0/"))?;
        let (transport, rest) =
            rest.split_once(|c: char| c.is_ascii_whitespace()).ok_or(SipError::Malformed("Via without sent-by"))?;
        let rest = rest.trim_start();
        let (sent_by, params) = rest.split_once(';').unwrap_or((rest, ""));
        let (host, port) = split_host_port(sent_by.trim())?;
        if host.is_empty() {
            return Err(SipError::Malformed("Via without host"));
        }
        Ok(Self { transport: transport.to_ascii_uppercase(), host, port, params: Params::parse(params) })
    }

    /// The `branch` parameter.
    #[must_use]
    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch")
    }

    /// Where responses go (RFC 3261 §18.2.2 and RFC 3581): the source address when `rport` is
    /// present or the sent-by host differs from it (the usual NAT case), else sent-by.
    #[must_use]
    pub fn response_target(&self, source: SocketAddr) -> SocketAddr {
        if self.params.has("rport") {
            return source;
        }
        match self.host.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) if ip == source.ip() => SocketAddr::new(ip, self.port.unwrap_or(5060)),
            _ => source,
        }
    }

    /// The value with `received` (when the source differs from sent-by) and `rport` filled in.
    #[must_use]
    pub fn stamped(raw: &str, source: SocketAddr) -> String {
        let Ok(via) = Self::parse(raw) else { return raw.to_owned() };
        let mut out = String::from(raw.trim());
        let same_host = via.host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok_and(|ip| ip == source.ip());
        if !same_host && !via.params.has("received") {
            let _ = write!(out, ";received={}", source.ip());
        }
        if via.params.has("rport") && via.params.get("rport").is_none() {
            // Replace the valueless `;rport` with `;rport=<port>`.
            let parts: Vec<String> = split_top_level(&out, ';')
                .into_iter()
                .map(|p| {
                    if p.trim().eq_ignore_ascii_case("rport") {
                        format!("rport={}", source.port())
                    } else {
                        p.to_owned()
                    }
                })
                .collect();
            out = parts.join(";");
            if same_host {
                let _ = write!(out, ";received={}", source.ip());
            }
        }
        out
    }
}

fn split_host_port(s: &str) -> Result<(String, Option<u16>), SipError> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(SipError::Malformed("unclosed IPv6 reference"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().map_err(|_| SipError::Malformed("bad port"))?),
            None if after.is_empty() => None,
            None => return Err(SipError::Malformed("junk after IPv6 reference")),
        };
        return Ok((format!("[{host}]"), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Ok((h.to_owned(), Some(p.parse().map_err(|_| SipError::Malformed("bad port"))?))),
        None => Ok((s.to_owned(), None)),
    }
}

/// A `sip:`/`sips:`/`tel:` URI, enough of it to route: user, host, port, parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipUri {
    /// `sip`, `sips` or `tel` (lower-cased).
    pub scheme: String,
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    pub params: Params,
}

impl SipUri {
    /// Parses a URI (without angle brackets).
    ///
    /// # Errors
    /// An unsupported scheme or a missing host.
    pub fn parse(s: &str) -> Result<Self, SipError> {
        let s = s.trim();
        let (scheme, rest) = s.split_once(':').ok_or(SipError::Malformed("URI without scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme == "tel" {
            let (number, params) = rest.split_once(';').unwrap_or((rest, ""));
            return Ok(Self {
                scheme,
                user: Some(number.to_owned()),
                host: String::new(),
                port: None,
                params: Params::parse(params),
            });
        }
        if scheme != "sip" && scheme != "sips" {
            return Err(SipError::Malformed("URI scheme is not sip, sips or tel"));
        }
        let rest = rest.split_once('?').map_or(rest, |(a, _)| a);
        let (userinfo, hostpart) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let user = userinfo.map(|u| u.split_once(':').map_or(u, |(u, _)| u).to_owned());
        let (hostport, params) = hostpart.split_once(';').unwrap_or((hostpart, ""));
        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() || host.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
            return Err(SipError::Malformed("URI without a usable host"));
        }
        Ok(Self { scheme, user, host, port, params: Params::parse(params) })
    }

    /// The host and port as a socket address, when the host is an IP literal.
    #[must_use]
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        let ip: IpAddr = self.host.trim_matches(['[', ']']).parse().ok()?;
        Some(SocketAddr::new(ip, self.port.unwrap_or(5060)))
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme)?;
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if self.scheme != "tel" {
                f.write_char('@')?;
            }
        }
        f.write_str(&self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        for (n, v) in &self.params.0 {
            match v {
                Some(v) => write!(f, ";{n}={v}")?,
                None => write!(f, ";{n}")?,
            }
        }
        Ok(())
    }
}

/// A From/To/Contact value: optional display name, URI (as written), header parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    pub display_name: Option<String>,
    /// The URI text, `*` for a wildcard Contact.
    pub uri: String,
    pub params: Params,
    /// The `tag` parameter.
    pub tag: Option<String>,
}

impl NameAddr {
    /// Parses `"Name" <uri>;params` or `uri;params`.
    ///
    /// # Errors
    /// An unclosed quote or angle bracket, or an empty URI.
    pub fn parse(s: &str) -> Result<Self, SipError> {
        let s = s.trim();
        let (display_name, uri, params) = if let Some(lt) = find_unquoted(s, '<') {
            let gt = s[lt..].find('>').ok_or(SipError::Malformed("unclosed <"))? + lt;
            let name = s[..lt].trim();
            let name = if let Some(q) = name.strip_prefix('"') {
                let q = q.strip_suffix('"').ok_or(SipError::Malformed("unclosed quote"))?;
                Some(q.replace("\\\"", "\"").replace("\\\\", "\\"))
            } else {
                Some(name.to_owned())
            };
            let params = s[gt + 1..].trim();
            (name.filter(|n| !n.is_empty()), s[lt + 1..gt].trim().to_owned(), params)
        } else {
            if s.starts_with('"') {
                return Err(SipError::Malformed("display name without <uri>"));
            }
            let (uri, params) = s.split_once(';').map_or((s, ""), |(u, p)| (u, p));
            (None, uri.trim().to_owned(), params)
        };
        if uri.is_empty() {
            return Err(SipError::Malformed("empty URI"));
        }
        let params = Params::parse(params.trim_start_matches(';'));
        let tag = params.get("tag").map(str::to_owned);
        Ok(Self { display_name, uri, params, tag })
    }

    /// The URI, parsed.
    ///
    /// # Errors
    /// See [`SipUri::parse`].
    pub fn sip_uri(&self) -> Result<SipUri, SipError> {
        SipUri::parse(&self.uri)
    }
}

fn find_unquoted(s: &str, target: char) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quoted {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == target && !quoted {
            return Some(i);
        }
    }
    None
}

/// `Retry-After` value in seconds, as written in a response.
#[must_use]
pub fn retry_after_value(seconds: u32) -> String {
    seconds.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:support@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds;rport\r\n\
v: SIP/2.0/UDP proxy.example;branch=z9hG4bKabc, SIP/2.0/TCP p2;branch=z9hG4bKdef\r\n\
Max-Forwards: 70\r\n\
To: Support <sip:support@example.com>\r\n\
From: \"Ana \\\"the\\\" Client\" <sip:+34600111222@example.com>;tag=1928301774\r\n\
i: a84b4c76e66710@pc33\r\n\
CSeq: 314159 INVITE\r\n\
m: <sip:ana@10.0.0.1:5060;transport=udp>\r\n\
Subject: long\r\n  folded\r\n\
Content-Type: application/sdp\r\n\
l: 4\r\n\r\nv=0\r\nEXTRA";

    #[test]
    fn parses_a_request_with_compact_and_folded_headers() {
        let SipMessage::Request(req) = SipMessage::parse(INVITE.as_bytes()).unwrap() else { panic!() };
        assert_eq!(req.method, Method::Invite);
        assert_eq!(req.body, b"v=0\r");
        assert_eq!(req.headers.get_all("Via").count(), 3);
        let via = req.top_via().unwrap();
        assert_eq!(via.branch(), Some("z9hG4bK776asdhds"));
        assert_eq!(via.port, Some(5060));
        let from = req.from().unwrap();
        assert_eq!(from.display_name.as_deref(), Some("Ana \"the\" Client"));
        assert_eq!(from.tag.as_deref(), Some("1928301774"));
        assert_eq!(from.sip_uri().unwrap().user.as_deref(), Some("+34600111222"));
        assert_eq!(req.call_id(), "a84b4c76e66710@pc33");
        assert_eq!(req.cseq().unwrap(), (314159, Method::Invite));
        assert_eq!(req.max_forwards().unwrap(), Some(70));
        assert_eq!(req.headers.get("Subject"), Some("long folded"));
        let contact = req.contact().unwrap().unwrap().sip_uri().unwrap();
        assert_eq!(contact.socket_addr(), Some("10.0.0.1:5060".parse().unwrap()));
    }

    #[test]
    fn builds_responses_that_parse_back() {
        let SipMessage::Request(req) = SipMessage::parse(INVITE.as_bytes()).unwrap() else { panic!() };
        let mut resp = Response::to_request(&req, 182, Some("srv1"));
        resp.headers.push("Retry-After", retry_after_value(30));
        let SipMessage::Response(back) = SipMessage::parse(&resp.to_bytes()).unwrap() else { panic!() };
        assert_eq!(back.status, 182);
        assert_eq!(back.reason, "Queued");
        assert_eq!(back.to().unwrap().tag.as_deref(), Some("srv1"));
        assert_eq!(back.headers.get_all("Via").count(), 3);
        assert_eq!(back.cseq().unwrap().1, Method::Invite);
        assert_eq!(back.headers.get("Retry-After"), Some("30"));
        let trying = Response::to_request(&req, 100, Some("srv1"));
        assert_eq!(trying.to().unwrap().tag, None);
    }

    #[test]
    fn via_received_and_rport() {
        let src: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        let stamped = Via::stamped("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx;rport", src);
        let via = Via::parse(&stamped).unwrap();
        assert_eq!(via.params.get("received"), Some("192.0.2.7"));
        assert_eq!(via.params.get("rport"), Some("40000"));
        assert_eq!(Via::parse("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx;rport").unwrap().response_target(src), src);
        let same: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let plain = Via::parse("SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKx").unwrap();
        assert_eq!(plain.response_target(same), "10.0.0.1:5062".parse().unwrap());
        assert_eq!(plain.response_target(src), src);
    }

    #[test]
    fn rejects_malformed_input_with_typed_errors() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "malformed"),
            (b"INVITE sip:a SIP/2.0\r\n", "malformed"),
            (b"INVITE sip:a SIP/3.0\r\nVia: x\r\n\r\n", "malformed"),
            (b"INVITE sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\n\r\n", "missing_header"),
            (b"INVITE sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 BYE\r\n\r\n", "malformed"),
            (b"SIP/2.0 99 Odd\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 BYE\r\n\r\n", "malformed"),
            (b"BYE sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 BYE\r\nContent-Length: 10\r\n\r\nabc", "malformed"),
        ];
        for (input, code) in cases {
            let err = SipMessage::parse(input).unwrap_err();
            assert_eq!(err.code(), *code, "{:?}", String::from_utf8_lossy(input));
        }
        let big = vec![b'a'; MAX_MESSAGE_SIZE + 1];
        assert_eq!(SipMessage::parse(&big).unwrap_err().code(), "too_large");
    }

    #[test]
    fn frames_a_tcp_stream_by_content_length() {
        let one = b"OPTIONS sip:a SIP/2.0\r\nl: 3\r\n\r\nabc";
        let mut buf = b"\r\n\r\n".to_vec();
        buf.extend_from_slice(one);
        assert_eq!(frame_length(&buf[..10]).unwrap(), None);
        assert_eq!(frame_length(&buf[..buf.len() - 1]).unwrap(), None);
        assert_eq!(frame_length(&buf).unwrap(), Some(buf.len()));
        assert_eq!(frame_length(b"OPTIONS sip:a SIP/2.0\r\n\r\n").unwrap_err().code(), "missing_header");
        assert_eq!(
            frame_length(b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 99999999\r\n\r\n").unwrap_err().code(),
            "too_large"
        );
    }

    #[test]
    fn uris_and_name_addrs() {
        let u = SipUri::parse("sip:+1555@[::1]:5070;transport=tcp").unwrap();
        assert_eq!(u.host, "[::1]");
        assert_eq!(u.socket_addr(), Some("[::1]:5070".parse().unwrap()));
        assert_eq!(u.to_string(), "sip:+1555@[::1]:5070;transport=tcp");
        assert_eq!(SipUri::parse("tel:+34900100200").unwrap().user.as_deref(), Some("+34900100200"));
        assert!(SipUri::parse("http://x").is_err());
        let n = NameAddr::parse("sip:bob@h;tag=9").unwrap();
        assert_eq!((n.uri.as_str(), n.tag.as_deref()), ("sip:bob@h", Some("9")));
        assert!(NameAddr::parse("\"x <sip:a@b>").is_err());
        assert!(NameAddr::parse("<sip:a@b").is_err());
    }
}
