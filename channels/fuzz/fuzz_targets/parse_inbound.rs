//! Any bytes into `parse_inbound` (and what the hub does next with the result): no panic.
#![no_main]

use channels::email::{InboundLimits, find_token, parse_inbound, thread_keys};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = InboundLimits { max_attachment_bytes: 4096, max_total_attachment_bytes: 8192, max_text_chars: 10_000 };
    if let Ok(mail) = parse_inbound(data, &limits) {
        let _ = thread_keys(&mail);
        let _ = find_token(&mail.subject, mail.recipients());
        let _ = mail.message_text(10_000);
    }
});
