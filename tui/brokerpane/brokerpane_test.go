package brokerpane

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/tui/common"
)

// TestPollingRounds: B, B, B (show, hide, show) keeps one snapshot loop:
// the first round's snapshot, arriving late, schedules nothing.
func TestPollingRounds(t *testing.T) {
	s := broker.New(broker.Options{Listen: "127.0.0.1:0"})
	defer s.Close()
	p := New(common.Default(), func() *broker.Server { return s })
	p.SetSize(80, 20)
	first := p.Poll()
	p.Stop()
	second := p.Poll()
	if cmd := p.Update(first()); cmd != nil {
		t.Error("a stopped round's snapshot scheduled another")
	}
	if cmd := p.Update(second()); cmd == nil {
		t.Error("the current round's snapshot scheduled no next one")
	}
	if v := ansi.Strip(p.View()); !strings.Contains(v, "0 sessions (0 online, 0 offline)") {
		t.Errorf("view:\n%s", v)
	}
}
