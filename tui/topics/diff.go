package topics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mqttboard/mqttboard/tui/common"
)

// DiffKind is what happened to one field between two payloads.
type DiffKind int

// Kinds of a field difference.
const (
	Same DiffKind = iota
	Changed
	Added
	Removed
)

// FieldDiff is one field (JSON path) of two payloads compared.
type FieldDiff struct {
	Path     string // $.a.b[0]
	Old, New string // compact JSON; "" when absent
	Kind     DiffKind
}

// flatten maps every leaf of a JSON value to its path; objects and arrays
// that are empty are leaves too.
func flatten(v any, path string, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			out[path] = "{}"
		}
		for k, c := range x {
			p := path + "." + k
			if k == "" || strings.ContainsAny(k, ".[]\" ") {
				p = path + "[" + strconv.Quote(k) + "]"
			}
			flatten(c, p, out)
		}
	case []any:
		if len(x) == 0 {
			out[path] = "[]"
		}
		for i, c := range x {
			flatten(c, fmt.Sprintf("%s[%d]", path, i), out)
		}
	default:
		b, _ := json.Marshal(x)
		out[path] = string(b)
	}
}

func parse(b []byte) (any, bool) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil || d.More() {
		return nil, false
	}
	return v, true
}

// DiffJSON compares two JSON payloads field by field, in path order. ok is
// false when either is not JSON.
func DiffJSON(old, new []byte) (diffs []FieldDiff, ok bool) {
	ov, ok1 := parse(old)
	nv, ok2 := parse(new)
	if !ok1 || !ok2 {
		return nil, false
	}
	of, nf := map[string]string{}, map[string]string{}
	flatten(ov, "$", of)
	flatten(nv, "$", nf)
	paths := make([]string, 0, len(of)+len(nf))
	for p := range of {
		paths = append(paths, p)
	}
	for p := range nf {
		if _, ok := of[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	for _, p := range paths {
		o, inOld := of[p]
		n, inNew := nf[p]
		d := FieldDiff{Path: p, Old: o, New: n}
		switch {
		case !inOld:
			d.Kind = Added
		case !inNew:
			d.Kind = Removed
		case o != n:
			d.Kind = Changed
		}
		diffs = append(diffs, d)
	}
	return diffs, true
}

// diffLines renders the difference of two payloads: JSON field by field
// (changed fields highlighted, unchanged ones dim), else line by line.
func diffLines(st common.Styles, old, new []byte) []string {
	if diffs, ok := DiffJSON(old, new); ok {
		var lines []string
		same := 0
		for _, d := range diffs {
			path := common.Safe(d.Path)
			switch d.Kind {
			case Changed:
				lines = append(lines, st.Warn.Render("~ "+path+": "+common.Safe(d.Old)+" → "+common.Safe(d.New)))
			case Added:
				lines = append(lines, st.OK.Render("+ "+path+": "+common.Safe(d.New)))
			case Removed:
				lines = append(lines, st.Error.Render("- "+path+": "+common.Safe(d.Old)))
			default:
				same++
			}
		}
		if len(lines) == 0 {
			lines = append(lines, st.Dim.Render("the same JSON"))
		}
		unit := "fields"
		if same == 1 {
			unit = "field"
		}
		return append(lines, st.Dim.Render(fmt.Sprintf("%d %s unchanged", same, unit)))
	}
	if bytes.Equal(old, new) {
		return []string{st.Dim.Render("the same payload")}
	}
	// Not JSON: the lines that differ, position by position.
	ol, nl := common.SafeLines(string(old)), common.SafeLines(string(new))
	var lines []string
	for i := range max(len(ol), len(nl)) {
		var o, n string
		if i < len(ol) {
			o = ol[i]
		}
		if i < len(nl) {
			n = nl[i]
		}
		if o == n {
			continue
		}
		if i < len(ol) {
			lines = append(lines, st.Error.Render(fmt.Sprintf("- %d: %s", i+1, o)))
		}
		if i < len(nl) {
			lines = append(lines, st.OK.Render(fmt.Sprintf("+ %d: %s", i+1, n)))
		}
	}
	return lines
}
