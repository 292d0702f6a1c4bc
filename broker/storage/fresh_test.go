package storage

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestFreshSetAgreesWithMap drives the table and a map with the same
// random puts, takes and client drops, past several growths.
func TestFreshSetAgreesWithMap(t *testing.T) {
	type key struct {
		id  string
		seq uint64
	}
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = "client-" + strconv.Itoa(i) // one string per client, as a session has
	}
	r := rand.New(rand.NewPCG(1, 2))
	var f freshSet // reused across rounds: reset must forget everything
	for round := range 3 {
		want := map[key]int{}
		for i := range 20000 {
			id := ids[r.IntN(len(ids))]
			seq := uint64(r.IntN(400))
			switch op := r.IntN(100); {
			case op < 55:
				f.put(id, seq, i)
				want[key{id, seq}] = i
			case op < 99:
				got := f.take(id, seq)
				w, ok := want[key{id, seq}]
				if !ok {
					w = -1
				}
				delete(want, key{id, seq})
				if got != w && got != -1 {
					t.Fatalf("round %d step %d: take(%s, %d) = %d, want %d (or a miss)", round, i, id, seq, got, w)
				}
			default:
				f.dropClient(id)
				for k := range want {
					if k.id == id {
						delete(want, k)
					}
				}
			}
		}
		for k, w := range want {
			if got := f.take(k.id, k.seq); got != w && got != -1 {
				t.Fatalf("round %d: at the end take(%s, %d) = %d, want %d", round, k.id, k.seq, got, w)
			}
		}
		f.reset()
		if got := f.take(ids[0], 1); got != -1 {
			t.Fatalf("after reset: %d", got)
		}
	}
	// Another string with the same content is a miss, never a wrong hit.
	f.reset()
	a := "dup-id"
	b := string([]byte(a))
	f.put(a, 1, 7)
	if got := f.take(b, 1); got != -1 && got != 7 {
		t.Fatalf("take through another string = %d", got)
	}
}

// BenchmarkFreshSet is the fan-in pattern: 10 sessions, each put taken
// back (acknowledged) 100 deliveries later, the table reset every 1,000.
func BenchmarkFreshSet(b *testing.B) {
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = "client-" + strconv.Itoa(i)
	}
	var f freshSet
	for i := 0; b.Loop(); i++ {
		s, seq := ids[i%10], uint64(i/10)
		f.put(s, seq, i)
		if seq >= 10 {
			f.take(s, seq-10)
		}
		if i%1000 == 999 {
			f.reset()
		}
	}
}

// TestFreshSetHitsInOrder: the broker's pattern (each session's puts in
// seq order, acknowledged a little later, interleaved across sessions,
// sessions deleted and restarted, groups reset) always hits what is there.
func TestFreshSetHitsInOrder(t *testing.T) {
	type key struct {
		id  string
		seq uint64
	}
	ids := []string{"a", "b", "c"}
	var f freshSet
	next := map[string]uint64{}
	want := map[key]int{}
	for round := range 3 {
		for i := range 3000 {
			id := ids[i%3]
			seq := next[id]
			next[id]++
			f.put(id, seq, i)
			want[key{id, seq}] = i
			if seq >= 5 && seq%7 != 0 { // some acks miss the group: fine
				k := key{id, seq - 5}
				w, ok := want[k]
				if !ok {
					w = -1
				}
				delete(want, k)
				if got := f.take(id, seq-5); got != w {
					t.Fatalf("round %d step %d: take(%s, %d) = %d, want %d", round, i, id, seq-5, got, w)
				}
			}
			if i == 1500 {
				f.dropClient("b")
				for k := range want {
					if k.id == "b" {
						delete(want, k)
					}
				}
				next["b"] = 0 // the new session starts again
			}
		}
		f.reset()
		clear(want)
	}
}
