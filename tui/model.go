// Package tui is the board: the multi-pane terminal UI that `mqttboard`
// opens. The root Model owns the layout, the focus, the connections and the
// ~30 Hz frame tick; each pane is a package of its own under tui/ and follows
// common.Pane.
package tui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/restapi"
	"github.com/mqttboard/mqttboard/profiles"
	"github.com/mqttboard/mqttboard/tui/brokerpane"
	"github.com/mqttboard/mqttboard/tui/common"
	"github.com/mqttboard/mqttboard/tui/conn"
	"github.com/mqttboard/mqttboard/tui/connections"
	"github.com/mqttboard/mqttboard/tui/messages"
	"github.com/mqttboard/mqttboard/tui/packetlog"
	"github.com/mqttboard/mqttboard/tui/publish"
	"github.com/mqttboard/mqttboard/tui/subscriptions"
	"github.com/mqttboard/mqttboard/tui/topics"
)

// FrameInterval is the frame tick: ~30 Hz is smooth to the eye and leaves
// the CPU to the connections at 10,000 messages/s.
const FrameInterval = time.Second / 30

// IdleFrameInterval is the longest an idle board sleeps: once nothing has
// arrived for a second the frame tick stops, and the board wakes when a
// connection's ring receives something (conn.Set.Wake) or after this
// interval, for the panes' clocks (a retry's countdown). Keys never wait
// for a tick; the first message after a quiet spell shows at once, and the
// tick is back to 30 Hz from then on.
const IdleFrameInterval = time.Second

// PaneID names a pane.
type PaneID int

// The panes, in Tab order.
const (
	Connections PaneID = iota
	Subscriptions
	Messages
	Topics
	Publish
	Packets
	Broker
)

var paneNames = map[PaneID]string{
	Connections: "connections", Subscriptions: "subscriptions", Messages: "messages",
	Topics: "topics", Publish: "publish", Packets: "packets", Broker: "broker",
}

// Options configure the board.
type Options struct {
	// Common is the keys, styles and clock; nil: common.Default().
	Common *common.Common
	// Board, when set, is opened: its connections are made and subscribed.
	// Otherwise one connection is made, to Connect when set, else to the
	// bundled broker, started for it.
	Board *profiles.Board
	// Connect is the first connection's profile when there is no Board:
	// the broker the board watches (BrokerAPI) instead of the bundled one.
	Connect *profiles.Profile
	// Notice is shown in the status line at start (why the board did not
	// do what its flags asked for, as connecting to the watched broker).
	Notice string
	// Profiles are offered in the connection form.
	Profiles []profiles.Profile
	// ProfilesPath is where boards are saved ("" disables saving).
	ProfilesPath string
	// BrokerOptions configure the bundled broker; Listen defaults to
	// 127.0.0.1:0, a free port on loopback only.
	BrokerOptions broker.Options
	// BrokerAPI, when set, is the REST API of a running mqttboard broker
	// (`mqttboard broker --http`) that the broker pane (B) shows instead of
	// the bundled one.
	BrokerAPI *restapi.Client
	// BrokerNodes, above 1, runs the bundled broker as an in-process
	// cluster of that many nodes on loopback (docs/cluster.md): local
	// connections are spread over the nodes in turn and the broker pane
	// shows every node's sessions with a node column. 0 or 1: one broker.
	BrokerNodes int
	// Offline creates the connections without connecting them or starting
	// the broker (golden views, benchmarks).
	Offline bool
	// NoFrameTick leaves the frame tick to the caller (benchmarks call
	// Frame directly).
	NoFrameTick bool
}

