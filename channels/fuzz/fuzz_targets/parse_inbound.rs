//! Any bytes into the inbound e-mail path: `parse_inbound` (and what the hub does next with the
//! result: threading keys, the sender's verdict from `Authentication-Results`) and the
//! card-number masking of the raw copy. No panic; the masked copy of a mail that parsed still
//! parses.
#![no_main]

use channels::email::{
    InboundLimits, find_token, mask_card_numbers_in_mail, parse_authentication_results, parse_inbound, sender_verdict,
    thread_keys,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = InboundLimits { max_attachment_bytes: 4096, max_total_attachment_bytes: 8192, max_text_chars: 10_000 };
    let parsed = parse_inbound(data, &limits);
    if let Ok(mail) = &parsed {
        let _ = thread_keys(mail);
        let _ = find_token(&mail.subject, mail.recipients());
        let _ = mail.message_text(10_000);
        let from = mail.from.as_ref().map_or("", |m| m.address.as_str());
        let _ = sender_verdict(mail.authentication_results.iter().map(String::as_str), "mx.example", from);
    }
    // The header parser on its own, on any text.
    let _ = parse_authentication_results(&String::from_utf8_lossy(data));
    let masked = mask_card_numbers_in_mail(data);
    if parsed.is_ok() {
        assert!(parse_inbound(&masked, &limits).is_ok(), "the masked copy of a parsed mail must parse");
    }
});
