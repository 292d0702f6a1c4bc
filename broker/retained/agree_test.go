package retained

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/packet"
)

// The retained store must give a subscription exactly the retained topics
// that packet.MatchFilter, the one matcher, says it receives.
func TestMatchAgreesWithMatchFilter(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	topicWords := []string{"a", "b", "", "$x", "c"}
	filterWords := []string{"a", "b", "", "$x", "+", "#", "a,b", "b,$x", ",c"}
	level := func(words []string) string {
		lv := make([]string, 1+r.IntN(4))
		for i := range lv {
			lv[i] = words[r.IntN(len(words))]
		}
		return strings.Join(lv, "/")
	}
	s := New()
	var stored []string
	for range 300 {
		tp := level(topicWords)
		if packet.ValidateTopicName(tp) != nil || slices.Contains(stored, tp) {
			continue
		}
		stored = append(stored, tp)
		s.Set(&message.Message{Topic: tp, Payload: []byte("1")})
	}
	checked := 0
	for range 3000 {
		f := level(filterWords)
		if packet.ValidateFilter(f) != nil {
			continue
		}
		checked++
		var got, want []string
		s.Match(f, time.Now(), func(m *message.Message) { got = append(got, m.Topic) })
		for _, tp := range stored {
			if packet.MatchFilter(f, tp) {
				want = append(want, tp)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("retained for %q: %q; packet.MatchFilter says %q", f, got, want)
		}
	}
	if checked < 500 {
		t.Fatalf("only %d filters checked", checked)
	}
}
