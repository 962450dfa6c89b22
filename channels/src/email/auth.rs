//! Sender verification from `Authentication-Results` (RFC 8601), as written by the receiving MTA.
//!
//! The hub does not check SPF, DKIM or DMARC itself: the MTA in front of it does, and records
//! the outcome in an `Authentication-Results:` header naming itself (its *authserv-id*). Only
//! headers with the configured, trusted authserv-id count; the MTA must remove incoming headers
//! that claim its id (RFC 8601 §5; OpenDKIM, OpenDMARC and Postfix's milters do). As a second
//! line of defence, every trusted DMARC result must pass, so a forged `dmarc=pass` added by the
//! sender cannot outvote the MTA's own `dmarc=fail` (or `dmarc=none`).
//!
//! The verdict ([`sender_verdict`]), from the trusted `dmarc`, `dkim` and `spf` results:
//! * [`AuthVerdict::Missing`]: none, or only `none`;
//! * with DMARC results other than `none`: [`AuthVerdict::Pass`] if every one is `pass`, else
//!   [`AuthVerdict::Fail`];
//! * otherwise [`AuthVerdict::Fail`] on `spf=fail`, else [`AuthVerdict::Pass`] on a `dkim=pass`
//!   whose `header.d` (or `header.i`) domain is the `From:` domain or a parent of it, or an
//!   `spf=pass` whose `smtp.mailfrom` domain is, else [`AuthVerdict::Fail`].
//!
//! The parser is one pass over the header value: linear in its length, whatever it holds.

/// What the trusted `Authentication-Results` say about the mail's `From:` address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthVerdict {
    /// The sender is verified.
    Pass,
    /// The trusted results say the sender is not verified; the reason, for people
    /// (e.g. `dmarc=fail`).
    Fail(String),
    /// No trusted results.
    Missing,
}

/// One `method=result` of a header, with the properties that name a domain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthResult {
    /// `spf`, `dkim`, `dmarc`, … (lower case).
    pub method: String,
    /// `pass`, `fail`, `none`, … (lower case).
    pub result: String,
    /// `ptype.property=value` pairs (`smtp.mailfrom`, `header.d`, `header.i`, `header.from`),
    /// property names lower case.
    pub properties: Vec<(String, String)>,
}

impl AuthResult {
    fn property(&self, name: &str) -> Option<&str> {
        self.properties.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A parsed `Authentication-Results` header value: its authserv-id and results (empty for
/// `none`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthenticationResults {
    pub authserv_id: String,
    pub results: Vec<AuthResult>,
}

/// Splits a header value into tokens: words, `=`, `;`, `/`, with comments `(…)` (nested,
/// with `\` escapes) dropped and quoted strings unquoted. One pass.
fn tokens(value: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '(' => {
                let mut depth = 1usize;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            '"' => {
                let mut word = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => word.extend(chars.next()),
                        '"' => break,
                        c => word.push(c),
                    }
                }
                out.push(Token::Word(word));
            }
            ';' => out.push(Token::Semi),
            '=' => out.push(Token::Equals),
            '/' => out.push(Token::Slash),
            c if c.is_whitespace() => {}
            c => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, '(' | '"' | ';' | '=' | '/') {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
        }
    }
    out
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Semi,
    Equals,
    Slash,
}

/// Parses one `Authentication-Results` value (RFC 8601 §2.2); `None` without an authserv-id.
/// Lenient: a malformed result is skipped, the rest kept.
#[must_use]
pub fn parse_authentication_results(value: &str) -> Option<AuthenticationResults> {
    let tokens = tokens(value);
    let mut statements = tokens.split(|t| *t == Token::Semi);
    let head = statements.next()?;
    // authserv-id [ version ]
    let Some(Token::Word(id)) = head.first() else { return None };
    let mut parsed = AuthenticationResults { authserv_id: id.to_ascii_lowercase(), results: Vec::new() };
    for statement in statements {
        // method [ "/" version ] "=" result *( reason / ptype "." property "=" value )
        let words: Vec<&Token> = statement.iter().collect();
        let Some(Token::Word(method)) = words.first() else { continue };
        let mut i = 1;
        if words.get(i) == Some(&&Token::Slash) {
            i += 2;
        }
        if words.get(i) != Some(&&Token::Equals) {
            continue;
        }
        let Some(Token::Word(result)) = words.get(i + 1) else { continue };
        let mut entry = AuthResult {
            method: method.to_ascii_lowercase(),
            result: result.to_ascii_lowercase(),
            properties: Vec::new(),
        };
        i += 2;
        while i < words.len() {
            match (words.get(i), words.get(i + 1), words.get(i + 2)) {
                (Some(Token::Word(name)), Some(Token::Equals), Some(Token::Word(v))) => {
                    entry.properties.push((name.to_ascii_lowercase(), v.clone()));
                    i += 3;
                }
                _ => i += 1,
            }
        }
        parsed.results.push(entry);
    }
    Some(parsed)
}

