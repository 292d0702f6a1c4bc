package conn

import "testing"

func TestRingDropsOldest(t *testing.T) {
	r := NewRing[int](3)
	for i := range 5 {
		r.Push(i)
	}
	got, d := r.Drain(nil)
	if d != 2 || len(got) != 3 || got[0] != 2 || got[2] != 4 {
		t.Fatalf("Drain = %v, %d", got, d)
	}
	if got, d = r.Drain(got[:0]); len(got) != 0 || d != 0 {
		t.Fatalf("second Drain = %v, %d", got, d)
	}
}

func TestHistory(t *testing.T) {
	h := NewHistory[int](3)
	for i := range 5 {
		h.Add(i * 10)
	}
	if h.Len() != 3 || h.First() != 2 || h.End() != 5 || h.Dropped != 2 {
		t.Fatalf("history %+v", h)
	}
	if v, ok := h.Get(4); !ok || v != 40 {
		t.Fatalf("Get(4) = %v %v", v, ok)
	}
	if _, ok := h.Get(1); ok {
		t.Fatal("Get(1) of a dropped item")
	}
}
