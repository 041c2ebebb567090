//! The form of an Autotask body that Autotask actually signs (reference `webhooks.md` §2.3).
//!
//! Autotask's HMAC is computed over the payload as .NET's default JSON encoder writes it, which
//! can differ from the bytes on the wire: inside JSON strings, `& < > ' " ` +` are written as
//! `\u0026 \u003C \u003E \u0027 \u0022 \u0060 \u002B` (an escaped quote `\"` becomes `\u0022`),
//! and every non-ASCII character as `\uXXXX` per UTF-16 unit, upper-case hex. Existing escapes
//! are kept. This rewrite is applied to the raw text, never to a parse-and-reserialise, so
//! everything else (key order, spacing, number formats) stays byte for byte.

/// The .NET-escaped form of `body`, or `None` when it is not UTF-8 (Autotask sends UTF-8 JSON;
/// other bytes cannot have been produced by its encoder).
pub fn dotnet_escaped(body: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut in_string = false;
    let mut after_backslash = false;
    for ch in text.chars() {
        if after_backslash {
            // The character after a backslash is part of an existing escape and kept, except
            // that .NET writes an escaped quote as \u0022.
            if ch == '"' && in_string {
                out.pop();
                out.push_str("\\u0022");
            } else {
                out.push(ch);
            }
            after_backslash = false;
        } else if ch == '\\' {
            after_backslash = true;
            out.push(ch);
        } else if ch == '"' {
            in_string = !in_string;
            out.push(ch);
        } else if in_string {
            push_escaped(&mut out, ch);
        } else {
            out.push(ch);
        }
    }
    Some(out.into_bytes())
}

fn push_escaped(out: &mut String, ch: char) {
    let escape = match ch {
        '&' => "\\u0026",
        '<' => "\\u003C",
        '>' => "\\u003E",
        '\'' => "\\u0027",
        '`' => "\\u0060",
        '+' => "\\u002B",
        c if c.is_ascii() => {
            out.push(c);
            return;
        }
        c => {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04X}"));
            }
            return;
        }
    };
    out.push_str(escape);
}

#[cfg(test)]
mod tests {
    use super::dotnet_escaped;

    fn escaped(text: &str) -> String {
        String::from_utf8(dotnet_escaped(text.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn escapes_only_inside_strings() {
        assert_eq!(
            escaped(r#"{"Fields":{"Title":"R&D"}}"#),
            r#"{"Fields":{"Title":"R\u0026D"}}"#
        );
        assert_eq!(escaped(r#"{"a+b":1}"#), r#"{"a\u002Bb":1}"#);
        assert_eq!(escaped(r#"{"n":1}"#), r#"{"n":1}"#);
    }

    #[test]
    fn escaped_quote_and_non_ascii() {
        assert_eq!(
            escaped(r#"{"t":"say \"hi\""}"#),
            r#"{"t":"say \u0022hi\u0022"}"#
        );
        assert_eq!(escaped(r#"{"t":"a\\b"}"#), r#"{"t":"a\\b"}"#);
        assert_eq!(escaped(r#"{"t":"Café"}"#), r#"{"t":"Caf\u00E9"}"#);
        // Outside the BMP: two UTF-16 units.
        assert_eq!(escaped(r#"{"t":"😀"}"#), r#"{"t":"\uD83D\uDE00"}"#);
    }

    #[test]
    fn not_utf8_has_no_escaped_form() {
        assert_eq!(dotnet_escaped(b"{\"t\":\"\xff\"}"), None);
    }
}
