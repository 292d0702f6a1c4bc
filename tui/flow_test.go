package tui

import (
	"testing"

	tea "github.com/charmbracelet/bubbletea"
)

// TestFlowFirstRun is the first run: the bundled broker starts, the local
// connection connects, the user subscribes, publishes with a user property
// and sees the message, its property and the PUBACK; adds a second
// connection; filters the list.
func TestFlowFirstRun(t *testing.T) {
	f := startBoard(t, 120, 40)
	f.waitText("CONNACK success", "mqttboard/#")

	// Subscribe from the form: Publish -> Messages -> Subscriptions.
	f.keys(tea.KeyShiftTab, tea.KeyShiftTab, "a", tea.KeyCtrlU, "flow/#", tea.KeyEnter, " ")
	f.waitText("Subscribe on local", "flow/#")
	f.keys(tea.KeyCtrlS)
	// The SUBACK, not just the row: the publish below runs in a command
	// goroutine of its own and must not overtake the SUBSCRIBE.
	f.waitLine(`flow/#\s+q1 0`)

	// Publish flow/a with two user properties, added as key/value rows:
	// Subscriptions -> Messages -> Publish, topic, down to User props.
	f.keys(tea.KeyTab, tea.KeyTab, tea.KeyEnter, tea.KeyCtrlU, "flow/a", tea.KeyEnter,
		tea.KeyDown, tea.KeyDown, tea.KeyDown,
		tea.KeyEnter, "colour", tea.KeyEnter, "blue", tea.KeyEnter,
		tea.KeyEnter, "size", tea.KeyEnter, "XL", tea.KeyEnter)
	f.waitLine(`size\s+= XL`)
	f.keys(tea.KeyCtrlS)
	// On the received message's properties, in order.
	f.waitText("flow/a", "PUBACK success", `"colour"="blue" "size"="XL"`)
	// The subscription counted it.
	f.waitLine(`flow/#\s+q1 1`)

	// Details: hex view of the selected message.
	f.keys(tea.KeyShiftTab, "v", "v")
	f.waitText("hex", "7b 22 74 65")

	// Filter the list by topic: nothing under other/.
	f.keys("/", "other/#", tea.KeyEnter)
	f.waitText("no message matches the filter")
	f.keys("/", tea.KeyEsc)
	f.waitLine(`flow/a\s+q1`)

	// A second connection to the same broker, focused and connected.
	f.keys(tea.KeyShiftTab, tea.KeyShiftTab, "l")
	f.waitLine(`▸● local2\s+✓`)
	f.waitText("CONNACK success")

	f.quit()
	m := f.m
	if n := len(m.Set().List); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
	c := m.Set().List[0]
	if c.Status.String() != "connected" {
		t.Fatalf("status %v", c.Status)
	}
	if got := c.Subs; len(got) != 2 || got[1].Count != 1 {
		t.Fatalf("subscriptions %+v", got)
	}
	msg, _ := c.Messages.Get(c.Messages.End() - 1)
	// The broker appends flespi's timestamp and cid after ours.
	if u := msg.Props.User; len(u) < 2 || u[0].Key != "colour" || u[1].Value != "XL" {
		t.Fatalf("received user properties %+v", u)
	}
}
