package tui

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
	"github.com/mqttboard/mqttboard/profiles"
	"github.com/mqttboard/mqttboard/tui/conn"
)

// bigJSON is a 937-byte JSON payload: the size the issue could not scroll.
func bigJSON() []byte {
	var b strings.Builder
	b.WriteString(`{"device":"probe-7","readings":[`)
	for i := 0; b.Len() < 880; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"t":%d,"v":%d.25}`, 1700000000+i, 20+i%9)
	}
	b.WriteString(`],"last":"end-marker"}`)
	for b.Len() < 937 {
		b.WriteString(" ")
	}
	return []byte(b.String())
}

// pushFull adds a message with every PUBLISH field set, delivered by a
// subscription with identifier 7, as the newest of the fixture.
func pushFull(m *Model) *client.MessageEvent {
	cn := m.Set().Current()
	cn.Subs = append(cn.Subs, &conn.Subscription{Subscription: profiles.Subscription{Filter: "plant/+/probe", ID: 7}, Code: 1})
	e := &client.MessageEvent{Time: t0}
	e.Topic, e.QoS, e.Retain, e.Dup, e.PacketID = "plant/7/probe", 2, false, true, 4242
	e.Payload = bigJSON()
	p := &e.Props
	p.TopicAlias, p.PayloadFormat, p.MessageExpiry = 3, 1, 120
	p.Present = p.Present.Add(packet.PropTopicAlias).Add(packet.PropPayloadFormat).Add(packet.PropMessageExpiry)
	p.ContentType, p.ResponseTopic, p.CorrelationData = "application/json", "plant/7/reply", []byte("req-1")
	p.SubscriptionIDs = []uint32{7}
	for i := range 12 {
		p.User = append(p.User, packet.UserProperty{Key: fmt.Sprintf("key%02d", i), Value: fmt.Sprintf("value %d", i)})
	}
	cn.Push(e)
	m.Frame(t0)
	return e
}

// TestMessageDetails is issue #10's item 2: details were one truncated line
// (user properties cut, a 937-byte JSON payload in 6 lines, no scrolling).
// The full view shows every field on its own line, every user property in
// order, the delivering subscription, and scrolls to the payload's end.
func TestMessageDetails(t *testing.T) {
	m := fixture(t, 80, 24)
	var copied []string
	m.c.Copy = func(s string) error { copied = append(copied, s); return nil }
	e := pushFull(m)
	m.focusPane(Messages)
	m.Update(tea.KeyMsg{Type: tea.KeyEnter})
	seen := string(strip(m.View()))
	for _, want := range []string{"topic             plant/7/probe", "qos               2", "retain            false",
		"dup               true", "packet id         4242", "topic alias       3", "payload format    1 (UTF-8 text)",
		"message expiry    120 s", "content type      application/json", "response topic    plant/7/reply",
		"correlation data  req-1  hex 7265712d31", "subscription ids  7", "user properties   12"} {
		if !strings.Contains(seen, want) {
			t.Errorf("no %q in:\n%s", want, seen)
		}
	}
	// Scroll down a page at a time (bounded) collecting every row shown.
	for range 40 {
		m.Update(tea.KeyMsg{Type: tea.KeyPgDown})
		seen += string(strip(m.View()))
	}
	for i := range 12 {
		if want := fmt.Sprintf("key%02d = value %d", i, i); !strings.Contains(seen, want) {
			t.Errorf("user property %d not shown on a line of its own", i)
		}
	}
	for _, want := range []string{"delivered by      plant/+/probe (subscription id 7)", `"device": "probe-7"`, `"last": "end-marker"`} {
		if !strings.Contains(seen, want) {
			t.Errorf("no %q after scrolling", want)
		}
	}
	// Fold everything: the readings array collapses to one line.
	m.Update(press("z"))
	m.Update(tea.KeyMsg{Type: tea.KeyEnd})
	if v := string(strip(m.View())); !strings.Contains(v, `"readings": […],`) {
		t.Errorf("readings not folded:\n%s", v)
	}
	// y copies the payload, Y the message as JSON.
	for _, k := range []string{"y", "Y"} {
		_, cmd := m.Update(press(k))
		m.Update(cmd())
	}
	if len(copied) != 2 || copied[0] != string(e.Payload) {
		t.Fatalf("copied %d texts; first %q", len(copied), copied)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(copied[1]), &rec); err != nil || rec["topic"] != "plant/7/probe" || rec["packet_id"] != 4242.0 {
		t.Errorf("Y copied %q (%v)", copied[1], err)
	}
	if !strings.Contains(m.status, "copied the message as JSON") {
		t.Errorf("status %q", m.status)
	}
	m.Update(tea.KeyMsg{Type: tea.KeyEsc})
	if m.modal() != nil {
		t.Error("esc did not close the details")
	}
}

// TestMessageDetailsMouseWheel scrolls the details with the wheel.
func TestMessageDetailsMouseWheel(t *testing.T) {
	m := fixture(t, 80, 24)
	pushFull(m)
	m.focusPane(Messages)
	m.Update(tea.KeyMsg{Type: tea.KeyEnter})
	before := string(strip(m.View()))
	m.Update(tea.MouseMsg{X: 10, Y: 10, Button: tea.MouseButtonWheelDown, Action: tea.MouseActionPress})
	if after := string(strip(m.View())); after == before || !strings.Contains(after, "line 4/") {
		t.Errorf("the wheel did not scroll:\n%s", after)
	}
}
