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
				if got != w {
					t.Fatalf("round %d step %d: take(%s, %d) = %d, want %d", round, i, id, seq, got, w)
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
			if got := f.take(k.id, k.seq); got != w {
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
