"""Equation text to sympy, without ``eval``.

The right-hand side is read with :mod:`tokenize` and :func:`ast.parse` and translated node by
node against the declared symbols and a whitelist of functions (:data:`FUNCTIONS`). Nothing of the
user's text is ever evaluated, so ``I``, ``E``, ``N``, ``S``, ``beta`` or ``lambda`` are plain
symbols when declared.

Decisions: ``heaviside(x)`` is ``Heaviside(x, 0)`` (0 at x = 0; ``heaviside(x, h0)`` chooses
another value); ``t`` is always :data:`TIME`; ``pi`` is the constant unless ``pi`` is declared; a
declared name called like a function, ``x(t - d)``, is the delayed value ``Delay(x, d)``.
"""

from __future__ import annotations

import ast
import difflib
import io
import keyword
import tokenize
import unicodedata
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sympy
from sympy.printing.precedence import PRECEDENCE

from symrates.errors import EquationParseError

__all__ = ["TIME", "Delay", "FUNCTIONS", "ParsedEquation", "parse_equation", "parse_expression"]

TIME = sympy.Symbol("t", real=True)

_KW_PREFIX = "_sr_kw_"  # keywords declared as names (e.g. lambda) become _sr_kw_lambda for ast
_MAX_POWER_BITS = 10_000  # exact powers beyond this size are refused (2^2^2^2^2 would hang)
_NOT_FINITE = (sympy.S.ComplexInfinity, sympy.S.NaN, sympy.S.Infinity, sympy.S.NegativeInfinity,
               sympy.S.ImaginaryUnit)


class Delay(sympy.Function):
    """The value of ``expr`` at time ``t - delay``: ``Delay(expr, delay)``.

    Written ``x(t - d)`` or ``past(x, d)`` in equation text and printed as ``past(x, d)``.
    ``Delay(x, 0)`` is ``x``, and the delayed value of a constant is that constant.

    Examples
    --------
    >>> x, d = sympy.symbols("x d", real=True)
    >>> Delay(x, d).subs(d, 2)
    past(x, 2)
    """

    nargs = 2

    @classmethod
    def eval(cls, expr, delay):
        return expr if delay.is_zero or expr.is_number else None

    @property
    def expr(self) -> sympy.Expr:
        """The delayed expression."""
        return self.args[0]

    @property
    def delay(self) -> sympy.Expr:
        """The delay ``d`` (the value is taken at ``t - d``)."""
        return self.args[1]

    def _eval_is_real(self):
        return self.args[0].is_real

    def _sympystr(self, printer) -> str:
        return f"past({printer._print(self.args[0])}, {printer._print(self.args[1])})"

    def _latex(self, printer) -> str:
        when = "t - " + printer.parenthesize(self.args[1], PRECEDENCE["Add"])
        if isinstance(self.args[0], sympy.Symbol):
            return rf"{printer._print(self.args[0])}\left({when}\right)"
        return rf"\left[{printer._print(self.args[0])}\right]_{{{when}}}"


#: The whitelist of functions in equation text: name -> callable building the sympy expression.
#: ``sigmoid(x)`` is expanded to ``1/(1 + exp(-x))``, ``log10(x)`` to ``log(x)/log(10)``.
#: ``past(x, d)`` (a :class:`Delay`) is handled by the parser itself and is not listed here.
FUNCTIONS: dict[str, Callable[..., sympy.Expr]] = {
    "exp": sympy.exp, "log": sympy.log, "log10": lambda x: sympy.log(x, 10), "sqrt": sympy.sqrt,
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan,
    "arcsin": sympy.asin, "arccos": sympy.acos, "arctan": sympy.atan, "arctan2": sympy.atan2,
    "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh, "abs": sympy.Abs,
    "sign": sympy.sign, "heaviside": lambda x, h0=sympy.S.Zero: sympy.Heaviside(x, h0),
    "sigmoid": lambda x: 1 / (1 + sympy.exp(-x)), "min": sympy.Min, "max": sympy.Max,
}
_SIGNATURES = {"arctan2": "arctan2(y, x)", "heaviside": "heaviside(x) or heaviside(x, h0)",
               "min": "min(a, b, ...)", "max": "max(a, b, ...)", "past": "past(x, d)"}
