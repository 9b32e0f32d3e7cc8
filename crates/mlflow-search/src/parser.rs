//! Recursive-descent parser: filter strings to [`Expr`], order_by entries to [`OrderByTerm`].
//!
//! Grammar (keywords case-insensitive):
//!
//! ```text
//! filter  := or_expr                      (empty / whitespace-only = no filter)
//! or_expr := and_expr ( OR and_expr )*     -- OR and parentheses are our extension;
//! and_expr:= primary ( AND primary )*      -- AND binds tighter than OR
//! primary := '(' or_expr ')' | clause
//! clause  := ident op value | ident [NOT] IN list | ident IS [NOT] NULL
//! op      := = | != | <> | == | < | <= | > | >= | LIKE | ILIKE | RLIKE
//! value   := 'str' | "str" | number | bare-word (rejected later with an entity-specific message)
//! list    := '(' [ value ( ',' value )* [','] ] ')'
//! ```

use crate::ast::{CompOp, Comparison, Expr, Ident, Value};
use crate::lexer::{Segment, Token, TokenKind, tokenize};

/// Nesting limit for parentheses, so hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 64;

/// A syntax error: the source text of the tokens that could not be understood, which callers
/// render as the official `Invalid clause(s) in filter string: …` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub fragments: Vec<String>,
}

impl ParseError {
    /// Runs style (`SearchUtils`): each fragment single-quoted, e.g. `'metrics.m', '>'`.
    pub fn runs_message(&self) -> String {
        let parts: Vec<String> = self.fragments.iter().map(|f| format!("'{f}'")).collect();
        format!("Invalid clause(s) in filter string: {}", parts.join(", "))
    }

    /// Experiments style (`SearchExperimentsUtils`): fragments unquoted.
    pub fn plain_message(&self) -> String {
        format!(
            "Invalid clause(s) in filter string: {}",
            self.fragments.join(", ")
        )
    }
}

