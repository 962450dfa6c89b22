//! Files a customer sends in the web chat: which kinds are taken, recognised by their bytes (not
//! by the name or the type the browser claims), and the card-number check.
//!
//! Card numbers in text are masked before anything is stored; a file cannot be masked without
//! breaking it, so a PDF whose text holds a card number is refused instead, and the customer is
//! asked to send it without. The check reads the PDF's plain and deflate-compressed content
//! streams (inflated up to a bound, so a compression bomb costs nothing). Images are not read:
//! finding digits in a picture needs OCR, which the hub does not do.

use std::io::Read as _;

use flate2::read::ZlibDecoder;
use schema::pci;

/// The kinds of file the chat takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Png,
    Jpeg,
    Gif,
    Webp,
    Pdf,
}

impl FileKind {
    /// Every kind, for documentation and the widget's file picker.
    pub const ALL: [Self; 5] = [Self::Png, Self::Jpeg, Self::Gif, Self::Webp, Self::Pdf];

    /// The media type the file is stored and served with.
    #[must_use]
    pub const fn mime_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
            Self::Pdf => "application/pdf",
        }
    }

    /// `image` or `document`, as a message's media kind.
    #[must_use]
    pub const fn media_kind(self) -> &'static str {
        match self {
            Self::Pdf => "document",
            _ => "image",
        }
    }

    /// The kind the first bytes say the file is.
    #[must_use]
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(Self::Gif)
        } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else if bytes.starts_with(b"%PDF-") {
            Some(Self::Pdf)
        } else {
            None
        }
    }
}

/// Why a file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    #[error("the file is empty")]
    Empty,
    #[error("only PNG, JPEG, GIF and WebP images and PDF documents can be sent")]
    UnsupportedType,
    #[error("the file's content is {actual}, not the {claimed} it is sent as")]
    TypeMismatch { claimed: String, actual: &'static str },
    #[error("the document contains a card number; please send it without")]
    CardNumber,
}

/// A file that may be stored: its kind, and its name with any card number masked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedFile {
    pub kind: FileKind,
    pub file_name: Option<String>,
}

/// Longest file name kept, in characters.
const MAX_NAME_CHARS: usize = 200;
/// Most bytes inflated from one PDF's compressed streams, in all.
const MAX_INFLATED: u64 = 16 * 1024 * 1024;

/// Checks a file a customer sends: `claimed` is the `Content-Type` the browser gave (may be
/// absent or generic), `name` the file's name.
///
/// # Errors
/// Empty, of a kind not taken, not what it claims, or a PDF holding a card number.
pub fn check(bytes: &[u8], claimed: Option<&str>, name: Option<&str>) -> Result<CheckedFile, UploadError> {
    if bytes.is_empty() {
        return Err(UploadError::Empty);
    }
    let kind = FileKind::sniff(bytes).ok_or(UploadError::UnsupportedType)?;
    if let Some(claimed) = claimed.map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        && !claimed.is_empty()
        && claimed != "application/octet-stream"
        && claimed != kind.mime_type()
        && !(kind == FileKind::Jpeg && claimed == "image/jpg")
    {
        return Err(UploadError::TypeMismatch {
            claimed: claimed.chars().take(100).collect(),
            actual: kind.mime_type(),
        });
    }
    if kind == FileKind::Pdf && pdf_has_card_number(bytes) {
        return Err(UploadError::CardNumber);
    }
    let file_name = name
        .map(|n| n.chars().filter(|c| !c.is_control()).take(MAX_NAME_CHARS).collect::<String>())
        .map(|n| pci::mask_card_numbers(n.trim()))
        .filter(|n| !n.is_empty());
    Ok(CheckedFile { kind, file_name })
}

/// Whether a PDF's text, plain or in deflate-compressed streams, holds a card number. Text in
/// PDF content is drawn in pieces (`(4111 1111) Tj`, `[(4111)-20(1111)] TJ`), so the digits
/// of each stream are also read with everything between them that is not a letter dropped.
fn pdf_has_card_number(bytes: &[u8]) -> bool {
    if text_has_card_number(bytes) {
        return true;
    }
    let mut budget = MAX_INFLATED;
    let mut rest = bytes;
    while let Some(start) = find(rest, b"stream") {
        let mut body = &rest[start + b"stream".len()..];
        // The keyword is followed by CRLF or LF.
        body = body.strip_prefix(b"\r").unwrap_or(body);
        body = body.strip_prefix(b"\n").unwrap_or(body);
        let end = find(body, b"endstream").unwrap_or(body.len());
        let data = &body[..end];
        if budget > 0 && data.first() == Some(&0x78) {
            let mut inflated = Vec::new();
            let read = ZlibDecoder::new(data).take(budget).read_to_end(&mut inflated);
            // A damaged stream still yields what inflated before the damage.
            let _ = read;
            budget = budget.saturating_sub(inflated.len() as u64);
            if text_has_card_number(&inflated) {
                return true;
            }
        }
        rest = &body[end..];
        if rest.len() >= b"endstream".len() {
            rest = &rest[b"endstream".len()..];
        }
    }
    false
}

