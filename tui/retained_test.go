package tui

import (
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/profiles"
	"github.com/mqttboard/mqttboard/tui/conn"
)

// drive runs cmd as the program would and feeds what it returns back into
// the model, following batches (bounded depth).
func drive(m *Model, cmd tea.Cmd, depth int) {
	if cmd == nil || depth > 8 {
		return
	}
	switch msg := cmd().(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			drive(m, c, depth+1)
		}
	default:
		_, next := m.Update(msg)
		drive(m, next, depth+1)
	}
}

// TestDeleteRetainedAsksTheBroker: the topic tree's delete asks the broker
// what it holds under the node, so a retained message the board never saw
// (its subscription does not cover it) is counted and deleted too.
func TestDeleteRetainedAsksTheBroker(t *testing.T) {
	m := New(Options{NoFrameTick: true})
	t.Cleanup(m.Close)
	cn := m.Set().List[0]
	cn.Subs[0].Filter = "farm/seen/#"
	// The board's first-run subscription covers the probe FindRetained
	// publishes (mqttboard/probe/...): it must not show.
	cn.Subs = append(cn.Subs, &conn.Subscription{Subscription: profiles.Subscription{Filter: "mqttboard/#"}})
	connectNow(t, m, cn)

	pub, err := client.New(client.Options{URL: cn.Profile.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for _, tp := range []string{"farm/seen/a", "farm/unseen/b", "farm/unseen/c/d", "other/x"} {
		if _, err := pub.Publish(t.Context(), &client.Message{Topic: tp, Payload: []byte("1"), Retain: true, QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	// The board sees farm/seen/a only; drain frames until it is in the tree.
	tick := time.NewTicker(FrameInterval)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for cn.Topics.Total == 0 {
		select {
		case now := <-tick.C:
			m.Frame(now)
		case <-deadline:
			t.Fatal("the board never saw farm/seen/a")
		}
	}

	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("T")})
	m.focusPane(Topics)
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("D")}) // on "farm", the first row
	drive(m, cmd, 0)
	if v := string(strip(m.View())); !strings.Contains(v, "Delete 3 retained message(s) under farm with") {
		t.Fatalf("want the broker's count (3), not the board's (1):\n%s", v)
	}
	// The probe went out before the lookup answered; a marker published
	// now reaches the board after it. Once the marker is in, the probe
	// must be nowhere: not in the list, the tree or a counter.
	if _, err := pub.Publish(t.Context(), &client.Message{Topic: "mqttboard/marker", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	for cn.Topics.Children["mqttboard"] == nil || cn.Topics.Children["mqttboard"].Children["marker"] == nil {
		select {
		case now := <-tick.C:
			m.Frame(now)
		case <-deadline:
			t.Fatal("the board never saw mqttboard/marker")
		}
	}
	if n := cn.Topics.Children["mqttboard"].Total; n != 1 || cn.Topics.Children["mqttboard"].Children["probe"] != nil {
		t.Errorf("the probe is in the topic tree: mqttboard has %d messages", n)
	}
	if cn.Subs[1].Count != 1 || cn.Received != 2 || cn.Messages.Len() != 2 {
		t.Errorf("the probe was counted: subscription %d, received %d, listed %d; want 1, 2, 2", cn.Subs[1].Count, cn.Received, cn.Messages.Len())
	}
	_, cmd = m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("y")})
	drive(m, cmd, 0)
	if !strings.Contains(m.status, "deleted 3 retained messages") {
		t.Fatalf("status %q", m.status)
	}

	// The broker holds only other/x now.
	check, err := client.New(client.Options{URL: cn.Profile.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := check.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	found, complete, err := check.CollectRetained(t.Context(), "#", "probe/check", 5*time.Second)
	if err != nil || !complete || len(found) != 1 || found[0].Topic != "other/x" {
		t.Fatalf("retained left: %d (complete %t, %v)", len(found), complete, err)
	}
}

// TestTopicTreeSelectionFollowsTopic is issue #10's item 4: the cursor was a
// row number, so topics arriving above it moved the selection and D then
// acted on another node.
func TestTopicTreeSelectionFollowsTopic(t *testing.T) {
	m := fixture(t, 120, 40)
	m.Update(press("T"))
	m.focusPane(Topics)
	m.Frame(t0)
	// mqttboard, sensor, 0, 1, 2: select mqttboard/sensor/2 (retained).
	for range 4 {
		m.Update(tea.KeyMsg{Type: tea.KeyDown})
	}
	cn := m.Set().Current()
	for _, tp := range []string{"a/b", "mqttboard/a", "mqttboard/sensor/10"} {
		e := &client.MessageEvent{Time: t0}
		e.Topic, e.Payload, e.Retain = tp, []byte("1"), true
		cn.Push(e)
	}
	m.Frame(t0)
	m.Update(press("D")) // offline: what the board saw
	if v := string(strip(m.View())); !strings.Contains(v, "Delete 1 retained message(s) under mqttboard/sensor/2 ") {
		t.Fatalf("D is not on mqttboard/sensor/2:\n%s", v)
	}
}

// TestBrokerPane: B shows the bundled broker's side: the board's own
// session with its protocol, address and subscription, the counters, and
// the broker's log.
func TestBrokerPane(t *testing.T) {
	m := New(Options{NoFrameTick: true})
	t.Cleanup(m.Close)
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	cn := m.Set().List[0]
	connectNow(t, m, cn)
	_, cmd := m.Update(press("B"))
	if cmd == nil {
		t.Fatal("B took no snapshot")
	}
	m.Update(cmd()) // one snapshot; the next would come a second later
	m.focusPane(Broker)
	v := view(m)
	id := cn.Connack.Props.AssignedClientID
	for _, want := range []string{"Broker 127.0.0.1:", "1 session (1 online, 0 offline) · 1 subscription", id, "5.0", "mqttboard/# q1", "── log", "connected " + id} {
		if !strings.Contains(v, want) {
			t.Errorf("no %q in:\n%s", want, v)
		}
	}
	m.Update(press("B"))
	if m.center() != Messages || m.focus != Messages {
		t.Errorf("B again: center %v focus %v", paneNames[m.center()], paneNames[m.focus])
	}
}
