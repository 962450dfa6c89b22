//! Files a customer sends in the web chat: which kinds are taken, recognised by their bytes (not
//! by the name or the type the browser claims), and the card-number check.
//!
//! Card numbers in text are masked before anything is stored; a file cannot be masked without
//! breaking it, so a PDF whose text holds a card number is refused instead, and the customer is
//! asked to send it without. The check reads the whole file and every content stream: plain or
//! deflate-compressed (inflated up to a bound), literal `(…)` and hex `<…>` strings, digits
//! joined across the pieces text is drawn in. It fails closed: an encrypted PDF, a stream in an
//! encoding the hub does not read (LZW, ASCII85…), one that does not inflate, or more than the
//! bound allows is refused as not checkable. Pictures (and image streams inside a PDF) are not
//! read: finding digits in a picture needs OCR, which the hub does not do.

use std::io::Read as _;

use flate2::read::ZlibDecoder;
use schema::pci::{self, CardScanner};

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
    #[error(
        "the document cannot be checked for card numbers (encrypted, or encoded in a way the hub does not read); please send another copy of it, for example printed again to PDF"
    )]
    Uncheckable,
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
const MAX_INFLATED: u64 = 32 * 1024 * 1024;
/// Most streams of one PDF that are read.
const MAX_STREAMS: usize = 2_000;
/// How far before a `stream` keyword its dictionary is looked for.
const MAX_DICTIONARY: usize = 4096;

/// Checks a file a customer sends: `claimed` is the `Content-Type` the browser gave (may be
/// absent or generic), `name` the file's name. Linear in the file's size (a PDF's streams count
/// with what they inflate to, up to a bound).
///
/// # Errors
/// Empty, of a kind not taken, not what it claims, or a PDF holding a card number or that
/// cannot be checked.
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
    if kind == FileKind::Pdf {
        check_pdf(bytes)?;
    }
    let file_name = name
        .map(|n| n.chars().filter(|c| !c.is_control()).take(MAX_NAME_CHARS).collect::<String>())
        .map(|n| pci::mask_card_numbers(n.trim()))
        .filter(|n| !n.is_empty());
    Ok(CheckedFile { kind, file_name })
}

/// The text of a PDF as two card scanners see it: the bytes as written, and the string pieces
/// of text operators joined (`(4111)-20(1111)`, `(5500 0000) Tj (0000 0004) Tj`,
/// `<34313131> Tj`). Inside strings digits, spaces and dashes are kept and anything else ends
/// a run; outside them only the end of a text object (`ET`, or any operator starting with `E`)
/// does.
#[derive(Debug)]
struct PdfText {
    raw: CardScanner,
    joined: CardScanner,
    state: Lexer,
    /// The first hex digit of a pair inside a hex string.
    high: Option<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lexer {
    Outside,
    /// After a `<` outside strings: a hex string, or `<<`.
    Angle,
    Literal,
    Hex,
}

impl PdfText {
    fn new() -> Self {
        Self { raw: CardScanner::new(), joined: CardScanner::new(), state: Lexer::Outside, high: None }
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.raw.feed(bytes);
        for &b in bytes {
            self.byte(b);
        }
    }

    fn in_string(&mut self, b: u8) {
        if b.is_ascii_digit() || b == b' ' || b == b'-' {
            self.joined.byte(b);
        } else {
            self.joined.byte(b'\n');
        }
    }

    fn byte(&mut self, b: u8) {
        match self.state {
            Lexer::Outside => match b {
                b'(' => self.state = Lexer::Literal,
                b'<' => self.state = Lexer::Angle,
                b'E' => self.joined.byte(b'\n'),
                _ => {}
            },
            Lexer::Angle => {
                if b == b'<' {
                    self.state = Lexer::Outside;
                } else {
                    self.state = Lexer::Hex;
                    self.high = None;
                    self.byte(b);
                }
            }
            Lexer::Literal => {
                if b == b')' {
                    self.state = Lexer::Outside;
                } else {
                    self.in_string(b);
                }
            }
            Lexer::Hex => {
                if b == b'>' {
                    self.state = Lexer::Outside;
                } else if let Some(v) = char::from(b).to_digit(16) {
                    let v = u8::try_from(v).unwrap_or(0);
                    match self.high.take() {
                        Some(h) => {
                            let decoded = h << 4 | v;
                            self.raw.byte(decoded);
                            self.in_string(decoded);
                        }
                        None => self.high = Some(v),
                    }
                }
            }
        }
    }

