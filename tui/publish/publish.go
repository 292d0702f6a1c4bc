// Package publish is the board's publish form: topic, QoS, retain, a
// multi-line payload, user properties, the MQTT 5 publish properties, the
// history of sent messages and the last acknowledgement.
package publish

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
	"github.com/mqttboard/mqttboard/profiles"
	"github.com/mqttboard/mqttboard/tui/common"
	"github.com/mqttboard/mqttboard/tui/conn"
	"github.com/mqttboard/mqttboard/tui/connections"
	"github.com/mqttboard/mqttboard/tui/form"
)

// Pane is the publish form.
type Pane struct {
	c       *common.Common
	set     *conn.Set
	w, h    int
	focused bool
	form    *form.Model
	hist    int // position in the sent history while browsing it; -1: not browsing
}

// New returns the pane, with a first message ready to send.
func New(c *common.Common, set *conn.Set) *Pane {
	f := form.New(c,
		form.NewField(form.Text, "topic", "Topic", "a/b"),
		form.NewField(form.Choice, "qos", "QoS", "", "1", "0", "2"),
		form.NewField(form.Toggle, "retain", "Retain", ""),
		form.NewField(form.Multiline, "payload", "Payload", "text; enter edits, esc ends"),
		form.NewField(form.Pairs, "user", "User props", ""),
		form.NewField(form.Text, "expiry", "Msg expiry (s)", "none"),
		form.NewField(form.Text, "content_type", "Content type", "e.g. application/json"),
		form.NewField(form.Text, "response_topic", "Response topic", ""),
		form.NewField(form.Text, "correlation", "Correlation data", ""),
		form.NewField(form.Choice, "format", "Payload format", "", "unspecified", "utf-8"),
	)
	f.AreaHeight = 3
	f.Set("topic", "mqttboard/hello")
	f.Set("payload", `{"temperature": 21.5}`)
	return &Pane{c: c, set: set, form: f, hist: -1}
}

// Title implements common.Pane.
func (p *Pane) Title() string { return "Publish" }

// SetSize implements common.Pane.
func (p *Pane) SetSize(w, h int) {
	p.w, p.h = w, h
	p.form.SetSize(w, max(h-2, 1))
}

// Focus implements common.Pane.
func (p *Pane) Focus() { p.focused = true }

// Blur implements common.Pane.
func (p *Pane) Blur() {
	p.focused = false
	p.form.Blur()
}

// Capturing implements common.Pane.
func (p *Pane) Capturing() bool { return p.form.Editing() }

// ShortHelp implements help.KeyMap.
func (p *Pane) ShortHelp() []key.Binding {
	k := p.c.Keys.Publish
	if p.form.Editing() {
		return []key.Binding{k.Done, k.Send}
	}
	if p.form.OnPairs() {
		return []key.Binding{k.Up, k.Down, k.Edit, p.c.Keys.Form.RemoveRow, k.Send, k.HistoryPrev, k.HistoryNext}
	}
	return []key.Binding{k.Up, k.Down, k.Edit, k.Send, k.HistoryPrev, k.HistoryNext}
}

// FullHelp implements help.KeyMap.
func (p *Pane) FullHelp() [][]key.Binding {
	k := p.c.Keys.Publish
	return [][]key.Binding{{k.Up, k.Down, k.Edit, k.Done, p.c.Keys.Form.RemoveRow}, {k.Send, k.HistoryPrev, k.HistoryNext}}
}

// Form is the pane's form, for tests and the root (focusing a field).
func (p *Pane) Form() *form.Model { return p.form }

// Update implements common.Pane.
func (p *Pane) Update(msg tea.Msg) tea.Cmd {
	cur := p.set.Current()
	switch msg := msg.(type) {
	case connections.FocusChangedMsg:
		p.hist = -1
		return nil
	case tea.KeyMsg:
		k := p.c.Keys.Publish
		if !p.form.Editing() && cur != nil {
			switch {
			case key.Matches(msg, k.HistoryPrev):
				p.browse(cur, -1)
				return nil
			case key.Matches(msg, k.HistoryNext):
				p.browse(cur, 1)
				return nil
			}
		}
		res, cmd := p.form.Update(msg)
		if res == form.Submit {
			if cur == nil {
				return common.Status("no connection to publish on", true)
			}
			m, err := p.message()
			if err != nil {
				return common.Status(err.Error(), true)
			}
			p.hist = -1
			return cur.Publish(m)
		}
		return cmd
	}
	if p.form.Editing() {
		_, cmd := p.form.Update(msg)
		return cmd
	}
	return nil
}

