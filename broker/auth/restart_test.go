package auth_test

import (
	"strconv"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/auth"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/broker/storage"
)

// TestTokensSurviveRestart: tokens, subaccounts and the generated master
// token are in the embedded store (bbolt): a broker started again on the
// same directory accepts them, generates no second master token, and
// keeps the accounts' isolation.
func TestTokensSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	run := func() (*sandbox, string, func()) {
		st, err := storage.Open(dir, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		reg, gen, err := auth.Open(st, auth.Options{})
		if err != nil {
			t.Fatal(err)
		}
		srv, addr := brokertest.StartServer(t, broker.Options{Auth: reg})
		return &sandbox{srv: srv, addr: addr, reg: reg, master: gen}, gen, func() { reg.Close(); st.Close() }
	}
	s, master, stop := run()
	if master == "" {
		t.Fatal("no master token generated on an empty store")
	}
	a, err := s.reg.CreateAccount(1, "a")
	if err != nil {
		t.Fatal(err)
	}
	tk := s.token(t, a.ID, grant("x/#", "subscribe"))
	stop()

	s2, again, stop2 := run()
	defer stop2()
	if again != "" {
		t.Fatal("a second master token was generated although the store holds one")
	}
	c, err := dial(t, s2.addr, &paho.Connect{ClientID: "back", Username: tk.Key, UsernameFlag: true, CleanStart: true})
	if err != nil {
		t.Fatalf("the token did not survive the restart: %v", err)
	}
	if got := c.ack.Properties.User.Get("cid"); got != strconv.FormatUint(a.ID, 10) {
		t.Fatalf("cid %q, want the subaccount %d", got, a.ID)
	}
	if c.sub(t, "y") != 0x87 {
		t.Fatal("the ACL did not survive the restart")
	}
	if _, err := dial(t, s2.addr, &paho.Connect{ClientID: "m", Username: master, UsernameFlag: true, CleanStart: true}); err != nil {
		t.Fatalf("the generated master did not survive: %v", err)
	}
	if as, _ := s2.reg.Accounts(1, "all"); len(as) != 1 || as[0].Name != "a" {
		t.Fatalf("subaccounts after restart: %+v", as)
	}
}
