//! ConnectWise's `conditions` query language, parsed and evaluated against a record's JSON.
//!
//! Supported: `field op value` with ops `= != < <= > >= like contains` (and `not like`),
//! `in (…)` / `not in (…)`; values `"string"` (backslash escapes), `[2024-01-01T00:00:00Z]`
//! datetimes, numbers, `true`/`false`/`null`; `and` / `or` (and binds tighter) and parentheses.
//! Field paths use `/` for nested objects (`status/id`, `company/name`, `_info/lastUpdated`);
//! `lastUpdated` is accepted as short for `_info/lastUpdated`, as ConnectWise does.
//! String comparison is case-insensitive (ConnectWise runs on SQL Server's default collation);
//! exact matching is the caller's job.

use std::cmp::Ordering;

use serde_json::Value;

use crate::clock::parse_timestamp;

/// A parsed condition expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Cmp {
        field: String,
        op: Op,
        value: Lit,
    },
    In {
        field: String,
        negated: bool,
        values: Vec<Lit>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    NotLike,
    Contains,
}

/// A literal on the right of an operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Date(i64),
    Num(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Op(String),
    Str(String),
    Date(String),
    Num(f64),
    LParen,
    RParen,
    Comma,
}

fn tokenize(input: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '"' | '\'' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('\\') => {
                            if let Some(n) = chars.get(i + 1) {
                                s.push(*n);
                            }
                            i += 2;
                        }
                        Some(ch) if *ch == quote => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            '[' => {
                let end = chars[i..]
                    .iter()
                    .position(|c| *c == ']')
                    .ok_or("unterminated [date]")?;
                out.push(Tok::Date(chars[i + 1..i + end].iter().collect()));
                i += end + 1;
            }
            '=' | '!' | '<' | '>' => {
                let mut op = c.to_string();
                if chars.get(i + 1) == Some(&'=') {
                    op.push('=');
                    i += 1;
                }
                if op == "!" {
                    return Err("expected != ".into());
                }
                out.push(Tok::Op(op));
                i += 1;
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                out.push(Tok::Num(
                    text.parse().map_err(|_| format!("bad number {text}"))?,
                ));
            }
            c if c.is_alphanumeric() || c == '_' || c == '/' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric()
                        || chars[i] == '_'
                        || chars[i] == '/'
                        || chars[i] == '.')
                {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn or_expr(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.and_expr()?];
        while self.keyword("or") {
            self.pos += 1;
            items.push(self.and_expr()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Cond::Or(items)
        })
    }

    fn and_expr(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.term()?];
        while self.keyword("and") {
            self.pos += 1;
            items.push(self.term()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Cond::And(items)
        })
    }

    fn term(&mut self) -> Result<Cond, String> {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let inner = self.or_expr()?;
            if self.next() != Some(Tok::RParen) {
                return Err("expected )".into());
            }
            return Ok(inner);
        }
        let field = match self.next() {
            Some(Tok::Ident(f)) => f,
            other => return Err(format!("expected a field, found {other:?}")),
        };
        let negated = self.keyword("not");
        if negated {
            self.pos += 1;
        }
        if self.keyword("in") {
            self.pos += 1;
            return self.in_list(field, negated);
        }
        let op = match self.next() {
            Some(Tok::Op(o)) if !negated => match o.as_str() {
                "=" | "==" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                ">=" => Op::Ge,
                _ => return Err(format!("unknown operator {o}")),
            },
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("like") => {
                if negated {
                    Op::NotLike
                } else {
                    Op::Like
                }
            }
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("contains") && !negated => Op::Contains,
            other => return Err(format!("expected an operator, found {other:?}")),
        };
        let value = self.literal()?;
        Ok(Cond::Cmp { field, op, value })
    }

    fn in_list(&mut self, field: String, negated: bool) -> Result<Cond, String> {
        if self.next() != Some(Tok::LParen) {
            return Err("expected ( after in".into());
        }
        let mut values = Vec::new();
        loop {
            values.push(self.literal()?);
            match self.next() {
                Some(Tok::Comma) => continue,
                Some(Tok::RParen) => break,
                other => return Err(format!("expected , or ), found {other:?}")),
            }
        }
        Ok(Cond::In {
            field,
            negated,
            values,
        })
    }

    fn literal(&mut self) -> Result<Lit, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Lit::Str(s)),
            Some(Tok::Num(n)) => Ok(Lit::Num(n)),
            Some(Tok::Date(d)) => parse_timestamp(&d)
                .map(Lit::Date)
                .ok_or_else(|| format!("bad date [{d}]")),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("true") => Ok(Lit::Bool(true)),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("false") => Ok(Lit::Bool(false)),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("null") => Ok(Lit::Null),
            other => Err(format!("expected a value, found {other:?}")),
        }
    }
}

