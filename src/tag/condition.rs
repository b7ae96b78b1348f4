//! The `when` language of `[[tag]]` rules: a nom parser into an AST, and its evaluation.
//!
//! A condition is parsed and checked once, when the pipeline file loads (regular expressions are
//! compiled, numbers and IP addresses in string literals pre-parsed); evaluating it per event
//! reads fields in place and allocates nothing.
//!
//! Grammar (lowest precedence first; `not` binds tighter than `and`, `and` tighter than `or`, and
//! a comparison tighter than all three, so `not a == 1 and b == 2` is `(not (a == 1)) and b == 2`):
//!
//! ```text
//! condition  := or
//! or         := and ("or" and)*
//! and        := unary ("and" unary)*
//! unary      := "not" unary | primary
//! primary    := "(" or ")" | "true" | "false" | "exists" "(" field ")"
//!             | field ("==" | "!=" | "<" | "<=" | ">" | ">=") value
//!             | field ("=~" | "!~") string              regular expression (`regex` crate)
//!             | field "in" "[" value ("," value)* ","? "]"
//!             | value "in" field                         membership: see below
//! value      := string | number | "true" | "false"
//! string     := '...' | "..."     escapes \\ \' \" \n \t \r \u{hex}; a backslash before any
//!                                 other character is kept, so regexes keep `\d`, `\.` as written
//! number     := -?digits(.digits)?([eE][+-]?digits)? unit?
//! unit       := ns | us | µs | ms | s | m | h        a duration, as nanoseconds (`event.duration`)
//! field      := name ("." name)*, name := [letter _ @][letter digit _ @ -]*
//! ```
//!
//! Keywords are lower case and reserved as whole field names. `tags` is the event's tag list;
//! `@timestamp` cannot be tested (every event has one).
//!
//! Meaning:
//! - A missing field (or JSON `null`, or an empty array) makes `==`, `<`, `<=`, `>`, `>=`, `=~`
//!   and `in` false. `!=` and `!~` are exactly `not (... == ...)` and `not (... =~ ...)`, so they
//!   are true on a missing field: `url.path != "/health"` keeps events without a path.
//! - The literal decides how to compare. A number compares numerically with numeric fields and
//!   with string fields that hold a number (`"503"`). A string compares byte-wise with string
//!   fields; with a numeric field when the string is a number, with an IP field when the string
//!   is an address. Other pairs (a string against a boolean, a number against `"abc"`) never
//!   match, so `==` is false and `!=` true. `true`/`false` only support `==` and `!=`.
//! - A field holding an array matches when any element does (as Elasticsearch queries do);
//!   `tags == "slow"` is true when one of the tags is `slow`.
//! - `v in field`: an element of an array field (or a tag of `tags`) equal to `v`; for a string
//!   field, `v` occurring in it (`"timeout" in message`); for another field, equality.
//! - `=~` searches (use `^...$` to anchor); `(?i)` makes it case-insensitive. Numbers, booleans
//!   and addresses are matched in their JSON text form.

use std::cmp::Ordering;
use std::fmt::{self, Write as _};
use std::net::IpAddr;

use memchr::memmem;
use nom::branch::alt;
use nom::bytes::complete::{take_while, take_while1};
use nom::character::complete::{char, digit1, multispace0, one_of, satisfy};
use nom::combinator::{opt, recognize, verify};
use nom::error::{ErrorKind, ParseError};
use nom::multi::{many0, separated_list1};
use nom::sequence::preceded;
use nom::{IResult, Parser};
use regex::Regex;

use crate::event::shape::ShapeCache;
use crate::event::{Event, Value};

/// Deepest nesting of parentheses and `not` accepted: a guard against a stack overflow on a
/// pathological condition, far beyond anything a person writes.
const MAX_DEPTH: usize = 64;

/// Words that cannot be a whole field name.
const KEYWORDS: &[&str] = &["and", "or", "not", "in", "exists", "true", "false"];

const OPERATORS: &str = "`==`, `!=`, `<`, `<=`, `>`, `>=`, `=~`, `!~` or `in`";

/// A condition that does not parse: `offset` is a byte offset into the condition text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at byte {offset} of the condition)")]
pub struct ConditionError {
    pub offset: usize,
    pub message: String,
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Bool(bool),
    /// Two or more alternatives.
    Or(Vec<Expr>),
    /// Two or more conjuncts.
    And(Vec<Expr>),
    Not(Box<Expr>),
    Exists(Field),
    Compare {
        field: Field,
        op: CmpOp,
        value: Literal,
    },
    Matches {
        field: Field,
        pattern: Pattern,
        /// `!~`
        negated: bool,
    },
    InList {
        field: Field,
        values: Vec<Literal>,
    },
    /// `value in field`
    Contains {
        value: Literal,
        field: Field,
    },
}

/// What a condition reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// The event's tag list.
    Tags,
    /// A dotted field name.
    Path(Path),
}

/// A dotted field name, with its slot in the [`FieldTable`] that registered it (if any).
#[derive(Debug, Clone)]
pub struct Path {
    name: Box<str>,
    slot: usize,
}

