//! Tokenizer for filter and order_by strings.
//!
//! It follows what `sqlparse` (used by the official server) treats as one token closely
//! enough that valid official filters lex identically: dotted identifiers with backtick- or
//! double-quoted segments, single/double-quoted strings kept *unescaped*, signed numbers with
//! optional fraction/exponent, and the comparison operators. It never fails: anything it does
//! not understand becomes a [`TokenKind::Unknown`] token that the parser reports as an invalid
//! clause, quoting the source text.

/// One identifier segment: `word`, `` `quoted` `` or `"quoted"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Text without the surrounding quotes.
    pub text: String,
    /// The quote character, if the segment was quoted.
    pub quote: Option<char>,
}

impl Segment {
    /// The segment as written.
    pub fn raw(&self) -> String {
        match self.quote {
            Some(q) => format!("{q}{}{q}", self.text),
            None => self.text.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    /// `seg(.seg)*` where the first segment is a word or backticked, or a double-quoted
    /// segment directly followed by a dot. Keywords (AND, OR, IN, …) are single unquoted
    /// segments; the parser recognises them case-insensitively.
    Ident(Vec<Segment>),
    /// A quoted string. `quote` is `'` or `"`; `value` is the raw text between the quotes.
    Str {
        quote: char,
        value: String,
    },
    /// A well-formed number (`-?digits[.digits][e[+-]digits]`, `.5`, `5.`).
    Number {
        is_int: bool,
    },
    /// Something that starts like a number but is not one (`1_000`, `1e`, `0x10`).
    BadNumber,
    /// Comparison operator, normalised: `=`, `!=`, `<`, `<=`, `>`, `>=` (`==` → `=`, `<>` → `!=`).
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    /// Unterminated quote or a stray character.
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    /// Byte range in the source.
    pub start: usize,
    pub end: usize,
}

impl Token {
    pub fn raw<'a>(&self, src: &'a str) -> &'a str {
        src.get(self.start..self.end).unwrap_or("")
    }

    /// If this is a single unquoted word, returns it (for keyword checks).
    pub fn word(&self) -> Option<&str> {
        match &self.kind {
            TokenKind::Ident(segs) if segs.len() == 1 && segs[0].quote.is_none() => {
                Some(&segs[0].text)
            }
            _ => None,
        }
    }

