// Package brokerpane is the board's view of a broker's side: its sessions
// (client id, protocol, address, subscriptions, queue depth, inflight,
// messages in and out), retained count, counters and its log, live. It
// shows the bundled broker when the board runs it in-process, through its
// public inspection API (Metrics, Sessions, Logs), or a running `mqttboard
// broker --http` elsewhere through the REST API's client, which returns the
// same model. Snapshots are taken in a command once a second, never in
// Update or View. Neither MQTT Board nor MQTTX can show the broker's side
// of a conversation.
package brokerpane

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/restapi"
	"github.com/mqttboard/mqttboard/tui/common"
)

// Interval is how often the pane takes a snapshot.
const Interval = time.Second

// logLines is how many log records a snapshot takes.
const logLines = 200

// Snapshot is what the pane shows: taken in a command, applied in Update.
type Snapshot struct {
	Addr     string
	Metrics  broker.Metrics
	Sessions []broker.SessionInfo
	Logs     []broker.LogRecord // newest last
	Err      error
}

// SnapshotMsg carries a snapshot to the pane (tests send their own).
type SnapshotMsg struct {
	Snapshot
	gen int
}

// tickMsg asks for the next snapshot of polling round gen.
type tickMsg struct{ gen int }

// Take reads the broker's state (cheap: snapshots under its locks, nothing
// on the message path).
func Take(s *broker.Server) Snapshot {
	sn := Snapshot{Metrics: s.Metrics(), Sessions: s.Sessions()}
	if a := s.Addr(); a != nil {
		sn.Addr = a.String()
	}
	logs, err := s.Logs(broker.LogQuery{Count: logLines, Reverse: true})
	for i, j := 0, len(logs)-1; i < j; i, j = i+1, j-1 {
		logs[i], logs[j] = logs[j], logs[i]
	}
	sn.Logs, sn.Err = logs, err
	return sn
}

// TakeAll reads the state of the nodes of an in-process cluster (the
// board's local broker with --broker-nodes) as one broker: their sessions
// (each naming its node), their logs in time order, and their counters
// added up, but for the retained messages, which every node holds in
// full, and the uptime, the first node's.
func TakeAll(nodes []*broker.Server) Snapshot {
	if len(nodes) == 1 {
		return Take(nodes[0])
	}
	var sn Snapshot
	for i, s := range nodes {
		one := Take(s)
		if i == 0 {
			sn = one
			continue
		}
		a, b := &sn.Metrics, &one.Metrics
		a.Sessions += b.Sessions
		a.SessionsOnline += b.SessionsOnline
		a.SessionsOffline += b.SessionsOffline
		a.Subscriptions += b.Subscriptions
		a.MessagesReceived += b.MessagesReceived
		a.MessagesSent += b.MessagesSent
		a.MessagesDropped += b.MessagesDropped
		a.BytesReceived += b.BytesReceived
		a.BytesSent += b.BytesSent
		a.Queued += b.Queued
		a.Inflight += b.Inflight
		a.SharedGroups = max(a.SharedGroups, b.SharedGroups)
		sn.Sessions = append(sn.Sessions, one.Sessions...)
		sn.Logs = append(sn.Logs, one.Logs...)
		if sn.Err == nil {
			sn.Err = one.Err
		}
	}
	sn.Addr += fmt.Sprintf(" · cluster of %d nodes", len(nodes))
	slices.SortStableFunc(sn.Sessions, func(a, b broker.SessionInfo) int { return strings.Compare(a.ClientID, b.ClientID) })
	slices.SortStableFunc(sn.Logs, func(a, b broker.LogRecord) int { return cmp.Compare(a.Timestamp, b.Timestamp) })
	if len(sn.Logs) > logLines {
		sn.Logs = sn.Logs[len(sn.Logs)-logLines:]
	}
	return sn
}

// remoteTimeout bounds one remote snapshot (three requests).
const remoteTimeout = 3 * time.Second

