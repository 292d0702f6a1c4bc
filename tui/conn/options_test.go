package conn

import (
	"strings"
	"testing"

	"github.com/mqttboard/mqttboard/profiles"
)

// TestOptionsPasswordEnv: a profile's password_env is read at connect time,
// password wins over it, and an unset variable is an error that names it
// (the connection then shows it as failed).
func TestOptionsPasswordEnv(t *testing.T) {
	t.Setenv("MQTTBOARD_TEST_PW", "from-env")
	p := profiles.Profile{URL: "mqtt://127.0.0.1:1883", Username: "u", PasswordEnv: "MQTTBOARD_TEST_PW"}
	o, err := Options(p)
	if err != nil || string(o.Password) != "from-env" {
		t.Fatalf("password_env: %q, %v", o.Password, err)
	}

	p.Password = "literal"
	if o, err = Options(p); err != nil || string(o.Password) != "literal" {
		t.Fatalf("password and password_env: %q, %v", o.Password, err)
	}

	p.Password, p.PasswordEnv = "", "MQTTBOARD_TEST_UNSET"
	if _, err = Options(p); err == nil || !strings.Contains(err.Error(), "MQTTBOARD_TEST_UNSET") {
		t.Fatalf("unset variable: %v", err)
	}

	p.PasswordEnv = ""
	if o, err = Options(p); err != nil || o.Password != nil {
		t.Fatalf("no password: %q, %v", o.Password, err)
	}

	c := New(1, 0, "", p)
	c.Profile.PasswordEnv = "MQTTBOARD_TEST_UNSET"
	if cmd := c.Connect(); cmd != nil || c.Status != Failed || !strings.Contains(c.Err, "MQTTBOARD_TEST_UNSET") {
		t.Fatalf("connect with an unset password_env: %v %q", c.Status, c.Err)
	}
}

// TestOptionsTLSNames: the profile's SNI and ALPN reach the client.
func TestOptionsTLSNames(t *testing.T) {
	o, err := Options(profiles.Profile{URL: "mqtts://h:8883", SNI: "broker.example", ALPN: []string{"mqtt"}})
	if err != nil || o.TLS.ServerName != "broker.example" || len(o.TLS.ALPN) != 1 {
		t.Fatalf("TLS %+v, %v", o.TLS, err)
	}
}
