package filter

import (
	"math"
	"strconv"
	"strings"
)

// Env supplies the values that field references read. Lookup reports false
// for a field that is absent; it may return Array or Object values, which
// only the type-testing functions accept.
type Env interface {
	Lookup(name string) (Value, bool)
}

// Expr is a compiled expression of flespi's dialect. It is immutable and safe
// for concurrent use: compile it once per subscription and evaluate it for
// every message.
type Expr struct {
	src  string
	eval evalFn
}

// evalFn evaluates one node. Errors are allocated at compile time (one per
// node and cause), so a failing evaluation, the common "no match", allocates
// nothing either.
type evalFn func(env Env) (Value, error)

// Compile parses src and compiles it to a tree of closures. Errors are
// [*SyntaxError] values carrying the character offset of the problem.
func Compile(src string) (*Expr, error) {
	n, err := parse(src)
	if err != nil {
		return nil, err
	}
	c := compiler{src: src}
	fn, err := c.compile(n, false)
	if err != nil {
		return nil, err
	}
	return &Expr{src: src, eval: fn}, nil
}

// String returns the source the expression was compiled from.
func (e *Expr) String() string { return e.src }

// Eval evaluates the expression against env. An error means evaluation
// failed: a missing field ([*FieldError]), division by zero, an operand of the
// wrong type, error(), ... ([*EvalError]). flespi calls such a result
// undefined; a filter treats it as "no match".
func (e *Expr) Eval(env Env) (Value, error) { return e.eval(env) }

// Test reports whether the expression lets a message through: evaluation
// succeeds and the result is truthy (see [Value.Truthy]).
func (e *Expr) Test(env Env) bool {
	v, err := e.eval(env)
	return err == nil && v.Truthy()
}

// FieldError is the evaluation failure of a reference to a field that is not
// there. Write $name to read a missing field as null instead.
type FieldError struct {
	Name string
}

// Error names the missing field.
func (e *FieldError) Error() string { return "field " + strconv.Quote(e.Name) + " is missing" }

// EvalError is an evaluation failure other than a missing field. Offset
// counts characters from 0 and points at the operator or function.
type EvalError struct {
	Offset int
	Op     string
	Reason string
}

// Error says where evaluation failed and why.
func (e *EvalError) Error() string {
	return "evaluation failed at " + strconv.Itoa(e.Offset) + " (" + e.Op + "): " + e.Reason
}

// The reasons an [EvalError] gives.
const (
	reasonComposite = "an array or object value can only be passed to isnull, isnumber, isstring or isboolean"
	reasonString    = "a string operand where a number is needed"
	reasonDivZero   = "division by zero"
	reasonInteger   = "operand outside the integer range of bitwise operators"
	reasonShift     = "shift count outside 0..63"
	reasonOrder     = "cannot order a string against a non-string"
	reasonError     = "error() called"
)

type compiler struct{ src string }

// fail makes the error for one node and cause, at compile time.
func (c *compiler) fail(n *node, op, reason string) error {
	l := lexer{src: c.src}
	return &EvalError{Offset: l.errorf(n.off, "").Offset, Op: op, Reason: reason}
}

func (c *compiler) syntax(n *node, msg string) error {
	l := lexer{src: c.src}
	return l.errorf(n.off, msg)
}

// compile turns n into a closure. composite allows the node, if it is a field
// reference, to yield an array or object (for the type-testing functions).
func (c *compiler) compile(n *node, composite bool) (evalFn, error) {
	switch n.op {
	case "num":
		v := NumberValue(n.num)
		return func(Env) (Value, error) { return v, nil }, nil
	case "str":
		v := StringValue(n.str)
		return func(Env) (Value, error) { return v, nil }, nil
	case "true", "false", "null":
		v := map[string]Value{"true": TrueValue, "false": FalseValue, "null": NullValue}[n.op]
		return func(Env) (Value, error) { return v, nil }, nil
	case "field", "$field":
		return c.field(n, composite), nil
	case "u!", "u-", "u~", "u+":
		return c.unary(n)
	case "&&", "||":
		return c.logic(n)
	case "==", "!=":
		if fn, ok, err := c.wildcard(n); ok || err != nil {
			return fn, err
		}
		return c.compare(n)
	case "<", "<=", ">", ">=":
		return c.compare(n)
	}
	if _, ok := binaryPower[n.op]; ok {
		return c.arith(n)
	}
	return c.call(n)
}

