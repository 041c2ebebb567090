//! The .NET-style JSON escaping Autotask appears to apply before signing a webhook body
//! (webhooks.md §2.3): inside string values, `& < > ' " \` +` become `\u0026 \u003C \u003E \u0027
//! \u0022 \u0060 \u002B` (an existing `\"` becomes `\u0022`) and every non-ASCII character becomes
//! `\uXXXX` (upper-case hex, UTF-16 code units). Structure outside strings is untouched.

/// Rewrites a compact JSON text into the escaped form Autotask signs.
pub fn escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 16);
    let mut in_string = false;
    let mut chars = json.chars();
    while let Some(c) = chars.next() {
        if !in_string {
            if c == '"' {
                in_string = true;
            }
            out.push(c);
            continue;
        }
        match c {
            '"' => {
                in_string = false;
                out.push('"');
            }
            '\\' => match chars.next() {
                Some('"') => out.push_str("\\u0022"),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            '&' | '<' | '>' | '\'' | '`' | '+' => push_unit(&mut out, c as u16),
            c if !c.is_ascii() => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    push_unit(&mut out, *unit);
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn push_unit(out: &mut String, unit: u16) {
    out.push_str(&format!("\\u{unit:04X}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_only_inside_strings() {
        assert_eq!(
            escape(r#"{"Fields":{"Title":"R&D"}}"#),
            r#"{"Fields":{"Title":"R\u0026D"}}"#
        );
        assert_eq!(
            escape(r#"{"a":"say \"hi\" +1"}"#),
            r#"{"a":"say \u0022hi\u0022 \u002B1"}"#
        );
        assert_eq!(
            escape(r#"{"a":"Zoë 😀","n":1}"#),
            r#"{"a":"Zo\u00EB \uD83D\uDE00","n":1}"#
        );
        assert_eq!(escape(r#"{"a":"back\\slash"}"#), r#"{"a":"back\\slash"}"#);
    }
}
