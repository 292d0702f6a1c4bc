// Package connections is the board's connections pane: the list of
// connections with their colour and status, the focused one's CONNACK, and
// the form that adds, edits and clones connections.
package connections

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/mqttboard/mqttboard/packet"
	"github.com/mqttboard/mqttboard/profiles"
	"github.com/mqttboard/mqttboard/tui/common"
	"github.com/mqttboard/mqttboard/tui/conn"
	"github.com/mqttboard/mqttboard/tui/form"
)

// FocusChangedMsg tells every pane that another connection is focused.
type FocusChangedMsg struct{}

// Pane is the connections pane.
type Pane struct {
	c       *common.Common
	set     *conn.Set
	saved   []profiles.Profile
	w, h    int
	focused bool
	form    *form.Model
	editing *conn.Conn       // nil: the form adds a connection
	base    profiles.Profile // the profile the form opened with: what it has no field for is kept
	info    bool             // the server properties view is open
	// cloneOf is the connection the form clones: its subscriptions go to
	// the new connection.
	cloneOf *conn.Conn
	// removing is the connection x asked to remove, waiting for y/n.
	removing *conn.Conn
}

// New returns the pane over set; saved are the profiles the form offers.
func New(c *common.Common, set *conn.Set, saved []profiles.Profile) *Pane {
	return &Pane{c: c, set: set, saved: saved}
}

// Title implements common.Pane.
func (p *Pane) Title() string { return "Connections" }

// SetSize implements common.Pane.
func (p *Pane) SetSize(w, h int) { p.w, p.h = w, h }

// Focus implements common.Pane.
func (p *Pane) Focus() { p.focused = true }

// Blur implements common.Pane.
func (p *Pane) Blur() { p.focused = false }

// Capturing implements common.Pane: the form, the info view and a removal
// waiting for y/n take every key.
func (p *Pane) Capturing() bool { return p.form != nil || p.info || p.removing != nil }

// ModalOpen reports that the pane shows a full-screen form or view.
func (p *Pane) ModalOpen() bool { return p.form != nil || p.info }

// ShortHelp implements help.KeyMap.
func (p *Pane) ShortHelp() []key.Binding {
	if p.removing != nil {
		return []key.Binding{p.c.Keys.Topics.Confirm, p.c.Keys.Topics.Cancel}
	}
	if p.form != nil {
		f := p.c.Keys.Form
		if p.form.OnPairs() {
			return []key.Binding{f.Up, f.Down, f.Edit, f.RemoveRow, f.Done, f.Submit}
		}
		return []key.Binding{f.Up, f.Down, f.Edit, f.Done, f.Submit}
	}
	k := p.c.Keys.Connections
	return []key.Binding{k.Add, k.AddLocal, k.Edit, k.Clone, k.Remove, k.Toggle, k.Reconnect, k.Properties}
}

// FullHelp implements help.KeyMap.
func (p *Pane) FullHelp() [][]key.Binding {
	k := p.c.Keys.Connections
	return [][]key.Binding{{k.Up, k.Down, k.Toggle, k.Reconnect}, {k.Add, k.AddLocal, k.Edit, k.Clone, k.Remove, k.Properties}}
}

func focusChanged() tea.Msg { return FocusChangedMsg{} }