// Model is the board.
type Model struct {
	c       *common.Common
	opts    Options
	set     *conn.Set
	panes   map[PaneID]common.Pane
	rects   map[PaneID]rect
	focus   PaneID
	w, h    int
	help    help.Model
	full    bool // all keys shown
	helpTop int  // first row of the all-keys view shown
	status  string
	isErr   bool
	// errConn is the connection the error in the status line is about (0:
	// none); a later success on it clears the error, so the line never
	// shows a stale failure next to a working connection.
	errConn common.ConnID
	errDown bool // the error came while errConn was not connected

	topicTree bool
	// brokerView shows the bundled broker's pane in place of the message
	// list (or topic tree).
	brokerView bool

	boardName textinput.Model
	naming    bool

	// view is the last frame rendered; dirty says the state changed since.
	// bubbletea calls View after every message, 30 times a second for the
	// frame tick alone: an idle board returns the same string and the
	// renderer writes nothing (idle CPU ~0 instead of ~3 %).
	view      string
	dirty     bool
	lastFrame time.Time // when the panes last got a FrameMsg
	// acted says a message other than the frame tick came since the last
	// FrameMsg (a key, a result): the next frame goes to the panes even if
	// nothing arrived, as a removed connection must leave the merged list.
	acted bool
	// lastChange is when a frame last found something new, or a message
	// other than the tick came: the tick slows down a second after it.
	lastChange time.Time

	broker       *broker.Server
	brokerCancel context.CancelFunc
	brokerDone   chan struct{}
	// nodes are the bundled broker's nodes when it runs as a cluster
	// (Options.BrokerNodes; cluster.go), broker being the first.
	nodes []*localNode
	init  []tea.Cmd
}

// New builds the board. Connections start in Init.
func New(opts Options) *Model {
	c := opts.Common
	if c == nil {
		c = common.Default()
	}
	m := &Model{c: c, opts: opts, set: conn.NewSet(c), help: help.New(), w: 120, h: 40}
	m.set.StartLocal = m.startLocal
	m.set.Offline = opts.Offline
	conns := connections.New(c, m.set, opts.Profiles)
	m.panes = map[PaneID]common.Pane{
		Connections:   conns,
		Subscriptions: subscriptions.New(c, m.set),
		Messages:      messages.New(c, m.set),
		Topics:        topics.New(c, m.set),
		Publish:       publish.New(c, m.set),
		Packets:       packetlog.New(c, m.set),
		Broker:        brokerpane.NewCluster(c, m.brokerNodes),
	}
	if opts.BrokerAPI != nil {
		m.panes[Broker] = brokerpane.NewRemote(c, opts.BrokerAPI)
	}
	m.boardName = textinput.New()
	m.boardName.Prompt = "board name: "
	if b := opts.Board; b != nil {
		for _, bc := range b.Connections {
			cn := m.set.Add(bc.Profile)
			for _, s := range bc.Subscriptions {
				cn.Subs = append(cn.Subs, &conn.Subscription{Subscription: s, Pending: true})
			}
			cn.SetTracing(bc.PacketLog)
			m.init = append(m.init, m.connect(cn))
		}
		m.set.Focused = 0
		m.topicTree = b.Layout.TopicTree
		// Older boards saved one packet-log flag, for the focused connection.
		if c := m.set.Current(); c != nil && b.Layout.PacketLog {
			c.SetTracing(true)
		}
		for id, n := range paneNames {
			if n == b.Layout.Focus {
				m.focus = id
			}
		}
		m.status = "board " + b.Name
	} else {
		p, started := profiles.Profile{Name: "local", Local: true}, "Local broker started"
		if opts.Connect != nil {
			p, started = *opts.Connect, "Connected to "+opts.Connect.URL
		}
		cn := m.set.Add(p)
		cn.Subs = append(cn.Subs, &conn.Subscription{Subscription: profiles.Subscription{Filter: "mqttboard/#", QoS: 1}, Pending: true})
		m.init = append(m.init, m.connect(cn))
		m.focus = Publish
		m.status = started + " and subscribed to mqttboard/#. Publish: enter edits a field, esc ends, ctrl+s sends. Subscribe: Tab to Subscriptions, a."
	}
	if opts.Notice != "" {
		m.status, m.isErr = opts.Notice, true
	}
	m.focusPane(m.focus)
	m.layout()
	return m
}

func (m *Model) connect(c *conn.Conn) tea.Cmd {
	if m.opts.Offline {
		return nil
	}
	if err := m.set.ResolveLocal(c); err != nil {
		c.Status, c.Err = conn.Failed, err.Error()
		return nil
	}
	return c.Connect()
}

// startLocal starts the bundled broker in-process on a free loopback port.
func (m *Model) startLocal() (string, error) {
	if m.opts.BrokerNodes > 1 {
		return m.startLocalCluster(m.opts.BrokerNodes) // cluster.go
	}
	o := m.opts.BrokerOptions
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	s, err := broker.Open(o) // with a store (--broker-data), recovers it first
	if err != nil {
		return "", err
	}
	if err := s.Listen(); err != nil {
		return "", err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(ctx)
	}()
	m.broker, m.brokerCancel, m.brokerDone = s, cancel, done
	return "mqtt://" + s.Addr().String(), nil
}

