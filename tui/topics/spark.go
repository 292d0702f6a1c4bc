package topics

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
)

// NumericFields lists the fields of a payload that hold numbers: "" for a
// payload that is a number itself, or the dotted paths of a JSON object's
// numeric fields, sorted.
func NumericFields(payload []byte) []string {
	s := strings.TrimSpace(string(payload))
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return []string{""}
	}
	var v any
	if json.Unmarshal(payload, &v) != nil {
		return nil
	}
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case float64:
			out = append(out, prefix)
		case map[string]any:
			for k, x := range v {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, x)
			}
		}
	}
	walk("", v)
	slices.Sort(out)
	return out
}

// Value extracts field (as NumericFields names it) from payload.
func Value(payload []byte, field string) (float64, bool) {
	if field == "" {
		f, err := strconv.ParseFloat(strings.TrimSpace(string(payload)), 64)
		return f, err == nil
	}
	var v any
	if json.Unmarshal(payload, &v) != nil {
		return 0, false
	}
	for part := range strings.SplitSeq(field, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return 0, false
		}
		v = m[part]
	}
	f, ok := v.(float64)
	return f, ok
}

var bars = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws values as one row of block characters, scaled between
// their minimum and maximum; the newest value is on the right.
func Sparkline(values []float64, width int) string {
	if len(values) > width {
		values = values[len(values)-width:]
	}
	if len(values) == 0 {
		return ""
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range values {
		lo, hi = min(lo, v), max(hi, v)
	}
	var b strings.Builder
	for _, v := range values {
		i := 0
		if hi > lo {
			i = int((v - lo) / (hi - lo) * float64(len(bars)-1))
		}
		b.WriteRune(bars[i])
	}
	return b.String()
}
