package tui

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/mqttboard/mqttboard/packet"
)

// TestServerInfoToken: `i` shows a CONNACK "token" (flespi's, or the
// bundled broker's with --auth token) as which token, whose account, what
// type, its lifetime and its MQTT grants, escaped, instead of raw JSON.
func TestServerInfoToken(t *testing.T) {
	m := fixture(t, 120, 40)
	cn := m.Set().Current()
	cn.Connack.Props.User = []packet.UserProperty{{Key: "token", Value: `{"id":5,"cid":7,"info":"reader\u001b]2;x\u0007","enabled":true,"expire":0,"ttl":3600,` +
		`"access":{"type":2,"acl":[{"uri":"mqtt","topic":"sensors/#","actions":["publish","subscribe"]},{"uri":"gw/devices","methods":["GET"]}]}}`}}
	m.focusPane(Connections)
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("i")})
	v := string(strip(m.View()))
	for _, want := range []string{"token #5  account 7  ACL", "token ttl 1h0m0s", "token may publish+subscribe sensors/#"} {
		if !strings.Contains(v, want) {
			t.Errorf("server info lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, `{"id":5`) || strings.Contains(m.View(), "\x1b]2;") {
		t.Errorf("raw JSON or an escape sequence reached the screen:\n%s", v)
	}
}
