//! SMTP command lines (RFC 5321 §4.1), parsed leniently but safely.

/// A parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Ehlo(String),
    Helo(String),
    /// `MAIL FROM:<path> [SIZE=n] [BODY=…]`; `from` is `None` for the null path `<>`.
    Mail {
        from: Option<String>,
        size: Option<u64>,
    },
    /// `RCPT TO:<path>`.
    Rcpt {
        to: String,
    },
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Help,
    StartTls,
    /// A command we know but do not offer (EXPN, AUTH, BDAT, …).
    NotImplemented,
}

/// Why a command line was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CommandError {
    /// 500: not a command at all.
    Unrecognized,
    /// 501: a known command with bad arguments.
    Syntax(&'static str),
}

/// The longest path (RFC 5321 §4.5.3.1.3).
const MAX_PATH: usize = 256;

/// Parses one command line, without its CRLF.
pub(crate) fn parse_command(line: &[u8]) -> Result<Command, CommandError> {
    let line = std::str::from_utf8(line).map_err(|_| CommandError::Unrecognized)?;
    if line.chars().any(|c| c.is_control() && c != '\t') {
        return Err(CommandError::Unrecognized);
    }
    let line = line.trim();
    let (verb, args) = line.split_once([' ', '\t']).map_or((line, ""), |(v, a)| (v, a.trim()));
    if verb.len() > 10 {
        return Err(CommandError::Unrecognized);
    }
    let no_args = |cmd: Command| {
        if args.is_empty() { Ok(cmd) } else { Err(CommandError::Syntax("this command takes no arguments")) }
    };
    match verb.to_ascii_uppercase().as_str() {
        "EHLO" | "HELO" => {
            let domain = args
                .split_whitespace()
                .next()
                .ok_or(CommandError::Syntax("a domain or address literal is required"))?;
            if domain.len() > 255 {
                return Err(CommandError::Syntax("the domain is too long"));
            }
            Ok(if verb.eq_ignore_ascii_case("EHLO") {
                Command::Ehlo(domain.to_owned())
            } else {
                Command::Helo(domain.to_owned())
            })
        }
        "MAIL" => {
            let rest = strip_keyword(args, "FROM:").ok_or(CommandError::Syntax("expected MAIL FROM:<address>"))?;
            let (path, params) = parse_path(rest)?;
            let mut size = None;
            for param in params.split_whitespace() {
                let (key, value) = param.split_once('=').unwrap_or((param, ""));
                if key.eq_ignore_ascii_case("SIZE") {
                    size = Some(value.parse::<u64>().map_err(|_| CommandError::Syntax("SIZE must be a number"))?);
                } else if key.eq_ignore_ascii_case("BODY")
                    && !value.eq_ignore_ascii_case("7BIT")
                    && !value.eq_ignore_ascii_case("8BITMIME")
                {
                    return Err(CommandError::Syntax("BODY must be 7BIT or 8BITMIME"));
                }
                // Other parameters (AUTH=, RET=, ENVID=, SMTPUTF8) are accepted and ignored.
            }
            Ok(Command::Mail { from: (!path.is_empty()).then_some(path), size })
        }
        "RCPT" => {
            let rest = strip_keyword(args, "TO:").ok_or(CommandError::Syntax("expected RCPT TO:<address>"))?;
            let (path, _params) = parse_path(rest)?;
            if path.is_empty() {
                return Err(CommandError::Syntax("the recipient must not be empty"));
            }
            Ok(Command::Rcpt { to: path })
        }
        "DATA" => no_args(Command::Data),
        "RSET" => no_args(Command::Rset),
        "QUIT" => no_args(Command::Quit),
        "STARTTLS" => no_args(Command::StartTls),
        "NOOP" => Ok(Command::Noop),
        "VRFY" => Ok(Command::Vrfy),
        "HELP" => Ok(Command::Help),
        "EXPN" | "AUTH" | "BDAT" | "TURN" | "ETRN" | "SEND" | "SOML" | "SAML" | "ATRN" => Ok(Command::NotImplemented),
        _ => Err(CommandError::Unrecognized),
    }
}

/// `args` after a case-insensitive keyword such as `FROM:`, with optional spaces after it.
fn strip_keyword<'a>(args: &'a str, keyword: &str) -> Option<&'a str> {
    let head = args.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword).then(|| args[keyword.len()..].trim_start())
}

