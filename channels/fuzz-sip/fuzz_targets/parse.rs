//! Any bytes: the parser, the TCP framer, every accessor and the response builder must not panic,
//! and what we serialise must parse again.
#![no_main]

use channels::sip::digest::DigestResponse;
use channels::sip::message::{self, Response, SipMessage, SipUri};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = message::frame_length(data);
    let Ok(msg) = SipMessage::parse(data) else { return };
    assert!(SipMessage::parse(&msg.to_bytes()).is_ok());
    match &msg {
        SipMessage::Request(r) => {
            let _ = (r.top_via(), r.from(), r.to(), r.cseq(), r.contacts(), r.expires(), r.max_forwards());
            let _ = SipUri::parse(&r.uri).map(|u| (u.socket_addr(), u.to_string()));
            let _ = r.headers.get("Authorization").map(DigestResponse::parse);
            assert!(SipMessage::parse(&Response::to_request(r, 486, Some("t")).to_bytes()).is_ok());
        }
        SipMessage::Response(r) => {
            let _ = (r.top_via(), r.to(), r.cseq(), r.contact());
        }
    }
});