impl Path {
    pub fn new(name: impl Into<Box<str>>) -> Path {
        Path {
            name: name.into(),
            slot: UNREGISTERED,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl PartialEq for Path {
    fn eq(&self, other: &Path) -> bool {
        self.name == other.name
    }
}

impl Eq for Path {}

/// Slot of a path no table registered: evaluation looks the field up by name.
const UNREGISTERED: usize = usize::MAX;
/// Slot value of a field the event does not have.
pub const ABSENT: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(StrLit),
}

/// A string literal with what comparisons need computed once: its value as a number and as an
/// IP address (when it is one), and a substring searcher for `in`.
#[derive(Debug, Clone)]
pub struct StrLit {
    text: Box<str>,
    number: Option<Num>,
    ip: Option<IpAddr>,
    /// Boxed: a searcher is a few hundred bytes, which would bloat every literal.
    finder: Box<memmem::Finder<'static>>,
}

impl PartialEq for StrLit {
    fn eq(&self, other: &StrLit) -> bool {
        self.text == other.text
    }
}

impl StrLit {
    pub fn new(text: impl Into<Box<str>>) -> StrLit {
        let text: Box<str> = text.into();
        StrLit {
            number: parse_number(&text),
            ip: text.parse().ok(),
            finder: Box::new(memmem::Finder::new(text.as_bytes()).into_owned()),
            text,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// A compiled regular expression; equal when the source is.
#[derive(Debug, Clone)]
pub struct Pattern {
    re: Regex,
    /// For a pattern anchored at the start of the text (`^/api/`, `^/(wp-login|xmlrpc)\.php`):
    /// every text it matches begins with one of these, so a text that begins with none is
    /// turned away without running the regex. `None` when the pattern gives no such short
    /// list (unanchored, case-insensitive with many variants, a class at the start).
    prefixes: Option<Prefixes>,
    /// The prefixes are all the pattern matches (`^/(wp-login|xmlrpc)\.php`: a literal
    /// alternation with nothing after it that looks around): beginning with one is a match, and
    /// the regex never runs.
    exact: bool,
}

/// The literal prefixes of a [`Pattern`].
type Prefixes = Box<[Box<[u8]>]>;

/// Most prefixes a pattern is checked against before its regex runs.
const PREFIXES_MAX: usize = 16;

impl Pattern {
    pub fn new(re: Regex) -> Pattern {
        let (prefixes, exact) = match anchored_prefixes(re.as_str()) {
            Some((prefixes, exact)) => (Some(prefixes), exact),
            None => (None, false),
        };
        Pattern {
            re,
            prefixes,
            exact,
        }
    }

    pub fn as_str(&self) -> &str {
        self.re.as_str()
    }

    pub fn is_match(&self, text: &str) -> bool {
        if let Some(prefixes) = &self.prefixes {
            let b = text.as_bytes();
            // Byte by byte: prefixes are short and mostly told apart in their first bytes,
            // where a slice comparison is a call each.
            let starts_with = |p: &[u8]| p.len() <= b.len() && p.iter().zip(b).all(|(x, y)| x == y);
            let begins = prefixes.iter().any(|p| starts_with(p));
            if !begins || self.exact {
                return begins;
            }
        }
        self.re.is_match(text)
    }
}

/// The literal prefixes of every match of `pattern` when it can only match at the start of the
/// text, as `regex-syntax` (the parser the `regex` crate uses) works them out, and whether they
/// are its whole matches: every one exact, and no look-around but the leading `^` (the
/// extraction reads `\b` or `$` as empty).
fn anchored_prefixes(pattern: &str) -> Option<(Prefixes, bool)> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    use regex_syntax::hir::{Look, LookSet};
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    if !hir.properties().look_set_prefix().contains(Look::Start) {
        return None;
    }
    let mut extractor = Extractor::new();
    extractor.kind(ExtractKind::Prefix);
    let seq = extractor.extract(&hir);
    let literals = seq.literals()?;
    if literals.is_empty() || literals.len() > PREFIXES_MAX {
        return None;
    }
    let exact = seq.is_exact() && hir.properties().look_set() == LookSet::singleton(Look::Start);
    Some((
        literals.iter().map(|l| Box::from(l.as_bytes())).collect(),
        exact,
    ))
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.as_str() == other.as_str()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    Int(i64),
    Float(f64),
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// The nom error: where, and (for errors that end the parse) what to tell the user. Errors
/// without a message are the recoverable kind (`alt` tries the next branch).
#[derive(Debug)]
struct PErr<'a> {
    at: &'a str,
    message: Option<String>,
}

impl<'a> ParseError<&'a str> for PErr<'a> {
    fn from_error_kind(input: &'a str, _kind: ErrorKind) -> Self {
        PErr {
            at: input,
            message: None,
        }
    }

    fn append(_input: &'a str, _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

type Res<'a, T> = IResult<&'a str, T, PErr<'a>>;

/// An error that ends the parse, reported at `at`.
fn fail<'a, T>(at: &'a str, message: impl Into<String>) -> Res<'a, T> {
    Err(nom::Err::Failure(PErr {
        at,
        message: Some(message.into()),
    }))
}

/// A recoverable "not this" at `at`.
fn soft<T>(at: &str) -> Res<'_, T> {
    Err(nom::Err::Error(PErr { at, message: None }))
}

/// Parses a whole condition.
pub fn parse(src: &str) -> Result<Expr, ConditionError> {
    let error = |at: &str, message: String| ConditionError {
        offset: src.len().saturating_sub(at.len()),
        message,
    };
    let start = src.trim_start();
    if start.is_empty() {
        return Err(error(
            start,
            "empty condition: write `true` to match every event".into(),
        ));
    }
    match or_expr(src, 0) {
        Ok((rest, expr)) => {
            let rest = rest.trim_start();
            if rest.is_empty() {
                Ok(expr)
            } else if rest.starts_with(')') {
                Err(error(rest, "`)` has no matching `(`".into()))
            } else if rest.starts_with("&&") || rest.starts_with("||") {
                let word = if rest.starts_with('&') { "and" } else { "or" };
                Err(error(
                    rest,
                    format!("unknown operator `{}`: write `{word}`", &rest[..2]),
                ))
            } else {
                Err(error(
                    rest,
                    format!(
                        "unexpected {} after a complete condition: expected `and`, `or` or the end",
                        token(rest)
                    ),
                ))
            }
        }
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
            let message = e
                .message
                .unwrap_or_else(|| format!("unexpected {}", token(e.at)));
            Err(error(e.at, message))
        }
        Err(nom::Err::Incomplete(_)) => Err(error("", "incomplete condition".into())),
    }
}

/// Parses a field name as rules write it (also the keys of `set`): `None` when `name` is not one.
pub fn parse_field_name(name: &str) -> Option<Field> {
    match field(name) {
        Ok(("", f)) => Some(f),
        _ => None,
    }
}

fn or_expr<'a>(i: &'a str, depth: usize) -> Res<'a, Expr> {
    let (i, first) = and_expr(i, depth)?;
    let (i, rest) = many0(preceded(keyword("or"), |i: &'a str| and_expr(i, depth))).parse(i)?;
    Ok((i, join(first, rest, Expr::Or)))
}

fn and_expr<'a>(i: &'a str, depth: usize) -> Res<'a, Expr> {
    let (i, first) = unary(i, depth)?;
    let (i, rest) = many0(preceded(keyword("and"), |i: &'a str| unary(i, depth))).parse(i)?;
    Ok((i, join(first, rest, Expr::And)))
}

fn join(first: Expr, rest: Vec<Expr>, make: fn(Vec<Expr>) -> Expr) -> Expr {
    if rest.is_empty() {
        first
    } else {
        make(std::iter::once(first).chain(rest).collect())
    }
}

fn unary(i: &str, depth: usize) -> Res<'_, Expr> {
    let (i, _) = multispace0(i)?;
    if depth > MAX_DEPTH {
        return fail(
            i,
            format!("condition nested too deeply (more than {MAX_DEPTH} levels)"),
        );
    }
    if let Ok((rest, _)) = keyword("not").parse(i) {
        let (rest, inner) = unary(rest, depth + 1)?;
        return Ok((rest, Expr::Not(Box::new(inner))));
    }
    primary(i, depth)
}

fn primary(i: &str, depth: usize) -> Res<'_, Expr> {
    if let Ok((rest, _)) = char::<_, PErr>('(').parse(i) {
        let (rest, inner) = or_expr(rest, depth + 1)?;
        let (rest, _) = multispace0(rest)?;
        return match char::<_, PErr>(')').parse(rest) {
            Ok((rest, _)) => Ok((rest, inner)),
            Err(_) if rest.is_empty() => fail(i, "`(` is not closed"),
            Err(_) => fail(
                rest,
                format!("expected `)`, `and` or `or`, found {}", token(rest)),
            ),
        };
    }
    if let Ok((rest, _)) = keyword("exists").parse(i) {
        return exists(rest);
    }
    match literal(i) {
        Ok((rest, value)) => return after_literal(i, rest, value),
        Err(nom::Err::Error(_)) => {}
        Err(e) => return Err(e),
    }
    match field(i) {
        Ok((rest, f)) => comparison(i, rest, f),
        Err(nom::Err::Error(_)) => fail(i, format!("expected a condition, found {}", token(i))),
        Err(e) => Err(e),
    }
}

/// `exists(field)`, after the keyword.
fn exists(i: &str) -> Res<'_, Expr> {
    let (i, _) = multispace0(i)?;
    let Ok((i, _)) = char::<_, PErr>('(').parse(i) else {
        return fail(
            i,
            format!("expected `(` after `exists`, found {}", token(i)),
        );
    };
    let (i, _) = multispace0(i)?;
    let (i, f) = match field(i) {
        Ok(ok) => ok,
        Err(nom::Err::Error(_)) => {
            return fail(
                i,
                format!("expected a field name in `exists(...)`, found {}", token(i)),
            )
        }
        Err(e) => return Err(e),
    };
    let (i, _) = multispace0(i)?;
    match char::<_, PErr>(')').parse(i) {
        Ok((i, _)) => Ok((i, Expr::Exists(f))),
        Err(_) => fail(
            i,
            format!("expected `)` after the field name, found {}", token(i)),
        ),
    }
}

/// A condition that starts with a value: `value in field`, or a bare `true`/`false`.
fn after_literal<'a>(start: &'a str, rest: &'a str, value: Literal) -> Res<'a, Expr> {
    if let Ok((rest, _)) = keyword("in").parse(rest) {
        let (rest, _) = multispace0(rest)?;
        return match field(rest) {
            Ok((rest, field)) => Ok((rest, Expr::Contains { value, field })),
            Err(nom::Err::Error(_)) => fail(
                rest,
                format!("expected a field name after `in`, found {}", token(rest)),
            ),
            Err(e) => Err(e),
        };
    }
    match value {
        Literal::Bool(b) => Ok((rest, Expr::Bool(b))),
        _ => fail(
            start,
            "a value cannot start a comparison: write `field == value`, or `value in field` to \
             test membership",
        ),
    }
}

enum Op {
    Cmp(CmpOp),
    Regex { negated: bool },
}

