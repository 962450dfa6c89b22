//! How one-time codes reach the customer: by e-mail through the e-mail channel's relay, and by
//! SMS through a pluggable [`CodeSender`] (one implementation, [`HttpSms`], for gateways that
//! take a JSON `POST`). A code is sent at once and never queued: a queued mail would keep the
//! code on disk, and a code that arrives late is of no use (the customer asks for another).
//!
//! A [`Notice`]'s `Debug` hides its text, and a failure's reason never quotes the request.

use std::time::Duration;

use bss::ContactKind;
use futures_util::future::BoxFuture;
use lettre::message::{Mailbox as LettreMailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Serialize;

use crate::config::{Secret, SmsConfig};

/// What goes to the customer: a subject (e-mail only) and the text with the code.
pub struct Notice {
    pub subject: String,
    pub text: String,
}

impl std::fmt::Debug for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notice").field("subject", &self.subject).field("text", &"[redacted]").finish()
    }
}

/// Sends a code to one kind of contact.
pub trait CodeSender: Send + Sync + std::fmt::Debug {
    /// The kind of contact it reaches.
    fn kind(&self) -> ContactKind;
    /// Sends `notice` to `to` (an e-mail address, or a phone number in E.164). The error is a
    /// reason for the log, without the notice's text.
    fn send<'a>(&'a self, to: &'a str, notice: &'a Notice) -> BoxFuture<'a, Result<(), String>>;
}

/// Codes by e-mail, through the relay the e-mail channel sends replies through.
pub struct EmailCodes {
    from: LettreMailbox,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for EmailCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailCodes").field("from", &self.from.email.to_string()).finish_non_exhaustive()
    }
}

impl EmailCodes {
    #[must_use]
    pub fn new(from: LettreMailbox, transport: AsyncSmtpTransport<Tokio1Executor>) -> Self {
        Self { from, transport }
    }
}

impl CodeSender for EmailCodes {
    fn kind(&self) -> ContactKind {
        ContactKind::Email
    }

    fn send<'a>(&'a self, to: &'a str, notice: &'a Notice) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let to: lettre::Address = to.parse().map_err(|_| "the address is not valid".to_owned())?;
            let message = lettre::Message::builder()
                .from(self.from.clone())
                .to(LettreMailbox::new(None, to))
                .subject(notice.subject.clone())
                .date_now()
                .header(ContentType::TEXT_PLAIN)
                .body(notice.text.clone())
                .map_err(|e| format!("the mail cannot be built: {e}"))?;
            self.transport.send(message).await.map(|_| ()).map_err(|e| {
                // The relay's answer (code and text), never the mail.
                e.status()
                    .map_or_else(|| "the relay cannot be reached".to_owned(), |c| format!("the relay answered {c}"))
            })
        })
    }
}

/// Codes by SMS through an HTTP gateway: `POST {url}` with
/// `Authorization: Bearer {token}` and the JSON body `{"from": sender, "to": "+34…", "text": "…"}`.
/// Any 2xx is accepted (its body is not read); anything else, or no answer within the timeout,
/// is a failure.
pub struct HttpSms {
    client: reqwest::Client,
    url: reqwest::Url,
    token: Option<Secret>,
    sender: String,
}

impl std::fmt::Debug for HttpSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSms").field("url", &self.url.as_str()).field("sender", &self.sender).finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct SmsBody<'a> {
    from: &'a str,
    to: &'a str,
    text: &'a str,
}

impl HttpSms {
    /// The gateway of `[selfservice.sms]`.
    ///
    /// # Errors
    /// An invalid URL (only `https`, or `http` to a loopback address), timeout or token file.
    pub fn new(config: &SmsConfig) -> Result<Self, String> {
        let url: reqwest::Url = config.url.parse().map_err(|e| format!("selfservice.sms.url: {e}"))?;
        let loopback = url.host_str().is_some_and(|h| h == "localhost" || h == "127.0.0.1" || h == "[::1]");
        if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
            return Err("selfservice.sms.url must be https (http only to a loopback address)".into());
        }
        if !(1..=30).contains(&config.timeout_secs) {
            return Err("selfservice.sms.timeout_secs must be from 1 to 30".into());
        }
        let token =
            Secret::from_value_or_file(config.token.as_ref(), config.token_file.as_deref(), "selfservice.sms.token")?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("selfservice.sms: {e}"))?;
        Ok(Self { client, url, token, sender: config.sender.clone() })
    }
}

impl CodeSender for HttpSms {
    fn kind(&self) -> ContactKind {
        ContactKind::Phone
    }

    fn send<'a>(&'a self, to: &'a str, notice: &'a Notice) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let mut request =
                self.client.post(self.url.clone()).json(&SmsBody { from: &self.sender, to, text: &notice.text });
            if let Some(token) = &self.token {
                request = request.bearer_auth(token.expose());
            }
            let response = request.send().await.map_err(|e| {
                if e.is_timeout() {
                    "the SMS gateway did not answer in time".to_owned()
                } else {
                    "the SMS gateway cannot be reached".to_owned()
                }
            })?;
            let status = response.status();
            if status.is_success() { Ok(()) } else { Err(format!("the SMS gateway answered {}", status.as_u16())) }
        })
    }
}

/// `j***@example.com`: the first character of the local part and the domain.
#[must_use]
pub fn mask_email(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// `+34 *** *** 123`: the country code (as written, up to the first 3 digits after `+`) and the
/// last three digits.
#[must_use]
pub fn mask_phone(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 7 {
        return "***".to_owned();
    }
    let last: String = digits[digits.len() - 3..].iter().collect();
    // E.164 country codes: 1 to 3 digits; without a numbering plan at hand, 2 is the usual case
    // for the operators this serves (+34, +35x shown as +35).
    let country: String = digits.iter().take(if digits[0] == '1' || digits[0] == '7' { 1 } else { 2 }).collect();
    format!("+{country} *** *** {last}")
}

/// A contact as the customer sees it offered.
#[must_use]
pub fn mask(kind: ContactKind, value: &str) -> String {
    match kind {
        ContactKind::Email => mask_email(value),
        ContactKind::Phone => mask_phone(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_masked() {
        assert_eq!(mask_email("jane.doe@example.com"), "j***@example.com");
        assert_eq!(mask_phone("+34911234123"), "+34 *** *** 123");
        assert_eq!(mask_phone("+15551234567"), "+1 *** *** 567");
        assert_eq!(mask_phone("123"), "***");
        assert_eq!(mask_email("nobody"), "***");
    }

    #[test]
    fn a_notice_does_not_print_its_text() {
        let n = Notice { subject: "s".into(), text: "code 123456".into() };
        assert!(!format!("{n:?}").contains("123456"));
    }

    #[test]
    fn the_gateway_must_be_https_or_local() {
        let config = |url: &str| SmsConfig { url: url.into(), ..SmsConfig::default() };
        assert!(HttpSms::new(&config("https://sms.example.net/v1/messages")).is_ok());
        assert!(HttpSms::new(&config("http://127.0.0.1:9/sms")).is_ok());
        assert!(HttpSms::new(&config("http://sms.example.net/")).is_err());
        assert!(HttpSms::new(&config("not a url")).is_err());
    }
}