_ARITY = {"arctan2": (2, 2), "heaviside": (1, 2), "min": (2, None), "max": (2, None),
          "past": (2, 2)}
_ALLOWED = ("Allowed are numbers, declared names, t, pi, + - * / ** ^, parentheses, the functions "
            + ", ".join(FUNCTIONS) + ", and delayed values x(t - d) or past(x, d).")
_CONSTRUCTS = {
    ast.Attribute: "Attribute access", ast.Subscript: "Indexing", ast.Lambda: "A lambda",
    ast.Compare: "A comparison", ast.BoolOp: "A boolean operator", ast.IfExp: "A conditional",
    ast.NamedExpr: "An assignment", ast.Starred: "A starred argument", ast.Tuple: "A tuple",
    ast.ListComp: "A comprehension", ast.SetComp: "A comprehension", ast.List: "A list",
    ast.DictComp: "A comprehension", ast.GeneratorExp: "A generator", ast.Dict: "A dict",
    ast.JoinedStr: "A string", ast.Set: "A set", ast.Slice: "A slice",
}
_CONSTANTS = {str: "A string", bytes: "A bytes string", bool: "The boolean",
              complex: "The complex number", type(None): "The constant", type(...): "The ellipsis"}
_OPERATORS = {ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@", ast.LShift: "<<",
              ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^",
              ast.Invert: "~", ast.Not: "not"}
_BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
           ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
           ast.Pow: lambda a, b: a**b}
_LHS_FORMS = "Allowed forms: x' = f, d/dt x = f or d/dt * x = f (ODE) and a = g (algebraic)."


@dataclass(frozen=True)
class ParsedEquation:
    """One parsed equation.

    Attributes
    ----------
    kind : str
        ``"ode"`` (``x' = f``) or ``"algebraic"`` (``a = g``).
    target : str
        The declared name on the left-hand side.
    rhs : sympy.Expr
        The right-hand side.
    text : str
        The original equation text.

    Examples
    --------
    >>> r, tau = sympy.symbols("r tau", real=True)
    >>> parse_equation("r' = -r/tau", {"r": r, "tau": tau}, path="pop").kind
    'ode'
    """

    kind: str
    target: str
    rhs: sympy.Expr
    text: str


def _lookup(name: str, symbols: Mapping[str, sympy.Symbol]) -> str | None:
    """The declared key for ``name`` (identifiers compare after NFKC normalisation, as in ast)."""
    if name in symbols:
        return name
    norm = unicodedata.normalize("NFKC", name)
    return next((k for k in symbols if unicodedata.normalize("NFKC", k) == norm), None)


