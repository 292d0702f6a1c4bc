package tui

import (
	"fmt"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
	"github.com/mqttboard/mqttboard/tui/brokerpane"
	"github.com/mqttboard/mqttboard/tui/common"
	"github.com/mqttboard/mqttboard/tui/conn"
)

var t0 = time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)

// fixture is a board with fixed content: one connection with a CONNACK,
// two subscriptions, messages on a few topics (one retained, JSON, user
// properties), packets in the log.
func fixture(t testing.TB, w, h int) *Model {
	c := common.Default()
	c.Now = func() time.Time { return t0 }
	c.Copy = func(string) error { return nil } // never OSC 52 onto the test's output
	m := New(Options{Common: c, Offline: true, NoFrameTick: true})
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	cn := m.Set().List[0]
	cn.Profile.URL = "mqtt://127.0.0.1:1883"
	cn.Status = conn.Connected
	ack := client.Connack{Code: packet.Success}
	ack.Props.AssignedClientID = "mqttboard-1"
	ack.Props.ReceiveMaximum = 65535
	ack.Props.TopicAliasMaximum = 1024
	ack.Props.Present = 0
	ack.Props.User = []packet.UserProperty{{Key: "acl", Value: "all"}}
	cn.Connack = &ack
	cn.Subs = []*conn.Subscription{
		{Subscription: cn.Subs[0].Subscription, Code: 1},
		{Subscription: cn.Subs[0].Subscription, Code: 0x87},
	}
	cn.Subs[1].Filter = "secret/#"
	for i := range 12 {
		e := &client.MessageEvent{Time: t0.Add(time.Duration(i) * time.Second)}
		e.Topic = fmt.Sprintf("mqttboard/sensor/%d", i%3)
		e.QoS = byte(i % 2)
		e.Payload = fmt.Appendf(nil, `{"temperature": %d.5, "ok": true}`, 20+i)
		e.Retain = i == 11
		e.Props.User = []packet.UserProperty{{Key: "colour", Value: "blue"}}
		e.Props.ContentType = "application/json"
		cn.Push(e)
		cn.PushPacket(client.TracePacket{Time: e.Time, Packet: &packet.Publish{Topic: e.Topic, QoS: packet.QoS(e.QoS), PacketID: uint16(i), Payload: e.Payload, Props: e.Props}})
	}
	cn.PushPacket(client.TracePacket{Time: t0, Out: true, Packet: &packet.Puback{Ack: packet.Ack{PacketID: 1}}})
	m.Frame(t0)
	return m
}

// brokerSnapshot is a fixed broker state: two sessions (one offline with a
// queue), a shared subscription, log records.
func brokerSnapshot() brokerpane.Snapshot {
	var sn brokerpane.Snapshot
	sn.Addr = "127.0.0.1:1883"
	m := &sn.Metrics
	m.Uptime, m.Sessions, m.SessionsOnline, m.SessionsOffline = 3*time.Minute, 2, 1, 1
	m.Subscriptions, m.Retained, m.RetainedBytes, m.SharedGroups = 3, 4, 2048, 1
	m.MessagesReceived, m.MessagesSent, m.BytesReceived, m.BytesSent, m.Queued = 120, 240, 9000, 18000, 5
	sn.Sessions = []broker.SessionInfo{
		{ClientID: "mqttboard-1", Connected: true, Protocol: "5.0", Address: "127.0.0.1:50000", Published: 12, Received: 240,
			Subscriptions: []broker.SubscriptionInfo{{Filter: "mqttboard/#", QoS: 1}, {Filter: "$share/g/plant/+", QoS: 0, ID: 7}}},
		{ClientID: "sensor-7", Protocol: "3.1.1", Address: "10.0.0.7:41000", Queued: 5, Dropped: 2, Published: 108,
			Subscriptions: []broker.SubscriptionInfo{{Filter: "cmd/sensor-7", QoS: 1}}},
	}
	ts := float64(t0.Unix())
	sn.Logs = []broker.LogRecord{
		{Timestamp: ts, EventType: "client connected", ClientID: "mqttboard-1", Address: "127.0.0.1:50000"},
		{Timestamp: ts + 1, EventType: "subscribed", ClientID: "mqttboard-1", Topic: "mqttboard/#"},
		{Timestamp: ts + 2, EventType: "client disconnected", ClientID: "sensor-7", Reason: "keep alive timeout"},
	}
	return sn
}

func strip(s string) []byte { return []byte(ansi.Strip(s)) }

