package filter

import (
	"math"
	"strconv"
	"strings"
)

// builtin describes one function of the dialect: how many arguments it
// takes (max -1: any number from min) and whether its arguments may be arrays
// or objects.
type builtin struct {
	min, max  int
	composite bool
}

var builtins = map[string]builtin{
	"not":       {1, 1, false},
	"if":        {3, 3, false},
	"error":     {0, 0, false},
	"isnull":    {1, 1, true},
	"isnumber":  {1, 1, true},
	"isstring":  {1, 1, true},
	"isboolean": {1, 1, true},
	"tonumber":  {1, 1, false},
	"toboolean": {1, 1, false},
	"tostring":  {1, 1, false},
	"abs":       {1, 1, false},
	"min":       {1, -1, false},
	"max":       {1, -1, false},
	"strlen":    {1, 1, false},
}

func (c *compiler) call(n *node) (evalFn, error) {
	b, ok := builtins[n.op]
	if !ok {
		return nil, c.syntax(n, "unknown function "+n.op+"()")
	}
	if len(n.args) < b.min || b.max >= 0 && len(n.args) > b.max {
		want := strconv.Itoa(b.min)
		switch {
		case b.max < 0:
			want = "at least " + want
		case b.max != b.min:
			want += " to " + strconv.Itoa(b.max)
		}
		return nil, c.syntax(n, n.op+"() takes "+want+" argument(s), got "+strconv.Itoa(len(n.args)))
	}
	args := make([]evalFn, len(n.args))
	for i, a := range n.args {
		fn, err := c.compile(a, b.composite)
		if err != nil {
			return nil, err
		}
		args[i] = fn
	}
	name := n.op
	notNumber := c.fail(n, name+"()", reasonString)
	switch name {
	case "if":
		cond, then, els := args[0], args[1], args[2]
		return func(env Env) (Value, error) {
			v, err := cond(env)
			if err != nil {
				return v, err
			}
			if v.Truthy() {
				return then(env)
			}
			return els(env)
		}, nil
	case "error":
		fail := c.fail(n, "error()", reasonError)
		return func(Env) (Value, error) { return Value{}, fail }, nil
	case "min", "max":
		less := name == "min"
		return func(env Env) (Value, error) {
			best := 0.0
			for i, a := range args {
				v, err := a(env)
				if err != nil {
					return v, err
				}
				f, ok := v.number()
				if !ok {
					return Value{}, notNumber
				}
				if i == 0 || (f < best) == less && f != best {
					best = f
				}
			}
			return NumberValue(best), nil
		}, nil
	case "strlen":
		notString := c.fail(n, "strlen()", "argument is not a string")
		x := args[0]
		return func(env Env) (Value, error) {
			v, err := x(env)
			if err != nil {
				return v, err
			}
			if v.Kind != String {
				return Value{}, notString
			}
			return NumberValue(float64(strlen(v.Str))), nil
		}, nil
	}
	f := unaryFuncs[name]
	x := args[0]
	return func(env Env) (Value, error) {
		v, err := x(env)
		if err != nil {
			return v, err
		}
		r, ok := f(v)
		if !ok {
			return Value{}, notNumber
		}
		return r, nil
	}, nil
}

// unaryFuncs are the one-argument functions that cannot fail except on type.
var unaryFuncs = map[string]func(Value) (Value, bool){
	"not":       func(v Value) (Value, bool) { return BoolValue(!v.Truthy()), true },
	"isnull":    func(v Value) (Value, bool) { return BoolValue(v.Kind == Null), true },
	"isnumber":  func(v Value) (Value, bool) { return BoolValue(v.Kind == Number), true },
	"isstring":  func(v Value) (Value, bool) { return BoolValue(v.Kind == String), true },
	"isboolean": func(v Value) (Value, bool) { return BoolValue(v.Kind == Bool), true },
	"toboolean": func(v Value) (Value, bool) { return BoolValue(v.Truthy()), true },
	"tostring":  func(v Value) (Value, bool) { return StringValue(v.String()), true },
	"tonumber":  tonumber,
	"abs": func(v Value) (Value, bool) {
		f, ok := v.number()
		return NumberValue(math.Abs(f)), ok
	},
}

// tonumber converts safely: booleans to 1 or 0, numeric strings to their
// number, null and strings that are not numbers to null.
func tonumber(v Value) (Value, bool) {
	switch v.Kind {
	case Bool:
		return NumberValue(v.Num), true
	case Number:
		return v, true
	case String:
		s := strings.TrimSpace(v.Str)
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || strings.ContainsAny(s, "_xXpPnN") {
			return NullValue, true
		}
		return NumberValue(f), true
	}
	return NullValue, true
}
