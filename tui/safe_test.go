package tui

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
	"github.com/mqttboard/mqttboard/tui/brokerpane"
	"github.com/mqttboard/mqttboard/tui/common"
	"github.com/mqttboard/mqttboard/tui/conn"
)

// sgr is the board's own styling: the only escape sequence a frame may hold.
var sgr = regexp.MustCompile("\x1b\\[[0-9;:]*m")

// checkFrame asserts that a rendered view holds no control sequence but SGR
// styling, no control, C1, format (bidi) or invalid byte, and that it is
// exactly w×h cells.
func checkFrame(t *testing.T, what, view string, w, h int) {
	t.Helper()
	plain := sgr.ReplaceAllString(view, "")
	if !utf8.ValidString(plain) {
		t.Fatalf("%s: not UTF-8: %q", what, plain)
	}
	for _, r := range plain {
		if r == '\n' {
			continue
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || unicode.Is(unicode.Cf, r) || unicode.In(r, unicode.Zl, unicode.Zp) {
			t.Fatalf("%s: holds %U:\n%q", what, r, plain)
		}
	}
	lines := strings.Split(view, "\n")
	if len(lines) != h {
		t.Fatalf("%s: %d lines, want %d", what, len(lines), h)
	}
	for i, l := range lines {
		if got := common.Width(l); got != w {
			t.Fatalf("%s: line %d is %d cells, want %d: %q", what, i, got, w, sgr.ReplaceAllString(l, ""))
		}
	}
}

// hostile fills a fixture board with s in every field that comes from the
// network: topics, payloads, user properties, reason strings, content type,
// response topic, the assigned client id, CONNACK properties, errors,
// packet-log lines, subscription errors, the PUBACK of a sent message.
func hostile(t testing.TB, w, h int, s string) *Model {
	m := fixture(t, w, h)
	cn := m.Set().List[0]
	cn.Err = s
	cn.Connack.Props.AssignedClientID = s
	cn.Connack.Props.ReasonString = s
	cn.Connack.Props.User = append(cn.Connack.Props.User, packet.UserProperty{Key: s, Value: s})
	cn.Subs = append(cn.Subs, &conn.Subscription{Err: s})
	cn.Subs[len(cn.Subs)-1].Filter = s
	for i, topic := range []string{s, "x/" + s, s + "/" + s} {
		e := &client.MessageEvent{Time: t0}
		e.Topic, e.Payload, e.Retain = topic, []byte(s), i == 0
		e.Props.User = []packet.UserProperty{{Key: s, Value: s}}
		e.Props.ContentType, e.Props.ResponseTopic, e.Props.CorrelationData = s, s, []byte(s)
		cn.Push(e)
		cn.PushPacket(client.TracePacket{Time: t0, Packet: &packet.Publish{Topic: e.Topic, Payload: e.Payload, Props: e.Props}})
	}
	jsonPayload := &client.MessageEvent{Time: t0}
	jsonPayload.Topic, jsonPayload.Payload = "j", fmt.Appendf(nil, `{%q: %q}`, s, s)
	cn.Push(jsonPayload)
	cn.PushPacket(client.TracePacket{Time: t0, Err: errors.New(s)})
	cn.Sent = append(cn.Sent, conn.Sent{Ack: &client.Ack{Type: packet.PUBACK, ReasonString: s, User: []packet.UserProperty{{Key: s, Value: s}}}})
	cn.LastSent = &cn.Sent[len(cn.Sent)-1]
	m.Update(common.StatusMsg{Text: s, Error: true})
	m.Frame(t0)
	return m
}

func press(s string) tea.KeyMsg {
	switch s {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

// renderAll renders every pane and the screens that show network data, and
// checks each.
func renderAll(t *testing.T, w, h int, s string) {
	m := hostile(t, w, h, s)
	check := func(what string) {
		t.Helper()
		checkFrame(t, what, m.View(), w, h)
		for _, id := range m.order() {
			r := m.rects[id]
			checkFrame(t, what+"/"+paneNames[id], m.Pane(id).View(), r.w-2, r.h-2)
		}
	}
	check("board")
	m.focusPane(Messages)
	for _, k := range []string{"k", "v", "v", "v", "a"} { // older message, json, hex, text, merged
		m.Update(press(k))
		check("messages " + k)
	}
	// The full details of the newest (JSON) and an older message, in
	// every mode, folded and scrolled.
	for _, k := range []string{"G", "enter", "v", "v", "z", "G", "esc", "k", "enter", "v", "v", "esc"} {
		if k == "enter" || k == "esc" {
			m.Update(tea.KeyMsg{Type: map[string]tea.KeyType{"enter": tea.KeyEnter, "esc": tea.KeyEsc}[k]})
		} else {
			m.Update(press(k))
		}
		check("details " + k)
	}
	m.Update(press("L"))
	m.Update(press("T"))
	m.Frame(t0)
	check("packet log + topic tree")
	m.focusPane(Topics)
	m.Update(press("h"))
	check("topic history")
	m.Update(press("d"))
	check("topic history diff")
	m.Update(press("esc"))
	m.focusPane(Packets)
	for _, k := range []string{"k", "enter"} {
		m.Update(tea.KeyMsg{Type: map[string]tea.KeyType{"k": tea.KeyUp, "enter": tea.KeyEnter}[k]})
		check("packet decode " + k)
	}
	m.Update(tea.KeyMsg{Type: tea.KeyEsc})
	m.focusPane(Connections)
	m.Update(press("i"))
	check("server info")
	m.Update(press("esc"))
	// The broker pane with the fuzzer's bytes in client ids, addresses,
	// filters and log records.
	sn := brokerSnapshot()
	for i := range sn.Sessions {
		sn.Sessions[i].ClientID, sn.Sessions[i].Address = s, s
		sn.Sessions[i].Subscriptions[0].Filter = s
	}
	for i := range sn.Logs {
		sn.Logs[i].ClientID, sn.Logs[i].Topic, sn.Logs[i].Reason, sn.Logs[i].EventType = s, s, s, s
	}
	sn.Addr = s
	m.Update(press("B"))
	m.Update(brokerpane.SnapshotMsg{Snapshot: sn})
	m.focusPane(Broker)
	check("broker")
}

// FuzzPanesSafe renders every pane at 80×24 and 120×40 with the fuzzer's
// bytes in every field that comes from the network.
func FuzzPanesSafe(f *testing.F) {
	for _, s := range []string{
		"X\x1b]2;PWNED\x07Y", "\x1b[2J\x1b[H", "a\rb\tc\nd", "\u202egnp.exe", "🌡️ 21.5°C", "👨‍👩‍👧 👍🏽 🇩🇪",
		"\x9b31m", "\xc2\x9b31m", "\xff\xfe", "e\u0301", strings.Repeat("wide温度", 30),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		renderAll(t, 80, 24, s)
		renderAll(t, 120, 40, s)
	})
}

// TestPanesSafeRandom is FuzzPanesSafe's property on strings drawn from the
// characters that break terminals (controls, C1, invalid bytes, bidi
// controls, variation selectors, joiners, regional indicators, wide and
// combining characters), so every plain `go test` run checks it on fresh
// mixes, not only on the seeds.
func TestPanesSafeRandom(t *testing.T) {
	parts := []string{"\x1b", "\x1b]2;", "\x07", "\r", "\t", "\n", "\x7f", "\x00", "\x9b", "\xc2\x9b", "\xff", "\xe2\x80",
		"\u202e", "\u2066", "\u200b", "\u200d", "\ufe0f", "\U0001F3FD", "\U0001F1E9", "\U0001F1EA", "🌡", "👍", "温度", "e\u0301",
		"\u0301", "ꯣ", "a", "/", "+", "#", " ", "{\"k\":", "}", "[1,", "]"}
	r := rand.New(rand.NewPCG(10, uint64(time.Now().UnixNano())))
	n := 24
	if testing.Short() {
		n = 4
	}
	for range n {
		var b strings.Builder
		for range 1 + r.IntN(40) {
			b.WriteString(parts[r.IntN(len(parts))])
		}
		s := b.String()
		t.Run("", func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("input %q", s)
				}
			}()
			renderAll(t, 80, 24, s)
			renderAll(t, 120, 40, s)
		})
	}
}