def _tokens(text: str) -> list[tokenize.TokenInfo]:
    """Tokens of one line; stops quietly at a tokenizer error (ast.parse reports it better)."""
    skip = (tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.start[0] == 1 and tok.type not in skip:
                out.append(tok)
    except (tokenize.TokenError, SyntaxError):
        pass
    return out


def _declared(symbols: Mapping[str, sympy.Symbol]) -> str:
    names = list(symbols)
    more = f" and {len(names) - 30} more" if len(names) > 30 else ""
    return (", ".join(names[:30]) + more) or "(nothing)"


def _suggest(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return " Did you mean " + " or ".join(f"'{c}'" for c in close) + "?" if close else ""


class _Reader:
    """One right-hand side: its token-level rewrite for ``ast.parse`` and the whitelist walk.

    ``text`` starts at offset ``offset`` of ``equation`` (None: unknown). Newlines become spaces
    (offsets stay), declared keywords become ``_sr_kw_<name>`` and ``^`` becomes ``**``; the
    replaced spans are kept in ``segments`` to map ast offsets back to ``text``.
    """

    def __init__(self, text, symbols, path, equation, offset, word, *, rename_all=False):
        self.text, self.symbols, self.path = text, symbols, path
        self.equation, self.offset, self.word = equation, offset, word
        flat = text.replace("\r", " ").replace("\n", " ")
        self.lead = len(flat) - len(flat.lstrip())
        body = flat[self.lead:]
        pieces, self.segments, pos, depth = [], [], 0, 0
        for tok in _tokens(body):
            start, end, string, repl = tok.start[1], tok.end[1], tok.string, None
            if tok.type == tokenize.COMMENT:
                self.fail("A comment", self.lead + start, extra="Remove the '#' comment.")
            if tok.type == tokenize.NAME and string.startswith(_KW_PREFIX):
                self.fail(f"The reserved prefix '{_KW_PREFIX}' in '{string}'", self.lead + start,
                          extra="Rename it.")
            if tok.type == tokenize.NAME and keyword.iskeyword(string) and (
                    rename_all or _lookup(string, symbols) is not None):
                repl = _KW_PREFIX + string
            elif tok.type == tokenize.OP:
                depth += (string in "([{") - (string in ")]}")
                repl = "**" if string == "^" else None
                if string == "=" and depth == 0:
                    self.fail("A second '='" if word == "equation" else "An '='",
                              self.lead + start, extra="An equation has exactly one '='.")
            if repl is not None:
                pieces.append(body[pos:start])
                new_start = sum(map(len, pieces))
                pieces.append(repl)
                self.segments.append((new_start, new_start + len(repl), end))
                pos = end
        self.src = "".join(pieces) + body[pos:]

    # -- positions and errors ---------------------------------------------------------------
    def where(self) -> str:
        return f'in {self.word} "{self.equation}" of {self.path}'

    def error(self, message: str, pos: int | None = None) -> EquationParseError:
        position = None if pos is None or self.offset is None else pos + self.offset
        return EquationParseError(message, equation=self.equation, path=self.path,
                                  position=position)

    def fail(self, what: str, pos: int | None, *, extra: str = _ALLOWED):
        at = f" at position {pos + self.offset}" if self.offset is not None else ""
        raise self.error(f"{what} {self.where()}{at} is not allowed. {extra}", pos)

    def to_text(self, new_char: int) -> int:
        """Map a character offset in the rewritten source to one in ``text``."""
        shift = 0
        for new_start, new_end, end in self.segments:
            if new_char >= new_end:
                shift = end - new_end
            elif new_char > new_start:
                return self.lead + end
            else:
                break
        return self.lead + new_char + shift

    def span(self, node: ast.AST) -> tuple[int, int]:
        """``(start, end)`` of a node in ``text`` (ast offsets count UTF-8 bytes)."""
        raw = self.src.encode("utf-8")
        start, end = (len(raw[:col].decode("utf-8", errors="ignore"))
                      for col in (node.col_offset, node.end_col_offset))
        return self.to_text(start), self.to_text(end)

    def seg(self, node: ast.AST) -> str:
        start, end = self.span(node)
        text = " ".join(self.text[start:end].split())
        return text if len(text) <= 60 else text[:57] + "..."

    def at(self, node: ast.AST, message: str) -> EquationParseError:
        return self.error(message, self.span(node)[0])

    # -- the whitelist walk -----------------------------------------------------------------
    def visit(self, node: ast.AST) -> sympy.Expr:
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            self.reject(node)
        return self.check(method(node), node)

    def check(self, value: sympy.Expr, node: ast.AST) -> sympy.Expr:
        if not isinstance(node, ast.Name) and value.has(*_NOT_FINITE):
            bad = ", ".join(sorted(str(a) for a in value.atoms() if a in _NOT_FINITE))
            raise self.at(node, f"'{self.seg(node)}' {self.where()} evaluates to {bad}, not a "
                          "finite real number. Check for a division by zero, the logarithm of 0 "
                          "or the root of a negative number.")
        return value

    def reject(self, node: ast.AST):
        what = _CONSTRUCTS.get(type(node), f"The Python construct {type(node).__name__}")
        if isinstance(node, ast.Constant):
            what = _CONSTANTS.get(type(node.value), "The constant")
        self.fail(f"{what} '{self.seg(node)}'", self.span(node)[0])

    def visit_Expression(self, node):
        return self.visit(node.body)

    def visit_Constant(self, node):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            self.reject(node)
        return sympy.Integer(node.value) if isinstance(node.value, int) else sympy.Float(node.value)

    def visit_Name(self, node):
        name = node.id.removeprefix(_KW_PREFIX)
        key = _lookup(name, self.symbols) if name != "t" else None
        if key is not None:
            return self.symbols[key]
        if name in ("t", "pi"):
            return TIME if name == "t" else sympy.pi
        if name in FUNCTIONS or name == "past":
            raise self.at(node, f"Function '{name}' {self.where()} is used without arguments; "
                          f"call it as {_SIGNATURES.get(name, name + '(x)')}.")
        raise self.at(node, f"Unknown symbol '{name}' {self.where()}; declared: "
                      f"{_declared(self.symbols)}.{_suggest(name, [*self.symbols, 't', 'pi'])} "
                      "Declare it under variables or fix the name.")

    def visit_UnaryOp(self, node):
        if not isinstance(node.op, (ast.UAdd, ast.USub)):
            self.fail(f"The operator '{_OPERATORS[type(node.op)]}' in '{self.seg(node)}'",
                      self.span(node)[0])
        value = self.visit(node.operand)
        return -value if isinstance(node.op, ast.USub) else value

    def visit_BinOp(self, node):
        chain = []  # walk the left spine without recursion: long sums stay cheap
        while isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                self.fail(f"The operator '{_OPERATORS[type(node.op)]}' in '{self.seg(node)}'",
                          self.span(node)[0])
            chain.append(node)
            node = node.left
        value = self.visit(node)
        for binop in reversed(chain):
            right = self.visit(binop.right)
            if isinstance(binop.op, ast.Pow):
                self.check_power(binop, value, right)
            value = self.check(_BINARY[type(binop.op)](value, right), binop)
        return value

    def check_power(self, node, base, exponent):
        if exponent.is_Integer and base.is_number and not base.is_Float and base not in (0, 1, -1):
            size = max(abs(base.p).bit_length(), base.q.bit_length()) if base.is_Rational else 64
            if abs(int(exponent)) * size > _MAX_POWER_BITS:
                raise self.at(node, f"The power '{self.seg(node)}' {self.where()} is too large "
                              "to evaluate exactly; use a float base, e.g. 10.0**400.")

    def visit_Call(self, node):
        if not isinstance(node.func, ast.Name):
            if type(node.func) in _CONSTRUCTS:
                self.reject(node.func)
            self.fail(f"Calling the expression '{self.seg(node.func)}'", self.span(node)[0],
                      extra="Only functions and declared names (x(t - d)) can be called.")
        for kw in node.keywords:
            what = f"The keyword argument '{kw.arg}=...'" if kw.arg else "Unpacking '**...'"
            self.fail(what, self.span(node)[0],
                      extra="Pass arguments by position, e.g. max(a, b).")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                self.reject(arg)
        name = node.func.id.removeprefix(_KW_PREFIX)
        key = _lookup(name, self.symbols) if name != "t" else None
        if key is not None:
            return self.delayed_name(node, key)
        if name in ("t", "pi"):
            raise self.at(node, f"'{self.seg(node)}' {self.where()} calls '{name}', which is "
                          f"{'time' if name == 't' else 'a constant'}, not a function. Remove the "
                          "call or multiply with '*'.")
        if name not in FUNCTIONS and name != "past":
            raise self.at(node, f"Unknown function '{name}' {self.where()}; allowed functions: "
                          f"{', '.join(FUNCTIONS)}, and past(x, d); a declared name x is called "
                          f"only as x(t - d).{_suggest(name, [*FUNCTIONS, 'past'])} Use an "
                          f"allowed function or declare '{name}' under variables.")
        low, high = _ARITY.get(name, (1, 1))
        if len(node.args) < low or (high is not None and len(node.args) > high):
            want = f"{low}" if low == high else f"{low}-{high}" if high else f"{low} or more"
            raise self.at(node, f"Function '{name}' {self.where()} takes {want} argument"
                          f"{'' if want == '1' else 's'}, got {len(node.args)} in "
                          f"'{self.seg(node)}'. Call it as {_SIGNATURES.get(name, name + '(x)')}.")
        args = [self.visit(arg) for arg in node.args]
        if name == "past":
            return self.make_delay(node, *args)
        try:
            return FUNCTIONS[name](*args)
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise self.at(node, f"'{self.seg(node)}' {self.where()} cannot be evaluated: "
                          f"{exc}") from exc

    def delayed_name(self, node, key):
        """``x(t - d)`` for a declared name ``x``: the delayed value ``Delay(x, d)``."""
        form = (f"'{key}' is declared, so '{key}(...)' is its delayed value {key}(t - d), with "
                "a delay d that does not depend on t")
        if key in FUNCTIONS or key == "past":
            form += f"; rename the variable '{key}' to use the function {key}()"
        if len(node.args) != 1:
            raise self.at(node, f"'{self.seg(node)}' {self.where()} has {len(node.args)} "
                          f"arguments: {form}.")
        delay = TIME - self.visit(node.args[0])
        delay = sympy.expand(delay) if delay.has(TIME) else delay
        if delay.has(TIME):
            raise self.at(node, f"'{self.seg(node)}' {self.where()} is not a delayed value: "
                          f"{form}.")
        return self.make_delay(node, self.symbols[key], delay)

    def make_delay(self, node, expr, delay):
        if delay.has(TIME):
            raise self.at(node, f"The delay in '{self.seg(node)}' {self.where()} depends on t; "
                          "write past(x, d) with a delay d that does not contain t.")
        if delay.is_negative:
            raise self.at(node, f"The delay in '{self.seg(node)}' {self.where()} is negative "
                          f"({delay}), a value from the future; use x(t - d) with d >= 0.")
        return Delay(expr, delay)


def _ast_parse(source: str) -> ast.Expression:
    with warnings.catch_warnings():  # Python's SyntaxWarnings about the text: we raise our own
        warnings.simplefilter("ignore", SyntaxWarning)
        return ast.parse(source, mode="eval")


def _parse_rhs(text, symbols, path, equation, offset, word) -> sympy.Expr:
    reader = _Reader(text, symbols, path, equation, offset, word)
    if not text.strip():
        raise reader.error(f"Missing right-hand side {reader.where()}. Write an expression "
                           "after '=', e.g. x' = -x/tau.", len(text))
    too_deep = (f"The expression {reader.where()} is nested too deeply or too long; split it "
                "into algebraic equations.")
    try:
        tree = _ast_parse(reader.src)
    except (RecursionError, MemoryError) as exc:
        raise reader.error(too_deep) from exc
    except (SyntaxError, ValueError) as exc:
        try:  # an undeclared keyword used as a name (e.g. 'lambda'): report the unknown name
            retry = _Reader(text, symbols, path, equation, offset, word, rename_all=True)
            retry.visit(_ast_parse(retry.src))
        except EquationParseError as err:
            raise err from exc
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass  # the retry only improves the message
        col = getattr(exc, "offset", None)
        pos = reader.to_text(col - 1) if col else None
        near = f" near '{text[pos:pos + 10].strip()}'" if pos is not None else ""
        raise reader.error(f"Invalid syntax {reader.where()}{near}: "
                           f"{getattr(exc, 'msg', None) or exc}. {_ALLOWED}",
                           pos) from exc
    try:
        return reader.visit(tree)
    except RecursionError as exc:
        raise reader.error(too_deep) from exc


def parse_expression(text: str, symbols: Mapping[str, sympy.Symbol], *, path: str,
                     equation: str | None = None) -> sympy.Expr:
    """Parse the text of an expression against the declared symbols.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"-r/tau + I^2"``.
    symbols : Mapping[str, sympy.Symbol]
        Every declared name and its symbol. A declared name wins over the constant ``pi``;
        ``t`` is always :data:`TIME`.
    path : str
        Template path, for error messages.
    equation : str, optional
        The equation ``text`` belongs to, for error messages; error positions are offsets into
        it when it contains ``text`` (else None). Without it, positions are offsets into ``text``.

    Returns
    -------
    sympy.Expr
        The expression, exact: integers and ratios of integers stay rational.

    Raises
    ------
    EquationParseError
        For unknown names or functions, wrong arities, invalid delays, syntax errors, non-finite
        or complex constants, and any construct outside the whitelist (attributes, subscripts,
        strings, lambdas, comparisons, keyword arguments, ...).

    Examples
    --------
    >>> I, lam = sympy.symbols("I lambda", real=True)
    >>> parse_expression("lambda*I^2/2", {"I": I, "lambda": lam}, path="pop")
    I**2*lambda/2
    """
    if equation is None:
        return _parse_rhs(text, symbols, path, text, 0, "expression")
    offset = equation.find(text)
    return _parse_rhs(text, symbols, path, equation, None if offset < 0 else offset, "equation")


def parse_equation(text: str, symbols: Mapping[str, sympy.Symbol], *, path: str) -> ParsedEquation:
    """Parse one equation: ``x' = f``, ``d/dt x = f``, ``d/dt * x = f`` or ``a = g``.

    Parameters
    ----------
    text : str
        The equation text.
    symbols : Mapping[str, sympy.Symbol]
        Every declared name and its symbol; the target must be one of them.
    path : str
        Template path, for error messages.

    Returns
    -------
    ParsedEquation

    Raises
    ------
    EquationParseError
        A missing or repeated ``=``, ``==``, an invalid or undeclared left-hand side, or any
        error of :func:`parse_expression` in the right-hand side.

    Examples
    --------
    >>> r, tau, I = sympy.symbols("r tau I", real=True)
    >>> eq = parse_equation("d/dt * r = (I - r)/tau", {"r": r, "tau": tau, "I": I}, path="pop")
    >>> eq.kind, eq.target, eq.rhs
    ('ode', 'r', (I - r)/tau)
    """
    where = f'in equation "{text}" of {path}'
    at = text.find("=")
    if at < 0 or text[at + 1:at + 2] == "=":
        what = "No '='" if at < 0 else "'==' (a comparison)"
        raise EquationParseError(f"{what} {where}; an equation has one '='. {_LHS_FORMS}",
                                 equation=text, path=path, position=None if at < 0 else at)
    lhs = text[:at].replace("\r", " ").replace("\n", " ").rstrip()
    kind = "ode" if lhs.endswith("'") else None
    lhs = lhs[:-1] if kind else lhs
    toks = _tokens(lhs.lstrip())
    lead = len(lhs) - len(lhs.lstrip())
    words = [tok.string for tok in toks]
    if len(toks) == 1 and toks[0].type == tokenize.NAME:
        kind = kind or "algebraic"
    elif (not kind and words[:3] == ["d", "/", "dt"] and toks[-1].type == tokenize.NAME
          and (len(toks) == 4 or (len(toks) == 5 and words[3] == "*"))):
        kind = "ode"
    else:
        raise EquationParseError(f"Invalid left-hand side '{text[:at].strip()}' {where}. "
                                 f"{_LHS_FORMS}", equation=text, path=path, position=lead)
    name = toks[-1].string
    target = _lookup(name, symbols)
    if target is None:
        raise EquationParseError(
            f"Unknown variable '{name}' on the left-hand side {where}; declared: "
            f"{_declared(symbols)}.{_suggest(name, symbols)} Declare it under variables or fix "
            "the name.", equation=text, path=path, position=lead + toks[-1].start[1])
    rhs = _parse_rhs(text[at + 1:], symbols, path, text, at + 1, "equation")
    return ParsedEquation(kind=kind, target=target, rhs=rhs, text=text)