/// Whether bytes read as Latin-1 text hold a card number, as written or with the digits joined
/// across PDF string operators.
fn text_has_card_number(bytes: &[u8]) -> bool {
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    if pci::mask_card_numbers(&text) != text {
        return true;
    }
    // Digits joined across string pieces (`(4111)-20(1111)`, `(5500 0000) Tj (0000 0004) Tj`):
    // inside strings keep digits, spaces and dashes, and let anything else end a run; outside
    // them, only the end of a text object (`ET`, or any operator starting with `E`) does.
    let mut joined = String::with_capacity(64);
    let mut in_string = false;
    for c in text.chars() {
        match c {
            '(' => in_string = true,
            ')' => in_string = false,
            c if in_string && (c.is_ascii_digit() || c == ' ' || c == '-') => joined.push(c),
            _ if in_string => joined.push('\n'),
            'E' => joined.push('\n'),
            _ => {}
        }
    }
    pci::mask_card_numbers(&joined) != joined
}

/// The first position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use flate2::Compression;
    use flate2::write::ZlibEncoder;

    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn kinds_come_from_the_bytes() {
        assert_eq!(check(PNG, Some("image/png"), Some("a.png")).unwrap().kind, FileKind::Png);
        assert_eq!(check(PNG, None, None).unwrap().kind, FileKind::Png);
        assert_eq!(check(b"\xFF\xD8\xFF\xE0..", Some("image/jpg"), None).unwrap().kind, FileKind::Jpeg);
        assert_eq!(
            check(b"RIFF\0\0\0\0WEBPVP8 ", Some("application/octet-stream"), None).unwrap().kind,
            FileKind::Webp
        );
        assert_eq!(check(b"", None, None), Err(UploadError::Empty));
        assert_eq!(check(b"MZ\x90\0 an exe", Some("image/png"), None), Err(UploadError::UnsupportedType));
        assert_eq!(check(b"<svg onload=alert(1)>", Some("image/svg+xml"), None), Err(UploadError::UnsupportedType));
        assert!(matches!(check(PNG, Some("application/pdf"), None), Err(UploadError::TypeMismatch { .. })));
    }

    #[test]
    fn names_are_cleaned_and_masked() {
        let f = check(PNG, None, Some("card 4111 1111 1111 1111\u{0}\n.png")).unwrap();
        assert_eq!(f.file_name.as_deref(), Some("card **** **** **** 1111.png"));
        assert_eq!(check(PNG, None, Some("   ")).unwrap().file_name, None);
        let long = "x".repeat(1000);
        assert_eq!(check(PNG, None, Some(&long)).unwrap().file_name.unwrap().len(), MAX_NAME_CHARS);
    }

    fn pdf_with(content: &[u8], compress: bool) -> Vec<u8> {
        let data = if compress {
            let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
            e.write_all(content).unwrap();
            e.finish().unwrap()
        } else {
            content.to_vec()
        };
        let mut pdf = b"%PDF-1.7\n4 0 obj\n<< /Length 99 /Filter /FlateDecode >>\nstream\n".to_vec();
        pdf.extend_from_slice(&data);
        pdf.extend_from_slice(b"\nendstream\nendobj\n%%EOF\n");
        pdf
    }

    #[test]
    fn a_pdf_with_a_card_number_is_refused() {
        for content in [
            &b"BT /F1 12 Tf 72 712 Td (Card: 4111 1111 1111 1111) Tj ET"[..],
            b"BT [(4111)-20(1111)-20(1111)-20(1111)] TJ ET",
            b"BT (5500 0000) Tj (0000 0004) Tj ET",
        ] {
            assert_eq!(check(&pdf_with(content, true), Some("application/pdf"), None), Err(UploadError::CardNumber));
            assert_eq!(check(&pdf_with(content, false), Some("application/pdf"), None), Err(UploadError::CardNumber));
        }
        let clean = pdf_with(b"BT (Invoice 2026-10, total 49.90 EUR, line 600 123 456) Tj ET", true);
        assert_eq!(check(&clean, Some("application/pdf"), Some("bill.pdf")).unwrap().kind, FileKind::Pdf);
    }

    #[test]
    fn a_compression_bomb_is_bounded() {
        let pdf = pdf_with(&vec![b'0'; 64 * 1024 * 1024], true);
        assert!(pdf.len() < 1024 * 1024);
        // Whatever it decides, it returns having inflated at most MAX_INFLATED bytes.
        let _ = check(&pdf, None, None);
    }
}