// Close disconnects every connection and stops the bundled broker. The
// program's caller runs it after tea.Program.Run returns.
func (m *Model) Close() {
	for _, c := range m.set.List {
		c.Close()
	}
	if len(m.nodes) > 0 {
		m.closeLocalCluster() // cluster.go
		return
	}
	if m.broker != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		m.broker.Shutdown(ctx)
		m.brokerCancel()
		<-m.brokerDone
		m.broker = nil
	}
}

// Set is the board's connections (tests and benchmarks look inside).
func (m *Model) Set() *conn.Set { return m.set }

// Pane returns a pane (tests).
func (m *Model) Pane(id PaneID) common.Pane { return m.panes[id] }

type frameMsg time.Time

func (m *Model) tick() tea.Cmd {
	if m.opts.NoFrameTick {
		return nil
	}
	if !m.lastChange.IsZero() && time.Since(m.lastChange) > time.Second {
		wake := m.set.Wake
		return func() tea.Msg {
			t := time.NewTimer(IdleFrameInterval)
			defer t.Stop()
			select {
			case <-wake:
			case <-t.C:
			}
			return frameMsg(time.Now())
		}
	}
	return tea.Tick(FrameInterval, func(t time.Time) tea.Msg { return frameMsg(t) })
}

// Init implements tea.Model.
func (m *Model) Init() tea.Cmd {
	cmds := append(m.init, m.tick())
	m.init = nil
	return tea.Batch(cmds...)
}

// Frame drains every connection and passes the frame to the panes; the
// frame tick calls it, benchmarks call it directly.
func (m *Model) Frame(now time.Time) tea.Cmd {
	changed := false
	for _, c := range m.set.List {
		if c.Drain() {
			changed = true
		}
		if m.isErr && m.errDown && m.errConn == c.ID && c.Status == conn.Connected {
			// Reconnected on its own since the error was shown.
			m.status, m.isErr, m.errConn = c.Name()+": connected again", false, 0
		}
	}
	// Nothing arrived: the panes need the frame only for their clocks
	// (a retry's countdown), once a second.
	if changed {
		m.lastChange = time.Now()
	}
	if !changed && !m.acted && !m.lastFrame.IsZero() && now.Sub(m.lastFrame) < time.Second && !now.Before(m.lastFrame) {
		return nil
	}
	m.lastFrame, m.dirty, m.acted = now, true, false
	return m.broadcast(common.FrameMsg{Time: now})
}

func (m *Model) broadcast(msg tea.Msg) tea.Cmd {
	var cmds []tea.Cmd
	for _, id := range []PaneID{Connections, Subscriptions, Messages, Topics, Publish, Packets, Broker} {
		cmds = append(cmds, m.panes[id].Update(msg))
	}
	return tea.Batch(cmds...)
}

// order is the Tab order of the visible panes.
func (m *Model) order() []PaneID {
	ids := []PaneID{Connections, Subscriptions, m.center()}
	ids = append(ids, Publish)
	if m.packetLog() {
		ids = append(ids, Packets)
	}
	return ids
}

func (m *Model) focusPane(id PaneID) {
	for pid, p := range m.panes {
		if pid == id {
			p.Focus()
		} else {
			p.Blur()
		}
	}
	m.focus = id
}

func (m *Model) cycle(d int) {
	ids := m.order()
	i := slices.Index(ids, m.focus)
	m.focusPane(ids[(i+d+len(ids))%len(ids)])
}

// center is the pane in the top right: the message list, the topic tree
// or the broker.
func (m *Model) center() PaneID {
	switch {
	case m.brokerView:
		return Broker
	case m.topicTree:
		return Topics
	}
	return Messages
}

// packetLog reports whether the packet log is shown: it is per connection
// (L records and shows the focused connection's packets; the others keep
// theirs, and at 10,000 messages/s the untraced ones pay nothing).
func (m *Model) packetLog() bool {
	c := m.set.Current()
	return c != nil && c.Tracing()
}

// packetLogChanged re-lays the panes after the packet log appeared or
// went, and moves the focus off it when it went.
func (m *Model) packetLogChanged() {
	if !m.packetLog() && m.focus == Packets {
		m.focusPane(Publish)
	}
	m.layout()
}

