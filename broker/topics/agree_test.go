package topics

import (
	"bufio"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/mqttboard/mqttboard/packet"
)

// The trie must deliver exactly what packet.MatchFilter, the one matcher,
// says a subscription receives. These tests feed both the shared table
// (packet/testdata/topicmatch.txt), random filters and topics, and fuzz
// input.

// trieMatches reports whether an index holding only filter delivers topic.
func trieMatches(filter, topic string) bool {
	x := NewIndex()
	add(x, "c1", filter)
	hit := false
	x.Match(topic, func(*Subscription) { hit = true })
	return hit
}

// comparable reports whether the pair is one the broker would ever put to
// the trie: a filter a SUBSCRIBE may carry and a topic a PUBLISH may carry
// (the broker refuses the rest before routing), within the level limit.
func comparable(filter, topic string) bool {
	inner, ok := packet.InnerFilter(filter)
	return ok && packet.ValidateFilter(filter) == nil && packet.ValidateTopicName(topic) == nil &&
		!strings.HasPrefix(topic, packet.SharePrefix) &&
		CountLevels(inner) <= MaxLevels && CountLevels(topic) <= MaxLevels
}

func checkAgree(t *testing.T, filter, topic string) {
	t.Helper()
	if !comparable(filter, topic) {
		return
	}
	if got, want := trieMatches(filter, topic), packet.MatchFilter(filter, topic); got != want {
		t.Fatalf("trie delivers %q to %q: %v; packet.MatchFilter says %v", topic, filter, got, want)
	}
}

func TestTrieAgreesWithMatchFilterTable(t *testing.T) {
	f, err := os.Open("../../packet/testdata/topicmatch.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "//") {
			continue
		}
		cols := strings.FieldsFunc(line, func(r rune) bool { return r == '\t' })
		if len(cols) != 3 {
			t.Fatalf("bad table line %q", line)
		}
		if !comparable(cols[0], cols[1]) {
			continue
		}
		n++
		want := cols[2] == "true"
		if got := trieMatches(cols[0], cols[1]); got != want {
			t.Errorf("trie: %q receives %q = %v, table says %v", cols[0], cols[1], got, want)
		}
	}
	if n < 50 {
		t.Fatalf("only %d table rows compared", n)
	}
}

// randomLevels joins n levels drawn from words.
func randomLevels(r *rand.Rand, words []string, maxLevels int) string {
	n := 1 + r.IntN(maxLevels)
	lv := make([]string, n)
	for i := range lv {
		lv[i] = words[r.IntN(len(words))]
	}
	return strings.Join(lv, "/")
}

func TestTrieAgreesWithMatchFilterRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	filterWords := []string{"a", "b", "", "$x", "+", "#", "a,b", "b,$x", ",a", "a,a"}
	topicWords := []string{"a", "b", "", "$x", "c", "a,b"}
	prefixes := []string{"", "", "$share/g/", "$share/g:1:2/", "$share/g:1/", "$filter/cid=1/", "$share/g/$filter/x/"}
	checked := 0
	for i := 0; i < 20000; i++ {
		filter := prefixes[r.IntN(len(prefixes))] + randomLevels(r, filterWords, 5)
		topic := randomLevels(r, topicWords, 5)
		if comparable(filter, topic) {
			checked++
		}
		checkAgree(t, filter, topic)
	}
	if checked < 5000 {
		t.Fatalf("only %d random pairs compared", checked)
	}
}

func FuzzTrieAgreesWithMatchFilter(f *testing.F) {
	for _, s := range [][2]string{
		{"a/+/c", "a/b/c"}, {"#", "$SYS/x"}, {"t/a,b/#", "t/b"}, {"$share/g:1:2/+/x", "a/x"},
		{"$filter/cid=1/a,b/+", "b/c"}, {"u/,x", "u/"}, {"+/#", "/"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		checkAgree(t, filter, topic)
	})
}
