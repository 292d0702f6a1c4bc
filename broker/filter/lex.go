package filter

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokKind classifies a token of the dialect.
type tokKind uint8

const (
	tEOF tokKind = iota
	tNumber
	tString
	tIdent  // field reference or function name: device.name, if
	tDollar // $name: a field reference that reads a missing field as null
	tOp     // operators and punctuation: + && ( , ...
)

// token is one lexeme; off is its byte offset in the source.
type token struct {
	kind tokKind
	off  int
	text string  // operator text, identifier, or raw number text
	num  float64 // tNumber
	str  string  // tString, unescaped
}

// SyntaxError is a compile error: what is wrong and where. Offset counts
// characters (runes) from 0 at the start of the expression.
type SyntaxError struct {
	Offset int
	Msg    string
}

// Error reads "expression at 7: unexpected ')'".
func (e *SyntaxError) Error() string {
	return "expression at " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// lexer turns an expression into tokens one at a time.
type lexer struct {
	src string
	pos int
}

func (l *lexer) errorf(off int, msg string) *SyntaxError {
	return &SyntaxError{Offset: utf8.RuneCountInString(l.src[:off]), Msg: msg}
}

// operators, longest first so that "<<" is not read as "<" "<".
var operators = []string{
	"&&", "||", "==", "!=", "<=", ">=", "<<", ">>",
	"+", "-", "*", "/", "%", "<", ">", "&", "|", "^", "!", "~", "(", ")", ",",
}

func isIdentStart(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isIdentPart(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (l *lexer) next() (token, error) {
	for l.pos < len(l.src) && strings.IndexByte(" \t\r\n", l.src[l.pos]) >= 0 {
		l.pos++
	}
	start := l.pos
	if l.pos >= len(l.src) {
		return token{kind: tEOF, off: start}, nil
	}
	c := l.src[l.pos]
	switch {
	case isDigit(c) || c == '.' && l.pos+1 < len(l.src) && isDigit(l.src[l.pos+1]):
		return l.number()
	case c == '"':
		return l.string()
	case isIdentStart(c):
		name, err := l.name()
		return token{kind: tIdent, off: start, text: name}, err
	case c == '$':
		l.pos++
		if l.pos >= len(l.src) || !isIdentStart(l.src[l.pos]) {
			return token{}, l.errorf(start, "expected a field name after '$'")
		}
		name, err := l.name()
		return token{kind: tDollar, off: start, text: name}, err
	}
	for _, op := range operators {
		if strings.HasPrefix(l.src[l.pos:], op) {
			l.pos += len(op)
			return token{kind: tOp, off: start, text: op}, nil
		}
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.pos:])
	return token{}, l.errorf(start, "unexpected character "+strconv.QuoteRune(r))
}

// name reads a field name: words of letters, digits and '_' joined by single
// dots, so parameters like can.engine.rpm or ble.beacons.0.id are one name.
func (l *lexer) name() (string, error) {
	start := l.pos
	for {
		for l.pos < len(l.src) && isIdentPart(l.src[l.pos]) {
			l.pos++
		}
		if l.pos >= len(l.src) || l.src[l.pos] != '.' {
			return l.src[start:l.pos], nil
		}
		l.pos++ // the dot
		if l.pos >= len(l.src) || !isIdentPart(l.src[l.pos]) {
			return "", l.errorf(l.pos-1, "field name "+strconv.Quote(l.src[start:l.pos])+" ends with '.'")
		}
	}
}

// number reads decimal (1, 1.5, .5, 1e-3) and hexadecimal (0x1F) numbers.
// All numbers are doubles, as in flespi.
func (l *lexer) number() (token, error) {
	start := l.pos
	s := l.src
	if s[l.pos] == '0' && l.pos+1 < len(s) && (s[l.pos+1] == 'x' || s[l.pos+1] == 'X') {
		l.pos += 2
		digits := l.pos
		for l.pos < len(s) && strings.IndexByte("0123456789abcdefABCDEF", s[l.pos]) >= 0 {
			l.pos++
		}
		if l.pos == digits {
			return token{}, l.errorf(start, "hexadecimal number without digits")
		}
		u, err := strconv.ParseUint(s[digits:l.pos], 16, 64)
		if err != nil {
			return token{}, l.errorf(start, "hexadecimal number out of range")
		}
		if l.pos < len(s) && isIdentPart(s[l.pos]) {
			return token{}, l.errorf(l.pos, "unexpected "+strconv.QuoteRune(rune(s[l.pos]))+" after a number")
		}
		return token{kind: tNumber, off: start, text: s[start:l.pos], num: float64(u)}, nil
	}
	for l.pos < len(s) && isDigit(s[l.pos]) {
		l.pos++
	}
	if l.pos < len(s) && s[l.pos] == '.' {
		l.pos++
		for l.pos < len(s) && isDigit(s[l.pos]) {
			l.pos++
		}
	}
	if l.pos < len(s) && (s[l.pos] == 'e' || s[l.pos] == 'E') {
		l.pos++
		if l.pos < len(s) && (s[l.pos] == '+' || s[l.pos] == '-') {
			l.pos++
		}
		digits := l.pos
		for l.pos < len(s) && isDigit(s[l.pos]) {
			l.pos++
		}
		if l.pos == digits {
			return token{}, l.errorf(start, "number "+strconv.Quote(s[start:l.pos])+" has an exponent without digits")
		}
	}
	if l.pos < len(s) && (isIdentPart(s[l.pos]) || s[l.pos] == '.') {
		return token{}, l.errorf(l.pos, "unexpected "+strconv.QuoteRune(rune(s[l.pos]))+" after a number")
	}
	f, err := strconv.ParseFloat(s[start:l.pos], 64)
	if err != nil {
		return token{}, l.errorf(start, "number "+strconv.Quote(s[start:l.pos])+" out of range")
	}
	return token{kind: tNumber, off: start, text: s[start:l.pos], num: f}, nil
}

// string reads a double-quoted string with JSON's backslash escapes.
func (l *lexer) string() (token, error) {
	start := l.pos
	l.pos++ // opening quote
	var b strings.Builder
	plain := l.pos
	for {
		if l.pos >= len(l.src) {
			return token{}, l.errorf(start, "unterminated string")
		}
		c := l.src[l.pos]
		switch c {
		case '"':
			b.WriteString(l.src[plain:l.pos])
			l.pos++
			return token{kind: tString, off: start, str: b.String()}, nil
		case '\\':
			b.WriteString(l.src[plain:l.pos])
			esc := l.pos
			l.pos++
			if l.pos >= len(l.src) {
				return token{}, l.errorf(start, "unterminated string")
			}
			switch e := l.src[l.pos]; e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'u':
				if l.pos+5 > len(l.src) {
					return token{}, l.errorf(esc, `\u needs four hexadecimal digits`)
				}
				u, err := strconv.ParseUint(l.src[l.pos+1:l.pos+5], 16, 16)
				if err != nil {
					return token{}, l.errorf(esc, `\u needs four hexadecimal digits`)
				}
				b.WriteRune(rune(u))
				l.pos += 4
			default:
				r, _ := utf8.DecodeRuneInString(l.src[l.pos:])
				return token{}, l.errorf(esc, "unknown escape \\"+string(r))
			}
			l.pos++
			plain = l.pos
		default:
			l.pos++
		}
	}
}
