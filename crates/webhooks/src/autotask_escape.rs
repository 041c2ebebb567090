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
///
/// Written into one buffer sized up front: no allocation per character, whatever the body holds
/// (a body of non-ASCII text grows to six bytes per UTF-16 unit, and is checked by an
/// unauthenticated request).
pub fn dotnet_escaped(body: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut out = Vec::with_capacity(text.len() + text.len() / 8);
    let mut in_string = false;
    let mut after_backslash = false;
    for ch in text.chars() {
        if after_backslash {
            // The character after a backslash is part of an existing escape and kept, except
            // that .NET writes an escaped quote as \u0022.
            if ch == '"' && in_string {
                out.pop();
                out.extend_from_slice(b"\\u0022");
            } else {
                push_char(&mut out, ch);
            }
            after_backslash = false;
        } else if ch == '\\' {
            after_backslash = true;
            out.push(b'\\');
        } else if ch == '"' {
            in_string = !in_string;
            out.push(b'"');
        } else if in_string {
            push_escaped(&mut out, ch);
        } else {
            push_char(&mut out, ch);
        }
    }
    Some(out)
}

/// `ch` as UTF-8, unchanged.
fn push_char(out: &mut Vec<u8>, ch: char) {
    let mut utf8 = [0u8; 4];
    out.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
}

fn push_escaped(out: &mut Vec<u8>, ch: char) {
    let escape: &[u8] = match ch {
        '&' => b"\\u0026",
        '<' => b"\\u003C",
        '>' => b"\\u003E",
        '\'' => b"\\u0027",
        '`' => b"\\u0060",
        '+' => b"\\u002B",
        c if c.is_ascii() => {
            out.push(c as u8);
            return;
        }
        c => {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                push_unit_escape(out, *unit);
            }
            return;
        }
    };
    out.extend_from_slice(escape);
}

/// `\uXXXX` for one UTF-16 unit, upper-case hex, as .NET writes it.
fn push_unit_escape(out: &mut Vec<u8>, unit: u16) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[usize::from((unit >> shift) & 0xF)]);
    }
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

    /// The former implementation (a `String`, one `format!` per UTF-16 unit), kept as the
    /// reference the buffer-writing one must match byte for byte.
    fn reference(body: &[u8]) -> Option<Vec<u8>> {
        let text = std::str::from_utf8(body).ok()?;
        let mut out = String::new();
        let (mut in_string, mut after_backslash) = (false, false);
        for ch in text.chars() {
            if after_backslash {
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
                match ch {
                    '&' => out.push_str("\\u0026"),
                    '<' => out.push_str("\\u003C"),
                    '>' => out.push_str("\\u003E"),
                    '\'' => out.push_str("\\u0027"),
                    '`' => out.push_str("\\u0060"),
                    '+' => out.push_str("\\u002B"),
                    c if c.is_ascii() => out.push(c),
                    c => {
                        let mut units = [0u16; 2];
                        for unit in c.encode_utf16(&mut units) {
                            out.push_str(&format!("\\u{unit:04X}"));
                        }
                    }
                }
            } else {
                out.push(ch);
            }
        }
        Some(out.into_bytes())
    }

    #[test]
    fn a_large_mixed_body_escapes_as_before() {
        // Every kind of character, inside and outside strings, with existing escapes, about 1 MiB.
        let piece = r#"{"Title":"R&D <Ops> 'q' `b` a+b Café ñ 日本 😀 say \"hi\" a\\b \u00e9","n":-1.5e3,"é":["x","😀&"]},"#;
        let mut body = String::from("[");
        while body.len() < 1024 * 1024 {
            body.push_str(piece);
        }
        body.push_str("{}]");
        let escaped = dotnet_escaped(body.as_bytes()).unwrap();
        assert_eq!(escaped, reference(body.as_bytes()).unwrap());
        let all_e = format!(r#"{{"t":"{}"}}"#, "é".repeat(512 * 1024));
        assert_eq!(
            dotnet_escaped(all_e.as_bytes()),
            reference(all_e.as_bytes())
        );
    }

    #[test]
    fn not_utf8_has_no_escaped_form() {
        assert_eq!(dotnet_escaped(b"{\"t\":\"\xff\"}"), None);
    }
}
