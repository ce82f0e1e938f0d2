//! A precedence-climbing parser from tokens to [`Expr`].
//!
//! Every node records its depth; the parser stops with a [`FhirPathError::Limit`] as soon as a
//! node would be deeper than the limit, so neither parsing, evaluation nor dropping the tree can
//! recurse further than `max_depth` frames, whatever the input.

use super::FhirPathError;
use super::Limits;
use super::ast::{BinaryOp, Expr, Literal, TypeSpecifier};
use super::datetime::PartialTemporal;
use super::decimal::Decimal;
use super::lexer::{Token, TokenKind, tokenize};
use super::quantity::Quantity;

/// Parses a whole expression under the limits.
pub(crate) fn parse(src: &str, limits: &Limits) -> Result<Expr, FhirPathError> {
    if src.len() > limits.max_length {
        return Err(FhirPathError::Limit(format!(
            "expression is {} bytes long, the limit is {}",
            src.len(),
            limits.max_length
        )));
    }
    let tokens = tokenize(src)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        max_depth: limits.max_depth,
    };
    let (expr, _) = parser.expression(0, 0)?;
    match parser.peek() {
        TokenKind::End => Ok(expr),
        other => Err(parser.error(&format!("unexpected {other:?}"))),
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    max_depth: usize,
}

/// A parsed node and its depth.
type Node = (Expr, usize);

fn binary_operator(token: &TokenKind) -> Option<(BinaryOp, u8)> {
    use BinaryOp::*;
    let op = match token {
        TokenKind::Symbol(s) => match *s {
            "*" => (Multiply, 10),
            "/" => (Divide, 10),
            "+" => (Add, 9),
            "-" => (Subtract, 9),
            "&" => (Concatenate, 9),
            "|" => (Union, 7),
            "<" => (Less, 6),
            ">" => (Greater, 6),
            "<=" => (LessOrEqual, 6),
            ">=" => (GreaterOrEqual, 6),
            "=" => (Equal, 5),
            "!=" => (NotEqual, 5),
            "~" => (Equivalent, 5),
            "!~" => (NotEquivalent, 5),
            _ => return None,
        },
        TokenKind::Identifier(name) => match name.as_str() {
            "div" => (Div, 10),
            "mod" => (Mod, 10),
            "in" => (In, 4),
            "contains" => (Contains, 4),
            "and" => (And, 3),
            "or" => (Or, 2),
            "xor" => (Xor, 2),
            "implies" => (Implies, 1),
            _ => return None,
        },
        _ => return None,
    };
    Some(op)
}

/// The binding power of `is` and `as`.
const TYPE_OPERATOR_POWER: u8 = 8;
/// Unary `+`/`-` bind tighter than `*` but looser than `.` (`-1.abs()` is `-(1.abs())`).
const UNARY_POWER: u8 = 11;

impl Parser {
    fn peek(&self) -> &TokenKind {
        &self.tokens[self.pos].kind
    }

    fn advance(&mut self) -> TokenKind {
        let kind = self.tokens[self.pos].kind.clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        kind
    }

    fn error(&self, message: &str) -> FhirPathError {
        FhirPathError::Parse(format!("at {}: {message}", self.tokens[self.pos].offset))
    }

    fn check_depth(&self, depth: usize) -> Result<usize, FhirPathError> {
        if depth > self.max_depth {
            Err(FhirPathError::Limit(format!(
                "expression is nested deeper than {}",
                self.max_depth
            )))
        } else {
            Ok(depth)
        }
    }

    fn check_function(&self, name: &str) -> Result<(), FhirPathError> {
        if super::functions::is_known(name) {
            Ok(())
        } else {
            Err(self.error(&format!("unknown function {name}()")))
        }
    }

    fn expect(&mut self, symbol: &str) -> Result<(), FhirPathError> {
        match self.peek() {
            TokenKind::Symbol(s) if *s == symbol => {
                self.advance();
                Ok(())
            }
            other => Err(self.error(&format!("expected {symbol:?}, found {other:?}"))),
        }
    }

