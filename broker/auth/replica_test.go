package auth

import (
	"testing"

	"github.com/mqttboard/mqttboard/broker/storage"
)

// TestReplicaRoundTrip: what one registry's API changes, another applies:
// a token created, changed and deleted, a subaccount created and deleted;
// a snapshot makes a third hold the same.
func TestReplicaRoundTrip(t *testing.T) {
	master := NewKey()
	a, _, err := Open(storage.NewMem(), Options{MasterKey: master})
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := Open(storage.NewMem(), Options{MasterKey: master})
	var sent [][]byte
	a.Replicate(func(c []byte) { sent = append(sent, append([]byte(nil), c...)) })
	flush := func() {
		for _, c := range sent {
			if err := b.ApplyReplica(c); err != nil {
				t.Fatal(err)
			}
		}
		sent = nil
	}
	ttl := int64(3600)
	tk, err := a.CreateToken(1, TokenSpec{TTL: &ttl})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := a.CreateAccount(1, "sub")
	if err != nil {
		t.Fatal(err)
	}
	flush()
	if got, ok := b.Token(tk.ID); !ok || got.Key != tk.Key {
		t.Fatalf("b has %+v %v", got, ok)
	}
	if as, _ := b.Accounts(1, "all"); len(as) != 1 || as[0].ID != acct.ID {
		t.Fatalf("b's subaccounts %+v", as)
	}
	off := false
	if _, err := a.UpdateTokens(1, itoa(tk.ID), TokenSpec{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	flush()
	if got, _ := b.Token(tk.ID); got.Enabled {
		t.Fatal("the disabled token is enabled on b")
	}
	c, _, _ := Open(storage.NewMem(), Options{MasterKey: master})
	if err := c.RestoreSnapshot(a.Snapshot()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteTokens(1, itoa(tk.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteAccounts(1, itoa(acct.ID)); err != nil {
		t.Fatal(err)
	}
	flush()
	if _, ok := b.Token(tk.ID); ok {
		t.Fatal("the deleted token is on b")
	}
	if as, _ := b.Accounts(1, "all"); len(as) != 0 {
		t.Fatalf("b's subaccounts after the deletion %+v", as)
	}
	if got, ok := c.Token(tk.ID); !ok || got.Enabled {
		t.Fatalf("the snapshot gave c %+v %v", got, ok)
	}
	// The master token stays the same everywhere: one key, one token.
	for _, r := range []*Registry{a, b} {
		if ts, _ := r.Tokens(1, "all"); len(ts) != 1 || ts[0].Key != master || !ts[0].Enabled {
			t.Fatalf("tokens %+v, want the master alone", ts)
		}
	}
	if ts, _ := c.Tokens(1, "all"); len(ts) != 2 || ts[0].Key != master {
		t.Fatalf("c's tokens %+v, want the master and the disabled one", ts)
	}
}

// FuzzApplyReplica: whatever another node sends, ApplyReplica refuses or
// applies it without panicking, and the registry still answers.
func FuzzApplyReplica(f *testing.F) {
	f.Add([]byte(`{"c":[{"t":{"id":5,"key":"k","cid":1,"enabled":true,"ttl":10}}]}`))
	f.Add([]byte(`{"c":[{"a":{"id":3,"cid":1,"name":"x"}},{"dt":5},{"da":3}],"full":true}`))
	f.Add([]byte(`{"c":[{"t":{"id":2,"key":"same","cid":1}},{"t":{"id":1,"key":"same","cid":1}}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _, err := Open(storage.NewMem(), Options{MasterKey: NewKey()})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		r.ApplyReplica(b)
		r.Tokens(1, "all")
		r.Accounts(1, "all")
		r.Sees(1, 7)
	})
}
