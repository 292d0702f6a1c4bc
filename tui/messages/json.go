package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mqttboard/mqttboard/tui/common"
)

// maxJSONDepth bounds the nesting the pretty view follows; a deeper payload
// (an attack, not telemetry) is shown as text.
const maxJSONDepth = 200

// jnode is one value of a JSON payload, kept in document order (a Go map
// would sort the keys) so the pretty view shows what was sent.
type jnode struct {
	id     int
	key    string // the member name, JSON encoded; "" for array items and the root
	hasKey bool
	kind   byte   // '{', '[', or 's' (string), 'n' (number), 'l' (true, false, null)
	text   string // a scalar as JSON
	kids   []*jnode
}

// parseJSON reads a payload into a tree, or fails when it is not one JSON
// value.
func parseJSON(b []byte) (*jnode, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	ids := 0
	root, err := parseValue(d, &ids, 0)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("more than one JSON value")
	}
	return root, nil
}

func parseValue(d *json.Decoder, ids *int, depth int) (*jnode, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxJSONDepth)
	}
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	n := &jnode{id: *ids}
	*ids++
	switch t := tok.(type) {
	case json.Delim:
		n.kind = byte(t)
		if t != '{' && t != '[' {
			return nil, fmt.Errorf("unexpected %v", t)
		}
		for d.More() {
			var key string
			if t == '{' {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				key = encodeString(k)
			}
			kid, err := parseValue(d, ids, depth+1)
			if err != nil {
				return nil, err
			}
			kid.key, kid.hasKey = key, t == '{'
			n.kids = append(n.kids, kid)
		}
		if _, err := d.Token(); err != nil { // the closing delimiter
			return nil, err
		}
	case string:
		n.kind, n.text = 's', encodeString(t)
	case json.Number:
		n.kind, n.text = 'n', t.String()
	case bool:
		n.kind, n.text = 'l', fmt.Sprint(t)
	case nil:
		n.kind, n.text = 'l', "null"
	}
	return n, nil
}

// encodeString is s as a JSON string, with <, > and & as they are.
func encodeString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// containers returns the ids of every object and array.
func (n *jnode) containers(out []int) []int {
	if n.kind == '{' || n.kind == '[' {
		out = append(out, n.id)
		for _, k := range n.kids {
			out = k.containers(out)
		}
	}
	return out
}

// line is one row of the details view; fold is the JSON node it opens
// (-1: none).
type line struct {
	text string
	fold int
}

// render appends n's rows: indented, coloured, folded where folded says.
// Every string in it went through common.Safe.
func (n *jnode) render(out []line, st common.Styles, indent int, last bool, folded map[int]bool) []line {
	pad := strings.Repeat("  ", indent)
	if n.hasKey {
		pad += st.JSONKey.Render(common.Safe(n.key)) + ": "
	}
	comma := ""
	if !last {
		comma = ","
	}
	switch n.kind {
	case '{', '[':
		open, close := "{", "}"
		what := "keys"
		if n.kind == '[' {
			open, close, what = "[", "]", "items"
		}
		switch {
		case len(n.kids) == 0:
			return append(out, line{pad + open + close + comma, -1})
		case folded[n.id]:
			return append(out, line{pad + open + "…" + close + comma + st.Dim.Render(fmt.Sprintf("  %d %s", len(n.kids), what)), n.id})
		}
		out = append(out, line{pad + open, n.id})
		for i, k := range n.kids {
			out = k.render(out, st, indent+1, i == len(n.kids)-1, folded)
		}
		return append(out, line{strings.Repeat("  ", indent) + close + comma, -1})
	case 's':
		return append(out, line{pad + st.JSONString.Render(common.Safe(n.text)) + comma, -1})
	case 'n':
		return append(out, line{pad + st.JSONNumber.Render(common.Safe(n.text)) + comma, -1})
	}
	return append(out, line{pad + st.JSONLiteral.Render(n.text) + comma, -1})
}
