//! PCI-DSS: primary account numbers (card numbers) are never stored in clear.
//!
//! Any run of 13 to 19 digits (single spaces or dashes may separate groups) that passes the Luhn
//! check is masked to its last four digits before a message reaches the store. Masking errs on the
//! side of caution: a long reference number that happens to pass Luhn is masked too.

const MIN_PAN: usize = 13;
const MAX_PAN: usize = 19;

/// Returns `text` with every card number masked (`**** **** **** 1111` keeps separators).
#[must_use]
pub fn mask_card_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = chars.clone();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A run: groups of digits separated by a single ' ' or '-'.
        let mut groups: Vec<Vec<usize>> = vec![Vec::new()];
        let mut end = i;
        while end < chars.len() {
            let c = chars[end];
            if c.is_ascii_digit() {
                if let Some(g) = groups.last_mut() {
                    g.push(end);
                }
                end += 1;
            } else if (c == ' ' || c == '-') && chars.get(end + 1).is_some_and(char::is_ascii_digit) {
                groups.push(Vec::new());
                end += 1;
            } else {
                break;
            }
        }
        mask_groups(&chars, &groups, &mut out);
        i = end;
    }
    out.into_iter().collect()
}

/// [`mask_card_numbers`] on bytes in any ASCII-compatible encoding (UTF-8, ISO-8859-x, raw
/// MIME): the same length out, only ASCII digits turned into `*`.
#[must_use]
pub fn mask_card_numbers_in_bytes(bytes: &[u8]) -> Vec<u8> {
    // Each byte as the char of the same value, so every byte survives the round trip.
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    mask_card_numbers(&text).chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'*')).collect()
}

/// Masks every span of whole groups that holds 13..=19 digits and passes Luhn, longest first.
/// A card number is never split inside a group, so a long reference number is left alone.
fn mask_groups(chars: &[char], groups: &[Vec<usize>], out: &mut [char]) {
    let mut g = 0;
    while g < groups.len() {
        // Only spans of at most MAX_PAN digits can be card numbers: at most MAX_PAN groups from
        // `g`, which keeps the whole scan linear in the text.
        let mut digits_from_g = 0;
        let mut end = g;
        while end < groups.len() && digits_from_g + groups[end].len() <= MAX_PAN {
            digits_from_g += groups[end].len();
            end += 1;
        }
        let hit = (g..end).rev().find_map(|last| {
            let positions: Vec<usize> = groups[g..=last].iter().flatten().copied().collect();
            let digits: Vec<u8> = positions.iter().map(|&p| chars[p] as u8 - b'0').collect();
            ((MIN_PAN..=MAX_PAN).contains(&digits.len()) && luhn_valid(&digits)).then_some((last, positions))
        });
        match hit {
            Some((last, positions)) => {
                for &p in &positions[..positions.len() - 4] {
                    out[p] = '*';
                }
                g = last + 1;
            }
            None => g += 1,
        }
    }
}

/// Finds card numbers in text fed in pieces, keeping no more than one card number's digits: the
/// same rule as [`mask_card_numbers`] (13 to 19 digits in whole groups separated by single
/// spaces or dashes, passing Luhn), as a yes or no. For files too large to copy as text; bytes
/// are read as ASCII.
#[derive(Clone, Debug, Default)]
pub struct CardScanner {
    /// The run's last complete groups, at most `MAX_PAN` digits in all.
    window: std::collections::VecDeque<Vec<u8>>,
    /// The group being read (its digits; `None` once it is longer than any card number).
    current: Option<Vec<u8>>,
    /// A single separator followed the last group.
    separator: bool,
    found: bool,
}

impl CardScanner {
    /// A scanner that has seen nothing.
    #[must_use]
    pub fn new() -> Self {
        Self { current: Some(Vec::new()), ..Self::default() }
    }

    /// Reads more bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }

    /// Reads one byte.
    pub fn byte(&mut self, b: u8) {
        if self.found {
            return;
        }
        let in_group = self.current.as_ref().is_none_or(|c| !c.is_empty());
        if b.is_ascii_digit() {
            self.separator = false;
            if let Some(c) = &mut self.current {
                if c.len() < MAX_PAN {
                    c.push(b - b'0');
                } else {
                    self.current = None;
                }
            }
        } else if (b == b' ' || b == b'-') && in_group && !self.separator {
            self.end_group();
            self.separator = true;
        } else {
            if in_group {
                self.end_group();
            }
            self.window.clear();
            self.separator = false;
        }
    }

    /// Whether a card number has been seen (call after the last piece).
    #[must_use]
    pub fn found(&mut self) -> bool {
        if !self.found && self.current.as_ref().is_none_or(|c| !c.is_empty()) {
            self.end_group();
        }
        self.found
    }