    fn found(&mut self) -> bool {
        // Both, so each sees the end of its last run.
        let raw = self.raw.found();
        self.joined.found() || raw
    }
}

/// What to do with one stream, from its dictionary.
#[derive(Debug, PartialEq, Eq)]
enum StreamKind {
    /// Not compressed: its bytes were read with the file's.
    Plain,
    Deflate,
    /// A picture or a font: no text to read.
    Skip,
    /// An encoding the hub does not read.
    Unreadable,
}

fn stream_kind(dictionary: &[u8]) -> StreamKind {
    let dict = String::from_utf8_lossy(dictionary);
    if dict.contains("/Subtype /Image") || dict.contains("/Subtype/Image") || dict.contains("/Length1") {
        return StreamKind::Skip;
    }
    let Some(at) = dict.rfind("/Filter") else { return StreamKind::Plain };
    let rest = &dict[at + "/Filter".len()..];
    let rest = rest.trim_start();
    let names: Vec<&str> = if let Some(list) = rest.strip_prefix('[') {
        list.split(']').next().unwrap_or("").split('/').map(str::trim).filter(|n| !n.is_empty()).collect()
    } else {
        rest.trim_start_matches('/').split(|c: char| !c.is_ascii_alphanumeric()).take(1).collect()
    };
    const IMAGE: [&str; 4] = ["DCTDecode", "JPXDecode", "CCITTFaxDecode", "JBIG2Decode"];
    if names.iter().any(|n| IMAGE.contains(n)) {
        StreamKind::Skip
    } else if names.is_empty() {
        StreamKind::Plain
    } else if names == ["FlateDecode"] {
        StreamKind::Deflate
    } else {
        StreamKind::Unreadable
    }
}

/// Whether a PDF may be kept: no card number in any text the check can read, and nothing it
/// cannot read.
fn check_pdf(bytes: &[u8]) -> Result<(), UploadError> {
    if find(bytes, b"/Encrypt").is_some() {
        return Err(UploadError::Uncheckable);
    }
    let mut text = PdfText::new();
    text.feed(bytes);
    if text.found() {
        return Err(UploadError::CardNumber);
    }
    let mut budget = MAX_INFLATED;
    let mut streams = 0;
    let mut pos = 0;
    let mut chunk = vec![0u8; 64 * 1024];
    while let Some(found) = find(&bytes[pos..], b"stream") {
        let keyword = pos + found;
        pos = keyword + b"stream".len();
        // `endstream` contains `stream`: not a stream's start.
        if keyword >= 3 && &bytes[keyword - 3..keyword] == b"end" {
            continue;
        }
        streams += 1;
        if streams > MAX_STREAMS {
            return Err(UploadError::Uncheckable);
        }
        let dictionary = &bytes[keyword.saturating_sub(MAX_DICTIONARY)..keyword];
        let dictionary = match find_last(dictionary, b"obj") {
            Some(at) => &dictionary[at..],
            None => dictionary,
        };
        let mut body = &bytes[pos..];
        body = body.strip_prefix(b"\r").unwrap_or(body);
        body = body.strip_prefix(b"\n").unwrap_or(body);
        let end = find(body, b"endstream").unwrap_or(body.len());
        let data = &body[..end];
        match stream_kind(dictionary) {
            StreamKind::Plain | StreamKind::Skip => {}
            StreamKind::Unreadable => return Err(UploadError::Uncheckable),
            StreamKind::Deflate => {
                let mut text = PdfText::new();
                let mut decoder = ZlibDecoder::new(data);
                loop {
                    let n = decoder.read(&mut chunk).map_err(|_| UploadError::Uncheckable)?;
                    if n == 0 {
                        break;
                    }
                    let n64 = n as u64;
                    if n64 > budget {
                        return Err(UploadError::Uncheckable);
                    }
                    budget -= n64;
                    text.feed(&chunk[..n]);
                }
                if text.found() {
                    return Err(UploadError::CardNumber);
                }
            }
        }
        pos = (pos + end).min(bytes.len());
    }
    Ok(())
}

/// The first position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The last position of `needle` in `haystack`.
fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
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
    fn what_cannot_be_read_is_refused() {
        // A bomb: 64 MiB of one byte in a small file; the budget runs out before it is read.
        let bomb = pdf_with(&vec![b' '; 64 * 1024 * 1024], true);
        assert!(bomb.len() < 1024 * 1024);
        assert_eq!(check(&bomb, None, None), Err(UploadError::Uncheckable));
        // ... and a card number after it cannot hide behind it.
        let mut hidden = bomb.clone();
        hidden.extend_from_slice(&pdf_with(b"BT (4111 1111 1111 1111) Tj ET", true)[9..]);
        assert_ne!(check(&hidden, None, None).map(|f| f.kind), Ok(FileKind::Pdf));
        // Encodings the check does not read, encryption, a stream that does not inflate.
        let lzw =
            b"%PDF-1.4\n1 0 obj\n<< /Length 5 /Filter /LZWDecode >>\nstream\n\x80\x0b\x60\x50\x22\nendstream\nendobj\n";
        assert_eq!(check(lzw, None, None), Err(UploadError::Uncheckable));
        let a85 = b"%PDF-1.4\n1 0 obj\n<< /Filter [/ASCII85Decode /FlateDecode] >>\nstream\n9jqo^\nendstream\nendobj\n";
        assert_eq!(check(a85, None, None), Err(UploadError::Uncheckable));
        let encrypted = b"%PDF-1.4\ntrailer << /Encrypt 5 0 R >>\n";
        assert_eq!(check(encrypted, None, None), Err(UploadError::Uncheckable));
        let broken = b"%PDF-1.4\n1 0 obj\n<< /Filter /FlateDecode >>\nstream\nnot zlib at all\nendstream\nendobj\n";
        assert_eq!(check(broken, None, None), Err(UploadError::Uncheckable));
    }

    #[test]
    fn hex_strings_and_pictures() {
        // "4111 1111 1111 1111" as a hex string, compressed.
        let hex: String = "4111 1111 1111 1111".bytes().map(|b| format!("{b:02x}")).collect();
        let pdf = pdf_with(format!("BT <{hex}> Tj ET").as_bytes(), true);
        assert_eq!(check(&pdf, None, None), Err(UploadError::CardNumber));
        // A dictionary is not a hex string.
        let clean = pdf_with(b"<< /Type /Page >> BT (Total 12.50) Tj ET", true);
        assert_eq!(check(&clean, None, None).map(|f| f.kind), Ok(FileKind::Pdf));
        // A picture inside a PDF is not read (nor inflated), like a picture sent alone.
        let image =
            b"%PDF-1.4\n1 0 obj\n<< /Subtype /Image /Filter /DCTDecode >>\nstream\n\xff\xd8\xff\nendstream\nendobj\n";
        assert_eq!(check(image, None, None).map(|f| f.kind), Ok(FileKind::Pdf));
    }
}
