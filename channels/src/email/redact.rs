//! PCI-DSS for the raw copy of a mail: card numbers masked wherever they are readable, not only
//! in the text the agents see.
//!
//! Clear parts (7bit, 8bit, any ASCII-compatible charset) are masked in place. A base64 or
//! quoted-printable text part, or a mail attached as `message/rfc822`, is decoded, masked and
//! encoded again in the same transfer encoding, so its headers stay true; parts that hold no
//! card number are kept byte for byte. Binary attachments (PDF, images) are kept as received:
//! digits in them cannot be told from card numbers without corrupting the file.

use std::cmp::Reverse;
use std::io::Write as _;

use base64::Engine as _;
use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Encoding, MessageParser, PartType};
use schema::pci::mask_card_numbers_in_bytes;

/// `raw` with every card number readable in it masked (see the module docs).
#[must_use]
pub fn mask_card_numbers_in_mail(raw: &[u8]) -> Vec<u8> {
    mask(raw, 0)
}

/// Nested mails deeper than this are masked as clear bytes only.
const MAX_DEPTH: usize = 8;

fn mask(raw: &[u8], depth: usize) -> Vec<u8> {
    // The same length as `raw`, so the parser's offsets into `raw` hold in `out` too.
    let mut out = mask_card_numbers_in_bytes(raw);
    if depth >= MAX_DEPTH {
        return out;
    }
    let Some(message) = MessageParser::default().parse(raw) else { return out };
    // Encoded words (`=?utf-8?b?…?=`) in the headers: the whole value, masked, as one word.
    let mut headers: Vec<_> = message.parts.first().map(|p| p.headers.iter().collect()).unwrap_or_default();
    headers.sort_by_key(|h| Reverse(h.offset_start));
    let mut header_edits = Vec::new();
    for header in headers {
        let (start, end) = (header.offset_start as usize, header.offset_end as usize);
        let Some(value) = raw.get(start..end) else { continue };
        let Some(text) = header.value.as_text() else { continue };
        if !value.windows(2).any(|w| w == b"=?") {
            continue;
        }
        let masked = schema::pci::mask_card_numbers(text);
        if masked != text {
            let word = base64::engine::general_purpose::STANDARD.encode(masked.as_bytes());
            header_edits.push((start, end, format!(" =?utf-8?b?{word}?=\r\n").into_bytes()));
        }
    }
    let mut parts: Vec<_> = message
        .parts
        .iter()
        .filter(|p| p.encoding != Encoding::None || matches!(p.body, PartType::Message(_)))
        .filter(|p| matches!(p.body, PartType::Text(_) | PartType::Html(_) | PartType::Message(_)))
        .collect();
    // From the last, so that a replaced body does not move the ones before it.
    parts.sort_by_key(|p| Reverse(p.offset_body));
    for part in parts {
        let (start, end) = (part.offset_body as usize, part.offset_end as usize);
        let Some(body) = raw.get(start..end) else { continue };
        let decoded = match part.encoding {
            Encoding::Base64 => base64_decode(body),
            Encoding::QuotedPrintable => quoted_printable_decode(body),
            Encoding::None => Some(body.to_vec()),
        };
        let Some(decoded) = decoded else { continue };
        let masked = if matches!(part.body, PartType::Message(_)) {
            mask(&decoded, depth + 1)
        } else {
            mask_card_numbers_in_bytes(&decoded)
        };
        if masked == decoded && part.encoding != Encoding::None {
            continue;
        }
        let mut encoded = match part.encoding {
            Encoding::Base64 => base64_lines(&masked),
            Encoding::QuotedPrintable => quoted_printable(&masked),
            Encoding::None => masked,
        };
        // Keep the line break that ends the body before the next boundary.
        if body.ends_with(b"\n") && !encoded.ends_with(b"\n") {
            encoded.extend_from_slice(b"\r\n");
        }
        if out.get(start..end).is_some() {
            out.splice(start..end, encoded);
        }
    }
    // The headers come before every body: edited last, their offsets still hold.
    for (start, end, value) in header_edits {
        if out.get(start..end).is_some() {
            out.splice(start..end, value);
        }
    }
    out
}

