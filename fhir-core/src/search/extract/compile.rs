//! The fast path: a parser for the subset of FHIRPath the search parameter expressions use, and
//! its compilation, with the element types of the R4 model, into [`Expr`]s that the extractor
//! evaluates over borrowed JSON.
//!
//! Supported: paths from a type name (`Observation.code`), from the context (`code`, `$this`) or
//! from `%resource`; unions `|`; `as T` / `as(T)` / `ofType(T)` (choice elements resolve to
//! their JSON names, `value` `as Quantity` → `valueQuantity`); `where(resolve() is T)`;
//! `where(a.b = 'literal')`; `[n]` and `first()`; `extension('url')`; and, as the whole
//! expression, `X.exists()` and `X.exists() and X != false` (a boolean token).

use crate::model::{Model, TypeKind, capitalise};

/// A FHIR type name borrowed from the R4 model.
pub(crate) type TypeName = &'static str;

/// Marks items whose type is only known when evaluating (below `Bundle.entry.resource`).
pub(crate) const DYNAMIC: TypeName = "*";

/// Where a path starts.
#[derive(Debug, Clone)]
pub(crate) enum Start {
    /// The resource, when its type is this one (`Resource` and `DomainResource` match all).
    Root(TypeName),
    /// The context items (the resource at the top level, each item of a composite below).
    Context,
    /// `%resource`: the resource, whatever the context.
    Resource,
}

/// One way to select a child: from items of type `src`, the JSON property `key`, of type `ty`.
#[derive(Debug, Clone)]
pub(crate) struct Alt {
    pub src: TypeName,
    pub key: String,
    pub ty: TypeName,
}

/// One step of a path.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// Children chosen by the static type of each item.
    Child(Vec<Alt>),
    /// Children named so, typed from the item's type when evaluating.
    DynamicChild(String),
    /// Keeps the items of this type (or a specialisation of it).
    OfType(String),
    /// Keeps the items that pass a filter.
    Where(Filter),
    /// Keeps the first item.
    First,
    /// Keeps the item at this position.
    Index(usize),
}

/// A `where(…)` criterion.
#[derive(Debug, Clone)]
pub(crate) enum Filter {
    /// `resolve() is T`: a Reference whose target is of type `T`.
    Resolves(String),
    /// `a.b = 'literal'`: a child path has the literal value.
    Equals(Vec<String>, String),
}

/// How the items of an expression give its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tail {
    /// The items themselves.
    Nodes,
    /// `X.exists()`: one boolean.
    Exists,
    /// `X.exists() and X != false`: one boolean.
    ExistsNotFalse,
}

/// A path: a start and steps.
#[derive(Debug, Clone)]
pub(crate) struct Path {
    pub start: Start,
    pub steps: Vec<Step>,
}

/// A compiled expression: the union of its paths.
#[derive(Debug, Clone)]
pub(crate) struct Expr {
    pub paths: Vec<Path>,
    pub tail: Tail,
}

impl Path {
    /// `true` when the path can select something in a resource of type `resource_type`.
    pub(crate) fn applies_to(&self, resource_type: &str) -> bool {
        match self.start {
            Start::Root(root) => {
                root == resource_type
                    || root == "Resource"
                    || (root == "DomainResource"
                        && !matches!(resource_type, "Bundle" | "Binary" | "Parameters"))
            }
            Start::Context | Start::Resource => true,
        }
    }
}

impl Expr {
    /// The expression limited to the paths that apply to `resource_type` (`None` when none do).
    pub(crate) fn restrict(&self, resource_type: &str) -> Option<Expr> {
        let paths: Vec<Path> = self
            .paths
            .iter()
            .filter(|p| p.applies_to(resource_type))
            .cloned()
            .collect();
        (!paths.is_empty()).then_some(Expr {
            paths,
            tail: self.tail,
        })
    }
}

/// The static types an expression is compiled against.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    /// The types of the context items.
    pub context: Vec<TypeName>,
    /// The types `%resource` may have.
    pub resource: Vec<TypeName>,
}

