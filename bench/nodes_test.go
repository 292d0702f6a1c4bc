package bench

import "testing"

// TestNodesSpread: with a cluster's nodes, publisher i and subscriber i
// are on different nodes, and clients go to every node in turn.
func TestNodesSpread(t *testing.T) {
	c := Config{Addr: "one:1", Nodes: []string{"a:1", "b:1", "c:1"}}
	seen := map[string]int{}
	for i := range 6 {
		p, s := c.addrOf(false, i), c.addrOf(true, i)
		if p == s {
			t.Fatalf("pair %d on one node %s", i, p)
		}
		seen[p]++
		seen[s]++
	}
	if len(seen) != 3 || seen["a:1"] != 4 || seen["b:1"] != 4 || seen["c:1"] != 4 {
		t.Fatalf("spread %v", seen)
	}
	if (&Config{Addr: "one:1"}).addrOf(true, 5) != "one:1" {
		t.Fatal("without nodes every client goes to Addr")
	}
}