type modal interface {
	ModalOpen() bool
	ModalView(w, h int) string
}

func (m *Model) modal() modal {
	if md, ok := m.panes[m.focus].(modal); ok && md.ModalOpen() {
		return md
	}
	return nil
}

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	g := m.c.Keys.Global
	if _, ok := msg.(frameMsg); !ok {
		m.dirty, m.acted = true, true
		m.lastChange = time.Now()
		// An idle board is asleep in tick's waiter: wake it, so that the
		// frame this action needs comes now, not up to a second later.
		select {
		case m.set.Wake <- struct{}{}:
		default:
		}
	}
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.w, m.h = msg.Width, msg.Height
		m.layout()
		return m, nil
	case frameMsg:
		return m, tea.Batch(m.Frame(time.Time(msg)), m.tick())
	case common.StatusMsg:
		m.status, m.isErr, m.errConn = msg.Text, msg.Error, 0
		return m, nil
	case common.ConnMsg:
		return m, m.connMsg(msg)
	case connections.FocusChangedMsg:
		cmd := m.broadcast(msg)
		m.packetLogChanged()
		return m, cmd
	case tea.MouseMsg:
		return m, m.mouse(msg)
	case tea.KeyMsg:
		if key.Matches(msg, g.Quit) {
			return m, tea.Quit
		}
		if m.naming {
			return m, m.updateNaming(msg)
		}
		if m.full {
			// The all-keys view scrolls; any other key closes it.
			switch msg.String() {
			case "up", "k":
				m.helpTop = max(m.helpTop-1, 0)
			case "down", "j":
				m.helpTop++
			case "pgup", "b":
				m.helpTop = max(m.helpTop-(m.h-4), 0)
			case "pgdown", " ":
				m.helpTop += m.h - 4
			default:
				m.full = false
			}
			return m, nil
		}
		p := m.panes[m.focus]
		if m.modal() != nil {
			return m, p.Update(msg)
		}
		if p.Capturing() && !key.Matches(msg, g.Next, g.Prev) {
			return m, p.Update(msg)
		}
		switch {
		case key.Matches(msg, g.Next):
			m.cycle(1)
		case key.Matches(msg, g.Prev):
			m.cycle(-1)
		case key.Matches(msg, g.Help):
			m.full, m.helpTop = true, 0
		case key.Matches(msg, g.PacketLog):
			if c := m.set.Current(); c != nil {
				c.SetTracing(!c.Tracing())
			}
			m.packetLogChanged()
		case key.Matches(msg, g.TopicTree):
			m.topicTree, m.brokerView = !m.topicTree, false
			m.panes[Broker].(*brokerpane.Pane).Stop()
			if m.focus == Messages || m.focus == Topics || m.focus == Broker {
				m.focusPane(m.center())
			}
			m.layout()
		case key.Matches(msg, g.Broker):
			bp := m.panes[Broker].(*brokerpane.Pane)
			m.brokerView = !m.brokerView
			var cmd tea.Cmd
			if m.brokerView {
				cmd = bp.Poll()
			} else {
				bp.Stop()
			}
			if m.focus == Messages || m.focus == Topics || m.focus == Broker {
				m.focusPane(m.center())
			}
			m.layout()
			return m, cmd
		case key.Matches(msg, g.SaveBoard):
			if m.opts.ProfilesPath == "" {
				m.status, m.isErr = "boards cannot be saved: no profiles file", true
				return m, nil
			}
			m.naming = true
			return m, m.boardName.Focus()
		default:
			return m, p.Update(msg)
		}
		return m, nil
	}
	// Everything else (cursor blinks, pane results) goes to every pane.
	return m, m.broadcast(msg)
}

// mouse routes a mouse event: a full-screen view takes them all; otherwise
// a click focuses the pane under the pointer, and a click or the wheel goes
// to that pane with X and Y made relative to its content (inside the
// border), so it can select the row clicked and scroll.
func (m *Model) mouse(msg tea.MouseMsg) tea.Cmd {
	if m.full {
		return nil
	}
	if m.modal() != nil {
		return m.panes[m.focus].Update(msg)
	}
	for _, id := range m.order() {
		r := m.rects[id]
		if !r.contains(msg.X, msg.Y) {
			continue
		}
		click := msg.Action == tea.MouseActionPress && msg.Button == tea.MouseButtonLeft
		if click {
			m.focusPane(id)
		}
		if click || tea.MouseEvent(msg).IsWheel() {
			msg.X, msg.Y = msg.X-r.x-1, msg.Y-r.y-1
			return m.panes[id].Update(msg)
		}
	}
	return nil
}