// Update implements common.Pane.
func (p *Pane) Update(msg tea.Msg) tea.Cmd {
	if p.info {
		if km, ok := msg.(tea.KeyMsg); ok {
			if km.String() == "esc" || key.Matches(km, p.c.Keys.Connections.Properties) || km.String() == "q" {
				p.info = false
			}
		}
		return nil
	}
	if p.form != nil {
		res, cmd := p.form.Update(msg)
		switch res {
		case form.Cancel:
			p.form, p.cloneOf = nil, nil
		case form.Submit:
			return p.submit()
		}
		return cmd
	}
	if mm, ok := msg.(tea.MouseMsg); ok {
		return p.mouse(mm)
	}
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	if p.removing != nil {
		// Removing drops the connection's history: ask first.
		switch {
		case key.Matches(km, p.c.Keys.Topics.Confirm):
			i := slices.Index(p.set.List, p.removing)
			p.removing = nil
			if i >= 0 {
				p.set.Remove(i)
				return focusChanged
			}
		case key.Matches(km, p.c.Keys.Topics.Cancel):
			p.removing = nil
		}
		return nil
	}
	k := p.c.Keys.Connections
	cur := p.set.Current()
	switch {
	case key.Matches(km, k.Up):
		if p.set.Focused > 0 {
			p.set.Focused--
			return focusChanged
		}
	case key.Matches(km, k.Down):
		if p.set.Focused < len(p.set.List)-1 {
			p.set.Focused++
			return focusChanged
		}
	case key.Matches(km, k.Add):
		p.openForm(nil, profiles.Profile{Name: fmt.Sprintf("conn%d", len(p.set.List)+1), URL: "mqtt://localhost:1883"})
	case key.Matches(km, k.AddLocal):
		return p.AddAndConnect(profiles.Profile{Name: fmt.Sprintf("local%d", len(p.set.List)+1), Local: true})
	case key.Matches(km, k.Edit) && cur != nil:
		p.openForm(cur, cur.Profile)
	case key.Matches(km, k.Clone) && cur != nil:
		pr := cur.Profile
		pr.Name += "-copy"
		if pr.ClientID != "" {
			pr.ClientID += "-copy"
		}
		p.openForm(nil, pr)
		p.cloneOf = cur
	case key.Matches(km, k.Remove) && cur != nil:
		p.removing = cur
	case key.Matches(km, k.Toggle) && cur != nil:
		if cur.Status == conn.Connected || cur.Status == conn.Connecting || cur.Status == conn.Reconnecting {
			cur.Disconnect()
			return nil
		}
		return p.connect(cur)
	case key.Matches(km, k.Reconnect) && cur != nil:
		return p.connect(cur)
	case key.Matches(km, k.Properties) && cur != nil:
		p.info = true
	}
	return nil
}

// AddAndConnect adds a connection for pr and connects it.
func (p *Pane) AddAndConnect(pr profiles.Profile) tea.Cmd {
	c := p.set.Add(pr)
	return tea.Batch(p.connect(c), focusChanged)
}

func (p *Pane) connect(c *conn.Conn) tea.Cmd {
	if p.set.Offline {
		return nil
	}
	if err := p.set.ResolveLocal(c); err != nil {
		c.Status, c.Err = conn.Failed, err.Error()
		return common.Status("local broker: "+err.Error(), true)
	}
	return c.Connect()
}

// ConnectedCmds subscribes a connection that has just connected to the
// subscriptions it had (a board's, or the ones before a reconnect).
func ConnectedCmds(c *conn.Conn) tea.Cmd { return tea.Batch(c.ResubscribeCmds()...) }

func (p *Pane) openForm(editing *conn.Conn, pr profiles.Profile) {
	names := []string{"(none)"}
	for _, s := range p.saved {
		names = append(names, s.Name)
	}
	f := form.New(p.c,
		form.NewField(form.Text, "name", "Name", "a name for the list"),
		form.NewField(form.Choice, "profile", "From profile", "", names...),
		form.NewField(form.Toggle, "local", "Local broker", ""),
		form.NewField(form.Text, "url", "URL", "mqtt://host:1883, mqtts://, ws://, wss://"),
		form.NewField(form.Choice, "version", "Version", "", "5", "3.1.1", "3.1"),
		form.NewField(form.Text, "client_id", "Client ID", "empty: assigned by the broker"),
		form.NewField(form.Text, "username", "Username", "or a flespi token"),
		form.NewField(form.Secret, "password", "Password", "empty: none, or the env var below"),
		form.NewField(form.Text, "password_env", "Password env var", "a variable holding it; the file keeps no secret"),
		form.NewField(form.Text, "cafile", "TLS CA file", "PEM; empty: system roots"),
		form.NewField(form.Text, "cert", "TLS cert file", "PEM client certificate"),
		form.NewField(form.Text, "key", "TLS key file", "PEM client key"),
		form.NewField(form.Toggle, "insecure", "TLS insecure", ""),
		form.NewField(form.Text, "keepalive", "Keep alive (s)", "60"),
		form.NewField(form.Toggle, "clean", "Clean start", ""),
		form.NewField(form.Text, "session_expiry", "Session expiry (s)", "0"),
		form.NewField(form.Text, "receive_max", "Receive maximum", "65535"),
		form.NewField(form.Text, "max_packet", "Max packet size", "no limit"),
		form.NewField(form.Text, "alias_max", "Topic alias max", "0"),
		form.NewField(form.Toggle, "req_resp", "Request resp. info", ""),
		form.NewField(form.Pairs, "user", "User properties", ""),
		form.NewField(form.Text, "will_topic", "Will topic", "empty: no will"),
		form.NewField(form.Multiline, "will_payload", "Will payload", ""),
		form.NewField(form.Choice, "will_qos", "Will QoS", "", "0", "1", "2"),
		form.NewField(form.Toggle, "will_retain", "Will retain", ""),
		form.NewField(form.Text, "will_delay", "Will delay (s)", "0"),
	)
	f.AreaHeight = 3
	f.Set("name", pr.Name)
	f.SetBool("local", pr.Local)
	f.Set("url", pr.URL)
	if pr.Version != "" {
		f.Set("version", pr.Version)
	}
	f.Set("client_id", pr.ClientID)
	f.Set("username", pr.Username)
	f.Set("password", pr.Password)
	f.Set("password_env", pr.PasswordEnv)
	f.Set("cafile", pr.CAFile)
	f.Set("cert", pr.CertFile)
	f.Set("key", pr.KeyFile)
	f.SetBool("insecure", pr.Insecure)
	f.Set("keepalive", numOrEmpty(pr.KeepAlive))
	f.SetBool("clean", !pr.Persistent)
	f.Set("session_expiry", numOrEmpty(int(pr.SessionExpiry)))
	f.Set("receive_max", numOrEmpty(int(pr.ReceiveMaximum)))
	f.Set("max_packet", numOrEmpty(int(pr.MaximumPacketSize)))
	f.Set("alias_max", numOrEmpty(int(pr.TopicAliasMaximum)))
	f.SetBool("req_resp", pr.RequestResponseInfo)
	f.SetUserProps("user", pr.User)
	if w := pr.Will; w != nil {
		f.Set("will_topic", w.Topic)
		f.Set("will_payload", w.Payload)
		f.Set("will_qos", strconv.Itoa(int(w.QoS)))
		f.SetBool("will_retain", w.Retain)
		f.Set("will_delay", numOrEmpty(int(w.Delay)))
	}
	p.form, p.editing, p.base = f, editing, pr
}