// TakeRemote reads a broker's state through its REST API: the same
// snapshot [Take] makes in-process. A failed read returns the error with
// what it could read.
func TakeRemote(cl *restapi.Client) Snapshot {
	ctx, cancel := context.WithTimeout(context.Background(), remoteTimeout)
	defer cancel()
	sn := Snapshot{Addr: cl.Base}
	var err error
	if sn.Metrics, err = cl.Metrics(ctx); err != nil {
		sn.Err = remoteError(err)
		return sn
	}
	if sn.Sessions, err = cl.Sessions(ctx, "all"); err != nil {
		sn.Err = remoteError(err)
		return sn
	}
	logs, err := cl.Logs(ctx, broker.LogQuery{Count: logLines, Reverse: true})
	slices.Reverse(logs)
	sn.Logs = logs
	if err != nil {
		sn.Err = remoteError(err)
	}
	return sn
}

// remoteError words a failed read for one line: the API's own reason, or
// the network's innermost error ("connection refused"), not a whole URL
// and dial chain that the pane would cut.
func remoteError(err error) error {
	var ae *restapi.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("the broker's API refused: %w", ae)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("the broker's API did not answer within %v", remoteTimeout)
	}
	root := err
	for u := errors.Unwrap(root); u != nil; u = errors.Unwrap(root) {
		root = u
	}
	return fmt.Errorf("the broker's API does not answer: %v", root)
}

// Pane is the broker pane.
type Pane struct {
	c       *common.Common
	broker  func() []*broker.Server // empty result: the board runs no broker
	remote  *restapi.Client         // set: the pane shows this broker instead
	w, h    int
	focused bool
	snap    *Snapshot
	sel     int // selected session
	top     int
	polling bool
	// gen counts polling rounds: a tick of a round that Stop ended is
	// dropped, so B, B, B never runs two loops.
	gen int
}

// New returns the pane; srv returns the bundled broker or nil.
func New(c *common.Common, srv func() *broker.Server) *Pane {
	return &Pane{c: c, broker: func() []*broker.Server {
		if s := srv(); s != nil {
			return []*broker.Server{s}
		}
		return nil
	}}
}

// NewCluster returns the pane for a bundled broker that may run as an
// in-process cluster: nodes returns its nodes (none while it runs none),
// shown as one broker with a node column (see [TakeAll]).
func NewCluster(c *common.Common, nodes func() []*broker.Server) *Pane {
	return &Pane{c: c, broker: nodes}
}

// NewRemote returns the pane showing the broker whose REST API cl reads
// (`mqttboard --broker-http ADDR`), whether or not the board runs one.
func NewRemote(c *common.Common, cl *restapi.Client) *Pane {
	return &Pane{c: c, broker: func() []*broker.Server { return nil }, remote: cl}
}

// Poll starts the snapshots (the root calls it when the pane is shown).
func (p *Pane) Poll() tea.Cmd {
	if p.polling {
		return nil
	}
	p.polling = true
	p.gen++
	return p.take()
}

// Stop ends the snapshots once the current one is in.
func (p *Pane) Stop() {
	p.polling = false
	p.gen++
}

func (p *Pane) take() tea.Cmd {
	gen := p.gen
	if cl := p.remote; cl != nil {
		return func() tea.Msg { return SnapshotMsg{Snapshot: TakeRemote(cl), gen: gen} }
	}
	nodes := p.broker()
	if len(nodes) == 0 {
		return nil
	}
	return func() tea.Msg { return SnapshotMsg{Snapshot: TakeAll(nodes), gen: gen} }
}

// Title implements common.Pane.
func (p *Pane) Title() string {
	if p.snap == nil {
		return "Broker"
	}
	return "Broker " + common.Safe(p.snap.Addr)
}

// SetSize implements common.Pane.
func (p *Pane) SetSize(w, h int) { p.w, p.h = w, h }

// Focus implements common.Pane.
func (p *Pane) Focus() { p.focused = true }

// Blur implements common.Pane.
func (p *Pane) Blur() { p.focused = false }

// Capturing implements common.Pane.
func (p *Pane) Capturing() bool { return false }

// ShortHelp implements help.KeyMap.
func (p *Pane) ShortHelp() []key.Binding {
	k := p.c.Keys.Packets
	return []key.Binding{k.Up, k.Down}
}

// FullHelp implements help.KeyMap.
func (p *Pane) FullHelp() [][]key.Binding { return [][]key.Binding{p.ShortHelp()} }

