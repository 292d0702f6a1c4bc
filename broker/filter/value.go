package filter

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// Kind is the type of a [Value]: the JSON types, because expressions read JSON.
type Kind uint8

// The kinds of [Value]. Array and Object are only ever produced by field
// references; operators refuse them (flespi: "references to other types of
// fields (e.g. array, nested object) will make expression evaluation impossible"),
// and only the type-testing functions accept them.
const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

var kindNames = [...]string{"null", "boolean", "number", "string", "array", "object"}

// String names the kind as error messages spell it.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one expression value. It is a small struct rather than an
// interface so that evaluating an expression boxes nothing and allocates
// nothing.
type Value struct {
	Kind Kind
	// Num holds a Number, and a Bool as 1 or 0.
	Num float64
	// Str holds a String.
	Str string
}

// Values of the simple kinds, for [Env] implementations and tests.
var (
	NullValue  = Value{}
	TrueValue  = Value{Kind: Bool, Num: 1}
	FalseValue = Value{Kind: Bool}
)

// NumberValue returns a Number.
func NumberValue(f float64) Value { return Value{Kind: Number, Num: f} }

// StringValue returns a String.
func StringValue(s string) Value { return Value{Kind: String, Str: s} }

// BoolValue returns a Bool.
func BoolValue(b bool) Value {
	if b {
		return TrueValue
	}
	return FalseValue
}

// Truthy reports whether v lets a message through: a non-zero number, true,
// or a non-empty string. Zero, NaN, false, null, the empty string, arrays and
// objects deny. flespi: "a nonzero resulting value means the expression is
// valid and zero, false or null will deny".
func (v Value) Truthy() bool {
	switch v.Kind {
	case Bool, Number:
		return v.Num != 0 && !math.IsNaN(v.Num)
	case String:
		return v.Str != ""
	}
	return false
}

// scalar reports whether operators may use v (everything but arrays and objects).
func (v Value) scalar() bool { return v.Kind <= String }

// number casts v for arithmetic and numeric comparison: null and false are 0,
// true is 1 (flespi's documented casts). Strings, arrays and objects do not cast.
func (v Value) number() (float64, bool) {
	switch v.Kind {
	case Null:
		return 0, true
	case Bool, Number:
		return v.Num, true
	}
	return 0, false
}

// String formats v the way tostring() does.
func (v Value) String() string {
	switch v.Kind {
	case Null:
		return "null"
	case Bool:
		if v.Num != 0 {
			return "true"
		}
		return "false"
	case Number:
		return strconv.FormatFloat(v.Num, 'g', -1, 64)
	case String:
		return v.Str
	}
	return v.Kind.String()
}

// strlen counts characters, not bytes: payloads are UTF-8 text.
func strlen(s string) int { return utf8.RuneCountInString(s) }