func numOrEmpty(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func (p *Pane) submit() tea.Cmd {
	pr, err := p.profileFromForm()
	if err != nil {
		return common.Status(err.Error(), true)
	}
	if err := pr.Validate(); err != nil {
		return common.Status(err.Error(), true)
	}
	p.form = nil
	if c := p.editing; c != nil {
		c.Profile = pr
		return p.connect(c)
	}
	c := p.set.Add(pr)
	if from := p.cloneOf; from != nil {
		// A clone subscribes as its original does.
		for _, s := range from.Subs {
			c.Subs = append(c.Subs, &conn.Subscription{Subscription: s.Subscription, Pending: true})
		}
		p.cloneOf = nil
	}
	return tea.Batch(p.connect(c), focusChanged)
}

// mouse selects the connection clicked; the wheel moves the focus.
func (p *Pane) mouse(m tea.MouseMsg) tea.Cmd {
	switch {
	case m.Button == tea.MouseButtonLeft && m.Action == tea.MouseActionPress:
		if m.Y >= 0 && m.Y < len(p.set.List) && m.Y != p.set.Focused {
			p.set.Focused = m.Y
			return focusChanged
		}
	case m.Button == tea.MouseButtonWheelUp && p.set.Focused > 0:
		p.set.Focused--
		return focusChanged
	case m.Button == tea.MouseButtonWheelDown && p.set.Focused < len(p.set.List)-1:
		p.set.Focused++
		return focusChanged
	}
	return nil
}

func (p *Pane) profileFromForm() (profiles.Profile, error) {
	f := p.form
	if name := f.Value("profile"); name != "(none)" {
		for _, s := range p.saved {
			if s.Name == name {
				pr := s
				if n := f.Value("name"); n != "" {
					pr.Name = n
				}
				return pr, nil
			}
		}
	}
	// Start from the profile being edited so that what the form does not
	// show (SNI, ALPN, default PUBLISH properties) survives an edit.
	pr := p.base
	pr.Name, pr.Local, pr.URL, pr.Version = f.Value("name"), f.Bool("local"), f.Value("url"), f.Value("version")
	pr.ClientID, pr.Username, pr.Password, pr.PasswordEnv = f.Value("client_id"), f.Value("username"), f.Value("password"), f.Value("password_env")
	pr.CAFile, pr.CertFile, pr.KeyFile, pr.Insecure = f.Value("cafile"), f.Value("cert"), f.Value("key"), f.Bool("insecure")
	pr.Persistent, pr.RequestResponseInfo = !f.Bool("clean"), f.Bool("req_resp")
	pr.Will = nil
	if pr.Local {
		pr.URL = ""
	}
	var err error
	num := func(field string, bits int) uint64 {
		s := f.Value(field)
		if s == "" || err != nil {
			return 0
		}
		n, e := strconv.ParseUint(s, 10, bits)
		if e != nil {
			err = fmt.Errorf("%s: %q is not a number of %d bits", field, s, bits)
		}
		return n
	}
	pr.KeepAlive = int(num("keepalive", 16))
	pr.SessionExpiry = uint32(num("session_expiry", 32))
	pr.ReceiveMaximum = uint16(num("receive_max", 16))
	pr.MaximumPacketSize = uint32(num("max_packet", 32))
	pr.TopicAliasMaximum = uint16(num("alias_max", 16))
	pr.User = f.UserProps("user")
	if t := f.Value("will_topic"); t != "" {
		q, _ := strconv.Atoi(f.Value("will_qos"))
		pr.Will = &profiles.Will{Topic: t, Payload: f.Value("will_payload"), QoS: byte(q), Retain: f.Bool("will_retain"), Delay: uint32(num("will_delay", 32))}
	}
	return pr, err
}

// ModalView renders the form or the server properties full size.
func (p *Pane) ModalView(w, h int) string {
	if p.form != nil {
		title := "Add connection"
		if p.editing != nil {
			title = "Edit connection " + common.Safe(p.editing.Name())
		}
		p.form.SetSize(w, h-2)
		return common.Lines([]string{p.c.Styles.Title.Render(title), ""}, w, 2) + "\n" + p.form.View(true)
	}
	return common.Lines(p.infoLines(w), w, h)
}

func (p *Pane) infoLines(w int) []string {
	c := p.set.Current()
	if c == nil {
		return nil
	}
	st := p.c.Styles
	lines := []string{st.Title.Render(common.Safe(c.Name())) + "  " + common.Safe(c.Profile.URL), ""}
	lines = append(lines, p.statusLines(c, w)...)
	if ca := c.Connack; ca != nil {
		lines = append(lines, "", st.Label.Render("Server properties:"))
		for _, l := range wrap(common.Safe(ca.Props.String()), w-2) {
			lines = append(lines, "  "+l)
		}
	}
	lines = append(lines, "", st.Dim.Render("esc: close"))
	return lines
}

func (p *Pane) statusLines(c *conn.Conn, w int) []string {
	st := p.c.Styles
	var lines []string
	switch c.Status {
	case conn.Connected:
		lines = append(lines, st.OK.Render("connected"))
	case conn.Failed:
		lines = append(lines, st.Error.Render("failed"))
	default:
		lines = append(lines, st.Warn.Render(c.Status.String()))
	}
	if c.Status == conn.Reconnecting && c.Attempt > 0 {
		in := max(c.NextTry.Sub(p.c.Now()).Round(time.Second), 0)
		for _, l := range wrap(fmt.Sprintf("attempt %d failed; next try %s (in %v)", c.Attempt, c.NextTry.Format("15:04:05"), in), w) {
			lines = append(lines, st.Warn.Render(l))
		}
	}
	if c.Err != "" {
		for _, l := range wrap(common.Safe(c.Err), w) {
			lines = append(lines, st.Error.Render(l))
		}
	}
	if ca := c.Connack; ca != nil {
		sp := "no"
		if ca.SessionPresent {
			sp = "yes"
		}
		lines = append(lines, "CONNACK "+ca.Code.String(), "session present: "+sp)
		if id := ca.Props.AssignedClientID; id != "" {
			lines = append(lines, "client id: "+common.Safe(id))
		}
		lines = append(lines, serverLimits(&ca.Props)...)
		for _, u := range ca.Props.User {
			if u.Key == "token" {
				if tl, ok := tokenLines(u.Value); ok {
					for _, l := range tl {
						for _, wl := range wrap(l, w-len("token ")) {
							lines = append(lines, st.Label.Render("token")+" "+wl)
						}
					}
					continue
				}
			}
			lines = append(lines, st.Label.Render(common.Safe(u.Key))+"="+common.Safe(u.Value))
		}
	}
	return lines
}

func serverLimits(pr *packet.Properties) []string {
	var out []string
	add := func(id packet.PropID, label string, v any) {
		if pr.Has(id) {
			out = append(out, fmt.Sprintf("%s: %v", label, v))
		}
	}
	add(packet.PropReceiveMaximum, "receive max", pr.ReceiveMaximum)
	add(packet.PropTopicAliasMaximum, "topic alias max", pr.TopicAliasMaximum)
	add(packet.PropMaximumPacketSize, "max packet", pr.MaximumPacketSize)
	add(packet.PropMaximumQoS, "max QoS", pr.MaximumQoS)
	add(packet.PropRetainAvailable, "retain", pr.RetainAvailable)
	add(packet.PropServerKeepAlive, "server keep alive", pr.ServerKeepAlive)
	return out
}

func wrap(s string, w int) []string {
	if w <= 0 {
		return nil
	}
	return strings.Split(lipgloss.NewStyle().Width(w).Render(s), "\n")
}

// View implements common.Pane.
func (p *Pane) View() string {
	st := p.c.Styles
	var lines []string
	for i, c := range p.set.List {
		dot := lipgloss.NewStyle().Foreground(c.Color).Render("●")
		row := dot + " " + common.Fit(common.Safe(c.Name()), max(p.w-4-3, 4)) + " " + statusGlyph(c.Status)
		if i == p.set.Focused {
			row = "▸" + row
			if p.focused {
				row = st.Selected.Render(common.Fit(row, p.w))
			}
		} else {
			row = " " + row
		}
		lines = append(lines, row)
	}
	if len(p.set.List) == 0 {
		lines = append(lines, st.Dim.Render("no connections: a add, l local"))
	}
	if r := p.removing; r != nil {
		for _, l := range wrap(fmt.Sprintf("Remove %s and its %d messages? y/n", common.Safe(r.Name()), r.Messages.Len()), p.w) {
			lines = append(lines, st.Warn.Render(l))
		}
	}
	if c := p.set.Current(); c != nil {
		lines = append(lines, st.Dim.Render(strings.Repeat("─", p.w)))
		lines = append(lines, common.Safe(c.Profile.URL))
		lines = append(lines, p.statusLines(c, p.w)...)
	}
	return common.Lines(lines, p.w, p.h)
}

func statusGlyph(s conn.Status) string {
	switch s {
	case conn.Connected:
		return "✓"
	case conn.Failed:
		return "✗"
	case conn.Disconnected:
		return "-"
	}
	return "…"
}

// tokenLines renders the CONNACK "token" user property of a flespi broker
// (or the bundled one with --auth token): which token, whose account, its
// type and lifetime, and what an ACL token may do, one grant per line.
// ok is false when the value is not such JSON (it is then shown raw).
func tokenLines(v string) (lines []string, ok bool) {
	var t struct {
		ID      uint64 `json:"id"`
		CID     uint64 `json:"cid"`
		Info    string `json:"info"`
		Enabled *bool  `json:"enabled"`
		Expire  int64  `json:"expire"`
		TTL     int64  `json:"ttl"`
		Access  struct {
			Type int `json:"type"`
			ACL  []struct {
				URI     string   `json:"uri"`
				Topic   string   `json:"topic"`
				Actions []string `json:"actions"`
			} `json:"acl"`
		} `json:"access"`
	}
	if err := json.Unmarshal([]byte(v), &t); err != nil || t.ID == 0 {
		return nil, false
	}
	kind := map[int]string{0: "standard", 1: "master", 2: "ACL"}[t.Access.Type]
	if kind == "" {
		kind = "type " + strconv.Itoa(t.Access.Type)
	}
	head := fmt.Sprintf("#%d  account %d  %s", t.ID, t.CID, kind)
	if t.Info != "" {
		head += "  " + strconv.Quote(t.Info)
	}
	lines = append(lines, common.Safe(head))
	var life []string
	if t.Expire > 0 {
		life = append(life, "expires "+time.Unix(t.Expire, 0).UTC().Format(time.RFC3339))
	}
	if t.TTL > 0 {
		life = append(life, "ttl "+(time.Duration(t.TTL)*time.Second).String())
	}
	if len(life) > 0 {
		lines = append(lines, strings.Join(life, ", "))
	}
	if t.Access.Type == 2 {
		n := 0
		for _, e := range t.Access.ACL {
			if e.URI == "mqtt" {
				lines = append(lines, common.Safe("may "+strings.Join(e.Actions, "+")+" "+e.Topic))
				n++
			}
		}
		if n == 0 {
			lines = append(lines, "may do nothing over MQTT")
		}
	}
	return lines, true
}