/// Parses a `conditions` string. An empty string matches everything.
pub fn parse(input: &str) -> Result<Option<Cond>, String> {
    let toks = tokenize(input)?;
    if toks.is_empty() {
        return Ok(None);
    }
    let mut p = Parser { toks, pos: 0 };
    let cond = p.or_expr()?;
    if p.pos < p.toks.len() {
        return Err(format!("unexpected {:?}", p.toks[p.pos]));
    }
    Ok(Some(cond))
}

/// The value at a `/`-separated path (case-insensitive keys, as ConnectWise field names are).
fn lookup<'a>(record: &'a Value, path: &str) -> &'a Value {
    let path = if path.eq_ignore_ascii_case("lastUpdated") {
        "_info/lastUpdated"
    } else {
        path
    };
    let mut cur = record;
    for seg in path.split('/') {
        let next = cur.as_object().and_then(|o| {
            o.get(seg).or_else(|| {
                o.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(seg))
                    .map(|(_, v)| v)
            })
        });
        match next {
            Some(v) => cur = v,
            None => return &Value::Null,
        }
    }
    cur
}

fn compare(have: &Value, want: &Lit) -> Option<Ordering> {
    match (have, want) {
        (Value::Null, Lit::Null) => Some(Ordering::Equal),
        (Value::Null, _) | (_, Lit::Null) => None,
        (Value::String(s), Lit::Date(d)) => parse_timestamp(s).map(|t| t.cmp(d)),
        (Value::String(s), Lit::Str(w)) => Some(s.to_lowercase().cmp(&w.to_lowercase())),
        (Value::Number(n), Lit::Num(w)) => n.as_f64().and_then(|f| f.partial_cmp(w)),
        (Value::String(s), Lit::Num(w)) => s.parse::<f64>().ok().and_then(|f| f.partial_cmp(w)),
        (Value::Bool(b), Lit::Bool(w)) => Some(b.cmp(w)),
        _ => None,
    }
}

/// SQL `LIKE` with `%` (any run) and `_` (one character), case-insensitive.
fn like(text: &str, pattern: &str) -> bool {
    fn go(t: &[char], p: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('%') => (0..=t.len()).any(|i| go(&t[i..], &p[1..])),
            Some('_') => !t.is_empty() && go(&t[1..], &p[1..]),
            Some(c) => t.first() == Some(c) && go(&t[1..], &p[1..]),
        }
    }
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    go(&t, &p)
}

impl Cond {
    pub fn matches(&self, record: &Value) -> bool {
        match self {
            Cond::And(items) => items.iter().all(|c| c.matches(record)),
            Cond::Or(items) => items.iter().any(|c| c.matches(record)),
            Cond::In {
                field,
                negated,
                values,
            } => {
                let have = lookup(record, field);
                let found = values
                    .iter()
                    .any(|v| compare(have, v) == Some(Ordering::Equal));
                found != *negated
            }
            Cond::Cmp { field, op, value } => {
                let have = lookup(record, field);
                let text = || have.as_str().unwrap_or_default().to_owned();
                let pattern = match value {
                    Lit::Str(s) => s.as_str(),
                    _ => "",
                };
                match op {
                    Op::Like => like(&text(), pattern),
                    Op::NotLike => !like(&text(), pattern),
                    Op::Contains => text().to_lowercase().contains(&pattern.to_lowercase()),
                    Op::Ne => compare(have, value) != Some(Ordering::Equal),
                    _ => compare(have, value).is_some_and(|o| match op {
                        Op::Eq => o == Ordering::Equal,
                        Op::Lt => o == Ordering::Less,
                        Op::Le => o != Ordering::Greater,
                        Op::Gt => o == Ordering::Greater,
                        Op::Ge => o != Ordering::Less,
                        _ => false,
                    }),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(cond: &str, rec: &Value) -> bool {
        parse(cond).expect("parse").is_none_or(|c| c.matches(rec))
    }

    #[test]
    fn documented_forms() {
        let rec = json!({"id": 5, "name": "Acme", "type": {"id": 1},
            "_info": {"lastUpdated": "2026-01-02T03:04:05Z"}, "deletedFlag": false});
        assert!(m(r#"name = "Acme""#, &rec));
        assert!(
            m(r#"name = "acme""#, &rec),
            "case-insensitive like SQL Server"
        );
        assert!(!m(r#"name = "Acme Inc""#, &rec));
        assert!(m("lastUpdated > [2026-01-01T00:00:00Z]", &rec));
        assert!(!m("lastUpdated > [2026-01-02T03:04:05Z]", &rec));
        assert!(m("_info/lastUpdated >= [2026-01-02T03:04:05Z]", &rec));
        assert!(m("type/id==1", &rec) && m("type/id = 1", &rec));
        assert!(m(r#"name like "Ac%" and (id = 4 or id = 5)"#, &rec));
        assert!(m("id in (1, 5) and deletedFlag = false", &rec));
        assert!(m("id not in (1, 2)", &rec));
        assert!(m("", &rec));
        assert!(parse("name = ").is_err());
        assert!(parse("name ~ 1").is_err());
        assert!(parse("(name = 1").is_err());
    }
}
