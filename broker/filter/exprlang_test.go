package filter

// This file is the measurement behind the choice documented in doc.go: the
// same dialect compiled to github.com/expr-lang/expr programs instead of Go
// closures. It passes the same dialect table (TestExprLangBackend), so expr
// can express the dialect, and BenchmarkEval compares the two.

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

var errExprLang = errors.New("evaluation failed")

// exprLangSource translates the dialect's syntax tree into expr source. Every
// dialect operator becomes a helper call, because expr's own operators have
// other semantics (no null/boolean casts, no wildcard ==, no bitwise
// operators, no failing field references); && || and if() map to expr's
// short-circuit && || and ?: over truthiness.
func exprLangSource(n *node) string {
	lit := func(s string) string { return "_v(" + s + ")" }
	switch n.op {
	case "num":
		return lit(strconv.FormatFloat(n.num, 'g', -1, 64))
	case "str":
		return lit(strconv.Quote(n.str))
	case "true", "false":
		return lit(n.op)
	case "null":
		return lit("nil")
	case "field", "$field":
		return "_f(doc, " + strconv.Quote(n.str) + ", " + strconv.FormatBool(n.op == "$field") + ")"
	case "u!", "u-", "u~", "u+":
		return "_un(" + strconv.Quote(n.op) + ", " + exprLangSource(n.args[0]) + ")"
	case "&&", "||":
		return "_b(_t(" + exprLangSource(n.args[0]) + ") " + n.op + " _t(" + exprLangSource(n.args[1]) + "))"
	case "if":
		return "(_t(" + exprLangSource(n.args[0]) + ") ? " + exprLangSource(n.args[1]) + " : " + exprLangSource(n.args[2]) + ")"
	case "==", "!=":
		for i, p := range n.args {
			if p.op == "str" && strings.Contains(p.str, "*") {
				subj := n.args[1-i]
				if i == 0 && n.args[1].op == "str" && strings.Contains(n.args[1].str, "*") {
					p, subj = n.args[1], n.args[0]
				}
				return "_glob(" + strconv.Quote(p.str) + ", " + exprLangSource(subj) + ", " + strconv.FormatBool(n.op == "==") + ")"
			}
		}
		fallthrough
	case "<", "<=", ">", ">=":
		return "_cmp(" + strconv.Quote(n.op) + ", " + exprLangSource(n.args[0]) + ", " + exprLangSource(n.args[1]) + ")"
	}
	if _, ok := binaryPower[n.op]; ok {
		return "_bin(" + strconv.Quote(n.op) + ", " + exprLangSource(n.args[0]) + ", " + exprLangSource(n.args[1]) + ")"
	}
	args := []string{strconv.Quote(n.op)}
	for _, a := range n.args {
		args = append(args, exprLangSource(a))
	}
	return "_call(" + strings.Join(args, ", ") + ")"
}

type exprLangEnv struct{ doc Env }

