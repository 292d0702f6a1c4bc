package filter

import (
	"encoding/json"
	"strconv"
	"strings"
)

// document is a decoded JSON payload: a flat slice of nodes linked as a tree,
// so decoding costs one copy of the payload as a string plus one slice, and
// every string value and key is a substring of that copy (unless it has
// escapes). It is the [Env] of payload= expressions.
type document struct {
	nodes []jnode
	// raw is the payload as a string when it is not JSON: then the only
	// variable is payload, a string.
	raw   string
	valid bool
}

// jnode is one JSON value. child and next index nodes (-1: none).
type jnode struct {
	v     Value
	key   string // the member name, inside an object
	child int32
	next  int32
}

// decodePayload decodes p; s is p as a string, shared with the message=
// environment so that the payload is copied once. The payload is validated by encoding/json first,
// so the decoder below can be simple and only has to be right on valid JSON.
func decodePayload(p []byte, s string) *document {
	d := &document{}
	if !json.Valid(p) {
		d.raw = s
		return d
	}
	d.valid = true
	d.nodes = make([]jnode, 0, 16)
	dec := jsonDecoder{s: s, d: d}
	dec.value()
	return d
}

type jsonDecoder struct {
	s   string
	pos int
	d   *document
}

func (j *jsonDecoder) space() {
	for j.pos < len(j.s) {
		switch j.s[j.pos] {
		case ' ', '\t', '\r', '\n':
			j.pos++
		default:
			return
		}
	}
}

// value decodes the value at pos into a new node and returns its index.
func (j *jsonDecoder) value() int32 {
	j.space()
	idx := int32(len(j.d.nodes))
	j.d.nodes = append(j.d.nodes, jnode{child: -1, next: -1})
	var v Value
	switch c := j.s[j.pos]; {
	case c == '{':
		v.Kind = Object
		j.pos++
		prev := int32(-1)
		for {
			j.space()
			if j.s[j.pos] == '}' {
				j.pos++
				break
			}
			if j.s[j.pos] == ',' {
				j.pos++
				j.space()
			}
			key := j.str()
			j.space()
			j.pos++ // ':'
			child := j.value()
			j.d.nodes[child].key = key
			j.link(idx, prev, child)
			prev = child
		}
	case c == '[':
		v.Kind = Array
		j.pos++
		prev := int32(-1)
		for {
			j.space()
			if j.s[j.pos] == ']' {
				j.pos++
				break
			}
			if j.s[j.pos] == ',' {
				j.pos++
			}
			child := j.value()
			j.link(idx, prev, child)
			prev = child
		}
	case c == '"':
		v = StringValue(j.str())
	case c == 't':
		v, j.pos = TrueValue, j.pos+4
	case c == 'f':
		v, j.pos = FalseValue, j.pos+5
	case c == 'n':
		j.pos += 4
	default:
		start := j.pos
		for j.pos < len(j.s) && !isJSONDelim(j.s[j.pos]) {
			j.pos++
		}
		f, _ := strconv.ParseFloat(j.s[start:j.pos], 64) // valid JSON: ±Inf at worst
		v = NumberValue(f)
	}
	j.d.nodes[idx].v = v
	return idx
}

func isJSONDelim(c byte) bool {
	switch c {
	case ',', ']', '}', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

func (j *jsonDecoder) link(parent, prev, child int32) {
	if prev < 0 {
		j.d.nodes[parent].child = child
	} else {
		j.d.nodes[prev].next = child
	}
}

// str decodes the string at pos (the opening quote).
func (j *jsonDecoder) str() string {
	start := j.pos
	j.pos++
	escaped := false
	for j.s[j.pos] != '"' {
		if j.s[j.pos] == '\\' {
			escaped = true
			j.pos++
		}
		j.pos++
	}
	j.pos++
	if !escaped {
		return j.s[start+1 : j.pos-1]
	}
	var out string
	_ = json.Unmarshal([]byte(j.s[start:j.pos]), &out) // rare: escapes need a copy anyway
	return out
}

// Lookup implements [Env]. A payload that is a JSON object exposes its
// fields; any payload exposes itself as payload unless an object has a
// payload field of its own, and payload.path reaches inside an array or
// object payload. A payload that is not JSON is the string payload.
func (d *document) Lookup(name string) (Value, bool) {
	if !d.valid {
		if name == "payload" {
			return StringValue(d.raw), true
		}
		return Value{}, false
	}
	root := &d.nodes[0]
	if root.v.Kind == Object {
		if i := d.find(0, name); i >= 0 {
			return d.nodes[i].v, true
		}
	}
	if name == "payload" {
		return root.v, true
	}
	// payload.1 reaches into an array payload (and payload.x into an object).
	if rest, ok := strings.CutPrefix(name, "payload."); ok && (root.v.Kind == Object || root.v.Kind == Array) {
		if i := d.find(0, rest); i >= 0 {
			return d.nodes[i].v, true
		}
	}
	return Value{}, false
}

// find resolves name under the object or array at index at: the whole name
// as one key first (flespi fields such as "position.speed" are flat keys),
// then, at each dot, the prefix as a key and the rest inside it. Arrays take
// decimal indexes: accelerations.1.
func (d *document) find(at int32, name string) int32 {
	if i := d.member(at, name); i >= 0 {
		return i
	}
	for k := 0; k < len(name); k++ {
		if name[k] != '.' {
			continue
		}
		i := d.member(at, name[:k])
		if i < 0 {
			continue
		}
		if kind := d.nodes[i].v.Kind; kind != Object && kind != Array {
			continue
		}
		if j := d.find(i, name[k+1:]); j >= 0 {
			return j
		}
	}
	return -1
}

// member finds the child key of an object, or the child with index key of an
// array; the first of repeated keys wins.
func (d *document) member(at int32, key string) int32 {
	if d.nodes[at].v.Kind == Array {
		n, err := strconv.Atoi(key)
		if err != nil || n < 0 {
			return -1
		}
		for i := d.nodes[at].child; i >= 0; i = d.nodes[i].next {
			if n == 0 {
				return i
			}
			n--
		}
		return -1
	}
	for i := d.nodes[at].child; i >= 0; i = d.nodes[i].next {
		if d.nodes[i].key == key {
			return i
		}
	}
	return -1
}