func (m *Model) connMsg(msg common.ConnMsg) tea.Cmd {
	c := m.set.Get(msg.ConnID)
	if c == nil {
		return nil
	}
	text, isErr, cmd := c.Apply(msg.Msg)
	switch {
	case text != "":
		m.status, m.isErr, m.errConn = text, isErr, 0
		if isErr {
			m.errConn, m.errDown = c.ID, c.Status != conn.Connected
		}
	case m.isErr && m.errConn == c.ID && c.Status == conn.Connected:
		// This connection's request succeeded: its old error is stale.
		m.status, m.isErr, m.errConn = "", false, 0
	}
	cmds := []tea.Cmd{cmd}
	if r, ok := msg.Msg.(conn.ConnectResult); ok && r.Err == nil && r.Generation == c.Generation {
		cmds = append(cmds, connections.ConnectedCmds(c))
	}
	cmds = append(cmds, m.broadcast(msg))
	return tea.Batch(cmds...)
}

func (m *Model) updateNaming(msg tea.KeyMsg) tea.Cmd {
	switch msg.String() {
	case "esc":
		m.naming = false
		return nil
	case "enter":
		m.naming = false
		name := strings.TrimSpace(m.boardName.Value())
		if name == "" {
			return nil
		}
		if err := m.SaveBoard(name); err != nil {
			m.status, m.isErr = err.Error(), true
		} else {
			m.status, m.isErr = fmt.Sprintf("board %q saved to %s; open it with mqttboard --board %s", name, m.opts.ProfilesPath, name), false
		}
		return nil
	}
	var cmd tea.Cmd
	m.boardName, cmd = m.boardName.Update(msg)
	return cmd
}

// Board describes the board as it is now, for saving.
func (m *Model) Board(name string) profiles.Board {
	focus := m.focus
	if focus == Broker {
		// The broker pane is not part of a saved board (the next run's
		// broker is another): its place reopens as the list.
		focus = Messages
	}
	b := profiles.Board{Name: name, Layout: profiles.Layout{TopicTree: m.topicTree, Focus: paneNames[focus]}}
	if m.opts.BrokerAPI != nil {
		b.BrokerHTTP = m.opts.BrokerAPI.Base // the token is not saved
	}
	for _, c := range m.set.List {
		bc := profiles.BoardConnection{Profile: c.Profile, PacketLog: c.Tracing()}
		if bc.Local {
			bc.URL = "" // the port is new each run
		}
		for _, s := range c.Subs {
			bc.Subscriptions = append(bc.Subscriptions, s.Subscription)
		}
		b.Connections = append(b.Connections, bc)
	}
	return b
}

// SaveBoard saves the board under name in the profiles file.
func (m *Model) SaveBoard(name string) error {
	f, err := profiles.Load(m.opts.ProfilesPath)
	if err != nil {
		return err
	}
	f.PutBoard(m.Board(name))
	return profiles.Save(m.opts.ProfilesPath, f)
}

// View implements tea.Model. It renders only when the state changed since
// the last call (see Model.dirty).
func (m *Model) View() string {
	if !m.dirty && m.view != "" {
		return m.view
	}
	m.view, m.dirty = m.render(), false
	return m.view
}