/// Base64 in lines of 76 characters, each ended by CRLF.
fn base64_lines(bytes: &[u8]) -> Vec<u8> {
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = Vec::with_capacity(text.len() + text.len() / 38 + 2);
    for line in text.as_bytes().chunks(76) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Quoted-printable (RFC 2045 §6.7): lines of at most 76 characters, soft breaks as needed.
fn quoted_printable(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 8);
    let mut lines = bytes.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut column = 0;
        for (i, &b) in line.iter().enumerate() {
            let last = i + 1 == line.len();
            let literal = ((33..=126).contains(&b) && b != b'=') || (matches!(b, b' ' | b'\t') && !last);
            let width = if literal { 1 } else { 3 };
            if column + width > 75 {
                out.extend_from_slice(b"=\r\n");
                column = 0;
            }
            if literal {
                out.push(b);
            } else {
                let _ = write!(out, "={b:02X}");
            }
            column += width;
        }
        if lines.peek().is_some() {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::email::{InboundLimits, parse_inbound};

    const CARD: &str = "4111 1111 1111 1111";
    const MASKED: &str = "**** **** **** 1111";

    fn b64(s: &str) -> String {
        String::from_utf8(base64_lines(s.as_bytes())).unwrap()
    }

    #[test]
    fn a_card_in_a_base64_part_is_masked_and_the_mail_still_parses() {
        let raw = format!(
            "From: carla@example.com\r\nSubject: pago\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n\
             --B\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\
             --B\r\nContent-Type: text/csv; name=\"pagos.csv\"\r\nContent-Disposition: attachment; filename=\"pagos.csv\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\
             --B\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\
             --B--\r\n",
            b64(&format!("Mi tarjeta es {CARD}, cóbrenme.")),
            b64(&format!("fecha,tarjeta\n2026-11-01,{CARD}\n")),
            b64("%PDF-1.4 0000000015 00000 n"),
        );
        let masked = mask_card_numbers_in_mail(raw.as_bytes());
        let text = String::from_utf8(masked.clone()).unwrap();
        assert!(!text.contains(&b64(CARD).trim().to_string()));
        let mail = parse_inbound(&masked, &InboundLimits::default()).unwrap();
        assert_eq!(mail.text.trim(), format!("Mi tarjeta es {MASKED}, cóbrenme."));
        assert_eq!(mail.attachments.len(), 2, "{:?}", mail.attachments);
        assert_eq!(
            String::from_utf8_lossy(&mail.attachments[0].content),
            format!("fecha,tarjeta\n2026-11-01,{MASKED}\n")
        );
        // The binary part is untouched.
        assert_eq!(mail.attachments[1].content, b"%PDF-1.4 0000000015 00000 n");
        assert!(text.contains(&b64("%PDF-1.4 0000000015 00000 n")));
    }

    #[test]
    fn quoted_printable_latin1_and_nested_mail() {
        // The card split by a soft line break, in ISO-8859-1.
        let raw = b"From: a@b.example\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
                    Content-Transfer-Encoding: quoted-printable\r\n\r\nN=FAmero 4111 1111=\r\n 1111 1111 =3D fin\r\n";
        let masked = mask_card_numbers_in_mail(raw);
        let mail = parse_inbound(&masked, &InboundLimits::default()).unwrap();
        assert_eq!(mail.text.trim(), format!("Número {MASKED} = fin"));
        assert!(masked.windows(3).any(|w| w == b"=FA"), "still ISO-8859-1: {}", String::from_utf8_lossy(&masked));

        // A forwarded mail whose own body is base64.
        let inner = format!(
            "From: x@y.example\r\nSubject: old\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
            b64(&format!("card {CARD}"))
        );
        let outer = format!(
            "From: a@b.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"O\"\r\n\r\n\
             --O\r\nContent-Type: text/plain\r\n\r\nsee below\r\n\
             --O\r\nContent-Type: message/rfc822\r\n\r\n{inner}--O--\r\n"
        );
        let masked = String::from_utf8(mask_card_numbers_in_mail(outer.as_bytes())).unwrap();
        assert!(masked.contains(&b64(&format!("card {MASKED}"))), "{masked}");
        assert!(masked.contains("see below\r\n--O\r\n"), "{masked}");
    }

    #[test]
    fn a_card_in_an_encoded_subject_is_masked() {
        let word = base64::engine::general_purpose::STANDARD.encode(format!("Tarjeta {CARD} ñ"));
        let raw = format!("From: a@b.example\r\nSubject: =?utf-8?b?{word}?=\r\nTo: s@t.example\r\n\r\nhola\r\n");
        let masked = mask_card_numbers_in_mail(raw.as_bytes());
        let mail = parse_inbound(&masked, &InboundLimits::default()).unwrap();
        assert_eq!(mail.subject, format!("Tarjeta {MASKED} ñ"));
        assert_eq!(mail.text.trim(), "hola");
        assert_eq!(mail.to.len(), 1, "the next header survives: {}", String::from_utf8_lossy(&masked));
    }

    #[test]
    fn mail_without_cards_is_kept_byte_for_byte() {
        let raw = format!(
            "From: a@b.example\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
            b64("nothing to see, order 12345")
        );
        assert_eq!(mask_card_numbers_in_mail(raw.as_bytes()), raw.as_bytes());
        assert_eq!(mask_card_numbers_in_mail(b"\x00\x01 garbage"), b"\x00\x01 garbage");
    }

    #[test]
    fn quoted_printable_lines_stay_short() {
        let long = "é".repeat(60);
        let qp = quoted_printable(long.as_bytes());
        assert!(qp.split(|&b| b == b'\n').all(|l| l.len() <= 77), "{}", String::from_utf8_lossy(&qp));
        assert_eq!(quoted_printable_decode(&qp).unwrap(), long.as_bytes());
    }
}