// Update implements common.Pane.
func (p *Pane) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case SnapshotMsg:
		if msg.Err != nil && p.snap != nil && len(msg.Sessions) == 0 {
			// A remote broker that does not answer: keep showing what it
			// last said, under the error.
			msg.Metrics, msg.Sessions, msg.Logs = p.snap.Metrics, p.snap.Sessions, p.snap.Logs
		}
		p.snap = &msg.Snapshot
		p.sel = min(p.sel, max(len(p.snap.Sessions)-1, 0))
		if !p.polling || msg.gen != p.gen {
			return nil
		}
		gen := p.gen
		return tea.Tick(Interval, func(time.Time) tea.Msg { return tickMsg{gen} })
	case tickMsg:
		if !p.polling || msg.gen != p.gen {
			return nil
		}
		return p.take()
	case tea.KeyMsg:
		k := p.c.Keys.Packets
		switch {
		case key.Matches(msg, k.Up):
			p.sel = max(p.sel-1, 0)
		case key.Matches(msg, k.Down) && p.snap != nil:
			p.sel = min(p.sel+1, max(len(p.snap.Sessions)-1, 0))
		}
	case tea.MouseMsg:
		switch msg.Button {
		case tea.MouseButtonWheelUp:
			p.sel = max(p.sel-1, 0)
		case tea.MouseButtonWheelDown:
			if p.snap != nil {
				p.sel = min(p.sel+1, max(len(p.snap.Sessions)-1, 0))
			}
		}
	}
	return nil
}

