//! Amounts of money: integer minor units (cents) and an ISO 4217 currency, never floating point.
//! Parsed from the decimal text people and TMF documents write (`"12.30"`, `12.3`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a text is not an amount or a currency.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("a currency is three capital letters (ISO 4217), like EUR")]
    Currency,
    #[error("an amount is a number with at most {0} decimals, like 12.30")]
    Amount(u8),
    #[error("the amount is too large")]
    TooLarge,
}

/// An ISO 4217 currency code: three ASCII capital letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Parses a code such as `EUR`.
    ///
    /// # Errors
    /// Anything but three ASCII capital letters.
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        match text.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(MoneyError::Currency),
        }
    }

    /// The code.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Three ASCII capitals, checked by `parse`.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Decimals of the minor unit (ISO 4217): 0 for yen-like currencies, 3 for dinars, else 2.
    #[must_use]
    pub fn exponent(&self) -> u8 {
        match self.as_str() {
            "JPY" | "KRW" | "CLP" | "ISK" | "VND" | "XAF" | "XOF" | "PYG" | "UGX" => 0,
            "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "LYD" | "IQD" => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An amount in a currency's minor unit. Serialised as `{"minor": 1230, "currency": "EUR"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Money {
    /// The amount in minor units (cents for EUR): 1230 is 12.30 EUR. Negative for credits.
    pub minor: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "EUR"))]
    pub currency: Currency,
}

impl Money {
    #[must_use]
    pub const fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// Parses a decimal text (`12.3`, `-4`, `0.05`) in `currency`: at most the currency's
    /// decimals, an optional leading `-`, digits and one `.`; nothing else (no exponent, no
    /// thousands separator). Linear in the text, which is at most 32 bytes.
    ///
    /// # Errors
    /// Anything else, or an amount beyond ±10^15 minor units.
    pub fn parse_decimal(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        let exp = currency.exponent();
        let bad = MoneyError::Amount(exp);
        let text = text.trim();
        if text.is_empty() || text.len() > 32 {
            return Err(bad);
        }
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, frac) = match digits.split_once('.') {
            Some((w, f)) => (w, f),
            None => (digits, ""),
        };
        let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !is_digits(whole) || !is_digits(frac) || frac.len() > usize::from(exp) {
            return Err(bad);
        }
        if digits.contains('.') && frac.is_empty() {
            return Err(bad);
        }
        let mut minor: i64 = 0;
        for b in whole.bytes().chain(frac.bytes()).chain(std::iter::repeat_n(b'0', usize::from(exp) - frac.len())) {
            minor =
                minor.checked_mul(10).and_then(|m| m.checked_add(i64::from(b - b'0'))).ok_or(MoneyError::TooLarge)?;
            if minor > 1_000_000_000_000_000 {
                return Err(MoneyError::TooLarge);
            }
        }
        Ok(Self { minor: if negative { -minor } else { minor }, currency })
    }

    /// The amount as decimal text in the currency's unit (`12.30`), as TMF documents carry it.
    #[must_use]
    pub fn decimal(&self) -> String {
        let exp = u32::from(self.currency.exponent());
        if exp == 0 {
            return self.minor.to_string();
        }
        let scale = 10_u64.pow(exp);
        let abs = self.minor.unsigned_abs();
        let sign = if self.minor < 0 { "-" } else { "" };
        format!("{sign}{}.{:0width$}", abs / scale, abs % scale, width = exp as usize)
    }

    /// `self + other`, if they are in the same currency and it does not overflow.
    #[must_use]
    pub fn checked_add(self, other: Self) -> Option<Self> {
        (self.currency == other.currency)
            .then(|| self.minor.checked_add(other.minor).map(|minor| Self { minor, currency: self.currency }))
            .flatten()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.decimal(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn parses_and_prints_decimals() {
        let cases = [("12.3", 1230), ("12.30", 1230), ("0.05", 5), ("-4", -400), (" 7 ", 700)];
        for (text, minor) in cases {
            assert_eq!(Money::parse_decimal(text, eur()), Ok(Money::new(minor, eur())), "{text}");
        }
        assert_eq!(Money::new(-1205, eur()).decimal(), "-12.05");
        assert_eq!(Money::new(5, eur()).to_string(), "0.05 EUR");
    }

    #[test]
    fn rejects_what_is_not_an_amount() {
        for text in ["", "abc", "1.234", "1e3", "1,5", "--1", "1.", ".5", "+1", "NaN", "1 000", "99999999999999999999"]
        {
            assert!(Money::parse_decimal(text, eur()).is_err(), "{text}");
        }
        assert_eq!(Currency::parse("eur"), Err(MoneyError::Currency));
        assert_eq!(Currency::parse("EURO"), Err(MoneyError::Currency));
    }

    #[test]
    fn adds_only_the_same_currency() {
        let usd = Currency::parse("USD").unwrap_or_else(|_| unreachable!());
        assert_eq!(Money::new(1, eur()).checked_add(Money::new(2, eur())), Some(Money::new(3, eur())));
        assert_eq!(Money::new(1, eur()).checked_add(Money::new(2, usd)), None);
    }
}