func (c *compiler) field(n *node, composite bool) evalFn {
	name := n.str
	missing := error(&FieldError{Name: name})
	orNull := n.op == "$field"
	notScalar := c.fail(n, name, reasonComposite)
	return func(env Env) (Value, error) {
		v, ok := env.Lookup(name)
		switch {
		case !ok && orNull:
			return NullValue, nil
		case !ok:
			return Value{}, missing
		case !v.scalar() && !composite:
			return Value{}, notScalar
		}
		return v, nil
	}
}

func (c *compiler) operands(n *node) (a, b evalFn, err error) {
	if a, err = c.compile(n.args[0], false); err != nil {
		return nil, nil, err
	}
	if b, err = c.compile(n.args[1], false); err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

func (c *compiler) unary(n *node) (evalFn, error) {
	x, err := c.compile(n.args[0], false)
	if err != nil {
		return nil, err
	}
	op := n.op[1:]
	notNumber := c.fail(n, op, reasonString)
	switch n.op {
	case "u!":
		return func(env Env) (Value, error) {
			v, err := x(env)
			if err != nil {
				return v, err
			}
			return BoolValue(!v.Truthy()), nil
		}, nil
	case "u~":
		outOfRange := c.fail(n, op, reasonInteger)
		return func(env Env) (Value, error) {
			v, err := x(env)
			if err != nil {
				return v, err
			}
			f, ok := v.number()
			if !ok {
				return Value{}, notNumber
			}
			i, ok := toInt(f)
			if !ok {
				return Value{}, outOfRange
			}
			return NumberValue(float64(^i)), nil
		}, nil
	}
	sign := 1.0
	if n.op == "u-" {
		sign = -1
	}
	return func(env Env) (Value, error) {
		v, err := x(env)
		if err != nil {
			return v, err
		}
		f, ok := v.number()
		if !ok {
			return Value{}, notNumber
		}
		return NumberValue(sign * f), nil
	}, nil
}

// logic compiles && and || with C's short circuit; the result is a boolean.
func (c *compiler) logic(n *node) (evalFn, error) {
	a, b, err := c.operands(n)
	if err != nil {
		return nil, err
	}
	shortOn := n.op == "||" // the left value that decides without the right
	return func(env Env) (Value, error) {
		v, err := a(env)
		if err != nil {
			return v, err
		}
		if v.Truthy() == shortOn {
			return BoolValue(shortOn), nil
		}
		if v, err = b(env); err != nil {
			return v, err
		}
		return BoolValue(v.Truthy()), nil
	}, nil
}

// compare compiles == != < <= > >=. Two strings compare as strings; a string
// against a non-string is unequal and cannot be ordered; everything else
// compares as numbers with null and false as 0, true as 1.
func (c *compiler) compare(n *node) (evalFn, error) {
	a, b, err := c.operands(n)
	if err != nil {
		return nil, err
	}
	op := n.op
	unordered := c.fail(n, op, reasonOrder)
	return func(env Env) (Value, error) {
		x, err := a(env)
		if err != nil {
			return x, err
		}
		y, err := b(env)
		if err != nil {
			return y, err
		}
		v, ok := compareValues(op, x, y)
		if !ok {
			return Value{}, unordered
		}
		return v, nil
	}, nil
}

// compareValues applies a comparison operator; false when a string is
// ordered against a non-string.
func compareValues(op string, x, y Value) (Value, bool) {
	var cmp int
	switch xs, ys := x.Kind == String, y.Kind == String; {
	case xs && ys:
		cmp = strings.Compare(x.Str, y.Str)
	case xs || ys:
		switch op {
		case "==":
			return FalseValue, true
		case "!=":
			return TrueValue, true
		}
		return Value{}, false
	default:
		// Both cast: number() cannot fail on scalars that are not strings.
		xf, _ := x.number()
		yf, _ := y.number()
		switch {
		case xf < yf:
			cmp = -1
		case xf > yf:
			cmp = 1
		case xf != yf: // NaN
			return BoolValue(op == "!="), true
		}
	}
	switch op {
	case "==":
		return BoolValue(cmp == 0), true
	case "!=":
		return BoolValue(cmp != 0), true
	case "<":
		return BoolValue(cmp < 0), true
	case "<=":
		return BoolValue(cmp <= 0), true
	case ">":
		return BoolValue(cmp > 0), true
	}
	return BoolValue(cmp >= 0), true
}

// wildcard compiles == and != against a string literal containing '*' as a
// pattern match (flespi: device.name == "12*45"). The literal may be on
// either side; when both are patterns the right one is the pattern. A
// non-string subject never matches the pattern.
func (c *compiler) wildcard(n *node) (evalFn, bool, error) {
	pat, subj := n.args[1], n.args[0]
	if pat.op != "str" || !strings.Contains(pat.str, "*") {
		pat, subj = subj, pat
		if pat.op != "str" || !strings.Contains(pat.str, "*") {
			return nil, false, nil
		}
	}
	x, err := c.compile(subj, false)
	if err != nil {
		return nil, true, err
	}
	pattern, want := pat.str, n.op == "=="
	return func(env Env) (Value, error) {
		v, err := x(env)
		if err != nil {
			return v, err
		}
		return BoolValue((v.Kind == String && globMatch(pattern, v.Str)) == want), nil
	}, true, nil
}

// globMatch reports whether s matches pattern, where '*' stands for any run
// of characters (including none) and every other byte is literal. Greedy
// with single backtracking: linear in practice, no allocation.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// arith compiles + - * / % and the bitwise operators. Operands cast as in
// comparisons (null, false → 0; true → 1); strings fail. Bitwise operators
// work on the integer part (int64) and fail outside the int64 range.
func (c *compiler) arith(n *node) (evalFn, error) {
	a, b, err := c.operands(n)
	if err != nil {
		return nil, err
	}
	op := n.op
	notNumber := c.fail(n, op, reasonString)
	divZero := c.fail(n, op, reasonDivZero)
	outOfRange := c.fail(n, op, reasonInteger)
	badShift := c.fail(n, op, reasonShift)
	return func(env Env) (Value, error) {
		x, err := a(env)
		if err != nil {
			return x, err
		}
		y, err := b(env)
		if err != nil {
			return y, err
		}
		v, why := arithValues(op, x, y)
		switch why {
		case "":
			return v, nil
		case reasonString:
			return Value{}, notNumber
		case reasonDivZero:
			return Value{}, divZero
		case reasonInteger:
			return Value{}, outOfRange
		}
		return Value{}, badShift
	}, nil
}

// arithValues applies an arithmetic or bitwise operator; on failure it
// returns the reason.
func arithValues(op string, x, y Value) (Value, string) {
	xf, okx := x.number()
	yf, oky := y.number()
	if !okx || !oky {
		return Value{}, reasonString
	}
	switch op {
	case "+":
		return NumberValue(xf + yf), ""
	case "-":
		return NumberValue(xf - yf), ""
	case "*":
		return NumberValue(xf * yf), ""
	case "/":
		if yf == 0 {
			return Value{}, reasonDivZero
		}
		return NumberValue(xf / yf), ""
	case "%":
		if yf == 0 {
			return Value{}, reasonDivZero
		}
		return NumberValue(math.Mod(xf, yf)), ""
	}
	xi, okx := toInt(xf)
	yi, oky := toInt(yf)
	if !okx || !oky {
		return Value{}, reasonInteger
	}
	switch op {
	case "&":
		return NumberValue(float64(xi & yi)), ""
	case "|":
		return NumberValue(float64(xi | yi)), ""
	case "^":
		return NumberValue(float64(xi ^ yi)), ""
	}
	if yi < 0 || yi > 63 {
		return Value{}, reasonShift
	}
	if op == "<<" {
		return NumberValue(float64(xi << yi)), ""
	}
	return NumberValue(float64(xi >> yi)), ""
}

// toInt truncates f toward zero for bitwise operators; false outside int64.
func toInt(f float64) (int64, bool) {
	if !(f >= -(1<<63) && f < 1<<63) { // also rejects NaN
		return 0, false
	}
	return int64(f), true
}
