package filter

import (
	"errors"
	"strings"
	"testing"
)

// sample is flespi's own example message from its expressions article, plus
// a nested object, so one environment serves the whole dialect table.
const sample = `{
	"device.name": "123456789012345",
	"timestamp": 1490347944.893743,
	"din": 9,
	"channel_id": 123,
	"altitude": 568.49,
	"hdop": 0.9,
	"speed": 10,
	"lat": -21.328481,
	"accelerations": [1, 2, 3.3, 0],
	"position": {"speed": 0, "valid": true, "fix": {"sats": 7}},
	"position.speed": 42,
	"ignition": false,
	"label": "north\"gate",
	"nothing": null,
	"empty": ""
}`

func sampleEnv(t testing.TB) Env {
	t.Helper()
	return decodePayload([]byte(sample), sample)
}

// evalTable is the dialect: each expression evaluated against sample.
var evalTable = []struct {
	src  string
	want string // the result formatted by Value.String, or "FAIL"
}{
	// flespi's examples.
	{`device.name == "12*45"`, "true"},
	{`timestamp > 1490347940 && timestamp < 1490347950`, "true"},
	{`(hdop < 1 && (din & 0x1)) || speed == 0`, "true"},
	{`if(altitude > -500 && altitude < 500, altitude, error())`, "FAIL"},
	{`if(altitude > -500 && altitude < 600, altitude, error())`, "568.49"},

	// Numbers.
	{`1`, "1"}, {`.5`, "0.5"}, {`1.5e3`, "1500"}, {`2E-1`, "0.2"}, {`0x1F`, "31"}, {`0XfF`, "255"},
	{`7 / 2`, "3.5"}, {`7 % 4`, "3"}, {`-7 % 4`, "-3"}, {`1 / 0`, "FAIL"}, {`1 % 0`, "FAIL"},

	// C precedence and associativity.
	{`1 + 2 * 3`, "7"}, {`(1 + 2) * 3`, "9"}, {`10 - 4 - 3`, "3"}, {`2 * 3 % 4`, "2"},
	{`1 << 2 + 1`, "8"}, {`1 + 1 < 3`, "true"}, {`1 < 2 == 1`, "true"},
	{`6 & 3 == 3`, "0"}, {`(6 & 3) == 2`, "true"}, {`1 | 2 ^ 3`, "1"}, {`5 & 4 | 1`, "5"},
	{`1 || 0 && 0`, "true"}, {`-2 * -3`, "6"}, {`!0 + 1`, "2"}, {`~0`, "-1"}, {`~5 & 0xF`, "10"},
	{`- - 3`, "3"}, {`+true`, "1"}, {`1 << 63 >> 63`, "-1"}, {`1 << 64`, "FAIL"}, {`1 >> -1`, "FAIL"},
	{`1e300 * 1e300 & 1`, "FAIL"}, {`5.9 & 7`, "5"},

	// Logic: short circuit, boolean results, truthiness.
	{`0 && missing`, "false"}, {`1 || missing`, "true"}, {`1 && missing`, "FAIL"},
	{`2 && "x"`, "true"}, {`0 || ""`, "false"}, {`!null`, "true"}, {`!"a"`, "false"}, {`not(speed)`, "false"},

	// Casts in comparisons: null and false are 0, true is 1.
	{`null == 0`, "true"}, {`false == 0`, "true"}, {`true == 1`, "true"}, {`true > false`, "true"},
	{`nothing == 0`, "true"}, {`ignition < 1`, "true"}, {`null + 1`, "1"}, {`true + true`, "2"},
	// Strings compare as strings; a string against a non-string is unequal and unordered.
	{`"abc" < "abd"`, "true"}, {`"b" > "abc"`, "true"}, {`"1" == 1`, "false"}, {`"1" != 1`, "true"},
	{`"1" < 2`, "FAIL"}, {`"a" + "b"`, "FAIL"}, {`-"a"`, "FAIL"}, {`label == "north\"gate"`, "true"},
	{`empty == ""`, "true"}, {`"\u0041\n" == "A\n"`, "true"},

	// Wildcard equality, the literal on either side.
	{`"12*45" == device.name`, "true"}, {`device.name == "1*"`, "true"}, {`device.name == "*5"`, "true"},
	{`device.name == "*789*"`, "true"}, {`device.name == "*0*0*"`, "false"}, {`device.name != "9*"`, "true"},
	{`device.name == "*"`, "true"}, {`empty == "*"`, "true"}, {`speed == "*"`, "false"}, {`speed != "1*"`, "true"},
	{`"a*" == "a*"`, "true"}, {`"ab" == "a*"`, "true"}, {`label == "n*\"*e"`, "true"},

	// Field references: flat key first, then nested path, array indexes.
	{`position.speed`, "42"}, {`position.valid`, "true"}, {`position.fix.sats`, "7"},
	{`accelerations.2`, "3.3"}, {`accelerations.9`, "FAIL"}, {`accelerations`, "FAIL"}, {`position`, "FAIL"},
	{`position.fix`, "FAIL"},
	// Missing fields fail; $name reads them as null.
	{`missing`, "FAIL"}, {`missing == null`, "FAIL"}, {`$missing`, "null"}, {`$missing == null`, "true"},
	{`isnull($missing)`, "true"}, {`isnull(missing)`, "FAIL"}, {`$speed + 1`, "11"}, {`$position.fix.sats`, "7"},

	// Functions.
	{`if(speed > 5, "fast", "slow")`, "fast"}, {`if(0, missing, 2)`, "2"}, {`if(1, 2, missing)`, "2"},
	{`error()`, "FAIL"}, {`isnull(nothing)`, "true"}, {`isnumber(speed)`, "true"}, {`isnumber("1")`, "false"},
	{`isstring(label)`, "true"}, {`isboolean(ignition)`, "true"}, {`isnull(accelerations)`, "false"},
	{`isstring(position)`, "false"}, {`not(isnull(position))`, "true"},
	{`tonumber("12.5")`, "12.5"}, {`tonumber(" 7 ")`, "7"}, {`tonumber("x")`, "null"}, {`tonumber("inf")`, "null"},
	{`tonumber(true)`, "1"}, {`tonumber(null)`, "null"}, {`toboolean(2)`, "true"}, {`toboolean("")`, "false"},
	{`tostring(1.5)`, "1.5"}, {`tostring(true) == "true"`, "true"}, {`tostring(null)`, "null"},
	{`abs(-3)`, "3"}, {`abs("x")`, "FAIL"}, {`min(3, 1, 2)`, "1"}, {`max(3, 1, 2)`, "3"}, {`max(null, -1)`, "0"},
	{`strlen("héllo")`, "5"}, {`strlen(label)`, "10"}, {`strlen(1)`, "FAIL"},
}