/// What follows a field name: an operator and its operand.
fn comparison<'a>(start: &'a str, rest: &'a str, target: Field) -> Res<'a, Expr> {
    let (i, _) = multispace0(rest)?;
    if let Ok((rest, _)) = keyword("in").parse(i) {
        return in_list(rest, target);
    }
    if i.starts_with('(') {
        return fail(
            start,
            format!("unknown function `{target}`: the only function is `exists(field)`"),
        );
    }
    let Ok((after_op, op_text)) = take_while1::<_, _, PErr>(is_op_char).parse(i) else {
        let next_word = word(i).map(|(_, w)| w).unwrap_or("");
        if i.is_empty() || i.starts_with(')') || matches!(next_word, "and" | "or") {
            return fail(
                i,
                format!(
                    "`{target}` needs an operator and a value, e.g. `{target} == \"x\"`; write \
                     `exists({target})` to test whether it is set"
                ),
            );
        }
        if next_word == "not" {
            return fail(
                i,
                format!("`not` goes before a condition: write `not ({target} in [...])`"),
            );
        }
        return fail(
            i,
            format!("unknown operator {}: expected {OPERATORS}", token(i)),
        );
    };
    let op = match op_text {
        "==" => Op::Cmp(CmpOp::Eq),
        "!=" => Op::Cmp(CmpOp::Ne),
        "<" => Op::Cmp(CmpOp::Lt),
        "<=" => Op::Cmp(CmpOp::Le),
        ">" => Op::Cmp(CmpOp::Gt),
        ">=" => Op::Cmp(CmpOp::Ge),
        "=~" => Op::Regex { negated: false },
        "!~" => Op::Regex { negated: true },
        "=" => return fail(i, "unknown operator `=`: write `==` to compare"),
        "&&" => return fail(i, "unknown operator `&&`: write `and`"),
        "||" => return fail(i, "unknown operator `||`: write `or`"),
        other => {
            return fail(
                i,
                format!("unknown operator `{other}`: expected {OPERATORS}"),
            )
        }
    };
    let (v, _) = multispace0(after_op)?;
    match op {
        Op::Cmp(op) => match literal(v) {
            Ok((_, Literal::Bool(_))) if !matches!(op, CmpOp::Eq | CmpOp::Ne) => fail(
                i,
                format!("`{op}` compares numbers or strings, not `true`/`false`"),
            ),
            Ok((rest, value)) => Ok((
                rest,
                Expr::Compare {
                    field: target,
                    op,
                    value,
                },
            )),
            Err(nom::Err::Error(_)) => {
                let hint = if field(v).is_ok() {
                    " (a field cannot be compared with another field)"
                } else {
                    ""
                };
                fail(
                    v,
                    format!(
                        "expected a value after `{op}` (a number, a quoted string, `true` or \
                         `false`), found {}{hint}",
                        token(v)
                    ),
                )
            }
            Err(e) => Err(e),
        },
        Op::Regex { negated } => match string(v) {
            Ok((rest, source)) => match Regex::new(&source) {
                Ok(re) => Ok((
                    rest,
                    Expr::Matches {
                        field: target,
                        pattern: Pattern::new(re),
                        negated,
                    },
                )),
                Err(e) => fail(
                    v,
                    format!("invalid regular expression: {}", regex_message(&e)),
                ),
            },
            Err(nom::Err::Error(_)) => fail(
                v,
                format!(
                    "`{op_text}` needs a regular expression in quotes, found {}",
                    token(v)
                ),
            ),
            Err(e) => Err(e),
        },
    }
}

/// `[value, ...]` after `field in`.
fn in_list(i: &str, target: Field) -> Res<'_, Expr> {
    let (open, _) = multispace0(i)?;
    let Ok((i, _)) = char::<_, PErr>('[').parse(open) else {
        return fail(
            open,
            format!(
                "expected `[` after `in`, found {} (to test membership in a field, write \
                 `\"value\" in field`)",
                token(open)
            ),
        );
    };
    let (i, values) = match separated_list1(list_comma, list_item).parse(i) {
        Ok(ok) => ok,
        Err(nom::Err::Error(_)) => {
            let (i, _) = multispace0(i)?;
            return if i.starts_with(']') {
                fail(open, "empty list: `in []` never matches")
            } else if i.is_empty() {
                fail(open, "`[` is not closed")
            } else {
                fail(
                    i,
                    format!("expected a value in the list, found {}", token(i)),
                )
            };
        }
        Err(e) => return Err(e),
    };
    // A trailing comma is allowed, so a long list can be written one value per line.
    let (i, _) = opt(list_comma).parse(i)?;
    let (i, _) = multispace0(i)?;
    match char::<_, PErr>(']').parse(i) {
        Ok((i, _)) => Ok((
            i,
            Expr::InList {
                field: target,
                values,
            },
        )),
        Err(_) if i.is_empty() => fail(open, "`[` is not closed"),
        Err(_) => fail(
            i,
            format!(
                "expected `,`, `]` or a value in the list, found {}",
                token(i)
            ),
        ),
    }
}

fn list_item(i: &str) -> Res<'_, Literal> {
    let (i, _) = multispace0(i)?;
    literal(i)
}

fn list_comma(i: &str) -> Res<'_, char> {
    let (i, _) = multispace0(i)?;
    char(',').parse(i)
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '@'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '@' | '-' | '.')
}

fn is_op_char(c: char) -> bool {
    matches!(c, '=' | '!' | '<' | '>' | '~' | '&' | '|')
}

/// A name-like word: a keyword, a field name or a number's unit.
fn word(i: &str) -> Res<'_, &str> {
    recognize((satisfy(is_ident_start), take_while(is_ident_char))).parse(i)
}

/// `kw` as a whole word, after optional whitespace.
fn keyword<'a>(kw: &'static str) -> impl Parser<&'a str, Output = &'a str, Error = PErr<'a>> {
    preceded(multispace0, verify(word, move |w: &str| w == kw))
}

fn field(i: &str) -> Res<'_, Field> {
    let (rest, name) = word(i)?;
    if KEYWORDS.contains(&name) {
        return soft(i);
    }
    if name.split('.').any(str::is_empty) {
        return fail(
            i,
            format!("`{name}` is not a field name: a dotted name cannot have an empty part"),
        );
    }
    match name {
        "tags" => Ok((rest, Field::Tags)),
        "@timestamp" => fail(i, "`@timestamp` cannot be tested: every event has one"),
        _ => Ok((rest, Field::Path(Path::new(name)))),
    }
}

fn literal(i: &str) -> Res<'_, Literal> {
    alt((string_literal, number, bool_literal)).parse(i)
}

fn string_literal(i: &str) -> Res<'_, Literal> {
    let (rest, text) = string(i)?;
    Ok((rest, Literal::Str(StrLit::new(text))))
}

fn bool_literal(i: &str) -> Res<'_, Literal> {
    let (rest, w) = verify(word, |w: &str| w == "true" || w == "false").parse(i)?;
    Ok((rest, Literal::Bool(w == "true")))
}

/// A number, with an optional duration unit that turns it into nanoseconds.
fn number(i: &str) -> Res<'_, Literal> {
    let (after, text) = recognize((
        opt(char('-')),
        digit1,
        opt((char('.'), digit1)),
        opt((one_of("eE"), opt(one_of("+-")), digit1)),
    ))
    .parse(i)?;
    let (rest, unit) = take_while(|c: char| c.is_alphanumeric() || c == '_').parse(after)?;
    let scale: Option<i64> = match unit {
        "" => None,
        "ns" => Some(1),
        "us" | "µs" => Some(1_000),
        "ms" => Some(1_000_000),
        "s" => Some(1_000_000_000),
        "m" => Some(60_000_000_000),
        "h" => Some(3_600_000_000_000),
        _ => {
            return fail(
                after,
                format!(
                    "unknown unit `{unit}` after `{text}`: a duration takes `ns`, `us`, `ms`, \
                     `s`, `m` or `h`"
                ),
            )
        }
    };
    let out_of_range = || fail(i, format!("`{text}{unit}` is out of range"));
    let value = if text.contains(['.', 'e', 'E']) {
        let Ok(f) = text.parse::<f64>() else {
            return out_of_range();
        };
        match scale {
            None if f.is_finite() => Literal::Float(f),
            None => return out_of_range(),
            Some(scale) => {
                let ns = (f * scale as f64).round();
                // i64::MAX as f64 rounds up to 2^63, itself out of range: compare strictly.
                if !(ns >= i64::MIN as f64 && ns < i64::MAX as f64) {
                    return out_of_range();
                }
                Literal::Int(ns as i64)
            }
        }
    } else {
        let Ok(n) = text.parse::<i64>() else {
            return out_of_range();
        };
        match scale.map(|s| n.checked_mul(s)) {
            None => Literal::Int(n),
            Some(Some(ns)) => Literal::Int(ns),
            Some(None) => return out_of_range(),
        }
    };
    Ok((rest, value))
}

/// A quoted string literal, unescaped.
fn string(i: &str) -> Res<'_, String> {
    let quote = match i.chars().next() {
        Some(q @ ('\'' | '"')) => q,
        _ => return soft(i),
    };
    let body = &i[1..];
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((k, c)) = chars.next() {
        if c == quote {
            return Ok((&body[k + 1..], out));
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escape_at = &body[k..];
        match chars.next() {
            Some((_, 'n')) => out.push('\n'),
            Some((_, 't')) => out.push('\t'),
            Some((_, 'r')) => out.push('\r'),
            Some((_, e @ ('\\' | '\'' | '"'))) => out.push(e),
            Some((_, 'u')) => match unicode_escape(&mut chars) {
                Some(c) => out.push(c),
                None => {
                    return fail(
                        escape_at,
                        "invalid escape: write `\\u{...}` with the hex code of a character",
                    )
                }
            },
            // Kept whole: regular expressions need `\d`, `\.`, `\b` as written.
            Some((_, other)) => {
                out.push('\\');
                out.push(other);
            }
            None => break,
        }
    }
    let q = if quote == '"' { "`\"`" } else { "`'`" };
    fail(i, format!("unterminated string: no closing {q}"))
}