/// The domain of an address or a bare domain (`user@Example.COM` and `example.com` give
/// `example.com`), lower case.
fn domain_of(s: &str) -> String {
    s.rsplit_once('@').map_or(s, |(_, d)| d).trim_matches(['<', '>', ' ']).to_ascii_lowercase()
}

/// Whether `signer` is `from` or a parent domain of it (relaxed alignment).
fn aligned(signer: &str, from: &str) -> bool {
    !signer.is_empty() && (from == signer || from.strip_suffix(signer).is_some_and(|rest| rest.ends_with('.')))
}

/// The verdict of the `Authentication-Results` header values in `headers` whose authserv-id is
/// `trusted_id` (case-insensitive), for a mail `From:` `from_address` (see the module docs).
#[must_use]
pub fn sender_verdict<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    trusted_id: &str,
    from_address: &str,
) -> AuthVerdict {
    let trusted_id = trusted_id.trim().to_ascii_lowercase();
    if trusted_id.is_empty() {
        return AuthVerdict::Missing;
    }
    let from = domain_of(from_address);
    let results: Vec<AuthResult> = headers
        .into_iter()
        .filter_map(parse_authentication_results)
        .filter(|h| h.authserv_id == trusted_id)
        .flat_map(|h| h.results)
        .filter(|r| matches!(r.method.as_str(), "dmarc" | "dkim" | "spf"))
        .collect();
    if results.iter().all(|r| r.result == "none") {
        return AuthVerdict::Missing;
    }
    let dmarc: Vec<&AuthResult> = results.iter().filter(|r| r.method == "dmarc").collect();
    if dmarc.iter().any(|r| r.result != "none") {
        return match dmarc.iter().find(|r| r.result != "pass") {
            None => AuthVerdict::Pass,
            Some(bad) => AuthVerdict::Fail(format!("dmarc={}", bad.result)),
        };
    }
    if results.iter().any(|r| r.method == "spf" && r.result == "fail") {
        return AuthVerdict::Fail("spf=fail".into());
    }
    let aligned_pass = |r: &AuthResult| {
        let domain = match r.method.as_str() {
            "dkim" => r.property("header.d").or_else(|| r.property("header.i")),
            "spf" => r.property("smtp.mailfrom"),
            _ => None,
        };
        r.result == "pass" && domain.is_some_and(|d| aligned(&domain_of(d), &from))
    };
    if results.iter().any(aligned_pass) {
        AuthVerdict::Pass
    } else {
        let summary: Vec<String> = results.iter().map(|r| format!("{}={}", r.method, r.result)).collect();
        AuthVerdict::Fail(summary.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "mx.telco.example; spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=example.com; \
                        dkim=pass header.d=example.com header.s=sel header.b=abcd; dmarc=pass (p=reject) header.from=example.com";

    #[test]
    fn parses_rfc_8601_examples() {
        let r = parse_authentication_results(GOOD).unwrap();
        assert_eq!(r.authserv_id, "mx.telco.example");
        assert_eq!(r.results.len(), 3);
        assert_eq!(r.results[0].method, "spf");
        assert_eq!(r.results[0].property("smtp.mailfrom"), Some("example.com"));
        assert_eq!(r.results[1].property("header.d"), Some("example.com"));
        // A version, comments everywhere, a quoted value, `none`.
        let r = parse_authentication_results(
            "example.com 1 (comment (nested \\) still)); dkim/1 = pass reason=\"good sig\" header.i=@mail.example.org",
        )
        .unwrap();
        assert_eq!(r.results[0].method, "dkim");
        assert_eq!(r.results[0].result, "pass");
        assert_eq!(r.results[0].property("reason"), Some("good sig"));
        assert_eq!(r.results[0].property("header.i"), Some("@mail.example.org"));
        assert_eq!(parse_authentication_results("example.org; none").unwrap().results, vec![]);
        assert_eq!(parse_authentication_results(""), None);
        assert_eq!(parse_authentication_results("; spf=pass"), None);
    }

    #[test]
    fn only_the_trusted_authserv_id_counts_and_fail_wins() {
        let from = "carla@example.com";
        assert_eq!(sender_verdict([GOOD], "mx.telco.example", from), AuthVerdict::Pass);
        assert_eq!(sender_verdict([GOOD], "MX.Telco.Example", from), AuthVerdict::Pass);
        // Another server's results (the sender can write any header): not trusted.
        assert_eq!(sender_verdict([GOOD], "other.example", from), AuthVerdict::Missing);
        assert_eq!(sender_verdict([GOOD], "", from), AuthVerdict::Missing);
        assert_eq!(sender_verdict([], "mx.telco.example", from), AuthVerdict::Missing);
        assert_eq!(sender_verdict(["mx.telco.example; none"], "mx.telco.example", from), AuthVerdict::Missing);
        // The MTA's fail and a forged pass with its id: the fail wins.
        let forged = "mx.telco.example; dmarc=pass header.from=example.com";
        let real = "mx.telco.example; spf=fail smtp.mailfrom=example.com; dmarc=fail header.from=example.com";
        assert!(matches!(sender_verdict([forged, real], "mx.telco.example", from), AuthVerdict::Fail(_)));
        // No DMARC: an aligned DKIM or SPF pass is enough; an unaligned one is not.
        let dkim = "mx.telco.example; dkim=pass header.d=example.com; spf=softfail smtp.mailfrom=x.test";
        assert_eq!(sender_verdict([dkim], "mx.telco.example", "carla@mail.example.com"), AuthVerdict::Pass);
        let unaligned = "mx.telco.example; dkim=pass header.d=attacker.test; spf=pass smtp.mailfrom=attacker.test";
        assert!(matches!(sender_verdict([unaligned], "mx.telco.example", from), AuthVerdict::Fail(_)));
        // `xample.com` is not a parent of `example.com`.
        let lookalike = "mx.telco.example; dkim=pass header.d=xample.com";
        assert!(matches!(sender_verdict([lookalike], "mx.telco.example", from), AuthVerdict::Fail(_)));
        let softfail = "mx.telco.example; spf=softfail smtp.mailfrom=example.com";
        assert!(matches!(sender_verdict([softfail], "mx.telco.example", from), AuthVerdict::Fail(_)));
        // One broken signature among good ones (a mailing list) does not fail a DMARC pass.
        let list = "mx.telco.example; dkim=fail header.d=list.test; dkim=pass header.d=example.com; dmarc=pass";
        assert_eq!(sender_verdict([list], "mx.telco.example", from), AuthVerdict::Pass);
        // No DMARC policy for the domain: DKIM decides; but a forged pass cannot beat "none".
        let no_policy = "mx.telco.example; dmarc=none header.from=example.com; dkim=pass header.d=example.com";
        assert_eq!(sender_verdict([no_policy], "mx.telco.example", from), AuthVerdict::Pass);
        let real = "mx.telco.example; dmarc=none header.from=example.com; spf=softfail smtp.mailfrom=example.com";
        assert!(matches!(sender_verdict([forged, real], "mx.telco.example", from), AuthVerdict::Fail(_)));
    }

    #[test]
    fn parsing_is_linear_in_adversarial_input() {
        // Unclosed comments, quotes, escapes and long runs of separators, 16 times longer: the
        // work must grow about 16 times (a generous 64x bound absorbs timer noise), not 256.
        for unit in ["((((\\", "\"\\\"", "a=b ", ";=;/", "x.y=(z) "] {
            let small = format!("id; spf=pass {}", unit.repeat(2_000));
            let large = format!("id; spf=pass {}", unit.repeat(32_000));
            let ratio = schema::linear::work_ratio(
                || parse_authentication_results(&small),
                || parse_authentication_results(&large),
            );
            assert!(ratio < 64.0, "{unit:?}: {ratio}");
        }
    }
}