/// Parses a filter string. `Ok(None)` for an empty or whitespace-only filter.
pub fn parse_filter(src: &str) -> Result<Option<Expr>, ParseError> {
    let tokens = tokenize(src);
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut p = Parser {
        src,
        tokens,
        pos: 0,
    };
    let expr = p.or_expr(0)?;
    if p.pos < p.tokens.len() {
        return Err(p.error_from(p.pos));
    }
    Ok(Some(expr))
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        self.peek().is_some_and(|t| t.is_keyword(kw))
    }

    /// The fragments from `start` up to the next top-level AND/OR (or the end).
    fn error_from(&self, start: usize) -> ParseError {
        let start = start.min(self.tokens.len());
        let mut end = start;
        let mut depth = 0usize;
        while end < self.tokens.len() {
            let t = &self.tokens[end];
            if end > start && depth == 0 && (t.is_keyword("AND") || t.is_keyword("OR")) {
                break;
            }
            match t.kind {
                TokenKind::LParen => depth += 1,
                TokenKind::RParen => depth = depth.saturating_sub(1),
                _ => {}
            }
            end += 1;
        }
        let mut fragments: Vec<String> = self.tokens[start..end]
            .iter()
            .map(|t| t.raw(self.src).to_owned())
            .collect();
        if fragments.is_empty() {
            // Ran off the end (e.g. a dangling AND): quote the last token.
            if let Some(t) = self.tokens.last() {
                fragments.push(t.raw(self.src).to_owned());
            }
        }
        ParseError { fragments }
    }

    fn or_expr(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let mut items = vec![self.and_expr(depth)?];
        while self.peek_keyword("OR") {
            self.pos += 1;
            items.push(self.and_expr(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and_expr(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let mut items = vec![self.primary(depth)?];
        while self.peek_keyword("AND") {
            self.pos += 1;
            items.push(self.primary(depth)?);
        }
        // Single operands are unwrapped so `Cmp` leaves are not wrapped in one-element lists.
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn primary(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let start = self.pos;
        if self.peek().is_some_and(|t| t.kind == TokenKind::LParen) {
            if depth >= MAX_DEPTH {
                return Err(self.error_from(start));
            }
            self.pos += 1;
            let inner = self.or_expr(depth + 1)?;
            if self.peek().is_some_and(|t| t.kind == TokenKind::RParen) {
                self.pos += 1;
                Ok(inner)
            } else {
                Err(self.error_from(start))
            }
        } else {
            self.clause()
                .map(Expr::Cmp)
                .map_err(|()| self.error_from(start))
        }
    }

    fn clause(&mut self) -> Result<Comparison, ()> {
        let ident = self.ident()?;
        let tok = self.peek().ok_or(())?.clone();
        let op = match &tok.kind {
            TokenKind::Op(sym) => match *sym {
                "=" => CompOp::Eq,
                "!=" => CompOp::Ne,
                "<" => CompOp::Lt,
                "<=" => CompOp::Le,
                ">" => CompOp::Gt,
                ">=" => CompOp::Ge,
                _ => return Err(()),
            },
            _ if tok.is_keyword("LIKE") => CompOp::Like,
            _ if tok.is_keyword("ILIKE") => CompOp::ILike,
            _ if tok.is_keyword("RLIKE") => CompOp::RLike,
            _ if tok.is_keyword("IN") => CompOp::In,
            _ if tok.is_keyword("NOT") => {
                self.pos += 1;
                if !self.peek_keyword("IN") {
                    return Err(());
                }
                CompOp::NotIn
            }
            _ if tok.is_keyword("IS") => {
                self.pos += 1;
                let negated = self.peek_keyword("NOT");
                if negated {
                    self.pos += 1;
                }
                if !self.peek_keyword("NULL") {
                    return Err(());
                }
                self.pos += 1;
                let op = if negated {
                    CompOp::IsNotNull
                } else {
                    CompOp::IsNull
                };
                return Ok(Comparison {
                    ident,
                    op,
                    value: Value::Null,
                });
            }
            _ => return Err(()),
        };
        self.pos += 1;
        let value = if matches!(op, CompOp::In | CompOp::NotIn) {
            self.list()?
        } else {
            self.scalar().ok_or(())?
        };
        Ok(Comparison { ident, op, value })
    }

    fn ident(&mut self) -> Result<Ident, ()> {
        let tok = self.peek().ok_or(())?;
        let raw = tok.raw(self.src).to_owned();
        let segs: Vec<Segment> = match &tok.kind {
            TokenKind::Ident(segs) => {
                if segs.len() == 1 && segs[0].quote.is_none() && is_reserved(&segs[0].text) {
                    return Err(());
                }
                segs.clone()
            }
            // `"run name" = 'x'`: a lone double-quoted token in identifier position.
            TokenKind::Str { quote: '"', value } => vec![Segment {
                text: value.clone(),
                quote: Some('"'),
            }],
            _ => return Err(()),
        };
        self.pos += 1;
        Ok(ident_from_segments(&segs, raw))
    }

    fn scalar(&mut self) -> Option<Value> {
        let tok = self.peek()?;
        let raw = tok.raw(self.src).to_owned();
        let v = match &tok.kind {
            TokenKind::Str { value, .. } => Value::Str {
                value: value.clone(),
                raw,
            },
            TokenKind::Number { is_int } => Value::Num {
                raw,
                is_int: *is_int,
            },
            TokenKind::BadNumber => Value::Bare { raw },
            TokenKind::Ident(_) if !tok.word().is_some_and(is_reserved) => Value::Bare { raw },
            _ => return None,
        };
        self.pos += 1;
        Some(v)
    }

    fn list(&mut self) -> Result<Value, ()> {
        let open = self.peek().ok_or(())?;
        if open.kind != TokenKind::LParen {
            return Err(());
        }
        let start_byte = open.start;
        self.pos += 1;
        let mut items = Some(Vec::new());
        let mut expect_item = true;
        let mut depth = 0usize;
        loop {
            let tok = self.peek().ok_or(())?.clone();
            match tok.kind {
                TokenKind::RParen if depth == 0 => {
                    self.pos += 1;
                    let raw = self.src.get(start_byte..tok.end).unwrap_or("").to_owned();
                    return Ok(Value::List { raw, items });
                }
                TokenKind::RParen => depth -= 1,
                TokenKind::LParen => {
                    depth += 1;
                    items = None;
                }
                TokenKind::Comma if depth == 0 && !expect_item => expect_item = true,
                _ if depth == 0 && expect_item => match self.scalar() {
                    Some(v) => {
                        if let Some(xs) = items.as_mut() {
                            xs.push(v);
                        }
                        expect_item = false;
                        continue;
                    }
                    None => items = None,
                },
                _ => items = None,
            }
            self.pos += 1;
        }
    }
}

/// Words that can never be an identifier or bare value.
fn is_reserved(word: &str) -> bool {
    [
        "AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE", "RLIKE",
    ]
    .iter()
    .any(|k| word.eq_ignore_ascii_case(k))
}

/// Builds an [`Ident`] the way `_get_identifier` splits `entity.key`: the first segment is
/// the entity (if there is a dot), the rest is the key; a single quoted key segment loses its
/// quotes, a multi-segment key is kept as written (`mlflow.runName`).
fn ident_from_segments(segs: &[Segment], raw: String) -> Ident {
    match segs {
        [only] => Ident {
            entity: None,
            key: only.text.clone(),
            raw,
        },
        [first, rest @ ..] => {
            let entity = match first.quote {
                Some('`') | None => first.text.clone(),
                Some(_) => first.raw(),
            };
            let key = match rest {
                [one] => one.text.clone(),
                _ => rest.iter().map(Segment::raw).collect::<Vec<_>>().join("."),
            };
            Ident {
                entity: Some(entity),
                key,
                raw,
            }
        }
        [] => Ident {
            entity: None,
            key: String::new(),
            raw,
        },
    }
}

/// One parsed order_by entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderByTerm {
    pub ident: Ident,
    pub ascending: bool,
}

/// Parses `"<ident> [ASC|DESC]"` with the official error texts of
/// `SearchUtils._parse_order_by_string`.
pub fn parse_order_by(src: &str) -> Result<OrderByTerm, String> {
    let unparsable = || format!("Invalid order_by clause '{src}'. Could not be parsed.");
    let tokens = tokenize(src);
    let (first, rest) = tokens.split_first().ok_or_else(unparsable)?;
    let segs: Vec<Segment> = match &first.kind {
        TokenKind::Ident(segs) => segs.clone(),
        TokenKind::Str { quote: '"', value } => vec![Segment {
            text: value.clone(),
            quote: Some('"'),
        }],
        _ => return Err(unparsable()),
    };
    let ident = ident_from_segments(&segs, first.raw(src).to_owned());
    let ascending = match rest {
        [] => true,
        [dir] => match dir.word() {
            Some(w) if w.eq_ignore_ascii_case("ASC") => true,
            Some(w) if w.eq_ignore_ascii_case("DESC") => false,
            Some(_) => return Err(format!("Invalid ordering key in order_by clause '{src}'.")),
            None => return Err(unparsable()),
        },
        _ => return Err(unparsable()),
    };
    Ok(OrderByTerm { ident, ascending })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(src: &str) -> Comparison {
        match parse_filter(src) {
            Ok(Some(Expr::Cmp(c))) => c,
            other => panic!("{src}: {other:?}"),
        }
    }

    fn err(src: &str) -> String {
        match parse_filter(src) {
            Err(e) => e.runs_message(),
            other => panic!("{src}: expected error, got {other:?}"),
        }
    }

    #[test]
    fn empty_is_no_filter() {
        assert_eq!(parse_filter(""), Ok(None));
        assert_eq!(parse_filter("  \n\t "), Ok(None));
    }

    #[test]
    fn every_operator() {
        let cases = [
            ("metrics.m = 1", CompOp::Eq),
            ("metrics.m == 1", CompOp::Eq),
            ("metrics.m != 1", CompOp::Ne),
            ("metrics.m <> 1", CompOp::Ne),
            ("metrics.m < 1", CompOp::Lt),
            ("metrics.m <= 1", CompOp::Le),
            ("metrics.m > 1", CompOp::Gt),
            ("metrics.m >= 1", CompOp::Ge),
            ("params.p LIKE 'a%'", CompOp::Like),
            ("params.p like 'a%'", CompOp::Like),
            ("params.p ILIKE 'a%'", CompOp::ILike),
            ("params.p RLIKE 'a.*'", CompOp::RLike),
            ("run_id IN ('a')", CompOp::In),
            ("run_id in ('a')", CompOp::In),
            ("run_id NOT IN ('a')", CompOp::NotIn),
            ("run_id not In ('a')", CompOp::NotIn),
            ("params.p IS NULL", CompOp::IsNull),
            ("params.p is not null", CompOp::IsNotNull),
        ];
        for (src, op) in cases {
            assert_eq!(cmp(src).op, op, "{src}");
        }
        assert_eq!(cmp("params.p is null").value, Value::Null);
    }

    #[test]
    fn identifiers() {
        let c = cmp("tags.`mlflow.runName` = 'x'");
        assert_eq!(c.ident.entity.as_deref(), Some("tags"));
        assert_eq!(c.ident.key, "mlflow.runName");
        let c = cmp("tags.mlflow.runName = 'x'");
        assert_eq!(c.ident.key, "mlflow.runName");
        let c = cmp("metrics.\"my metric\" > 1");
        assert_eq!(c.ident.key, "my metric");
        let c = cmp("`metrics`.`a b` > 1");
        assert_eq!(c.ident.entity.as_deref(), Some("metrics"));
        assert_eq!(c.ident.key, "a b");
        let c = cmp("\"run name\" = 'x'");
        assert_eq!(c.ident.entity, None);
        assert_eq!(c.ident.key, "run name");
        let c = cmp("`Run Name` = 'x'");
        assert_eq!(c.ident.key, "Run Name");
        let c = cmp("metrics.1a > 1");
        assert_eq!(c.ident.key, "1a");
        let c = cmp("metrics.é > 1");
        assert_eq!(c.ident.key, "é");
    }

    #[test]
    fn values() {
        assert_eq!(
            cmp("params.p = \"a'b\"").value,
            Value::Str {
                value: "a'b".into(),
                raw: "\"a'b\"".into()
            }
        );
        assert!(matches!(
            cmp("metrics.m > -1.5e10").value,
            Value::Num { is_int: false, .. }
        ));
        assert!(matches!(
            cmp("start_time > -5").value,
            Value::Num { is_int: true, .. }
        ));
        assert_eq!(cmp("params.p = a").value, Value::Bare { raw: "a".into() });
        assert_eq!(
            cmp("metrics.m > 1_000").value,
            Value::Bare {
                raw: "1_000".into()
            }
        );
        match cmp("run_id IN ('a', \"b\",)").value {
            Value::List {
                raw,
                items: Some(items),
            } => {
                assert_eq!(raw, "('a', \"b\",)");
                assert_eq!(items.len(), 2);
            }
            v => panic!("{v:?}"),
        }
        assert!(
            matches!(cmp("run_id IN ()").value, Value::List { items: Some(ref v), .. } if v.is_empty())
        );
        assert!(matches!(
            cmp("run_id IN ('a' 'b')").value,
            Value::List { items: None, .. }
        ));
        assert!(matches!(
            cmp("run_id IN ((1))").value,
            Value::List { items: None, .. }
        ));
    }

    #[test]
    fn precedence_and_parentheses() {
        let e = parse_filter("metrics.a > 1 OR metrics.b > 2 AND metrics.c > 3")
            .unwrap()
            .unwrap();
        match e {
            Expr::Or(xs) => {
                assert!(matches!(xs[0], Expr::Cmp(_)));
                assert!(matches!(&xs[1], Expr::And(ys) if ys.len() == 2));
            }
            e => panic!("{e:?}"),
        }
        let e = parse_filter("(metrics.a > 1 or metrics.b > 2) and metrics.c > 3")
            .unwrap()
            .unwrap();
        match e {
            Expr::And(xs) => assert!(matches!(&xs[0], Expr::Or(ys) if ys.len() == 2)),
            e => panic!("{e:?}"),
        }
        let e = parse_filter("((params.p = 'a'))").unwrap().unwrap();
        assert!(matches!(e, Expr::Cmp(_)));
        assert_eq!(e.comparisons().len(), 1);
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(
            err("metrics.m"),
            "Invalid clause(s) in filter string: 'metrics.m'"
        );
        assert_eq!(
            err("metrics.m > "),
            "Invalid clause(s) in filter string: 'metrics.m', '>'"
        );
        assert_eq!(
            err("metrics.m > 1;"),
            "Invalid clause(s) in filter string: ';'"
        );
        assert_eq!(
            err("params.p = 'a' AND NOT params.q = 'b'"),
            "Invalid clause(s) in filter string: 'NOT', 'params.q', '=', ''b''"
        );
        assert_eq!(
            err("params.a:b = 'x'"),
            "Invalid clause(s) in filter string: 'params.a', ':', 'b', '=', ''x''"
        );
        assert_eq!(
            err("(params.p = 'a'"),
            "Invalid clause(s) in filter string: '(', 'params.p', '=', ''a''"
        );
        assert_eq!(
            err("params.p = 'a' AND"),
            "Invalid clause(s) in filter string: 'AND'"
        );
        assert_eq!(
            err("params.p = 'open"),
            "Invalid clause(s) in filter string: 'params.p', '=', ''open'"
        );
        assert!(err("run_id IN 'a'").starts_with("Invalid clause(s)"));
        assert!(err("params.p = ('a')").starts_with("Invalid clause(s)"));
        assert!(err("'run name' = 'a'").starts_with("Invalid clause(s)"));
        assert!(err(&"(".repeat(500)).starts_with("Invalid clause(s)"));
    }

    #[test]
    fn order_by_terms() {
        let t = parse_order_by("metrics.m DESC").unwrap();
        assert!(!t.ascending);
        assert_eq!(t.ident.key, "m");
        assert!(parse_order_by("tags.`a b` asc").unwrap().ascending);
        assert_eq!(
            parse_order_by("params.p").unwrap().ident.entity.as_deref(),
            Some("params")
        );
        assert_eq!(
            parse_order_by("metrics.m DOWN"),
            Err("Invalid ordering key in order_by clause 'metrics.m DOWN'.".into())
        );
        assert_eq!(
            parse_order_by("run name"),
            Err("Invalid ordering key in order_by clause 'run name'.".into())
        );
        assert_eq!(
            parse_order_by("metrics.m DESC extra"),
            Err("Invalid order_by clause 'metrics.m DESC extra'. Could not be parsed.".into())
        );
        assert_eq!(
            parse_order_by(""),
            Err("Invalid order_by clause ''. Could not be parsed.".into())
        );
    }
}
