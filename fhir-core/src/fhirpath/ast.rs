//! The syntax tree of a parsed expression.

use super::datetime::PartialTemporal;
use super::decimal::Decimal;
use super::quantity::Quantity;

/// An expression node.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    /// A literal; `{}` is [`Literal::Empty`].
    Literal(Literal),
    /// A name in term position: a member of `$this`, or the type of the context.
    Identifier(String),
    /// `$this`.
    This,
    /// `$index`.
    Index,
    /// `$total`.
    Total,
    /// `%name`.
    Variable(String),
    /// `target.name`.
    Member(Box<Expr>, String),
    /// `name(args)` or `target.name(args)`; arguments stay unevaluated (`where`, `select` …).
    Function {
        target: Option<Box<Expr>>,
        name: String,
        args: Vec<Expr>,
    },
    /// `target[index]`.
    Indexer(Box<Expr>, Box<Expr>),
    /// Unary `-` (`negate` true) or `+`.
    Unary { negate: bool, operand: Box<Expr> },
    /// A binary operator.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `expr is Type` (`cast` false) or `expr as Type`.
    TypeTest {
        operand: Box<Expr>,
        cast: bool,
        type_name: TypeSpecifier,
    },
}

/// A literal value.
#[derive(Debug, Clone)]
pub(crate) enum Literal {
    Empty,
    Boolean(bool),
    Integer(i64),
    Decimal(Decimal),
    String(String),
    Temporal(PartialTemporal),
    Quantity(Quantity),
}

/// The binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinaryOp {
    Multiply,
    Divide,
    Div,
    Mod,
    Add,
    Subtract,
    Concatenate,
    Union,
    Less,
    Greater,
    LessOrEqual,
    GreaterOrEqual,
    Equal,
    NotEqual,
    Equivalent,
    NotEquivalent,
    In,
    Contains,
    And,
    Or,
    Xor,
    Implies,
}

/// A type name, optionally qualified (`FHIR.Patient`, `System.String`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypeSpecifier {
    pub namespace: Option<String>,
    pub name: String,
}
