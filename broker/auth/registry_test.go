package auth

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/packet"
)

// clock is a settable time for lifetimes.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func open(t *testing.T, st storage.Store, o Options) (*Registry, string) {
	t.Helper()
	r, gen, err := Open(st, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r, gen
}

func ptr[T any](v T) *T { return &v }

// TestMasterBootstrap: a store holding no master token gets one generated
// once; a store that keeps it never generates another; a configured key is
// used as given.
func TestMasterBootstrap(t *testing.T) {
	st := storage.NewMem()
	r, gen := open(t, st, Options{})
	if !ValidKey(gen) {
		t.Fatalf("generated %q", gen)
	}
	if id, code, why := r.Authenticate(gen, nil, false); id == nil || id.Type != Master || id.Account != 1 {
		t.Fatalf("generated master refused: %v %s", code, why)
	}
	r.Close()
	r2, gen2 := open(t, st, Options{})
	if gen2 != "" {
		t.Fatal("a second master generated although the store holds one")
	}
	if id, _, _ := r2.Authenticate(gen, nil, false); id == nil {
		t.Fatal("the stored master did not survive reopening")
	}
	key := strings.Repeat("k", KeyLen)
	r3, gen3 := open(t, storage.NewMem(), Options{MasterKey: key})
	if gen3 != "" {
		t.Fatal("generated although a master key was given")
	}
	if id, _, _ := r3.Authenticate(key, nil, false); id == nil || id.Type != Master {
		t.Fatal("configured master refused")
	}
	if _, _, err := Open(storage.NewMem(), Options{MasterKey: "short"}); err == nil {
		t.Fatal("a short master key was accepted")
	}
}

// TestPresentationForms: the four ways flespi takes a token in CONNECT,
// and what is refused with which code.
func TestPresentationForms(t *testing.T) {
	r, master := open(t, storage.NewMem(), Options{})
	tk, err := r.CreateToken(1, TokenSpec{TTL: ptr[int64](3600)})
	if err != nil {
		t.Fatal(err)
	}
	idStr := func(id uint64) string { return strings.TrimLeft(idKey(id), "0") }
	for _, c := range []struct {
		name string
		user string
		pass []byte
		has  bool
		want uint64 // token id, 0 = refused
		code packet.ReasonCode
	}{
		{"username", tk.Key, nil, false, tk.ID, 0},
		{"username with a password", tk.Key, []byte("x"), true, tk.ID, 0},
		{"password", "anyone", []byte(tk.Key), true, tk.ID, 0},
		{"FlespiToken in username", "FlespiToken " + tk.Key, nil, false, tk.ID, 0},
		{"16-byte form", idStr(tk.ID), []byte(tk.Key[:16]), true, tk.ID, 0},
		{"16-byte form, wrong prefix", idStr(tk.ID), []byte(master[:16]), true, 0, packet.BadUserNameOrPassword},
		{"no credentials", "", nil, false, 0, packet.BadUserNameOrPassword},
		{"unknown key", strings.Repeat("z", 64), nil, false, 0, packet.BadUserNameOrPassword},
		{"FlespiToken unknown", "FlespiToken nope", nil, false, 0, packet.BadUserNameOrPassword},
		{"master as username", master, nil, false, 1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, code, _ := r.Authenticate(c.user, c.pass, c.has)
			switch {
			case c.want == 0 && id != nil:
				t.Fatalf("accepted as token %d", id.TokenID)
			case c.want == 0 && code != c.code:
				t.Fatalf("code %#x, want %#x", code, c.code)
			case c.want != 0 && id == nil:
				t.Fatalf("refused: %#x", code)
			case c.want != 0 && c.want != 1 && id.TokenID != c.want:
				t.Fatalf("token %d, want %d", id.TokenID, c.want)
			}
		})
	}
}

// TestLifetime: disabled refuses; a token is valid while expire or ttl is;
// a connection keeps a ttl token alive; expiry deletes it and revokes.
func TestLifetime(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	r, _ := open(t, storage.NewMem(), Options{Now: clk.now})
	revoked := make(chan uint64, 10)
	r.Watch(func(id uint64, _ string) { revoked <- id })

	off, _ := r.CreateToken(1, TokenSpec{TTL: ptr[int64](60), Enabled: ptr(false)})
	if id, code, _ := r.Authenticate(off.Key, nil, false); id != nil || code != packet.NotAuthorized {
		t.Fatalf("disabled token: %v %#x", id, code)
	}
	ttl, _ := r.CreateToken(1, TokenSpec{TTL: ptr[int64](60)})
	exp, _ := r.CreateToken(1, TokenSpec{Expire: ptr(clk.now().Unix() + 30)})
	both, _ := r.CreateToken(1, TokenSpec{Expire: ptr(clk.now().Unix() + 10), TTL: ptr[int64](100)})
	r.Acquire(ttl.ID) // a live session holds it
	clk.add(61 * time.Second)
	if id, _, _ := r.Authenticate(ttl.Key, nil, false); id == nil {
		t.Fatal("a ttl token in use expired")
	}
	if id, code, _ := r.Authenticate(exp.Key, nil, false); id != nil || code != packet.NotAuthorized {
		t.Fatal("a token past expire was accepted")
	}
	if id, _, _ := r.Authenticate(both.Key, nil, false); id == nil {
		t.Fatal("past expire but within ttl: flespi keeps it valid")
	}
	r.Release(ttl.ID) // ttl counts from now
	clk.add(59 * time.Second)
	if id, _, _ := r.Authenticate(ttl.Key, nil, false); id == nil {
		t.Fatal("ttl counted from creation, not from last use")
	}
	clk.add(2 * time.Second)
	if id, _, _ := r.Authenticate(ttl.Key, nil, false); id != nil {
		t.Fatal("ttl lapsed but accepted")
	}
	r.expire()
	got := map[uint64]bool{}
	for len(revoked) > 0 {
		got[<-revoked] = true
	}
	if !got[ttl.ID] || !got[exp.ID] || !got[both.ID] {
		t.Fatalf("revoked %v; want %d, %d and %d", got, ttl.ID, exp.ID, both.ID)
	}
	if _, ok := r.Token(ttl.ID); ok {
		t.Fatal("an expired token was not deleted")
	}
	if _, err := r.CreateToken(1, TokenSpec{}); err == nil {
		t.Fatal("a token without a lifetime was created")
	}
}