    /// An expression whose operators all bind at least as tightly as `min_power`; `nesting`
    /// counts the parser's own recursion.
    fn expression(&mut self, min_power: u8, nesting: usize) -> Result<Node, FhirPathError> {
        self.check_depth(nesting)?;
        let (mut lhs, mut depth) = self.unary(nesting)?;
        loop {
            let token = self.peek().clone();
            if let TokenKind::Identifier(name) = &token
                && (name == "is" || name == "as")
            {
                if TYPE_OPERATOR_POWER < min_power {
                    break;
                }
                self.advance();
                let type_name = self.type_specifier()?;
                depth = self.check_depth(depth + 1)?;
                lhs = Expr::TypeTest {
                    operand: Box::new(lhs),
                    cast: name == "as",
                    type_name,
                };
                continue;
            }
            let Some((op, power)) = binary_operator(&token) else {
                break;
            };
            if power < min_power {
                break;
            }
            self.advance();
            let (rhs, rhs_depth) = self.expression(power + 1, nesting + 1)?;
            depth = self.check_depth(depth.max(rhs_depth) + 1)?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        Ok((lhs, depth))
    }

    fn unary(&mut self, nesting: usize) -> Result<Node, FhirPathError> {
        if let TokenKind::Symbol(s @ ("-" | "+")) = self.peek() {
            let negate = *s == "-";
            self.advance();
            let (operand, depth) = self.expression(UNARY_POWER, nesting + 1)?;
            let depth = self.check_depth(depth + 1)?;
            return Ok((
                Expr::Unary {
                    negate,
                    operand: Box::new(operand),
                },
                depth,
            ));
        }
        self.postfix(nesting)
    }

    fn postfix(&mut self, nesting: usize) -> Result<Node, FhirPathError> {
        let (mut expr, mut depth) = self.term(nesting)?;
        loop {
            match self.peek() {
                TokenKind::Symbol(".") => {
                    self.advance();
                    let name = self.name()?;
                    if matches!(self.peek(), TokenKind::Symbol("(")) {
                        self.check_function(&name)?;
                        let (args, args_depth) = self.arguments(nesting)?;
                        depth = self.check_depth(depth.max(args_depth) + 1)?;
                        expr = Expr::Function {
                            target: Some(Box::new(expr)),
                            name,
                            args,
                        };
                    } else {
                        depth = self.check_depth(depth + 1)?;
                        expr = Expr::Member(Box::new(expr), name);
                    }
                }
                TokenKind::Symbol("[") => {
                    self.advance();
                    let (index, index_depth) = self.expression(0, nesting + 1)?;
                    self.expect("]")?;
                    depth = self.check_depth(depth.max(index_depth) + 1)?;
                    expr = Expr::Indexer(Box::new(expr), Box::new(index));
                }
                _ => return Ok((expr, depth)),
            }
        }
    }

    fn name(&mut self) -> Result<String, FhirPathError> {
        match self.advance() {
            TokenKind::Identifier(name) | TokenKind::Delimited(name) => Ok(name),
            other => Err(self.error(&format!("expected a name, found {other:?}"))),
        }
    }

    fn arguments(&mut self, nesting: usize) -> Result<(Vec<Expr>, usize), FhirPathError> {
        self.expect("(")?;
        let mut args = Vec::new();
        let mut depth = 0;
        if matches!(self.peek(), TokenKind::Symbol(")")) {
            self.advance();
            return Ok((args, depth));
        }
        loop {
            let (arg, arg_depth) = self.expression(0, nesting + 1)?;
            depth = depth.max(arg_depth);
            args.push(arg);
            match self.advance() {
                TokenKind::Symbol(",") => continue,
                TokenKind::Symbol(")") => return Ok((args, depth)),
                other => return Err(self.error(&format!("expected , or ), found {other:?}"))),
            }
        }
    }

    fn type_specifier(&mut self) -> Result<TypeSpecifier, FhirPathError> {
        let first = self.name()?;
        if matches!(self.peek(), TokenKind::Symbol(".")) {
            self.advance();
            let name = self.name()?;
            return Ok(TypeSpecifier {
                namespace: Some(first),
                name,
            });
        }
        Ok(TypeSpecifier {
            namespace: None,
            name: first,
        })
    }

    fn term(&mut self, nesting: usize) -> Result<Node, FhirPathError> {
        let token = self.advance();
        let expr = match token {
            TokenKind::Number(text) => {
                let number = if text.contains('.') {
                    Literal::Decimal(
                        Decimal::parse(&text).ok_or_else(|| self.error("invalid decimal"))?,
                    )
                } else {
                    match text.parse::<i64>() {
                        Ok(value) => Literal::Integer(value),
                        Err(_) => Literal::Decimal(
                            Decimal::parse(&text).ok_or_else(|| self.error("invalid number"))?,
                        ),
                    }
                };
                match self.quantity_unit() {
                    Some(unit) => {
                        let value = match number {
                            Literal::Integer(i) => Decimal::from_i64(i),
                            Literal::Decimal(d) => d,
                            _ => unreachable!("numbers only"),
                        };
                        Expr::Literal(Literal::Quantity(Quantity::new(value, &unit)))
                    }
                    None => Expr::Literal(number),
                }
            }
            TokenKind::String(text) => Expr::Literal(Literal::String(text)),
            TokenKind::DateTime(text) => Expr::Literal(Literal::Temporal(
                PartialTemporal::parse_literal(&text)
                    .ok_or_else(|| self.error("invalid date/time literal"))?,
            )),
            TokenKind::Variable(name) => Expr::Variable(name),
            TokenKind::Special(name) => match name.as_str() {
                "$this" => Expr::This,
                "$index" => Expr::Index,
                "$total" => Expr::Total,
                _ => return Err(self.error(&format!("unknown {name}"))),
            },
            TokenKind::Symbol("(") => {
                let (inner, depth) = self.expression(0, nesting + 1)?;
                self.expect(")")?;
                return Ok((inner, depth));
            }
            TokenKind::Symbol("{") => {
                self.expect("}")?;
                Expr::Literal(Literal::Empty)
            }
            TokenKind::Identifier(name) | TokenKind::Delimited(name) => {
                let delimited = matches!(self.tokens[self.pos - 1].kind, TokenKind::Delimited(_));
                if !delimited && (name == "true" || name == "false") {
                    Expr::Literal(Literal::Boolean(name == "true"))
                } else if matches!(self.peek(), TokenKind::Symbol("(")) {
                    self.check_function(&name)?;
                    let (args, depth) = self.arguments(nesting)?;
                    let depth = self.check_depth(depth + 1)?;
                    return Ok((
                        Expr::Function {
                            target: None,
                            name,
                            args,
                        },
                        depth,
                    ));
                } else {
                    Expr::Identifier(name)
                }
            }
            other => return Err(self.error(&format!("unexpected {other:?}"))),
        };
        Ok((expr, 1))
    }

    /// The unit after a number, when there is one: a string literal or a calendar keyword.
    fn quantity_unit(&mut self) -> Option<String> {
        match self.peek() {
            TokenKind::String(unit) => {
                let unit = unit.clone();
                self.advance();
                Some(unit)
            }
            TokenKind::Identifier(word) if Quantity::calendar_unit(word).is_some() => {
                let word = word.clone();
                self.advance();
                Some(word)
            }
            _ => None,
        }
    }
}
