package packet

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// matchCase is one line of testdata/topicmatch.txt.
type matchCase struct {
	filter, topic string
	want          bool
}

// readMatchTable reads the shared topic-match table.
func readMatchTable(t testing.TB) []matchCase {
	t.Helper()
	f, err := os.Open("testdata/topicmatch.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []matchCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "//") {
			continue
		}
		cols := strings.FieldsFunc(line, func(r rune) bool { return r == '\t' })
		if len(cols) != 3 || (cols[2] != "true" && cols[2] != "false") {
			t.Fatalf("topicmatch.txt:%d: want filter<TAB>topic<TAB>true|false, got %q", n, line)
		}
		cases = append(cases, matchCase{cols[0], cols[1], cols[2] == "true"})
	}
	return cases
}

func TestMatchFilterTable(t *testing.T) {
	for _, c := range readMatchTable(t) {
		if got := MatchFilter(c.filter, c.topic); got != c.want {
			t.Errorf("MatchFilter(%q, %q) = %v, want %v", c.filter, c.topic, got, c.want)
		}
		if got := referenceMatch(c.filter, c.topic); got != c.want {
			t.Errorf("referenceMatch(%q, %q) = %v, want %v (the table or the reference is wrong)", c.filter, c.topic, got, c.want)
		}
	}
}

func TestInnerFilter(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"a/b", "a/b"},
		{"$share/g/a/b", "a/b"},
		{"$share/g:1:2/a/#", "a/#"},
		{"$filter/cid=1/a", "a"},
		{"$share/g/$filter/cid=1/a,b/c", "a,b/c"},
		{"$filter/x/$share/g/a", "$share/g/a"},
	} {
		if got, ok := InnerFilter(tt.in); !ok || got != tt.want {
			t.Errorf("InnerFilter(%q) = %q, %v; want %q, true", tt.in, got, ok, tt.want)
		}
	}
	for _, bad := range []string{"$share/g", "$filter/x", "$share/g/$filter/x"} {
		if got, ok := InnerFilter(bad); ok {
			t.Errorf("InnerFilter(%q) = %q, true; want false", bad, got)
		}
	}
}

// referenceMatch is the matcher written the slow, obvious way (split
// everything), for the fuzz target to compare MatchFilter with.
func referenceMatch(filter, topic string) bool {
	if strings.HasPrefix(topic, "$share/") {
		return false
	}
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		parts := strings.SplitN(rest, "/", 2)
		if len(parts) < 2 {
			return false
		}
		filter = parts[1]
	}
	if rest, ok := strings.CutPrefix(filter, "$filter/"); ok {
		parts := strings.SplitN(rest, "/", 2)
		if len(parts) < 2 {
			return false
		}
		filter = parts[1]
	}
	fs, ts := strings.Split(filter, "/"), strings.Split(topic, "/")
	dollar := strings.HasPrefix(topic, "$")
	for i, f := range fs {
		if f == "#" {
			return i == len(fs)-1 && !(i == 0 && dollar)
		}
		if i >= len(ts) {
			return false
		}
		switch {
		case f == "+":
			if i == 0 && dollar {
				return false
			}
		case strings.Contains(f, ","):
			found := false
			for _, w := range strings.Split(f, ",") {
				found = found || w == ts[i]
			}
			if !found {
				return false
			}
		default:
			if f != ts[i] {
				return false
			}
		}
	}
	return len(fs) == len(ts)
}

func FuzzMatchFilter(f *testing.F) {
	for _, c := range readMatchTable(f) {
		f.Add(c.filter, c.topic)
	}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		got := MatchFilter(filter, topic)
		if want := referenceMatch(filter, topic); got != want {
			t.Fatalf("MatchFilter(%q, %q) = %v, reference says %v", filter, topic, got, want)
		}
		if inner, ok := InnerFilter(filter); ok && !strings.HasPrefix(topic, "$share/") && MatchTopic(inner, topic) != got {
			t.Fatalf("MatchTopic(InnerFilter(%q)) disagrees with MatchFilter", filter)
		}
	})
}

func BenchmarkMatchFilter(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		MatchFilter("$share/g/t/a,b/+/x/#", "t/b/y/x/z/w")
	}
}
