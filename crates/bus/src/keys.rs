//! KV key encoding. KV keys are NATS subjects restricted to `[-/_=.a-zA-Z0-9]`, and `.` separates
//! tokens, so vendor ids (which may hold spaces, dots, `@`, non-ASCII…) are encoded into a single
//! key token before they are used:
//!
//! - `A-Z`, `a-z`, `0-9`, `-` and `_` stand for themselves;
//! - every other byte of the id's UTF-8 form, `=` included, becomes `=` followed by two uppercase
//!   hex digits (`.` → `=2E`, space → `=20`, `é` → `=C3=A9`).
//!
//! The encoding is injective (so two ids never share a key) and reversible ([`decode_token`]); ids
//! made of letters, digits, `-` and `_` (all numeric PSA ids, IT Glue ids) are unchanged, so keys stay
//! readable in `nats kv` output. An empty id is refused: it has no key.

use syncbridge_model::{Entity, Side, TenantId};

use crate::kv::KvError;

/// Longest encoded token accepted. Keys travel on a protocol line of bounded length (4 KiB by
/// default); ids are far shorter in practice, so this only stops garbage.
const MAX_TOKEN_LEN: usize = 1024;

/// Encodes `raw` as one KV key token (see the module docs).
pub fn encode_token(raw: &str) -> Result<String, KvError> {
    if raw.is_empty() {
        return Err(KvError::InvalidKey {
            part: String::new(),
            reason: "ids must not be empty",
        });
    }
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            out.push('=');
            out.push_str(&format!("{b:02X}"));
        }
    }
    if out.len() > MAX_TOKEN_LEN {
        return Err(KvError::InvalidKey {
            part: raw.chars().take(64).collect(),
            reason: "id too long for a KV key",
        });
    }
    Ok(out)
}

/// Reverses [`encode_token`].
pub fn decode_token(token: &str) -> Result<String, KvError> {
    let invalid = |reason| KvError::InvalidKey {
        part: token.to_owned(),
        reason,
    };
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'=' {
            let hex = token
                .get(i + 1..i + 3)
                .ok_or_else(|| invalid("truncated escape"))?;
            let v = u8::from_str_radix(hex, 16).map_err(|_| invalid("bad escape"))?;
            out.push(v);
            i += 3;
        } else if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b);
            i += 1;
        } else {
            return Err(invalid("character not produced by the encoding"));
        }
    }
    String::from_utf8(out).map_err(|_| invalid("not UTF-8"))
}

/// `{tenant}.{entity}.psa.{psa_id}` or `{tenant}.{entity}.itg.{itglue_id}` (id encoded).
pub fn record_key(
    tenant: &TenantId,
    entity: Entity,
    side: Side,
    id: &str,
) -> Result<String, KvError> {
    Ok(format!(
        "{tenant}.{entity}.{}.{}",
        side.as_str(),
        encode_token(id)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_are_unchanged() {
        assert_eq!(encode_token("12345").unwrap(), "12345");
        assert_eq!(encode_token("abc-DEF_9").unwrap(), "abc-DEF_9");
    }

    #[test]
    fn unsafe_bytes_are_escaped_and_round_trip() {
        for raw in ["a.b", "a b", "x=y", "é", "a/b", "*", ">", "...", "=2E"] {
            let enc = encode_token(raw).unwrap();
            assert!(
                enc.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'='),
                "{enc}"
            );
            assert_eq!(decode_token(&enc).unwrap(), raw);
        }
        assert_eq!(encode_token("a.b").unwrap(), "a=2Eb");
        assert_eq!(encode_token("=").unwrap(), "=3D");
    }

    #[test]
    fn distinct_ids_get_distinct_tokens() {
        assert_ne!(encode_token("a.b").unwrap(), encode_token("a=2Eb").unwrap());
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(encode_token("").is_err());
        assert!(encode_token(&"x".repeat(5000)).is_err());
        for bad in ["=", "=4", "=ZZ", "a.b", "=C3", "=é"] {
            assert!(decode_token(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn record_keys_follow_the_contract() {
        let t = TenantId::new("acme").unwrap();
        assert_eq!(
            record_key(&t, Entity::Contact, Side::Psa, "42").unwrap(),
            "acme.contact.psa.42"
        );
        assert_eq!(
            record_key(&t, Entity::Organization, Side::ItGlue, "a b").unwrap(),
            "acme.organization.itg.a=20b"
        );
    }
}