func humanBytes(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// View implements common.Pane: the counters, the sessions (the selected
// one with its subscriptions), and the newest log records below.
func (p *Pane) View() string {
	st := p.c.Styles
	if p.snap == nil && p.remote == nil && len(p.broker()) == 0 {
		return common.Lines([]string{st.Dim.Render("the board runs no broker: a local connection (l in Connections) starts one")}, p.w, p.h)
	}
	if p.snap == nil {
		what := "reading the broker…"
		if p.remote != nil {
			what = "reading the broker at " + common.Safe(p.remote.Base) + "…"
		}
		return common.Lines([]string{st.Dim.Render(what)}, p.w, p.h)
	}
	m := p.snap.Metrics
	// The counters wrap between items at narrow widths rather than being
	// cut.
	var lines []string
	if p.snap.Err != nil {
		// On top: below, the log would push it out of the pane.
		lines = append(lines, st.Error.Render(common.Safe(p.snap.Err.Error())))
	}
	for _, items := range [][]string{
		{fmt.Sprintf("up %v", m.Uptime.Round(time.Second)), fmt.Sprintf("%s (%d online, %d offline)", count(m.Sessions, "session"), m.SessionsOnline, m.SessionsOffline),
			count(m.Subscriptions, "subscription"), fmt.Sprintf("%d retained (%s)", m.Retained, humanBytes(m.RetainedBytes)), count(m.SharedGroups, "shared group")},
		{fmt.Sprintf("messages in %d", m.MessagesReceived), fmt.Sprintf("out %d", m.MessagesSent), fmt.Sprintf("dropped %d", m.MessagesDropped),
			"bytes in " + humanBytes(m.BytesReceived), "out " + humanBytes(m.BytesSent), fmt.Sprintf("queued %d", m.Queued), fmt.Sprintf("inflight %d", m.Inflight)},
	} {
		line := ""
		for _, it := range items {
			switch {
			case line == "":
				line = it
			case common.Width(line)+3+common.Width(it) > p.w:
				lines = append(lines, line)
				line = it
			default:
				line += " · " + it
			}
		}
		lines = append(lines, line)
	}
	// Columns: the address goes first when the pane is narrow.
	idW, protoW, addrW := 24, 5, 21
	if p.w < 82 {
		idW, addrW = max(p.w-5-1-protoW-24, 10), 0
	}
	// Messages in and out of each session's connection, when there is
	// room (the header is idW+69 wide with them).
	counts := p.w >= 85
	if counts {
		idW = min(idW, p.w-69)
	}
	// A cluster's sessions name their node: a column after the client
	// id, as wide as the longest name.
	nodeW := 0
	for _, s := range p.snap.Sessions {
		nodeW = max(nodeW, common.Width(common.Safe(s.Node)))
	}
	if nodeW > 0 {
		nodeW = min(max(nodeW, 4), 12)
		idW = max(idW-nodeW-1, 10)
	}
	head := common.Fit("client id", idW) + " "
	if nodeW > 0 {
		head += common.Fit("node", nodeW) + " "
	}
	head += common.Fit("proto", protoW) + " "
	if addrW > 0 {
		head += common.Fit("address", addrW) + " "
	}
	tail := " subs queue infl dropped"
	if counts {
		tail += "      in     out"
	}
	lines = append(lines, st.Label.Render(head+tail))
	logH := max((p.h-len(lines))/3, 3)
	sessH := max(p.h-len(lines)-logH-1, 1)
	var sess []string
	selRow := 0
	for i, s := range p.snap.Sessions {
		state := "●"
		if !s.Connected {
			state = "○"
		}
		addr := ""
		if addrW > 0 {
			addr = common.Fit(common.Safe(s.Address), addrW) + " "
		}
		node := ""
		if nodeW > 0 {
			node = common.Fit(common.Safe(s.Node), nodeW) + " "
		}
		row := fmt.Sprintf("%s %s %s%s %s%4d %5d %4d %7d", state, common.Fit(common.Safe(s.ClientID), idW-2), node, common.Fit(common.Safe(s.Protocol), protoW),
			addr, len(s.Subscriptions), s.Queued, s.Inflight, s.Dropped)
		if counts {
			row += fmt.Sprintf(" %7d %7d", s.Published, s.Received)
		}
		if i == p.sel {
			selRow = len(sess)
			if p.focused {
				row = st.Selected.Render(common.Fit(row, p.w))
			}
			sess = append(sess, row)
			for _, sub := range s.Subscriptions {
				opts := fmt.Sprintf("q%d", sub.QoS)
				if sub.NoLocal {
					opts += " nl"
				}
				if sub.RetainAsPublished {
					opts += " rap"
				}
				if sub.ID != 0 {
					opts += fmt.Sprintf(" id %d", sub.ID)
				}
				sess = append(sess, "    "+common.Safe(sub.Filter)+" "+st.Dim.Render(opts))
			}
			continue
		}
		sess = append(sess, row)
	}
	if len(sess) == 0 {
		sess = append(sess, st.Dim.Render("no sessions"))
	}
	if selRow < p.top {
		p.top = selRow
	}
	if selRow >= p.top+sessH {
		p.top = selRow - sessH + 1
	}
	p.top = min(p.top, max(len(sess)-sessH, 0))
	for i := p.top; i < min(len(sess), p.top+sessH); i++ {
		lines = append(lines, sess[i])
	}
	for len(lines) < p.h-logH {
		lines = append(lines, "")
	}
	lines = append(lines, st.Dim.Render("── log "+strings.Repeat("─", max(p.w-7, 0))))
	logs := p.snap.Logs
	if len(logs) > logH-1 {
		logs = logs[len(logs)-(logH-1):]
	}
	for _, r := range logs {
		lines = append(lines, logLine(r, p.c.Now().Location()))
	}
	return common.Lines(lines, p.w, p.h)
}

// logLine is one log record on a row: time (in loc, the board clock's
// zone), event, client, topic, reason.
func logLine(r broker.LogRecord, loc *time.Location) string {
	sec := int64(r.Timestamp)
	t := time.Unix(sec, int64((r.Timestamp-float64(sec))*1e9)).In(loc)
	var b strings.Builder
	b.WriteString(t.Format("15:04:05.000") + " " + r.EventType)
	if r.ClientID != "" {
		b.WriteString(" " + r.ClientID)
	}
	if r.Topic != "" {
		b.WriteString(" " + r.Topic)
	}
	if r.Address != "" {
		b.WriteString(" from " + r.Address)
	}
	if r.Reason != "" {
		b.WriteString(": " + r.Reason)
	}
	if r.Detail != "" {
		b.WriteString(" (" + r.Detail + ")")
	}
	return common.Safe(b.String())
}

// count writes n with noun, in the plural unless n is 1 ("1 session",
// "0 sessions").
func count[N ~int | ~int64 | ~uint64](n N, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