func TestEvalTable(t *testing.T) {
	env := sampleEnv(t)
	for _, tt := range evalTable {
		e, err := Compile(tt.src)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.src, err)
			continue
		}
		v, err := e.Eval(env)
		got := v.String()
		if err != nil {
			got = "FAIL"
		}
		if got != tt.want {
			t.Errorf("%s = %s (err %v), want %s", tt.src, got, err, tt.want)
		}
	}
}

func TestEvalErrors(t *testing.T) {
	env := sampleEnv(t)
	tests := []struct{ src, want string }{
		{`missing > 1`, `field "missing" is missing`},
		{`speed / 0`, `evaluation failed at 6 (/): division by zero`},
		{`"a" < 1`, `evaluation failed at 4 (<): cannot order a string against a non-string`},
		{`error()`, `evaluation failed at 0 (error()): error() called`},
		// Offsets count characters, not bytes.
		{`"é" == "é" && accelerations`, `evaluation failed at 14 (accelerations): an array or object value can only be passed to isnull, isnumber, isstring or isboolean`},
	}
	for _, tt := range tests {
		e, err := Compile(tt.src)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tt.src, err)
		}
		_, err = e.Eval(env)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: error %v, want %s", tt.src, err, tt.want)
		}
	}
	e, _ := Compile("missing")
	_, err := e.Eval(env)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Name != "missing" {
		t.Errorf("missing field: error %#v, want *FieldError", err)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{``, `expression at 0: empty expression`},
		{`   `, `expression at 0: empty expression`},
		{`speed > 1 )`, `expression at 10: unexpected ')'`},
		{`(speed > 1`, `expression at 0: unclosed '('`},
		{`speed >`, `expression at 7: unexpected end of expression`},
		{`speed 1`, `expression at 6: unexpected number 1`},
		{`speed "x"`, `expression at 6: unexpected string "x"`},
		{`1 2`, `expression at 2: unexpected number 2`},
		{`a b`, `expression at 2: unexpected name b`},
		{`* 2`, `expression at 0: unexpected '*'`},
		{`"abc`, `expression at 0: unterminated string`},
		{`"a\qb"`, `expression at 2: unknown escape \q`},
		{`"\u12"`, `expression at 1: \u needs four hexadecimal digits`},
		{`0x`, `expression at 0: hexadecimal number without digits`},
		{`0x1FFFFFFFFFFFFFFFF`, `expression at 0: hexadecimal number out of range`},
		{`1e`, `expression at 0: number "1e" has an exponent without digits`},
		{`12abc`, `expression at 2: unexpected 'a' after a number`},
		{`1.2.3`, `expression at 3: unexpected '.' after a number`},
		{`1e999`, `expression at 0: number "1e999" out of range`},
		{`a. == 1`, `expression at 1: field name "a." ends with '.'`},
		{`$`, `expression at 0: expected a field name after '$'`},
		{`$1`, `expression at 0: expected a field name after '$'`},
		{`a = 1`, `expression at 2: unexpected character '='`},
		{`héllo`, `expression at 1: unexpected character 'é'`},
		{`"é" == x )`, `expression at 9: unexpected ')'`},
		{`foo(1)`, `expression at 0: unknown function foo()`},
		{`if(1, 2)`, `expression at 0: if() takes 3 argument(s), got 2`},
		{`min()`, `expression at 0: min() takes at least 1 argument(s), got 0`},
		{`error(1)`, `expression at 0: error() takes 0 argument(s), got 1`},
		{`not(1`, `expression at 3: unclosed '(' of not()`},
		{`not(1;`, `expression at 5: unexpected character ';'`},
		{`not(1 2)`, `expression at 6: unexpected number 2`},
		{`if(1,,2)`, `expression at 5: unexpected ','`},
		{`1 +`, `expression at 3: unexpected end of expression`},
		{`()`, `expression at 1: unexpected ')'`},
		{strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300), `expression at 200: expression nested too deeply`},
		{strings.Repeat("-", 300) + "1", `expression at 200: expression nested too deeply`},
	}
	for _, tt := range tests {
		_, err := Compile(tt.src)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Compile(%q): error %v, want %s", tt.src, err, tt.want)
		}
		var se *SyntaxError
		if err != nil && !errors.As(err, &se) {
			t.Errorf("Compile(%q): error %T, want *SyntaxError", tt.src, err)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"", "", true}, {"", "a", false}, {"a*", "a", true}, {"*a", "ba", true},
		{"a*b*c", "aXbYc", true}, {"a*b*c", "aXbYcZ", false}, {"a**c", "abc", true},
		{"*ab", "aab", true}, {"*aab", "aaab", true}, {"a*a", "a", false},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

// TestEvalAllocs holds the promise that evaluation allocates nothing, for a
// match and for the common failures.
func TestEvalAllocs(t *testing.T) {
	env := sampleEnv(t)
	for _, src := range []string{
		`(hdop < 1 && (din & 0x1)) || speed == 0`,
		`device.name == "12*45" && position.fix.sats >= 4`,
		`missing > 1`,
		`speed / 0`,
		`if(isnull($x), max(speed, 3), 0)`,
	} {
		e, err := Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { e.Test(env) }); n != 0 {
			t.Errorf("%s: %v allocs per evaluation, want 0", src, n)
		}
	}
}
