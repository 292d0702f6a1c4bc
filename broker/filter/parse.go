package filter

import "strconv"

// node is the syntax tree of an expression. The tree lives only during
// compilation: [Compile] turns it into closures.
type node struct {
	op   string // operator or function name; "num", "str", "field", "$field", "true", "false", "null"
	off  int    // byte offset of the operator, name or literal, for error messages
	args []*node
	num  float64
	str  string // string literal value, or the field name
}

// Binding powers follow C: a higher number binds tighter.
var binaryPower = map[string]int{
	"||": 1,
	"&&": 2,
	"|":  3,
	"^":  4,
	"&":  5,
	"==": 6, "!=": 6,
	"<": 7, "<=": 7, ">": 7, ">=": 7,
	"<<": 8, ">>": 8,
	"+": 9, "-": 9,
	"*": 10, "/": 10, "%": 10,
}

const unaryPower = 11

// maxDepth bounds nesting so that a hostile filter cannot exhaust the stack.
const maxDepth = 200

// parser is a Pratt parser over a [lexer] with one token of look-ahead.
type parser struct {
	lex   lexer
	tok   token
	depth int
}

func parse(src string) (*node, error) {
	p := &parser{lex: lexer{src: src}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tEOF {
		return nil, p.lex.errorf(0, "empty expression")
	}
	n, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.unexpected()
	}
	return n, nil
}

func (p *parser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) unexpected() error {
	switch p.tok.kind {
	case tEOF:
		return p.lex.errorf(p.tok.off, "unexpected end of expression")
	case tNumber:
		return p.lex.errorf(p.tok.off, "unexpected number "+p.tok.text)
	case tString:
		return p.lex.errorf(p.tok.off, "unexpected string "+strconv.Quote(p.tok.str))
	case tIdent:
		return p.lex.errorf(p.tok.off, "unexpected name "+p.tok.text)
	case tDollar:
		return p.lex.errorf(p.tok.off, "unexpected name $"+p.tok.text)
	}
	return p.lex.errorf(p.tok.off, "unexpected '"+p.tok.text+"'")
}

// expr parses operators binding tighter than minPower.
func (p *parser) expr(minPower int) (*node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, p.lex.errorf(p.tok.off, "expression nested too deeply")
	}
	left, err := p.operand()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tOp {
		power, ok := binaryPower[p.tok.text]
		if !ok || power <= minPower {
			break
		}
		op := p.tok
		if err := p.advance(); err != nil {
			return nil, err
		}
		right, err := p.expr(power) // left-associative: the right side binds tighter
		if err != nil {
			return nil, err
		}
		left = &node{op: op.text, off: op.off, args: []*node{left, right}}
	}
	return left, nil
}

func (p *parser) operand() (*node, error) {
	t := p.tok
	switch t.kind {
	case tNumber:
		return &node{op: "num", off: t.off, num: t.num}, p.advance()
	case tString:
		return &node{op: "str", off: t.off, str: t.str}, p.advance()
	case tDollar:
		return &node{op: "$field", off: t.off, str: t.text}, p.advance()
	case tIdent:
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind == tOp && p.tok.text == "(" {
			return p.call(t)
		}
		switch t.text {
		case "true", "false", "null":
			return &node{op: t.text, off: t.off}, nil
		}
		return &node{op: "field", off: t.off, str: t.text}, nil
	case tOp:
		switch t.text {
		case "(":
			if err := p.advance(); err != nil {
				return nil, err
			}
			n, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			if p.tok.kind != tOp || p.tok.text != ")" {
				if p.tok.kind == tEOF {
					return nil, p.lex.errorf(t.off, "unclosed '('")
				}
				return nil, p.unexpected()
			}
			return n, p.advance()
		case "!", "-", "~", "+":
			if err := p.advance(); err != nil {
				return nil, err
			}
			arg, err := p.expr(unaryPower - 1)
			if err != nil {
				return nil, err
			}
			if t.text == "+" {
				return &node{op: "u+", off: t.off, args: []*node{arg}}, nil
			}
			return &node{op: "u" + t.text, off: t.off, args: []*node{arg}}, nil
		}
	}
	return nil, p.unexpected()
}

// call parses the argument list after a function name; p.tok is the '('.
func (p *parser) call(name token) (*node, error) {
	n := &node{op: name.text, off: name.off}
	open := p.tok.off
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tOp && p.tok.text == ")" {
		return n, p.advance()
	}
	for {
		arg, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		n.args = append(n.args, arg)
		if p.tok.kind != tOp {
			if p.tok.kind == tEOF {
				return nil, p.lex.errorf(open, "unclosed '(' of "+name.text+"()")
			}
			return nil, p.unexpected()
		}
		switch p.tok.text {
		case ",":
			if err := p.advance(); err != nil {
				return nil, err
			}
		case ")":
			return n, p.advance()
		default:
			return nil, p.unexpected()
		}
	}
}
