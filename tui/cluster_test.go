package tui

import (
	"fmt"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/mqttboard/mqttboard/tui/brokerpane"
)

// TestGoldenBrokerCluster: the broker pane of a local cluster names each
// session's node in its own column (80×24 and 120×40).
func TestGoldenBrokerCluster(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			m := fixture(t, w, h)
			m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("B")})
			m.focusPane(Broker)
			sn := brokerSnapshot()
			sn.Addr += " · cluster of 3 nodes"
			sn.Sessions[0].Node, sn.Sessions[1].Node = "n1", "n3"
			m.Update(brokerpane.SnapshotMsg{Snapshot: sn})
			golden.RequireEqual(t, strip(m.View()))
		})
	}
}

// TestTmuxLocalCluster runs the real binary with --broker-nodes 3 in
// tmux: two more local connections (l, l) land on the second and third
// node, the broker pane (B) lists the three sessions with their nodes, and
// a message published by the third connection (node n3) reaches the first
// one's subscription (node n1).
func TestTmuxLocalCluster(t *testing.T) {
	b := startTmuxBin(t, buildBinary(t), 130, 40, "--broker-nodes", "3")
	b.wait("CONNACK success", "mqttboard/#")
	b.keys("BTab", "BTab", "BTab")
	b.keys("l")
	b.wait("local2")
	b.keys("l")
	b.wait("local3")
	b.waitLine(`▸● local3\s+✓`)
	b.keys("B")
	b.waitLine(`client id\s+node\s+proto`)
	b.waitLine(`● mqttboard-\S+\s+n1\s+5\.0`)
	b.waitLine(`● mqttboard-\S+\s+n2\s+5\.0`)
	b.waitLine(`● mqttboard-\S+\s+n3\s+5\.0`)
	b.wait("cluster of 3 nodes")
	t.Logf("broker pane:\n%s", b.screen)
	b.keys("B", "Tab", "Tab", "Tab")
	b.wait("ctrl+s publishes")
	b.keys("C-s")
	b.keys("BTab", "BTab", "BTab", "Up", "Up")
	b.waitLine(`▸● local\s`)
	b.wait("mqttboard/hello")
	b.keys("C-c")
}