// TestGoldenViews renders the whole board and each pane at 80×24 and
// 120×40; run with -update to rewrite testdata after a deliberate change.
func TestGoldenViews(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			m := fixture(t, w, h)
			golden.RequireEqual(t, strip(m.View()))
			for _, id := range []PaneID{Connections, Subscriptions, Messages, Publish} {
				t.Run(paneNames[id], func(t *testing.T) {
					golden.RequireEqual(t, strip(m.Pane(id).View()))
				})
			}
			t.Run("packetlog+topictree", func(t *testing.T) {
				m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("L")})
				m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("T")})
				m.Frame(t0)
				golden.RequireEqual(t, strip(m.View()))
			})
			t.Run("subscribe-form", func(t *testing.T) {
				m.focusPane(Subscriptions)
				m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("a")})
				golden.RequireEqual(t, strip(m.View()))
			})
			t.Run("help", func(t *testing.T) {
				m.Update(tea.KeyMsg{Type: tea.KeyCtrlX})
				m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("?")})
				golden.RequireEqual(t, strip(m.View()))
			})
		})
	}
}

// TestGoldenConnectionViews renders the connection form (editing the
// fixture's connection) and the server-info view at 80×24 and 120×40.
func TestGoldenConnectionViews(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			for _, c := range []struct{ name, key string }{{"connection-form", "e"}, {"server-info", "i"}} {
				t.Run(c.name, func(t *testing.T) {
					m := fixture(t, w, h)
					m.focusPane(Connections)
					m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(c.key)})
					golden.RequireEqual(t, strip(m.View()))
				})
			}
		})
	}
}

// TestGoldenMoreViews renders the merged message list, the topic history
// and the publish form with user-property rows, at 80×24 and 120×40.
func TestGoldenMoreViews(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			t.Run("merged-list", func(t *testing.T) {
				m := fixture(t, w, h)
				m.focusPane(Messages)
				m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("a")})
				m.Frame(t0)
				golden.RequireEqual(t, strip(m.View()))
			})
			t.Run("topic-history", func(t *testing.T) {
				m := fixture(t, w, h)
				m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("T")})
				m.focusPane(Topics)
				m.Frame(t0)
				// mqttboard › sensor › 0 (the tree opens expanded).
				m.Update(tea.KeyMsg{Type: tea.KeyDown})
				m.Update(tea.KeyMsg{Type: tea.KeyDown})
				m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("h")})
				golden.RequireEqual(t, strip(m.View()))
			})
			t.Run("topic-history-diff", func(t *testing.T) {
				m := fixture(t, w, h)
				m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("T")})
				m.focusPane(Topics)
				m.Frame(t0)
				m.Update(tea.KeyMsg{Type: tea.KeyDown})
				m.Update(tea.KeyMsg{Type: tea.KeyDown})
				m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("h")})
				m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("d")})
				golden.RequireEqual(t, strip(m.View()))
			})
			t.Run("packet-decode", func(t *testing.T) {
				m := fixture(t, w, h)
				m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("L")})
				m.focusPane(Packets)
				m.Update(tea.KeyMsg{Type: tea.KeyUp}) // the last PUBLISH, before the PUBACK
				m.Update(tea.KeyMsg{Type: tea.KeyEnter})
				golden.RequireEqual(t, strip(m.View()))
			})
			t.Run("connection-retrying", func(t *testing.T) {
				m := fixture(t, w, h)
				cn := m.Set().Current()
				cn.Status, cn.Attempt, cn.NextTry, cn.Connack = conn.Reconnecting, 3, t0.Add(4*time.Second), nil
				cn.Err = "connect to mqtt://127.0.0.1:1883: dial tcp 127.0.0.1:1883: connect: connection refused — is a broker running there? check the URL (e edits the connection), r retries now"
				m.focusPane(Connections)
				m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("i")})
				golden.RequireEqual(t, strip(m.View()))
			})
			t.Run("broker", func(t *testing.T) {
				m := fixture(t, w, h)
				m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("B")})
				m.focusPane(Broker)
				m.Update(brokerpane.SnapshotMsg{Snapshot: brokerSnapshot()})
				golden.RequireEqual(t, strip(m.View()))
			})
			t.Run("message-details", func(t *testing.T) {
				m := fixture(t, w, h)
				pushFull(m)
				m.focusPane(Messages)
				m.Update(tea.KeyMsg{Type: tea.KeyEnter})
				golden.RequireEqual(t, strip(m.View()))
			})
			t.Run("publish-user-properties", func(t *testing.T) {
				m := fixture(t, w, h)
				m.focusPane(Publish)
				for _, k := range []tea.KeyMsg{{Type: tea.KeyDown}, {Type: tea.KeyDown}, {Type: tea.KeyDown}, {Type: tea.KeyDown}, {Type: tea.KeyEnter},
					{Type: tea.KeyRunes, Runes: []rune("unit")}, {Type: tea.KeyEnter}, {Type: tea.KeyRunes, Runes: []rune("celsius")}, {Type: tea.KeyEnter},
					{Type: tea.KeyEnter}, {Type: tea.KeyRunes, Runes: []rune("site")}, {Type: tea.KeyEnter}, {Type: tea.KeyRunes, Runes: []rune("north")}, {Type: tea.KeyEnter}} {
					m.Update(k)
				}
				golden.RequireEqual(t, strip(m.View()))
			})
		})
	}
}