func (p *Pane) browse(cur *conn.Conn, d int) {
	n := len(cur.Sent)
	if n == 0 {
		return
	}
	if p.hist < 0 {
		p.hist = n
	}
	p.hist = min(max(p.hist+d, 0), n-1)
	p.load(cur.Sent[p.hist].Message)
}

func (p *Pane) load(m client.Message) {
	f := p.form
	f.Set("topic", m.Topic)
	f.Set("qos", strconv.Itoa(int(m.QoS)))
	f.SetBool("retain", m.Retain)
	f.Set("payload", string(m.Payload))
	var u []profiles.UserProperty
	for _, x := range m.Props.User {
		u = append(u, profiles.UserProperty{Key: x.Key, Value: x.Value})
	}
	f.SetUserProps("user", u)
	f.Set("expiry", "")
	if m.Props.MessageExpiry != 0 {
		f.Set("expiry", strconv.Itoa(int(m.Props.MessageExpiry)))
	}
	f.Set("content_type", m.Props.ContentType)
	f.Set("response_topic", m.Props.ResponseTopic)
	f.Set("correlation", string(m.Props.CorrelationData))
	if m.Props.PayloadFormat == 1 {
		f.Set("format", "utf-8")
	} else {
		f.Set("format", "unspecified")
	}
}

func (p *Pane) message() (client.Message, error) {
	f := p.form
	m := client.Message{Topic: f.Value("topic"), Payload: []byte(f.Value("payload")), Retain: f.Bool("retain")}
	if err := packet.ValidateTopicName(m.Topic); err != nil {
		return m, fmt.Errorf("topic %q: %v", m.Topic, err)
	}
	q, _ := strconv.Atoi(f.Value("qos"))
	m.QoS = byte(q)
	m.Props.User = conn.UserProps(f.UserProps("user"))
	if v := f.Value("expiry"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return m, fmt.Errorf("message expiry %q: want seconds", v)
		}
		m.Props.MessageExpiry = uint32(n)
	}
	m.Props.ContentType = f.Value("content_type")
	m.Props.ResponseTopic = f.Value("response_topic")
	if v := f.Value("correlation"); v != "" {
		m.Props.CorrelationData = []byte(v)
	}
	if f.Value("format") == "utf-8" {
		m.Props.PayloadFormat = 1
	}
	return m, nil
}

// View implements common.Pane.
func (p *Pane) View() string {
	st := p.c.Styles
	status := st.Dim.Render("ctrl+s publishes")
	if cur := p.set.Current(); cur != nil && cur.LastSent != nil {
		status = AckLine(st, cur.LastSent)
		if p.hist >= 0 {
			status = fmt.Sprintf("history %d/%d  ", p.hist+1, len(cur.Sent)) + status
		}
	}
	return p.form.View(p.focused) + "\n" + common.Lines([]string{"", status}, p.w, 2)
}

// AckLine describes a sent message's acknowledgement: PUBACK reason, reason
// string and user properties (flespi's subscribers_count).
func AckLine(st common.Styles, s *conn.Sent) string {
	if s.Err != "" {
		return st.Error.Render("✗ " + common.Safe(s.Message.Topic) + ": " + common.Safe(s.Err))
	}
	var b strings.Builder
	if s.Ack == nil || s.Ack.Type == 0 {
		b.WriteString(st.OK.Render("sent " + common.Safe(s.Message.Topic) + " (QoS 0, no ack)"))
		return b.String()
	}
	code := packet.Success
	if len(s.Ack.Codes) > 0 {
		code = s.Ack.Codes[0]
	}
	b.WriteString(st.OK.Render("✓ " + s.Ack.Type.String() + " " + code.String()))
	if s.Ack.ReasonString != "" {
		b.WriteString(" " + common.Safe(strconv.Quote(s.Ack.ReasonString)))
	}
	for _, u := range s.Ack.User {
		b.WriteString(" " + common.Safe(u.Key) + "=" + common.Safe(u.Value))
	}
	return b.String()
}