    fn end_group(&mut self) {
        match self.current.replace(Vec::new()) {
            // Longer than a card number: no span may include it.
            None => self.window.clear(),
            Some(group) => {
                self.window.push_back(group);
                while self.window.iter().map(Vec::len).sum::<usize>() > MAX_PAN {
                    self.window.pop_front();
                }
                // Every span of whole groups ending with this one.
                for start in 0..self.window.len() {
                    let digits: Vec<u8> = self.window.iter().skip(start).flatten().copied().collect();
                    if (MIN_PAN..=MAX_PAN).contains(&digits.len()) && luhn_valid(&digits) {
                        self.found = true;
                        return;
                    }
                }
            }
        }
    }
}

fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::{CardScanner, mask_card_numbers};

    fn scan(text: &str) -> bool {
        let mut s = CardScanner::new();
        // In pieces, to check that state carries across them.
        for piece in text.as_bytes().chunks(3) {
            s.feed(piece);
        }
        s.found()
    }

    #[test]
    fn the_scanner_agrees_with_masking() {
        let fixed = [
            "4111 1111 1111 1111",
            "card 4111111111111111 ok",
            "4111-1111-1111-1111",
            "5500 0000 0000 0004x",
            "41111111111111111111111",
            "4111  1111 1111 1111",
            "4111 1111 1111 1112",
            "ref 12345 4111111111111111",
            "1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6",
            "",
            "-",
            " 4111111111111111-",
        ];
        for text in fixed {
            assert_eq!(scan(text), mask_card_numbers(text) != text, "{text:?}");
        }
        // Pseudo-random texts of digits, separators and letters (a fixed LCG: reproducible).
        let mut seed: u64 = 0x5eed;
        let alphabet = b"0123456789012345678901234567890123456789  --a";
        for _ in 0..5000 {
            let len = 10 + (seed >> 33) as usize % 40;
            let text: String = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    char::from(alphabet[(seed >> 33) as usize % alphabet.len()])
                })
                .collect();
            assert_eq!(scan(&text), mask_card_numbers(&text) != text, "{text:?}");
        }
    }

    #[test]
    fn long_runs_of_groups_take_linear_time() {
        // 200,000 one-digit groups: quadratic work here would take minutes.
        let text = "1 ".repeat(200_000);
        let masked = mask_card_numbers(&text);
        assert_eq!(masked.len(), text.len());
    }

    #[test]
    fn masking_scales_linearly_on_adversarial_runs() {
        // Digit-and-separator runs that keep every span a candidate (one-digit groups, groups
        // just short of a card, Luhn-valid cards back to back, long digit runs): 16 times the
        // input must cost about 16 times the work; 64x is a generous bound (cubic was 4096x).
        for unit in ["1 ", "9-", "4111 1111 1111 111 ", "4111111111111111 ", "12 34-56 ", "0000000000"] {
            let small = unit.repeat(4_096 / unit.len() + 1);
            let large = unit.repeat(65_536 / unit.len() + 1);
            let ratio = crate::linear::work_ratio(|| mask_card_numbers(&small), || mask_card_numbers(&large));
            assert!(ratio < 64.0, "{unit:?}: {ratio}");
            let bytes = crate::linear::work_ratio(
                || super::mask_card_numbers_in_bytes(small.as_bytes()),
                || super::mask_card_numbers_in_bytes(large.as_bytes()),
            );
            assert!(bytes < 64.0, "{unit:?} as bytes: {bytes}");
        }
    }

    #[test]
    fn masks_plain_spaced_and_dashed_card_numbers() {
        assert_eq!(mask_card_numbers("card 4111111111111111 ok"), "card ************1111 ok");
        assert_eq!(mask_card_numbers("4111 1111 1111 1111"), "**** **** **** 1111");
        assert_eq!(mask_card_numbers("5500-0000-0000-0004."), "****-****-****-0004.");
        // Amex, 15 digits.
        assert_eq!(mask_card_numbers("378282246310005"), "***********0005");
    }

    #[test]
    fn leaves_ordinary_numbers_alone() {
        let phone = "call me on +34 600 123 456 or 4111111111111112";
        assert_eq!(mask_card_numbers(phone), phone);
        assert_eq!(mask_card_numbers("invoice 2024-11-05, 12 GB"), "invoice 2024-11-05, 12 GB");
        assert_eq!(mask_card_numbers(""), "");
    }

    #[test]
    fn masks_bytes_in_any_ascii_compatible_encoding() {
        use super::mask_card_numbers_in_bytes;
        // ISO-8859-1 "número: " then a card: not UTF-8, still masked, other bytes untouched.
        let latin1 = b"n\xfamero: 4111 1111 1111 1111\r\n";
        assert_eq!(mask_card_numbers_in_bytes(latin1), b"n\xfamero: **** **** **** 1111\r\n");
        let utf8 = "ñ 4111111111111111 €".as_bytes();
        assert_eq!(mask_card_numbers_in_bytes(utf8), "ñ ************1111 €".as_bytes());
        assert_eq!(mask_card_numbers_in_bytes(b"\x00\xff12"), b"\x00\xff12");
    }

    #[test]
    fn finds_a_card_after_other_numbers_and_keeps_unicode() {
        let masked = mask_card_numbers("ñ 99 99 4111111111111111 € ");
        assert_eq!(masked, "ñ 99 99 ************1111 € ");
    }
}