func (m *Model) render() string {
	if m.w < 40 || m.h < 12 {
		return "mqttboard needs at least 40×12; the terminal is " + fmt.Sprint(m.w, "×", m.h)
	}
	st := m.c.Styles
	mainH := m.h - 2
	var body string
	switch md := m.modal(); {
	case m.full:
		lines := strings.Split(strings.TrimRight(m.fullHelp(), "\n"), "\n")
		m.helpTop = min(m.helpTop, max(len(lines)-(mainH-2), 0))
		title := "All keys (↑↓ pgup pgdn scroll, any other key closes)"
		if len(lines) > mainH-2 {
			title += fmt.Sprintf(" %d-%d/%d", m.helpTop+1, min(m.helpTop+mainH-2, len(lines)), len(lines))
		}
		body = box(st, title, strings.Join(lines[m.helpTop:], "\n"), m.w, mainH, true)
	case md != nil:
		body = box(st, m.panes[m.focus].Title(), md.ModalView(m.w-2, mainH-2), m.w, mainH, true)
	default:
		body = m.renderPanes(mainH)
	}
	status := common.Safe(m.status)
	if m.naming {
		status = m.boardName.View()
	}
	if m.isErr {
		status = st.Error.Render(status)
	}
	m.help.Width = m.w
	helpLine := m.help.ShortHelpView(append(m.panes[m.focus].ShortHelp(), m.c.Keys.Global.Next, m.c.Keys.Global.Help))
	// Every pane renders network strings through common.Safe; Terminal is
	// the last guard, for anything a future change forgets.
	return common.Terminal(body + "\n" + common.Fit(status, m.w) + "\n" + common.Fit(helpLine, m.w))
}

func (m *Model) renderPanes(h int) string {
	// Draw each pane's box into a grid of lines, column by column.
	grid := make([]string, h)
	for _, id := range m.order() {
		r := m.rects[id]
		p := m.panes[id]
		lines := strings.Split(box(m.c.Styles, p.Title(), p.View(), r.w, r.h, id == m.focus), "\n")
		for i, l := range lines {
			if y := r.y + i; y < h {
				grid[y] += l
			}
		}
	}
	return strings.Join(grid, "\n")
}

func (m *Model) fullHelp() string {
	var b strings.Builder
	groups := []struct {
		name string
		km   help.KeyMap
	}{
		{"global", globalHelp(m.c.Keys.Global)},
		{"connections", m.panes[Connections]}, {"subscriptions", m.panes[Subscriptions]},
		{"messages", m.panes[Messages]}, {"message details (enter on a message)", detailHelp(m.c.Keys.Detail)}, {"topic tree", m.panes[Topics]},
		{"publish", m.panes[Publish]}, {"packet log", m.panes[Packets]}, {"broker (B)", m.panes[Broker]},
		{"forms (connection, subscribe, publish)", formHelp(m.c.Keys.Form)},
	}
	width := max(m.w-2, 20) // inside the box's borders
	for _, g := range groups {
		b.WriteString(m.c.Styles.Title.Render(g.name) + "\n")
		for _, col := range g.km.FullHelp() {
			// Wrap between keys rather than cut a line short: every key
			// stays readable at 80 columns.
			line := " "
			for _, k := range col {
				part := k.Help().Key + " " + k.Help().Desc
				switch {
				case line == " ":
					line += " " + part
				case lipgloss.Width(line)+3+lipgloss.Width(part) > width:
					b.WriteString(line + "\n")
					line = "  " + part
				default:
					line += " · " + part
				}
			}
			b.WriteString(line + "\n")
		}
	}
	b.WriteString(m.c.Styles.Title.Render("mouse") + "\n")
	for _, l := range []string{
		"click a pane to focus it; click a connection, subscription, message or topic to select it",
		"wheel: scroll the list under the pointer, the message details and the packet decode",
		"in a form, typing on a text field edits it; enter commits it and moves on",
	} {
		b.WriteString("  " + strings.ReplaceAll(ansi.WrapWc(l, width-2, " "), "\n", "\n  ") + "\n")
	}
	return b.String()
}

type formHelp common.FormKeys

func (f formHelp) ShortHelp() []key.Binding { return nil }

func (f formHelp) FullHelp() [][]key.Binding {
	return [][]key.Binding{{f.Up, f.Down, f.Edit, f.Done, f.Submit, f.Cancel, f.RemoveRow}}
}

type detailHelp common.DetailKeys

func (d detailHelp) ShortHelp() []key.Binding { return nil }

func (d detailHelp) FullHelp() [][]key.Binding {
	return [][]key.Binding{{d.Up, d.Down, d.PageUp, d.PageDown, d.Top, d.Bottom}, {d.View, d.Fold, d.FoldAll, d.Copy, d.CopyMessage, d.Close}}
}

type globalHelp common.GlobalKeys

func (g globalHelp) ShortHelp() []key.Binding {
	return []key.Binding{g.Next, g.Prev, g.Help, g.PacketLog, g.TopicTree, g.Broker, g.SaveBoard, g.Quit}
}

func (g globalHelp) FullHelp() [][]key.Binding { return [][]key.Binding{g.ShortHelp()} }