/// A path (`<local@domain>`, `<>`, a source route, or a bare address from sloppy clients) and
/// the parameters after it.
fn parse_path(s: &str) -> Result<(String, &str), CommandError> {
    let (inner, rest) = if let Some(body) = s.strip_prefix('<') {
        let mut quoted = false;
        let mut end = None;
        for (i, c) in body.char_indices() {
            match c {
                '"' => quoted = !quoted,
                '>' if !quoted => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end.ok_or(CommandError::Syntax("the address is missing its closing '>'"))?;
        (&body[..end], &body[end + 1..])
    } else {
        s.split_once(' ').unwrap_or((s, ""))
    };
    // A source route `@a,@b:user@domain` is ignored (RFC 5321 §3.3).
    let inner = if inner.starts_with('@') { inner.split_once(':').map_or("", |(_, a)| a) } else { inner };
    if inner.len() > MAX_PATH {
        return Err(CommandError::Syntax("the address is too long"));
    }
    if !inner.is_empty() {
        let plain = !inner.starts_with('"');
        let ok = inner.contains('@') || inner.eq_ignore_ascii_case("postmaster");
        if !ok || (plain && inner.contains(|c: char| c.is_whitespace() || c == '<' || c == '>')) {
            return Err(CommandError::Syntax("the address is malformed"));
        }
    }
    Ok((inner.to_owned(), rest.trim()))
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn parses_the_commands_a_mta_needs() {
        assert_eq!(parse_command(b"EHLO mx.example.com"), Ok(Command::Ehlo("mx.example.com".into())));
        assert_eq!(parse_command(b"helo [127.0.0.1]"), Ok(Command::Helo("[127.0.0.1]".into())));
        assert_eq!(
            parse_command(b"MAIL FROM:<a@b.example> SIZE=1234 BODY=8BITMIME"),
            Ok(Command::Mail { from: Some("a@b.example".into()), size: Some(1234) })
        );
        assert_eq!(parse_command(b"mail from: <>"), Ok(Command::Mail { from: None, size: None }));
        assert_eq!(
            parse_command(b"MAIL FROM:a@b.example"),
            Ok(Command::Mail { from: Some("a@b.example".into()), size: None })
        );
        assert_eq!(
            parse_command(b"RCPT TO:<@relay.example:support@t.example>"),
            Ok(Command::Rcpt { to: "support@t.example".into() })
        );
        assert_eq!(parse_command(b"RCPT TO:<Postmaster>"), Ok(Command::Rcpt { to: "Postmaster".into() }));
        assert_eq!(parse_command(b"RCPT TO:<\"a b\"@t.example>"), Ok(Command::Rcpt { to: "\"a b\"@t.example".into() }));
        assert_eq!(parse_command(b"DATA"), Ok(Command::Data));
        assert_eq!(parse_command(b"AUTH PLAIN xyz"), Ok(Command::NotImplemented));

        for bad in [
            &b"MAIL FROM:<a@b"[..],
            b"MAIL TO:<a@b>",
            b"RCPT TO:<>",
            b"MAIL FROM:<a@b> SIZE=x",
            b"DATA now",
            b"EHLO",
            b"RCPT TO:<nobody>",
        ] {
            assert!(matches!(parse_command(bad), Err(CommandError::Syntax(_))), "{:?}", String::from_utf8_lossy(bad));
        }
        for bad in [&b""[..], b"XYZZY", b"GET / HTTP/1.1", b"\xff\xfe", b"NOOP\0", b"DATAAAAAAAAAAAAAAAA"] {
            assert_eq!(parse_command(bad), Err(CommandError::Unrecognized), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    /// Random and mutated command lines never panic.
    #[test]
    fn fuzz_command_parser() {
        let seeds: &[&[u8]] = &[
            b"EHLO a",
            b"MAIL FROM:<a@b> SIZE=10 BODY=7BIT",
            b"RCPT TO:<@x,@y:u@d>",
            b"RCPT TO:<\"q>\"@d>",
            b"MAIL FROM:<>",
        ];
        let alphabet = b"<>@:\" =,.\t\r\nSIZEBODYMAILFROMRCPTO\x00\xff\xc3\xa9";
        let mut rng = StdRng::seed_from_u64(0x5317);
        for _ in 0..20_000 {
            let mut line = seeds[rng.gen_range(0..seeds.len())].to_vec();
            for _ in 0..rng.gen_range(1..6) {
                let at = rng.gen_range(0..=line.len());
                match rng.gen_range(0..3) {
                    0 => line.insert(at, alphabet[rng.gen_range(0..alphabet.len())]),
                    1 if at < line.len() => {
                        line.remove(at);
                    }
                    _ => line.insert(at, rng.r#gen()),
                }
            }
            let _ = parse_command(&line);
        }
    }
}