    /// True if this is the keyword `kw` (case-insensitive).
    pub fn is_keyword(&self, kw: &str) -> bool {
        self.word().is_some_and(|w| w.eq_ignore_ascii_case(kw))
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Splits `src` into tokens (whitespace dropped). Total: never panics, never fails.
pub fn tokenize(src: &str) -> Vec<Token> {
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let n = chars.len();
    let byte_at = |i: usize| if i < n { chars[i].0 } else { src.len() };
    let ch = |i: usize| if i < n { Some(chars[i].1) } else { None };
    let mut tokens = Vec::new();
    let mut i = 0;

    // Reads a quoted run starting at `i` (which holds the quote). Returns the index after the
    // closing quote and the inner text, or None if unterminated. A doubled quote or a
    // backslash-escaped character does not terminate the string (sqlparse rules); both are
    // kept verbatim in the text.
    let read_quoted = |start: usize, q: char| -> Option<(usize, String)> {
        let mut j = start + 1;
        let mut text = String::new();
        while j < n {
            let c = chars[j].1;
            if c == '\\' && q != '`' && j + 1 < n {
                text.push(c);
                text.push(chars[j + 1].1);
                j += 2;
            } else if c == q {
                if q != '`' && ch(j + 1) == Some(q) {
                    text.push(q);
                    text.push(q);
                    j += 2;
                } else {
                    return Some((j + 1, text));
                }
            } else {
                text.push(c);
                j += 1;
            }
        }
        None
    };

    while i < n {
        let c = chars[i].1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let push = |tokens: &mut Vec<Token>, kind: TokenKind, end: usize| {
            tokens.push(Token {
                kind,
                start: byte_at(start),
                end: byte_at(end),
            });
        };

        // Numbers: digit, `.digit`, `-digit`, `-.digit`.
        let starts_number = c.is_ascii_digit()
            || (c == '.' && ch(i + 1).is_some_and(|d| d.is_ascii_digit()))
            || (c == '-'
                && (ch(i + 1).is_some_and(|d| d.is_ascii_digit())
                    || (ch(i + 1) == Some('.') && ch(i + 2).is_some_and(|d| d.is_ascii_digit()))));
        if starts_number {
            let mut j = i + 1;
            while let Some(d) = ch(j) {
                let prev = chars[j - 1].1;
                if is_word_char(d)
                    || d == '.'
                    || ((d == '+' || d == '-') && (prev == 'e' || prev == 'E'))
                {
                    j += 1;
                } else {
                    break;
                }
            }
            let text: String = chars[i..j].iter().map(|(_, c)| *c).collect();
            let kind = match classify_number(&text) {
                Some(is_int) => TokenKind::Number { is_int },
                None => TokenKind::BadNumber,
            };
            push(&mut tokens, kind, j);
            i = j;
            continue;
        }

        // Identifiers (possibly dotted), including double-quoted first segment followed by '.'.
        if is_word_char(c) || c == '`' || c == '"' {
            let mut segs = Vec::new();
            let mut j = i;
            let mut ok = true;
            let mut first = true;
            loop {
                match ch(j) {
                    Some(q @ ('`' | '"')) => match read_quoted(j, q) {
                        Some((end, text)) => {
                            segs.push(Segment {
                                text,
                                quote: Some(q),
                            });
                            j = end;
                        }
                        None => {
                            ok = false;
                            break;
                        }
                    },
                    Some(w) if is_word_char(w) => {
                        let mut k = j;
                        while ch(k).is_some_and(is_word_char) {
                            k += 1;
                        }
                        segs.push(Segment {
                            text: chars[j..k].iter().map(|(_, c)| *c).collect(),
                            quote: None,
                        });
                        j = k;
                    }
                    _ => {
                        ok = false;
                        break;
                    }
                }
                // A lone double-quoted segment is a string value, not an identifier.
                let continues = ch(j) == Some('.')
                    && ch(j + 1).is_some_and(|d| is_word_char(d) || d == '`' || d == '"');
                if first && segs.len() == 1 && segs[0].quote == Some('"') && !continues {
                    break;
                }
                first = false;
                if continues {
                    j += 1;
                } else {
                    break;
                }
            }
            if !ok {
                // Unterminated quote: swallow the rest so the error quotes it.
                push(&mut tokens, TokenKind::Unknown, n);
                break;
            }
            let kind = if segs.len() == 1 && segs[0].quote == Some('"') {
                let s = segs.remove(0);
                TokenKind::Str {
                    quote: '"',
                    value: s.text,
                }
            } else {
                TokenKind::Ident(segs)
            };
            push(&mut tokens, kind, j);
            i = j;
            continue;
        }

        if c == '\'' {
            match read_quoted(i, '\'') {
                Some((end, value)) => {
                    push(&mut tokens, TokenKind::Str { quote: '\'', value }, end);
                    i = end;
                }
                None => {
                    push(&mut tokens, TokenKind::Unknown, n);
                    break;
                }
            }
            continue;
        }

        let next = ch(i + 1);
        let (kind, len) = match (c, next) {
            ('=', Some('=')) => (TokenKind::Op("="), 2),
            ('=', _) => (TokenKind::Op("="), 1),
            ('!', Some('=')) => (TokenKind::Op("!="), 2),
            ('<', Some('>')) => (TokenKind::Op("!="), 2),
            ('<', Some('=')) => (TokenKind::Op("<="), 2),
            ('<', _) => (TokenKind::Op("<"), 1),
            ('>', Some('=')) => (TokenKind::Op(">="), 2),
            ('>', _) => (TokenKind::Op(">"), 1),
            ('(', _) => (TokenKind::LParen, 1),
            (')', _) => (TokenKind::RParen, 1),
            (',', _) => (TokenKind::Comma, 1),
            _ => (TokenKind::Unknown, 1),
        };
        push(&mut tokens, kind, i + len);
        i += len;
    }
    tokens
}

/// `Some(is_int)` if `s` is `-?(digits[.digits*]|.digits)([eE][+-]?digits)?`.
fn classify_number(s: &str) -> Option<bool> {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut is_int = true;
    if i < b.len() && b[i] == b'.' {
        is_int = false;
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if int_digits == 0 && i == frac_start {
            return None;
        }
    } else if int_digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        is_int = false;
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    (i == b.len()).then_some(is_int)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<TokenKind> {
        tokenize(s).into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn numbers() {
        for (s, int) in [
            ("5", true),
            ("-5", true),
            ("1.5", false),
            (".5", false),
            ("5.", false),
            ("1e3", false),
            ("-1.5E-3", false),
        ] {
            assert_eq!(kinds(s), vec![TokenKind::Number { is_int: int }], "{s}");
        }
        for s in ["1_000", "1e", "0x10", "1.2.3"] {
            assert_eq!(kinds(s), vec![TokenKind::BadNumber], "{s}");
        }
    }

    #[test]
    fn identifiers_and_strings() {
        let toks = tokenize("tags.`mlflow.runName` = 'x'");
        assert_eq!(toks.len(), 3);
        assert_eq!(
            toks[0].kind,
            TokenKind::Ident(vec![
                Segment {
                    text: "tags".into(),
                    quote: None
                },
                Segment {
                    text: "mlflow.runName".into(),
                    quote: Some('`')
                },
            ])
        );
        assert_eq!(
            kinds("\"a b\""),
            vec![TokenKind::Str {
                quote: '"',
                value: "a b".into()
            }]
        );
        assert_eq!(
            kinds("'it''s'"),
            vec![TokenKind::Str {
                quote: '\'',
                value: "it''s".into()
            }]
        );
        assert_eq!(
            kinds("'a\\'b'"),
            vec![TokenKind::Str {
                quote: '\'',
                value: "a\\'b".into()
            }]
        );
        assert!(
            matches!(&kinds("metrics.\"my metric\"")[0], TokenKind::Ident(s) if s[1].text == "my metric")
        );
        assert_eq!(kinds("'open"), vec![TokenKind::Unknown]);
    }

    #[test]
    fn operators() {
        assert_eq!(
            kinds("= == != <> < <= > >="),
            ["=", "=", "!=", "!=", "<", "<=", ">", ">="]
                .map(TokenKind::Op)
                .to_vec()
        );
        assert_eq!(kinds("!"), vec![TokenKind::Unknown]);
    }
}
