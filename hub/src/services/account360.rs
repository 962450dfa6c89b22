//! The customer 360: what the operator's billing system knows of a hub customer (the linked BSS
//! customer, their billing accounts, products and last bills), read through `AppState.bss`.
//!
//! Tier sync: the BSS segment is the customer's tier. Whenever the 360 is loaded for a linked
//! customer, the hub customer's tier is set from the segment ([`tier_for_segment`]), so tier
//! routing rules fire on the tier billing knows; the demo seed sets it when it links.

use schema::CustomerTier;

/// The hub tier of a BSS segment: `platinum` and `vip` are VIP; `gold`, `premium` and
/// `business` are premium; anything else is standard.
#[must_use]
pub fn tier_for_segment(segment: &str) -> CustomerTier {
    match segment.trim().to_ascii_lowercase().as_str() {
        "platinum" | "vip" => CustomerTier::Vip,
        "gold" | "premium" | "business" => CustomerTier::Premium,
        _ => CustomerTier::Standard,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_map_to_tiers() {
        assert_eq!(tier_for_segment("Platinum"), CustomerTier::Vip);
        assert_eq!(tier_for_segment("gold"), CustomerTier::Premium);
        assert_eq!(tier_for_segment("business"), CustomerTier::Premium);
        assert_eq!(tier_for_segment("standard"), CustomerTier::Standard);
        assert_eq!(tier_for_segment(""), CustomerTier::Standard);
    }
}