// TestAccounts: the branch rules, x-flespi-cid, depth, deletion.
func TestAccounts(t *testing.T) {
	st := storage.NewMem()
	r, master := open(t, st, Options{})
	a, err := r.CreateAccount(1, "child")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := r.CreateAccount(a.ID, "grandchild")
	c, _ := r.CreateAccount(1, "sibling")
	if !r.Sees(1, b.ID) || !r.Sees(a.ID, b.ID) || r.Sees(b.ID, a.ID) || r.Sees(c.ID, a.ID) || r.Sees(a.ID, 1) {
		t.Fatal("Sees does not follow the tree")
	}
	d, _ := r.CreateAccount(b.ID, "level 4")
	if _, err := r.CreateAccount(d.ID, "level 5"); err == nil {
		t.Fatal("a fifth level was created")
	}
	caller, err := r.Authorize("FlespiToken "+master, "")
	if err != nil || caller.CID != 1 || !caller.Master() {
		t.Fatalf("authorize: %v %+v", err, caller)
	}
	if caller, err = r.Authorize("FlespiToken "+master, itoa(b.ID)); err != nil || caller.CID != b.ID {
		t.Fatalf("x-flespi-cid: %v", err)
	}
	ct, _ := r.CreateToken(a.ID, TokenSpec{TTL: ptr[int64](60), Access: &Access{Type: Master}})
	if _, err := r.Authorize("FlespiToken "+ct.Key, itoa(c.ID)); err == nil {
		t.Fatal("a child's master acted in its sibling")
	}
	if _, err := r.Authorize("Bearer "+master, ""); err == nil {
		t.Fatal("another scheme was accepted")
	}
	// Reopened from the store: the same tree and tokens.
	r.Close()
	r2, _ := open(t, st, Options{})
	if !r2.Sees(1, b.ID) || r2.Sees(c.ID, b.ID) {
		t.Fatal("the tree did not survive reopening")
	}
	if id, _, _ := r2.Authenticate(ct.Key, nil, false); id == nil || id.Account != a.ID {
		t.Fatal("a subaccount token did not survive reopening")
	}
	revoked := make(chan uint64, 10)
	r2.Watch(func(id uint64, _ string) { revoked <- id })
	if _, err := r2.DeleteAccounts(1, itoa(a.ID)); err != nil {
		t.Fatal(err)
	}
	if <-revoked != ct.ID {
		t.Fatal("the deleted account's token was not revoked")
	}
	if as, _ := r2.Accounts(1, "all"); len(as) != 1 || as[0].ID != c.ID {
		t.Fatalf("after deleting the branch: %+v", as)
	}
	n := r2.next
	r2.Close()
	r3, _ := open(t, st, Options{})
	if r3.next != n {
		t.Fatalf("the id counter went from %d to %d: ids would be reused", n, r3.next)
	}
}

func itoa(n uint64) string { return strings.TrimLeft(idKey(n), "0") }

// TestAccessValidate: what an ACL may hold.
func TestAccessValidate(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{
		{`{"type":2,"acl":[{"uri":"mqtt","topic":"a/#","actions":["publish","subscribe"]}]}`, true},
		{`{"type":2,"acl":[{"uri":"mqtt","topic":"a,b/+","actions":["subscribe"]}]}`, true},
		{`{"type":2,"acl":[{"uri":"gw/devices","methods":["GET"],"ids":[1,2]}]}`, true},
		{`{"type":2,"acl":[{"uri":"mqtt","topic":"flespi/log/#","actions":["subscribe"]}]}`, false},
		{`{"type":2,"acl":[{"uri":"mqtt","topic":"a/#/b","actions":["subscribe"]}]}`, false},
		{`{"type":2,"acl":[{"uri":"mqtt","topic":"a","actions":["delete"]}]}`, false},
		{`{"type":2,"acl":[{"uri":"mqtt","topic":"a","actions":[]}]}`, false},
		{`{"type":0,"acl":[{"uri":"mqtt","topic":"a","actions":["publish"]}]}`, false},
		{`{"type":3}`, false},
		{`{"type":2,"color":1}`, false},
		{`{"type":2} {}`, false},
	} {
		_, err := ParseAccess([]byte(c.in))
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v", c.in, err)
		}
	}
}
