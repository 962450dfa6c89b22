//! OpenAPI schemas of the domain's values (feature `openapi`), so the hub's generated API
//! document describes ids, names and bounded numbers exactly as they are validated here.

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};

/// A UUIDv7 id.
pub(crate) fn uuid() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .description(Some("a UUIDv7 (time-ordered)"))
        .into()
}

/// One of a closed set of names.
pub(crate) fn one_of<'a>(values: impl IntoIterator<Item = &'a str>) -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values)).into()
}

/// A string of at most `max` characters, described.
pub(crate) fn text(description: &str, max: usize) -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).max_length(Some(max)).description(Some(description)).into()
}

/// An integer from `min` to `max`.
pub(crate) fn integer(min: u8, max: u8) -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(f64::from(min))).maximum(Some(f64::from(max))).into()
}

/// Implements `ToSchema` for string values with a description and a maximum length.
macro_rules! text_schema {
    ($($ty:ty => ($max:expr, $desc:literal)),+ $(,)?) => {
        $(
            impl utoipa::PartialSchema for $ty {
                fn schema() -> RefOr<Schema> {
                    text($desc, $max)
                }
            }
            impl utoipa::ToSchema for $ty {}
        )+
    };
}

text_schema! {
    crate::EmailAddress => (254, "a lower-cased e-mail address"),
    crate::DisplayName => (100, "a display name: trimmed, no control characters"),
    crate::MessageText => (100_000, "message text, card numbers masked; the hub's configured maximum applies"),
    crate::ChannelMessageId => (256, "the channel's own id of a message, or a client's idempotency key"),
}
