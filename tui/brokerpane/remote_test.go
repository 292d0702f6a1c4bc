package brokerpane

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mqttboard/mqttboard/broker/restapi"
	"github.com/mqttboard/mqttboard/tui/common"
)

// TestRemoteEscaped: a remote broker's answers are network bytes: a
// hostile or broken one that puts terminal controls in a session's fields,
// a subscription filter or a log record gets them shown escaped, never
// sent to the terminal.
func TestRemoteEscaped(t *testing.T) {
	const evil = `\u001b]2;PWNED\u0007\u001b[2J\u0085`
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/metrics":
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("mqttboard_sessions{state=\"online\"} 1\n"))
		case strings.HasPrefix(r.URL.Path, "/mqtt/sessions/"):
			w.Write([]byte(`{"result":[{"client_id":"c` + evil + `","connected":true,"protocol":"5` + evil + `","address":"a` + evil + `",` +
				`"subscriptions":[{"filter":"f` + evil + `","qos":1}]}]}`))
		case r.URL.Path == "/mqtt/logs":
			w.Write([]byte(`{"result":[{"id":1,"timestamp":1,"event_code":300,"event_type":"t` + evil + `","client_id":"c` + evil + `","reason":"r` + evil + `"}]}`))
		}
	}))
	defer hs.Close()
	p := NewRemote(common.Default(), &restapi.Client{Base: hs.URL})
	p.SetSize(120, 30)
	p.Focus()
	p.Update(SnapshotMsg{Snapshot: TakeRemote(&restapi.Client{Base: hs.URL})})
	if p.snap.Err != nil {
		t.Fatal(p.snap.Err)
	}
	v := p.View() + p.Title()
	if strings.Contains(v, "PWNED\a") || strings.Contains(v, "\x1b]") || strings.Contains(v, "\x1b[2J") || strings.Contains(v, "\u0085") {
		t.Fatalf("raw controls reached the view:\n%q", v)
	}
	// Shown, visibly: ESC as ␛, BEL as ␇, C1 as \u0085.
	for _, want := range []string{"5␛]2", "f␛]2;PWNED␇␛[2J\\u0085", "c␛]2;PWNED"} {
		if !strings.Contains(v, want) {
			t.Errorf("no %q in:\n%s", want, v)
		}
	}
}
