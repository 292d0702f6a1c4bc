package topics

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/mqttboard/mqttboard/tui/common"
)

func TestDiffJSON(t *testing.T) {
	old := []byte(`{"temp": 21.5, "unit": "C", "tags": ["a", "b"], "gone": true, "nested": {"x": 1}}`)
	new := []byte(`{"temp": 22.0, "unit": "C", "tags": ["a", "c"], "nested": {"x": 1, "y": 2}, "new": null}`)
	diffs, ok := DiffJSON(old, new)
	if !ok {
		t.Fatal("not JSON")
	}
	var got []string
	for _, d := range diffs {
		if d.Kind != Same {
			got = append(got, d.Path+" "+d.Old+">"+d.New)
		}
	}
	want := []string{"$.gone true>", "$.nested.y >2", "$.new >null", "$.tags[1] \"b\">\"c\"", "$.temp 21.5>22.0"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("diff\n%q\nwant\n%q", got, want)
	}
	lines := diffLines(common.DefaultStyles(), old, new)
	text := ansi.Strip(strings.Join(lines, "\n"))
	for _, w := range []string{"~ $.temp: 21.5 → 22.0", "+ $.nested.y: 2", "- $.gone: true", "3 fields unchanged"} {
		if !strings.Contains(text, w) {
			t.Errorf("no %q in:\n%s", w, text)
		}
	}
	if _, ok := DiffJSON([]byte("21.5"), []byte("not json")); ok {
		t.Error("text diffed as JSON")
	}
	text = ansi.Strip(strings.Join(diffLines(common.DefaultStyles(), []byte("a\nb\x1b[2J"), []byte("a\nc")), "\n"))
	if text != "- 2: b␛[2J\n+ 2: c" {
		t.Errorf("text diff %q", text)
	}
}