/// Compiles an expression.
pub(crate) fn compile(text: &str, scope: &Scope) -> Result<Expr, String> {
    let ast = parse(text)?;
    let (ast, tail) = match ast {
        Ast::And(left, right) => match (*left, *right) {
            (Ast::Call(Some(target), name, args), Ast::Eq(other, literal, true))
                if name == "exists"
                    && args.is_empty()
                    && *literal == Ast::Bool(false)
                    && *other == *target =>
            {
                (*target, Tail::ExistsNotFalse)
            }
            _ => return Err("unsupported 'and'".to_owned()),
        },
        Ast::Call(Some(target), name, args) if name == "exists" && args.is_empty() => {
            (*target, Tail::Exists)
        }
        other => (other, Tail::Nodes),
    };
    let paths = Compiler { scope }
        .paths(&ast)?
        .into_iter()
        .map(|(path, _)| path)
        .collect();
    Ok(Expr { paths, tail })
}

// ---------------------------------------------------------------------------------------------
// Parsing

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Var(String),
    Str(String),
    Num(String),
    Sym(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
enum Ast {
    Ident(String),
    Var(String),
    Str(String),
    Num(String),
    Bool(bool),
    Member(Box<Ast>, String),
    Call(Option<Box<Ast>>, String, Vec<Ast>),
    Index(Box<Ast>, usize),
    As(Box<Ast>, String),
    Is(Box<Ast>, String),
    Union(Box<Ast>, Box<Ast>),
    Eq(Box<Ast>, Box<Ast>, bool),
    And(Box<Ast>, Box<Ast>),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_alphabetic() || c == '_' || c == '%' || c == '$' {
            let begin = i;
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[begin..i].iter().collect();
            if c == '%' || c == '$' {
                tokens.push(Token::Var(word));
            } else {
                tokens.push(Token::Ident(word));
            }
        } else if c == '`' {
            let end = chars[i + 1..]
                .iter()
                .position(|&d| d == '`')
                .ok_or("unterminated `identifier`")?;
            tokens.push(Token::Ident(chars[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if c == '\'' {
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("unterminated string".to_owned()),
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some('\\') => {
                        let escaped = *chars.get(i + 1).ok_or("unterminated string")?;
                        value.push(match escaped {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            other => other,
                        });
                        i += 2;
                    }
                    Some(&other) => {
                        value.push(other);
                        i += 1;
                    }
                }
            }
            tokens.push(Token::Str(value));
        } else if c.is_ascii_digit() {
            let begin = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            tokens.push(Token::Num(chars[begin..i].iter().collect()));
        } else if c == '!' && chars.get(i + 1) == Some(&'=') {
            tokens.push(Token::Sym("!="));
            i += 2;
        } else {
            let symbol = match c {
                '.' => ".",
                '(' => "(",
                ')' => ")",
                '[' => "[",
                ']' => "]",
                '|' => "|",
                '=' => "=",
                ',' => ",",
                other => return Err(format!("unsupported character '{other}'")),
            };
            tokens.push(Token::Sym(symbol));
            i += 1;
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
}

fn parse(text: &str) -> Result<Ast, String> {
    let mut parser = Parser {
        tokens: tokenize(text)?,
        position: 0,
    };
    let ast = parser.and()?;
    if parser.position != parser.tokens.len() {
        return Err(format!(
            "unsupported syntax at {:?}",
            parser.tokens[parser.position]
        ));
    }
    Ok(ast)
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn eat_symbol(&mut self, symbol: &'static str) -> bool {
        if self.peek() == Some(&Token::Sym(symbol)) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Token::Ident(w)) if w == word) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    fn expect_symbol(&mut self, symbol: &'static str) -> Result<(), String> {
        if self.eat_symbol(symbol) {
            Ok(())
        } else {
            Err(format!("expected '{symbol}'"))
        }
    }

    fn and(&mut self) -> Result<Ast, String> {
        let mut left = self.equality()?;
        while self.eat_word("and") {
            let right = self.equality()?;
            left = Ast::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn equality(&mut self) -> Result<Ast, String> {
        let left = self.union()?;
        let negated = if self.eat_symbol("=") {
            false
        } else if self.eat_symbol("!=") {
            true
        } else {
            return Ok(left);
        };
        let right = self.union()?;
        Ok(Ast::Eq(Box::new(left), Box::new(right), negated))
    }

    fn union(&mut self) -> Result<Ast, String> {
        let mut left = self.type_expression()?;
        while self.eat_symbol("|") {
            let right = self.type_expression()?;
            left = Ast::Union(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn type_expression(&mut self) -> Result<Ast, String> {
        let mut left = self.postfix()?;
        loop {
            if self.eat_word("as") {
                left = Ast::As(Box::new(left), self.type_specifier()?);
            } else if self.eat_word("is") {
                left = Ast::Is(Box::new(left), self.type_specifier()?);
            } else {
                return Ok(left);
            }
        }
    }

    fn type_specifier(&mut self) -> Result<String, String> {
        let mut name = match self.next() {
            Some(Token::Ident(name)) => name,
            _ => return Err("expected a type name".to_owned()),
        };
        // `FHIR.Quantity`, `System.String`: the last part names the type.
        while self.peek() == Some(&Token::Sym("."))
            && matches!(self.tokens.get(self.position + 1), Some(Token::Ident(_)))
            && matches!(name.as_str(), "FHIR" | "System")
        {
            self.position += 1;
            if let Some(Token::Ident(part)) = self.next() {
                name = part;
            }
        }
        Ok(name)
    }

    fn postfix(&mut self) -> Result<Ast, String> {
        let mut target = self.primary()?;
        loop {
            if self.eat_symbol(".") {
                let name = match self.next() {
                    Some(Token::Ident(name)) => name,
                    other => return Err(format!("expected a name after '.', got {other:?}")),
                };
                if self.eat_symbol("(") {
                    let args = self.arguments()?;
                    target = Ast::Call(Some(Box::new(target)), name, args);
                } else {
                    target = Ast::Member(Box::new(target), name);
                }
            } else if self.eat_symbol("[") {
                let index = match self.next() {
                    Some(Token::Num(n)) => n.parse().map_err(|_| "bad index")?,
                    _ => return Err("expected an index".to_owned()),
                };
                self.expect_symbol("]")?;
                target = Ast::Index(Box::new(target), index);
            } else {
                return Ok(target);
            }
        }
    }

    fn arguments(&mut self) -> Result<Vec<Ast>, String> {
        let mut args = Vec::new();
        if self.eat_symbol(")") {
            return Ok(args);
        }
        loop {
            args.push(self.and()?);
            if self.eat_symbol(")") {
                return Ok(args);
            }
            self.expect_symbol(",")?;
        }
    }

    fn primary(&mut self) -> Result<Ast, String> {
        match self.next() {
            Some(Token::Sym("(")) => {
                let inner = self.and()?;
                self.expect_symbol(")")?;
                Ok(inner)
            }
            Some(Token::Str(value)) => Ok(Ast::Str(value)),
            Some(Token::Num(value)) => Ok(Ast::Num(value)),
            Some(Token::Var(name)) => Ok(Ast::Var(name)),
            Some(Token::Ident(word)) if word == "true" || word == "false" => {
                Ok(Ast::Bool(word == "true"))
            }
            Some(Token::Ident(word)) => {
                if self.eat_symbol("(") {
                    let args = self.arguments()?;
                    Ok(Ast::Call(None, word, args))
                } else {
                    Ok(Ast::Ident(word))
                }
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Compilation

struct Compiler<'s> {
    scope: &'s Scope,
}

type Typed = (Path, Vec<TypeName>);

impl Compiler<'_> {
    fn paths(&self, ast: &Ast) -> Result<Vec<Typed>, String> {
        let model = Model::r4();
        match ast {
            Ast::Union(left, right) => {
                let mut paths = self.paths(left)?;
                paths.extend(self.paths(right)?);
                Ok(paths)
            }
            Ast::Ident(name) => {
                if let Some(type_def) = model
                    .type_def(name)
                    .filter(|t| t.kind == TypeKind::Resource)
                {
                    let path = Path {
                        start: Start::Root(type_def.name.as_str()),
                        steps: Vec::new(),
                    };
                    return Ok(vec![(path, vec![type_def.name.as_str()])]);
                }
                let context = (
                    Path {
                        start: Start::Context,
                        steps: Vec::new(),
                    },
                    self.scope.context.clone(),
                );
                Ok(vec![child(context, name)?])
            }
            Ast::Var(name) => match name.as_str() {
                "%resource" | "%rootResource" => Ok(vec![(
                    Path {
                        start: Start::Resource,
                        steps: Vec::new(),
                    },
                    self.scope.resource.clone(),
                )]),
                "$this" | "%context" => Ok(vec![(
                    Path {
                        start: Start::Context,
                        steps: Vec::new(),
                    },
                    self.scope.context.clone(),
                )]),
                other => Err(format!("unsupported variable {other}")),
            },
            Ast::Member(target, name) => self
                .paths(target)?
                .into_iter()
                .map(|typed| child(typed, name))
                .collect(),
            Ast::As(target, type_name) => self
                .paths(target)?
                .into_iter()
                .map(|typed| of_type(typed, type_name))
                .collect(),
            Ast::Index(target, index) => {
                let step = if *index == 0 {
                    Step::First
                } else {
                    Step::Index(*index)
                };
                Ok(self.with_step(target, step)?)
            }
            Ast::Call(target, name, args) => {
                let target_ast;
                let target = match target {
                    Some(target) => target.as_ref(),
                    None => {
                        target_ast = Ast::Var("$this".to_owned());
                        &target_ast
                    }
                };
                match (name.as_str(), args.as_slice()) {
                    ("as" | "ofType", [Ast::Ident(type_name)]) => self
                        .paths(target)?
                        .into_iter()
                        .map(|typed| of_type(typed, type_name))
                        .collect(),
                    ("first", []) => self.with_step(target, Step::First),
                    ("where", [criterion]) => {
                        let filter = filter(criterion)?;
                        self.with_step(target, Step::Where(filter))
                    }
                    ("extension", [Ast::Str(url)]) => {
                        let filter = Filter::Equals(vec!["url".to_owned()], url.clone());
                        self.paths(target)?
                            .into_iter()
                            .map(|typed| {
                                let (mut path, types) = child(typed, "extension")?;
                                path.steps.push(Step::Where(filter.clone()));
                                Ok((path, types))
                            })
                            .collect()
                    }
                    _ => Err(format!("unsupported function {name}()")),
                }
            }
            other => Err(format!("unsupported expression {other:?}")),
        }
    }

    fn with_step(&self, target: &Ast, step: Step) -> Result<Vec<Typed>, String> {
        Ok(self
            .paths(target)?
            .into_iter()
            .map(|(mut path, types)| {
                path.steps.push(step.clone());
                (path, types)
            })
            .collect())
    }
}

/// Compiles a `where(…)` criterion.
fn filter(criterion: &Ast) -> Result<Filter, String> {
    match criterion {
        Ast::Is(target, type_name) if matches!(target.as_ref(), Ast::Call(None, name, args) if name == "resolve" && args.is_empty()) => {
            Ok(Filter::Resolves(type_name.clone()))
        }
        Ast::Eq(left, right, false) => {
            let (path, literal) = match (left.as_ref(), right.as_ref()) {
                (path, Ast::Str(literal)) | (Ast::Str(literal), path) => (path, literal.clone()),
                (path, Ast::Bool(value)) | (Ast::Bool(value), path) => (path, value.to_string()),
                (path, Ast::Num(value)) | (Ast::Num(value), path) => (path, value.clone()),
                _ => return Err("unsupported where() criterion".to_owned()),
            };
            Ok(Filter::Equals(simple_path(path)?, literal))
        }
        _ => Err("unsupported where() criterion".to_owned()),
    }
}

/// `a.b.c` as names.
fn simple_path(ast: &Ast) -> Result<Vec<String>, String> {
    match ast {
        Ast::Ident(name) => Ok(vec![name.clone()]),
        Ast::Member(target, name) => {
            let mut names = simple_path(target)?;
            names.push(name.clone());
            Ok(names)
        }
        _ => Err("unsupported where() criterion".to_owned()),
    }
}

/// `true` when type `ty` is `wanted` or specialises it (`Age` is a `Quantity`); names compare
/// without regard to case (`DateTime` is `dateTime`).
pub(crate) fn is_a(ty: &str, wanted: &str) -> bool {
    let model = Model::r4();
    let mut current = Some(ty);
    let mut depth = 0;
    while let Some(name) = current {
        if name.eq_ignore_ascii_case(wanted) {
            return true;
        }
        depth += 1;
        if depth > 8 {
            break;
        }
        current = model.type_def(name).and_then(|t| t.base.as_deref());
    }
    false
}

/// The children `name` of items of the given types.
fn child((mut path, types): Typed, name: &str) -> Result<Typed, String> {
    let model = Model::r4();
    let mut alts = Vec::new();
    let mut dynamic = false;
    for &src in &types {
        if src == DYNAMIC {
            dynamic = true;
            continue;
        }
        let Some(type_def) = model.type_def(src) else {
            return Err(format!("unknown type {src}"));
        };
        match type_def.elements.iter().find(|e| e.name == name) {
            Some(element) => {
                for type_ref in &element.types {
                    let key = if element.choice {
                        format!("{name}{}", capitalise(&type_ref.code))
                    } else {
                        name.to_owned()
                    };
                    alts.push(Alt {
                        src,
                        key,
                        ty: type_ref.code.as_str(),
                    });
                }
            }
            None if type_def.kind == TypeKind::Resource && type_def.is_abstract => dynamic = true,
            None => {}
        }
    }
    if dynamic {
        path.steps.push(Step::DynamicChild(name.to_owned()));
        return Ok((path, vec![DYNAMIC]));
    }
    if alts.is_empty() {
        return Err(format!("no element '{name}' in {}", types.join(", ")));
    }
    let mut out_types: Vec<TypeName> = Vec::new();
    for alt in &alts {
        if !out_types.contains(&alt.ty) {
            out_types.push(alt.ty);
        }
    }
    path.steps.push(Step::Child(alts));
    Ok((path, out_types))
}

/// `as T`: keeps the alternatives of type `T` of the last child step, or filters when
/// evaluating.
fn of_type((mut path, types): Typed, type_name: &str) -> Result<Typed, String> {
    let polymorphic = |t: TypeName| t == DYNAMIC || t == "Resource" || t == "DomainResource";
    if let Some(Step::Child(alts)) = path.steps.last_mut()
        && !alts.iter().any(|alt| polymorphic(alt.ty))
    {
        alts.retain(|alt| is_a(alt.ty, type_name));
        if alts.is_empty() {
            return Err(format!("no alternative of type {type_name}"));
        }
        let out_types = alts.iter().map(|alt| alt.ty).collect();
        return Ok((path, out_types));
    }
    if types
        .iter()
        .all(|&t| !polymorphic(t) && !is_a(t, type_name))
    {
        return Err(format!("nothing of type {type_name}"));
    }
    let model = Model::r4();
    let out_types = match model.type_def(type_name) {
        Some(t) => vec![t.name.as_str()],
        None => types
            .iter()
            .copied()
            .filter(|&t| polymorphic(t) || is_a(t, type_name))
            .collect(),
    };
    path.steps.push(Step::OfType(type_name.to_owned()));
    Ok((path, out_types))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(types: &[TypeName]) -> Scope {
        Scope {
            context: types.to_vec(),
            resource: types.to_vec(),
        }
    }

    #[test]
    fn parses_the_official_shapes() {
        let s = scope(&["Observation"]);
        let expr = compile("(Observation.value as Quantity)", &s).unwrap();
        assert_eq!(expr.paths.len(), 1);
        match &expr.paths[0].steps[0] {
            Step::Child(alts) => {
                assert_eq!(alts.len(), 1);
                assert_eq!(alts[0].key, "valueQuantity");
            }
            other => panic!("{other:?}"),
        }
        let expr = compile("Observation.subject.where(resolve() is Patient)", &s).unwrap();
        assert!(matches!(
            expr.paths[0].steps[1],
            Step::Where(Filter::Resolves(_))
        ));
        let s = scope(&["Patient"]);
        let expr = compile(
            "Patient.deceased.exists() and Patient.deceased != false",
            &s,
        )
        .unwrap();
        assert_eq!(expr.tail, Tail::ExistsNotFalse);
        assert!(compile("Patient.telecom.where(system='email')", &s).is_ok());
        assert!(compile("Patient.nope", &s).is_err());
        assert!(compile("Patient.name.select(given)", &s).is_err());
        let s = scope(&["Bundle"]);
        assert!(compile("Bundle.entry[0].resource", &s).is_ok());
    }
}