/// The `{hex}` of a `\u{hex}` escape.
fn unicode_escape(chars: &mut std::str::CharIndices<'_>) -> Option<char> {
    if chars.next()?.1 != '{' {
        return None;
    }
    let mut code = 0u32;
    for digits in 0.. {
        let (_, c) = chars.next()?;
        if c == '}' {
            return if digits == 0 {
                None
            } else {
                char::from_u32(code)
            };
        }
        if digits == 6 {
            return None;
        }
        code = code * 16 + c.to_digit(16)?;
    }
    None
}

/// The one-line reason of a regex error (the crate's own message draws the pattern and a caret
/// over several lines, which does not fit a `FILE:LINE:COL: message` report).
fn regex_message(e: &regex::Error) -> String {
    let text = e.to_string();
    match text.lines().find_map(|l| l.strip_prefix("error: ")) {
        Some(reason) => reason.to_string(),
        None => text.lines().last().unwrap_or("").trim().to_string(),
    }
}

/// The next token of `i`, quoted, for error messages.
fn token(i: &str) -> String {
    let i = i.trim_start();
    let Some(c) = i.chars().next() else {
        return "the end".into();
    };
    let len = if is_ident_char(c) {
        i.find(|c: char| !is_ident_char(c)).unwrap_or(i.len())
    } else if is_op_char(c) {
        i.find(|c: char| !is_op_char(c)).unwrap_or(i.len())
    } else {
        c.len_utf8()
    };
    let t = &i[..len];
    match t.char_indices().nth(40) {
        Some((cut, _)) => format!("`{}...`", &t[..cut]),
        None => format!("`{t}`"),
    }
}

/// A strictly numeric string (`-12`, `3.5`, `1e3`) as a number; `inf`, `NaN`, ` 5` are not.
fn parse_number(s: &str) -> Option<Num> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.as_bytes().first()?.is_ascii_digit() {
        return None;
    }
    if let Ok(n) = s.parse::<i64>() {
        return Some(Num::Int(n));
    }
    if !digits
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    s.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Num::Float)
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// One value a condition looks at: a field's value, an element of an array field, or a tag.
#[derive(Clone, Copy)]
enum Scalar<'a> {
    Int(i64),
    Float(f64),
    Bool(bool),
    Ip(IpAddr),
    Str(&'a str),
    /// A timestamp or an object: present, but nothing compares with it.
    Other,
}

/// Most shapes a thread keeps the slots of.
const SLOTS_CACHE_MAX: usize = 512;

/// The field names the conditions of a stage read, each with a slot: one pass over an event's
/// fields ([`FieldTable::resolve`]) finds them all, so evaluating a condition reads a slot
/// instead of scanning the event's fields by name for every comparison.
#[derive(Debug, Default)]
pub struct FieldTable {
    /// Tells this table's cached slots (see `event::shape`) from another's; renewed whenever a
    /// name is added.
    id: u64,
    names: Vec<Box<str>>,
    /// Slots by name length: most event fields have a length no registered name has, and cost
    /// one index to skip.
    by_len: Vec<Vec<u32>>,
}

impl FieldTable {
    /// Gives every field path of `expr` its slot (the same name shares one).
    pub fn register(&mut self, expr: &mut Expr) {
        expr.visit_paths(&mut |path| path.slot = self.slot_for(&path.name));
    }

    /// The slot of a field name, given it now if it has none.
    pub fn slot_for(&mut self, name: &str) -> usize {
        if let Some(slot) = self.names.iter().position(|n| **n == *name) {
            return slot;
        }
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        self.id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let slot = self.names.len();
        self.names.push(name.into());
        if self.by_len.len() <= name.len() {
            self.by_len.resize(name.len() + 1, Vec::new());
        }
        if let Some(same_length) = self.by_len.get_mut(name.len()) {
            // Slots count distinct names of one config file: far below `u32::MAX`.
            same_length.push(u32::try_from(slot).unwrap_or(ABSENT));
        }
        slot
    }

    /// Tells this table's slots from another's (renewed whenever a name is added).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Number of slots an evaluation needs.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Fills `slots` (`len()` long) with the index in `event.fields` of each registered name,
    /// or [`ABSENT`]; the last of several fields of one name wins, as for `Event::get`.
    ///
    /// The slots depend only on the event's field names, so they are kept per shape and thread
    /// (see `event::shape`): a stream of parsed lines resolves its few shapes once each.
    pub fn resolve(&self, event: &Event, slots: &mut [u32]) {
        thread_local! {
            static SLOTS: std::cell::RefCell<ShapeCache<Box<[u32]>>> =
                std::cell::RefCell::new(ShapeCache::new(SLOTS_CACHE_MAX));
        }
        SLOTS.with(|cache| {
            let Ok(mut cache) = cache.try_borrow_mut() else {
                return self.resolve_by_name(event, slots);
            };
            let cached =
                cache.get_or_insert_with(&event.fields, &event.shape_hint, self.id, || {
                    let mut fresh = vec![ABSENT; slots.len()];
                    self.resolve_by_name(event, &mut fresh);
                    fresh.into()
                });
            let Some(cached) = cached else {
                return self.resolve_by_name(event, slots);
            };
            // Same table, same length; a different one is a caller's `slots` of another size.
            if cached.len() == slots.len() {
                slots.copy_from_slice(cached);
            } else {
                self.resolve_by_name(event, slots);
            }
        })
    }

    pub(crate) fn resolve_by_name(&self, event: &Event, slots: &mut [u32]) {
        slots.fill(ABSENT);
        for (i, (name, _)) in event.fields.iter().enumerate() {
            let Some(candidates) = self.by_len.get(name.len()) else {
                continue;
            };
            for &slot in candidates {
                if self.names.get(slot as usize).is_some_and(|n| **n == **name) {
                    if let Some(s) = slots.get_mut(slot as usize) {
                        *s = u32::try_from(i).unwrap_or(ABSENT);
                    }
                }
            }
        }
    }
}

impl Expr {
    /// Whether `event` satisfies the condition (fields looked up by name).
    pub fn eval(&self, event: &Event) -> bool {
        self.eval_in(event, &[])
    }

    /// Whether `event` satisfies the condition, with `slots` filled by the [`FieldTable`] that
    /// registered this condition; paths without a slot there are looked up by name.
    pub fn eval_in(&self, event: &Event, slots: &[u32]) -> bool {
        let ctx = Ctx { event, slots };
        ctx.eval(self)
    }

    fn visit_paths<F: FnMut(&mut Path)>(&mut self, f: &mut F) {
        match self {
            Expr::Bool(_) => {}
            Expr::Or(items) | Expr::And(items) => {
                for item in items {
                    item.visit_paths(f);
                }
            }
            Expr::Not(inner) => inner.visit_paths(f),
            Expr::Exists(field)
            | Expr::Compare { field, .. }
            | Expr::Matches { field, .. }
            | Expr::InList { field, .. }
            | Expr::Contains { field, .. } => {
                if let Field::Path(path) = field {
                    f(path);
                }
            }
        }
    }
}

/// One evaluation: the event and where its fields are.
#[derive(Clone, Copy)]
struct Ctx<'e> {
    event: &'e Event,
    slots: &'e [u32],
}

impl<'e> Ctx<'e> {
    fn eval(self, expr: &Expr) -> bool {
        match expr {
            Expr::Bool(b) => *b,
            Expr::Or(items) => items.iter().any(|e| self.eval(e)),
            Expr::And(items) => items.iter().all(|e| self.eval(e)),
            Expr::Not(inner) => !self.eval(inner),
            Expr::Exists(field) => self.exists(field),
            // The usual leaves, a number or a text field against a literal of its kind, are
            // answered here; a list or a value of another type takes the general way through
            // `any_value`, and `!=` (no value equal) and the tag list the arms below.
            Expr::Compare {
                field: Field::Path(path),
                op,
                value,
            } if *op != CmpOp::Ne => match (self.lookup(path), value) {
                (None, _) => false,
                (Some(Value::Int(n)), Literal::Int(rhs)) => op.holds(n.cmp(rhs)),
                (Some(Value::Str(t)), Literal::Str(l)) => op.holds(self.event.text(t).cmp(&l.text)),
                (Some(v), _) => any_value(self.event, v, &mut |s| {
                    compare(s, value).is_some_and(|o| op.holds(o))
                }),
            },
            Expr::InList {
                field: Field::Path(path),
                values,
            } => match self.lookup(path) {
                None => false,
                Some(Value::Str(t)) => {
                    let t = self.event.text(t);
                    values.iter().any(|v| equal(Scalar::Str(t), v))
                }
                Some(v) => any_value(self.event, v, &mut |s| values.iter().any(|l| equal(s, l))),
            },
            Expr::Compare {
                field,
                op: CmpOp::Ne,
                value,
            } => !self.any_scalar(field, |s| equal(s, value)),
            Expr::Compare { field, op, value } => {
                self.any_scalar(field, |s| compare(s, value).is_some_and(|o| op.holds(o)))
            }
            Expr::Matches {
                field: Field::Path(path),
                pattern,
                negated,
            } => {
                let matched = match self.lookup(path) {
                    None => false,
                    Some(Value::Str(t)) => pattern.is_match(self.event.text(t)),
                    Some(v) => any_value(self.event, v, &mut |s| is_match(pattern, s)),
                };
                matched != *negated
            }
            Expr::Matches {
                field,
                pattern,
                negated,
            } => self.any_scalar(field, |s| is_match(pattern, s)) != *negated,
            Expr::InList { field, values } => {
                self.any_scalar(field, |s| values.iter().any(|v| equal(s, v)))
            }
            Expr::Contains { value, field } => self.contains(field, value),
        }
    }