func compileExprLang(t testing.TB, src string) *vm.Program {
	t.Helper()
	n, err := parse(src)
	if err != nil {
		t.Fatal(err)
	}
	scalar := func(v Value) (any, error) {
		if !v.scalar() {
			return nil, errExprLang
		}
		return v, nil
	}
	opts := []expr.Option{
		expr.Env(map[string]any{"doc": exprLangEnv{}}),
		expr.Function("_v", func(p ...any) (any, error) {
			switch x := p[0].(type) {
			case nil:
				return NullValue, nil
			case bool:
				return BoolValue(x), nil
			case int:
				return NumberValue(float64(x)), nil
			case float64:
				return NumberValue(x), nil
			}
			return StringValue(p[0].(string)), nil
		}),
		expr.Function("_f", func(p ...any) (any, error) {
			v, ok := p[0].(exprLangEnv).doc.Lookup(p[1].(string))
			if !ok {
				if p[2].(bool) {
					return NullValue, nil
				}
				return nil, errExprLang
			}
			return v, nil // composites are checked by their users
		}),
		expr.Function("_t", func(p ...any) (any, error) {
			v := p[0].(Value)
			if !v.scalar() {
				return nil, errExprLang
			}
			return v.Truthy(), nil
		}),
		expr.Function("_b", func(p ...any) (any, error) { return BoolValue(p[0].(bool)), nil }),
		expr.Function("_un", func(p ...any) (any, error) {
			v := p[1].(Value)
			if !v.scalar() {
				return nil, errExprLang
			}
			switch p[0].(string) {
			case "u!":
				return BoolValue(!v.Truthy()), nil
			case "u~":
				r, why := arithValues("^", v, NumberValue(-1))
				if why != "" {
					return nil, errExprLang
				}
				return r, nil
			case "u-":
				r, why := arithValues("*", v, NumberValue(-1))
				if why != "" {
					return nil, errExprLang
				}
				return r, nil
			}
			r, why := arithValues("*", v, NumberValue(1))
			if why != "" {
				return nil, errExprLang
			}
			return r, nil
		}),
		expr.Function("_bin", func(p ...any) (any, error) {
			x, y := p[1].(Value), p[2].(Value)
			if !x.scalar() || !y.scalar() {
				return nil, errExprLang
			}
			r, why := arithValues(p[0].(string), x, y)
			if why != "" {
				return nil, errExprLang
			}
			return r, nil
		}),
		expr.Function("_cmp", func(p ...any) (any, error) {
			x, y := p[1].(Value), p[2].(Value)
			if !x.scalar() || !y.scalar() {
				return nil, errExprLang
			}
			r, ok := compareValues(p[0].(string), x, y)
			if !ok {
				return nil, errExprLang
			}
			return r, nil
		}),
		expr.Function("_glob", func(p ...any) (any, error) {
			v := p[1].(Value)
			if !v.scalar() {
				return nil, errExprLang
			}
			return BoolValue((v.Kind == String && globMatch(p[0].(string), v.Str)) == p[2].(bool)), nil
		}),
		expr.Function("_call", func(p ...any) (any, error) {
			name := p[0].(string)
			args := p[1:]
			if !builtins[name].composite {
				for _, a := range args {
					if _, err := scalar(a.(Value)); err != nil {
						return nil, err
					}
				}
			}
			switch name {
			case "error":
				return nil, errExprLang
			case "min", "max":
				best := 0.0
				for i, a := range args {
					f, ok := a.(Value).number()
					if !ok {
						return nil, errExprLang
					}
					if i == 0 || name == "min" && f < best || name == "max" && f > best {
						best = f
					}
				}
				return NumberValue(best), nil
			case "strlen":
				v := args[0].(Value)
				if v.Kind != String {
					return nil, errExprLang
				}
				return NumberValue(float64(strlen(v.Str))), nil
			}
			r, ok := unaryFuncs[name](args[0].(Value))
			if !ok {
				return nil, errExprLang
			}
			return r, nil
		}),
	}
	prog, err := expr.Compile(exprLangSource(n), opts...)
	if err != nil {
		t.Fatalf("expr.Compile(%s): %v", exprLangSource(n), err)
	}
	return prog
}

func runExprLang(prog *vm.Program, env map[string]any) (Value, error) {
	out, err := expr.Run(prog, env)
	if err != nil {
		return Value{}, err
	}
	v := out.(Value)
	if !v.scalar() {
		return Value{}, errExprLang
	}
	return v, nil
}

// TestExprLangBackend shows that expr can express the dialect: the
// translated programs agree with the closure compiler on the dialect table.
func TestExprLangBackend(t *testing.T) {
	env := map[string]any{"doc": exprLangEnv{sampleEnv(t)}}
	for _, tt := range evalTable {
		prog := compileExprLang(t, tt.src)
		v, err := runExprLang(prog, env)
		got := v.String()
		if err != nil {
			got = "FAIL"
		}
		if got != tt.want {
			t.Errorf("expr backend: %s = %s (err %v), want %s", tt.src, got, err, tt.want)
		}
	}
}