    #[inline]
    fn lookup(self, path: &Path) -> Option<&'e Value> {
        match self.slots.get(path.slot) {
            Some(&ABSENT) => None,
            Some(&i) => self.event.fields.get(i as usize).map(|(_, v)| v),
            None => self.event.get(&path.name),
        }
    }

    fn exists(self, field: &Field) -> bool {
        match field {
            Field::Tags => !self.event.tags.is_empty(),
            Field::Path(path) => match self.lookup(path) {
                None | Some(Value::Null) => false,
                Some(Value::Array(items)) => !items.is_empty(),
                Some(_) => true,
            },
        }
    }

    /// Whether `f` holds for any value of `field` (each element of an array, each tag); false
    /// when the field is missing.
    fn any_scalar(self, field: &Field, mut f: impl FnMut(Scalar<'_>) -> bool) -> bool {
        match field {
            Field::Tags => self.event.tags.iter().any(|t| f(Scalar::Str(t))),
            Field::Path(path) => match self.lookup(path) {
                Some(v) => any_value(self.event, v, &mut f),
                None => false,
            },
        }
    }

    fn contains(self, field: &Field, value: &Literal) -> bool {
        let event = self.event;
        match field {
            Field::Tags => match value {
                Literal::Str(s) => event.has_tag(&s.text),
                _ => false,
            },
            Field::Path(path) => match (self.lookup(path), value) {
                (None, _) => false,
                (Some(Value::Str(t)), Literal::Str(s)) => {
                    s.finder.find(event.text(t).as_bytes()).is_some()
                }
                (Some(v), _) => any_value(event, v, &mut |s| equal(s, value)),
            },
        }
    }
}

impl CmpOp {
    fn holds(self, o: Ordering) -> bool {
        match self {
            CmpOp::Eq => o == Ordering::Equal,
            CmpOp::Ne => o != Ordering::Equal,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::Le => o != Ordering::Greater,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::Ge => o != Ordering::Less,
        }
    }
}

fn any_value<F: FnMut(Scalar<'_>) -> bool>(event: &Event, value: &Value, f: &mut F) -> bool {
    match value {
        Value::Null => false,
        Value::Array(items) => items.iter().any(|v| any_value(event, v, f)),
        Value::Int(n) => f(Scalar::Int(*n)),
        Value::Float(x) => f(Scalar::Float(*x)),
        Value::Bool(b) => f(Scalar::Bool(*b)),
        Value::Ip(ip) => f(Scalar::Ip(*ip)),
        Value::Str(t) => f(Scalar::Str(event.text(t))),
        Value::Timestamp(_) | Value::Object(_) | Value::GeoPoint { .. } => f(Scalar::Other),
    }
}

fn equal(s: Scalar<'_>, value: &Literal) -> bool {
    match (s, value) {
        // Most equality tests are text against text (`method == "GET"`, `in [..]` of codes):
        // a length check turns most of them away before any byte is compared.
        (Scalar::Str(t), Literal::Str(l)) => t == &*l.text,
        _ => compare(s, value) == Some(Ordering::Equal),
    }
}

/// How a field value orders against a literal; `None` when they do not compare (see the module
/// documentation for which pairs do).
fn compare(s: Scalar<'_>, value: &Literal) -> Option<Ordering> {
    let lit_num = match value {
        Literal::Int(n) => Some(Num::Int(*n)),
        Literal::Float(x) => Some(Num::Float(*x)),
        Literal::Str(l) => l.number,
        Literal::Bool(_) => None,
    };
    match (s, value) {
        (Scalar::Str(t), Literal::Str(l)) => Some(t.cmp(&l.text)),
        (Scalar::Str(t), Literal::Int(_) | Literal::Float(_)) => {
            compare_num(parse_number(t)?, lit_num?)
        }
        (Scalar::Int(n), _) => compare_num(Num::Int(n), lit_num?),
        (Scalar::Float(x), _) => compare_num(Num::Float(x), lit_num?),
        (Scalar::Ip(ip), Literal::Str(l)) => l.ip.map(|other| ip.cmp(&other)),
        (Scalar::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn compare_num(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
        (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
    }
}

impl Num {
    fn as_f64(self) -> f64 {
        match self {
            Num::Int(n) => n as f64,
            Num::Float(x) => x,
        }
    }
}

/// A regex search over a value's text; numbers and addresses are formatted on the stack.
fn is_match(re: &Pattern, s: Scalar<'_>) -> bool {
    match s {
        Scalar::Str(t) => re.is_match(t),
        Scalar::Int(n) => re.is_match(itoa::Buffer::new().format(n)),
        Scalar::Float(x) => re.is_match(ryu::Buffer::new().format(x)),
        Scalar::Bool(b) => re.is_match(if b { "true" } else { "false" }),
        Scalar::Ip(ip) => {
            let mut buf = StackText::default();
            // An address is at most 45 characters; the buffer holds 64.
            write!(buf, "{ip}").is_ok() && re.is_match(buf.as_str())
        }
        Scalar::Other => false,
    }
}

/// A small text buffer on the stack, for formatting an IP address without allocating.
struct StackText {
    buf: [u8; 64],
    len: usize,
}

impl Default for StackText {
    fn default() -> StackText {
        StackText {
            buf: [0; 64],
            len: 0,
        }
    }
}

impl StackText {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Printing: the canonical text of a condition, which parses back to the same AST.

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Bool(b) => write!(f, "{b}"),
            Expr::Or(items) => write_joined(f, items, " or ", |e| matches!(e, Expr::Or(_))),
            Expr::And(items) => write_joined(f, items, " and ", |e| {
                matches!(e, Expr::Or(_) | Expr::And(_))
            }),
            Expr::Not(inner) => match **inner {
                Expr::Or(_) | Expr::And(_) => write!(f, "not ({inner})"),
                _ => write!(f, "not {inner}"),
            },
            Expr::Exists(field) => write!(f, "exists({field})"),
            Expr::Compare { field, op, value } => write!(f, "{field} {op} {value}"),
            Expr::Matches {
                field,
                pattern,
                negated,
            } => {
                let op = if *negated { "!~" } else { "=~" };
                write!(f, "{field} {op} ")?;
                write_quoted(f, pattern.as_str())
            }
            Expr::InList { field, values } => {
                write!(f, "{field} in [")?;
                for (n, v) in values.iter().enumerate() {
                    if n > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Expr::Contains { value, field } => write!(f, "{value} in {field}"),
        }
    }
}

/// `items` joined by `sep`; those for which `parens` holds are parenthesized, so the nesting
/// survives a round trip.
fn write_joined(
    f: &mut fmt::Formatter<'_>,
    items: &[Expr],
    sep: &str,
    parens: fn(&Expr) -> bool,
) -> fmt::Result {
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            f.write_str(sep)?;
        }
        if parens(item) {
            write!(f, "({item})")?;
        } else {
            write!(f, "{item}")?;
        }
    }
    Ok(())
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Tags => f.write_str("tags"),
            Field::Path(p) => f.write_str(&p.name),
        }
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        })
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Int(n) => write!(f, "{n}"),
            // `{:?}` keeps a `.0` or an exponent, so the number reads back as a float.
            Literal::Float(x) => write!(f, "{x:?}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Str(s) => write_quoted(f, &s.text),
        }
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '"' => f.write_str("\\\"")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{RecordOrigin, Text};
    use proptest::prelude::*;

    fn p(src: &str) -> Expr {
        match parse(src) {
            Ok(e) => e,
            Err(e) => panic!("{src}: {e}"),
        }
    }

    fn err(src: &str) -> ConditionError {
        match parse(src) {
            Ok(e) => panic!("{src} parsed as {e:?}"),
            Err(e) => e,
        }
    }

    fn path(name: &str) -> Field {
        Field::Path(Path::new(name))
    }

    fn s(text: &str) -> Literal {
        Literal::Str(StrLit::new(text))
    }

    fn cmp(name: &str, op: CmpOp, value: Literal) -> Expr {
        Expr::Compare {
            field: path(name),
            op,
            value,
        }
    }

    /// An NGINX-like event: status 503, a path, a method, an address, tags, an array field.
    fn event() -> Event {
        let mut e = Event::new("GET /api/v1/orders".into(), RecordOrigin::default());
        e.push("http.request.method", crate::event::span_value(0, 3));
        e.push("url.path", crate::event::span_value(4, 18));
        e.push("http.response.status_code", Value::Int(503));
        e.push("event.duration", Value::Int(1_500_000_000));
        e.push("source.ip", Value::Ip("10.0.0.7".parse().unwrap()));
        e.push("labels.count", Value::Str(Text::Static("42")));
        e.push("ratio", Value::Float(0.25));
        e.push("flag", Value::Bool(true));
        e.push("nothing", Value::Null);
        e.push(
            "event.category",
            Value::Array(vec![
                Value::Str(Text::Static("web")),
                Value::Str(Text::Static("network")),
            ]),
        );
        e.push(
            "message",
            Value::owned_str("upstream timed out (110: Connection timed out)"),
        );
        e.add_tag("slow");
        e.add_tag("_parse_failure");
        e
    }

    fn holds(src: &str) -> bool {
        p(src).eval(&event())
    }

    #[test]
    fn comparison_operators_on_numbers() {
        assert_eq!(
            p("http.response.status_code >= 500"),
            cmp("http.response.status_code", CmpOp::Ge, Literal::Int(500))
        );
        assert!(holds("http.response.status_code == 503"));
        assert!(!holds("http.response.status_code == 500"));
        assert!(holds("http.response.status_code != 500"));
        assert!(!holds("http.response.status_code != 503"));
        assert!(holds("http.response.status_code < 504"));
        assert!(!holds("http.response.status_code < 503"));
        assert!(holds("http.response.status_code <= 503"));
        assert!(!holds("http.response.status_code <= 502"));
        assert!(holds("http.response.status_code > 502"));
        assert!(!holds("http.response.status_code > 503"));
        assert!(holds("http.response.status_code >= 503"));
        assert!(!holds("http.response.status_code >= 504"));
        // Int field against a float literal, float field against an int literal.
        assert!(holds("http.response.status_code > 502.5"));
        assert!(holds("ratio < 1"));
        assert!(holds("ratio == 0.25"));
        assert!(holds("ratio > -1"));
    }

    #[test]
    fn comparison_operators_on_strings() {
        assert!(holds("http.request.method == 'GET'"));
        assert!(holds("http.request.method == \"GET\""));
        assert!(!holds("http.request.method == 'get'"));
        assert!(holds("http.request.method != 'POST'"));
        assert!(holds("http.request.method < 'POST'"));
        assert!(holds("http.request.method <= 'GET'"));
        assert!(holds("http.request.method > 'DELETE'"));
        assert!(holds("http.request.method >= 'GET'"));
        assert!(!holds("http.request.method > 'GET'"));
    }

    #[test]
    fn mixed_types_follow_the_literal() {
        // A numeric string field compares numerically with a number...
        assert!(holds("labels.count == 42"));
        assert!(holds("labels.count > 5"));
        // ...and byte-wise with a string ("42" < "5").
        assert!(holds("labels.count < '5'"));
        // A numeric string literal against a number field is numeric.
        assert!(holds("http.response.status_code == '503'"));
        // An address literal against an IP field.
        assert!(holds("source.ip == '10.0.0.7'"));
        assert!(!holds("source.ip == '10.0.0.8'"));
        // Pairs that do not compare: `==` false, `!=` true.
        assert!(!holds("http.request.method == 5"));
        assert!(holds("http.request.method != 5"));
        assert!(!holds("flag == 'true'"));
        assert!(holds("flag == true"));
        assert!(holds("flag != false"));
    }

    #[test]
    fn missing_fields() {
        assert!(!holds("no.such == 1"));
        assert!(!holds("no.such < 1"));
        assert!(!holds("no.such >= 1"));
        assert!(!holds("no.such =~ '.'"));
        assert!(!holds("no.such in ['a']"));
        assert!(!holds("'a' in no.such"));
        // `!=` and `!~` are the negations of `==` and `=~`.
        assert!(holds("no.such != 1"));
        assert!(holds("no.such !~ 'x'"));
        // A null counts as missing.
        assert!(!holds("nothing == 1"));
        assert!(holds("nothing != 1"));
    }

    #[test]
    fn exists_and_tags() {
        assert_eq!(p("exists(url.path)"), Expr::Exists(path("url.path")));
        assert!(holds("exists(url.path)"));
        assert!(holds("exists( url.path )"));
        assert!(!holds("exists(no.such)"));
        assert!(!holds("exists(nothing)"));
        assert!(holds("exists(tags)"));
        assert!(holds("tags == 'slow'"));
        assert!(!holds("tags == 'fast'"));
        assert!(holds("tags != 'fast'"));
        assert!(holds("'_parse_failure' in tags"));
        assert!(!holds("'_truncated' in tags"));
    }

    #[test]
    fn in_lists_and_membership() {
        assert_eq!(
            p("http.request.method in ['GET', \"HEAD\",]"),
            Expr::InList {
                field: path("http.request.method"),
                values: vec![s("GET"), s("HEAD")],
            }
        );
        assert!(holds("http.request.method in ['GET', 'HEAD']"));
        assert!(!holds("http.request.method in ['POST']"));
        assert!(holds("http.response.status_code in [500, 502, 503]"));
        assert!(holds("event.category in ['network']"));
        assert!(holds("tags in ['x', 'slow']"));
        // `value in field`: array element, substring of a string, equality otherwise.
        assert!(holds("'web' in event.category"));
        assert!(!holds("'we' in event.category"));
        assert!(holds("'timed out' in message"));
        assert!(!holds("'refused' in message"));
        assert!(holds("503 in http.response.status_code"));
    }

    #[test]
    fn regex_operators() {
        assert!(holds("url.path =~ '^/api/'"));
        assert!(!holds("url.path =~ '^/API/'"));
        assert!(holds("url.path =~ '(?i)^/API/'"));
        assert!(holds("url.path !~ '^/static/'"));
        assert!(!holds("url.path !~ '^/api/'"));
        // Backslashes reach the regex as written.
        assert!(holds(r"url.path =~ '/v\d/'"));
        assert!(holds(r"url.path =~ '/v\\d/'"));
        // Numbers and addresses match in their text form.
        assert!(holds("http.response.status_code =~ '^5..$'"));
        assert!(holds(r"source.ip =~ '^10\.'"));
        assert!(holds("event.category =~ '^net'"));
    }

    #[test]
    fn precedence_not_and_or() {
        let a = || cmp("a", CmpOp::Eq, Literal::Int(1));
        let b = || cmp("b", CmpOp::Eq, Literal::Int(2));
        let c = || cmp("c", CmpOp::Eq, Literal::Int(3));
        // and binds tighter than or.
        assert_eq!(
            p("a == 1 or b == 2 and c == 3"),
            Expr::Or(vec![a(), Expr::And(vec![b(), c()])])
        );
        assert_eq!(
            p("a == 1 and b == 2 or c == 3"),
            Expr::Or(vec![Expr::And(vec![a(), b()]), c()])
        );
        // not binds tighter than and.
        assert_eq!(
            p("not a == 1 and b == 2"),
            Expr::And(vec![Expr::Not(Box::new(a())), b()])
        );
        assert_eq!(
            p("not not a == 1"),
            Expr::Not(Box::new(Expr::Not(Box::new(a()))))
        );
        // Parentheses override.
        assert_eq!(
            p("(a == 1 or b == 2) and c == 3"),
            Expr::And(vec![Expr::Or(vec![a(), b()]), c()])
        );
        assert_eq!(
            p("not (a == 1 or b == 2)"),
            Expr::Not(Box::new(Expr::Or(vec![a(), b()])))
        );
        assert_eq!(p("((a == 1))"), a());
        // Evaluated: false or (true and false) = false; (false or true) and false = false.
        assert!(!holds("flag == false or flag == true and flag == false"));
        assert!(holds("flag == true or flag == true and flag == false"));
        assert!(!holds("(flag == true or flag == true) and flag == false"));
        assert!(holds("not flag == false and flag == true"));
        assert!(!holds("not (flag == true or flag == false)"));
    }

    #[test]
    fn literals() {
        assert_eq!(p("x == -12"), cmp("x", CmpOp::Eq, Literal::Int(-12)));
        assert_eq!(p("x == 1.5e3"), cmp("x", CmpOp::Eq, Literal::Float(1500.0)));
        assert_eq!(p("x == -0.5"), cmp("x", CmpOp::Eq, Literal::Float(-0.5)));
        assert_eq!(
            p("x > 2s"),
            cmp("x", CmpOp::Gt, Literal::Int(2_000_000_000))
        );
        assert_eq!(p("x > 1.5ms"), cmp("x", CmpOp::Gt, Literal::Int(1_500_000)));
        assert_eq!(p("x > 250us"), cmp("x", CmpOp::Gt, Literal::Int(250_000)));
        assert_eq!(
            p("x > 1m"),
            cmp("x", CmpOp::Gt, Literal::Int(60_000_000_000))
        );
        assert_eq!(
            p(r#"x == "a\"b\\c\n\u{e9}""#),
            cmp("x", CmpOp::Eq, s("a\"b\\c\né"))
        );
        assert_eq!(p(r"x == 'it\'s'"), cmp("x", CmpOp::Eq, s("it's")));
        assert_eq!(p("x == true"), cmp("x", CmpOp::Eq, Literal::Bool(true)));
        assert_eq!(p("true"), Expr::Bool(true));
        assert_eq!(p("false or x == 1").to_string(), "false or x == 1");
        assert!(holds("event.duration > 1s and event.duration < 2s"));
        // Field names: `@`, `-` and digits after the first character.
        assert_eq!(p("@version == '1'"), cmp("@version", CmpOp::Eq, s("1")));
        assert_eq!(
            p("labels.x-id == 'a'"),
            cmp("labels.x-id", CmpOp::Eq, s("a"))
        );
        assert_eq!(
            p("android == 1"),
            cmp("android", CmpOp::Eq, Literal::Int(1))
        );
    }

    #[test]
    fn errors_point_at_the_bad_token() {
        let e = err("status = 500");
        assert_eq!(e.offset, 7);
        assert!(e.message.contains("write `==`"), "{e}");
        let e = err("status => 500");
        assert_eq!(e.offset, 7);
        assert!(e.message.contains("unknown operator `=>`"), "{e}");
        let e = err("status contains 'x'");
        assert_eq!(e.offset, 7);
        assert!(e.message.contains("unknown operator `contains`"), "{e}");
        let e = err("a == 'abc");
        assert_eq!(e.offset, 5);
        assert!(e.message.starts_with("unterminated string"), "{e}");
        let e = err("a =~ '(x'");
        assert_eq!(e.offset, 5);
        assert!(e.message.starts_with("invalid regular expression: "), "{e}");
        assert!(!e.message.contains('\n'), "{e}");
        let e = err("a == 1 b == 2");
        assert_eq!(e.offset, 7);
        assert!(
            e.message
                .starts_with("unexpected `b` after a complete condition"),
            "{e}"
        );
        let e = err("a == 1)");
        assert_eq!(e.offset, 6);
        assert!(e.message.contains("no matching `(`"), "{e}");
        let e = err("x and (a == 1");
        assert_eq!(e.offset, 2);
        assert!(e.message.contains("needs an operator"), "{e}");
        let e = err("(a == 1");
        assert_eq!((e.offset, e.message.as_str()), (0, "`(` is not closed"));
        let e = err("a == 1 and");
        assert_eq!(e.offset, 10);
        assert!(e.message.contains("found the end"), "{e}");
        let e = err("a ==");
        assert_eq!(e.offset, 4);
        let e = err("a == b");
        assert!(
            e.message.contains("cannot be compared with another field"),
            "{e}"
        );
        let e = err("a in ['x'");
        assert_eq!((e.offset, e.message.as_str()), (5, "`[` is not closed"));
        let e = err("a in []");
        assert_eq!(e.offset, 5);
        let e = err("a in [1, b]");
        assert_eq!(e.offset, 9);
        let e = err("a < true");
        assert_eq!(e.offset, 2);
        let e = err("a == 5xx");
        assert_eq!(e.offset, 6);
        assert!(e.message.contains("unknown unit `xx`"), "{e}");
        let e = err("a == 99999999999999999999");
        assert!(e.message.contains("out of range"), "{e}");
        let e = err("'x' == a");
        assert_eq!(e.offset, 0);
        let e = err("exist(a)");
        assert!(e.message.contains("unknown function `exist`"), "{e}");
        let e = err("a not in [1]");
        assert!(e.message.contains("`not` goes before"), "{e}");
        let e = err("a..b == 1");
        assert!(e.message.contains("empty part"), "{e}");
        let e = err("@timestamp > 1");
        assert!(e.message.contains("@timestamp"), "{e}");
        let e = err("   ");
        assert!(e.message.starts_with("empty condition"), "{e}");
        let e = err("a == 1 && b == 2");
        assert_eq!(e.offset, 7);
        let e = err(&"(".repeat(100_000));
        assert!(e.message.contains("nested too deeply"), "{e}");
        let e = err(&"not ".repeat(100_000));
        assert!(e.message.contains("nested too deeply"), "{e}");
        // An escape in a string literal that is not one.
        let e = err(r"a == '\u{zz}'");
        assert_eq!(e.offset, 6);
    }

    #[test]
    fn resolved_fields_evaluate_like_lookups_by_name() {
        let conditions = [
            "http.response.status_code >= 500 and url.path =~ '^/api/'",
            "exists(no.such) or not exists(url.path)",
            "labels.count == 42 and url.path != '/'",
            "source.ip == '10.0.0.7' and 'web' in event.category",
            "dup == 2",
            "dup != 1",
            "tags == 'slow'",
        ];
        let mut e = event();
        // Two fields of one name: the last one counts, as for `Event::get`.
        e.push("dup", Value::Int(1));
        e.push("dup", Value::Int(2));
        let mut table = FieldTable::default();
        let mut exprs: Vec<Expr> = conditions.iter().map(|c| p(c)).collect();
        for x in &mut exprs {
            table.register(x);
        }
        assert_eq!(table.len(), 7);
        let mut slots = vec![ABSENT; table.len()];
        table.resolve(&e, &mut slots);
        let answers: Vec<bool> = exprs.iter().map(|x| x.eval_in(&e, &slots)).collect();
        assert_eq!(answers, [true, false, true, true, true, true, true]);
        for (c, x) in conditions.iter().zip(&exprs) {
            assert_eq!(x.eval_in(&e, &slots), p(c).eval(&e), "{c}");
        }
    }

    #[test]
    fn display_is_canonical() {
        let src = "not (a == 1 or b =~ \"x\\\\d\") and (c in [1, 2.5, 'q']) or 'z' in tags and \
                   exists(d) and e != true and f !~ '^$'";
        let printed = p(src).to_string();
        assert_eq!(
            printed,
            "not (a == 1 or b =~ \"x\\\\d\") and c in [1, 2.5, \"q\"] or \"z\" in tags and \
             exists(d) and e != true and f !~ \"^$\""
        );
        assert_eq!(p(&printed), p(src));
    }

    fn field_strategy() -> impl Strategy<Value = Field> {
        prop_oneof![
            Just(Field::Tags),
            "[a-z_@][a-z0-9_]{0,5}(\\.[a-z_][a-z0-9_-]{0,5}){0,2}"
                .prop_filter("keyword or reserved", |n| {
                    !KEYWORDS.contains(&n.as_str()) && n != "tags" && n != "@timestamp"
                })
                .prop_map(|n| Field::Path(Path::new(n))),
        ]
    }

    fn literal_strategy() -> impl Strategy<Value = Literal> {
        prop_oneof![
            any::<i64>().prop_map(Literal::Int),
            proptest::num::f64::NORMAL
                .prop_union(proptest::num::f64::ZERO)
                .prop_map(Literal::Float),
            any::<bool>().prop_map(Literal::Bool),
            any::<String>().prop_map(|t| Literal::Str(StrLit::new(t))),
        ]
    }

    fn op_strategy() -> impl Strategy<Value = CmpOp> {
        prop_oneof![
            Just(CmpOp::Eq),
            Just(CmpOp::Ne),
            Just(CmpOp::Lt),
            Just(CmpOp::Le),
            Just(CmpOp::Gt),
            Just(CmpOp::Ge),
        ]
    }

    fn expr_strategy() -> impl Strategy<Value = Expr> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(Expr::Bool),
            field_strategy().prop_map(Expr::Exists),
            (field_strategy(), op_strategy(), literal_strategy()).prop_map(|(field, op, value)| {
                // Ordered comparisons refuse booleans: compare them for equality.
                let op = match value {
                    Literal::Bool(_) if !matches!(op, CmpOp::Eq | CmpOp::Ne) => CmpOp::Eq,
                    _ => op,
                };
                Expr::Compare { field, op, value }
            }),
            (field_strategy(), any::<String>(), any::<bool>()).prop_map(
                |(field, text, negated)| Expr::Matches {
                    field,
                    pattern: Pattern::new(Regex::new(&regex::escape(&text)).unwrap()),
                    negated,
                }
            ),
            (
                field_strategy(),
                prop::collection::vec(literal_strategy(), 1..4)
            )
                .prop_map(|(field, values)| Expr::InList { field, values }),
            (literal_strategy(), field_strategy())
                .prop_map(|(value, field)| Expr::Contains { value, field }),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
                prop::collection::vec(inner, 2..4).prop_map(Expr::Or),
            ]
        })
    }

    /// Words and symbols of the language, so random conditions get past the first token.
    fn soup() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("and"),
            Just("or"),
            Just("not"),
            Just("in"),
            Just("exists"),
            Just("true"),
            Just("("),
            Just(")"),
            Just("["),
            Just("]"),
            Just(","),
            Just("=="),
            Just("!="),
            Just("<"),
            Just("<="),
            Just(">="),
            Just("=~"),
            Just("!~"),
            Just("'"),
            Just("\""),
            Just("\\"),
            Just("\\u{"),
            Just("a.b"),
            Just("tags"),
            Just("-1.5e3"),
            Just("5ms"),
            Just("'x'"),
            Just("\"(\""),
            Just("@timestamp"),
            Just(" "),
            Just("é"),
        ];
        prop::collection::vec(piece, 0..16).prop_map(|v| v.concat())
    }

    /// Patterns with and without a prefix list, for the checks below.
    const PATTERNS: &[&str] = &[
        r"^/api/",
        r"^/(wp-login|xmlrpc)\.php",
        r"^(GET|POST) /",
        r"^(foo)?bar",
        r"^a|b",
        r"(?m)^x",
        r"(?i)^get",
        r"^[a-z]+/",
        r"^\d{3}",
        r"^",
        r"^$",
        r"\A/x",
        r"^é",
        r"x$",
        r"^foo\b",
        r"^bar$",
        r"^(?i)k",
        r"^/x(?-u:\b)",
        r"^ab?c",
    ];

    #[test]
    fn anchored_patterns_get_their_prefixes_and_others_none() {
        let prefixes = |p: &str| {
            Pattern::new(Regex::new(p).unwrap()).prefixes.map(|l| {
                l.iter()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(prefixes(r"^/api/"), Some(vec!["/api/".to_string()]));
        let wp = prefixes(r"^/(wp-login|xmlrpc)\.php").unwrap();
        assert!(
            wp.iter().any(|l| "/wp-login.php".starts_with(l.as_str())),
            "{wp:?}"
        );
        assert!(
            wp.iter().any(|l| "/xmlrpc.php".starts_with(l.as_str())),
            "{wp:?}"
        );
        assert!(
            !wp.iter().any(|l| "/shop/".starts_with(l.as_str())),
            "{wp:?}"
        );
        // Not anchored at the start of the text: every text runs the regex.
        assert_eq!(prefixes(r"^a|b"), None);
        assert_eq!(prefixes(r"(?m)^x"), None);
        assert_eq!(prefixes(r"x$"), None);
        let exact = |p: &str| Pattern::new(Regex::new(p).unwrap()).exact;
        assert!(exact(r"^/(wp-login|xmlrpc)\.php"));
        assert!(exact(r"^(GET|POST) /"));
        assert!(!exact(r"^foo\b"), "a word boundary after the literal");
        assert!(!exact(r"^bar$"));
        assert!(!exact(r"^[a-z]+/"));
    }

    #[test]
    fn a_pattern_matches_as_its_regex_does() {
        let texts = [
            "",
            "/api/",
            "/api",
            "/apix/",
            "/wp-login.php",
            "/xmlrpc.php?x",
            "/shop/",
            "GET /",
            "POST /x",
            "get",
            "GeT /",
            "bar",
            "foobar",
            "foo",
            "foo bar",
            "foox",
            "bar\n",
            "k",
            "\u{212A}x",
            "ac",
            "abc",
            "/x y",
            "/xy",
            "fobar",
            "a",
            "zb",
            "x",
            "y\nx",
            "abc/",
            "ABC/",
            "123",
            "12a",
            "é",
            "/x",
            "ax",
        ];
        for p in PATTERNS {
            let re = Regex::new(p).unwrap();
            let pattern = Pattern::new(re.clone());
            for t in texts {
                assert_eq!(pattern.is_match(t), re.is_match(t), "{p} on {t:?}");
            }
        }
    }

    /// Values of every type a leaf may meet: numbers, text from the line and owned, an
    /// address, a boolean, a list, null.
    fn leaf_value() -> impl Strategy<Value = Value> {
        let scalar = prop_oneof![
            (-5i64..600).prop_map(Value::Int),
            prop::sample::select(vec![2.5f64, 200.0, -3.0]).prop_map(Value::Float),
            Just(crate::event::span_value(0, 3)),
            Just(crate::event::span_value(4, 11)),
            Just(crate::event::span_value(12, 15)),
            prop::sample::select(vec!["abc", "200", "GET", "xT", ""])
                .prop_map(|t| Value::Str(Text::Owned(t.into()))),
            Just(Value::Ip("10.0.0.7".parse().unwrap())),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ];
        prop_oneof![
            4 => scalar.clone(),
            1 => prop::collection::vec(scalar, 0..3).prop_map(Value::Array),
        ]
    }

    /// A leaf's value by the general path alone: every value of the field through
    /// `any_value`, as before the direct cases in `Ctx::eval`.
    fn general_leaf(event: &Event, expr: &Expr) -> bool {
        let field = |f: &Field| match f {
            Field::Path(path) => event.get(path.name()),
            Field::Tags => panic!("not a path"),
        };
        let any = |f: &Field, test: &mut dyn FnMut(Scalar<'_>) -> bool| {
            field(f).is_some_and(|v| any_value(event, v, &mut |s| test(s)))
        };
        match expr {
            Expr::Compare {
                field,
                op: CmpOp::Ne,
                value,
            } => !any(field, &mut |s| equal(s, value)),
            Expr::Compare { field, op, value } => any(field, &mut |s| {
                compare(s, value).is_some_and(|o| op.holds(o))
            }),
            Expr::InList { field, values } => {
                any(field, &mut |s| values.iter().any(|v| equal(s, v)))
            }
            Expr::Matches {
                field,
                pattern,
                negated,
            } => any(field, &mut |s| is_match(pattern, s)) != *negated,
            other => panic!("not a leaf: {other}"),
        }
    }

    proptest! {
        #![proptest_config(crate::parse::test_support::proptest_config())]

        #[test]
        fn patterns_with_prefixes_agree_with_their_regex(text in "[/a-zA-Z0-9._é -]{0,20}") {
            for p in PATTERNS {
                let re = Regex::new(p).unwrap();
                prop_assert_eq!(Pattern::new(re.clone()).is_match(&text), re.is_match(&text));
                let prefixed = format!("/wp-login.php{text}");
                prop_assert_eq!(Pattern::new(re.clone()).is_match(&prefixed), re.is_match(&prefixed));
            }
        }

        /// The leaves `Ctx::eval` answers directly (a number or a text against a literal,
        /// `in [..]`, `=~`) give what the general path through `any_value` gives, for values
        /// of every type and literals of every kind.
        #[test]
        fn direct_leaves_agree_with_the_general_path(
            value in leaf_value(),
            op in prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">="]),
            lit in prop::sample::select(vec!["200", "500", "-3", "2.5", "'200'", "'GET'", "'abc'", "'10.0.0.7'", "true"]),
            list in prop::sample::select(vec!["['GET', 'POST']", "[200, 404]", "['200', 2.5]"]),
            pattern in prop::sample::select(vec!["^2", "^/api/", "T$", "^(GET|HEAD)$"]),
        ) {
            let mut e = Event::new("GET /api/v1 200".into(), RecordOrigin::default());
            e.push("f", value);
            for src in [format!("f {op} {lit}"), format!("f in {list}"), format!("f =~ '{pattern}'"), format!("f !~ '{pattern}'")] {
                // Some pairs are refused by the parser (`> true`).
                let Ok(expr) = parse(&src) else { continue };
                prop_assert_eq!(expr.eval(&e), general_leaf(&e, &expr), "{}", src);
            }
        }

        #[test]
        fn parser_never_panics_on_arbitrary_input(src in any::<String>()) {
            if let Err(e) = parse(&src) {
                prop_assert!(e.offset <= src.len());
                prop_assert!(src.is_char_boundary(e.offset));
            }
        }

        #[test]
        fn parser_never_panics_on_token_soup(src in soup()) {
            match parse(&src) {
                Ok(expr) => prop_assert_eq!(p(&expr.to_string()), expr),
                Err(e) => {
                    prop_assert!(e.offset <= src.len());
                    prop_assert!(src.is_char_boundary(e.offset));
                }
            }
        }

        #[test]
        fn printing_then_parsing_round_trips(expr in expr_strategy()) {
            let printed = expr.to_string();
            let parsed = parse(&printed);
            prop_assert_eq!(parsed.as_ref().ok(), Some(&expr), "{} -> {:?}", printed, parsed);
        }
    }
}
