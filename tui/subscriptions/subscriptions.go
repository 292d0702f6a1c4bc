// Package subscriptions is the board's subscriptions pane: the focused
// connection's subscriptions with their SUBACK reason and message count, and
// the form that adds one with every MQTT 5 option.
package subscriptions

import (
	"fmt"
	"strconv"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/mqttboard/mqttboard/profiles"
	"github.com/mqttboard/mqttboard/tui/common"
	"github.com/mqttboard/mqttboard/tui/conn"
	"github.com/mqttboard/mqttboard/tui/connections"
	"github.com/mqttboard/mqttboard/tui/form"
)

// Pane is the subscriptions pane.
type Pane struct {
	c       *common.Common
	set     *conn.Set
	w, h    int
	focused bool
	cursor  int
	form    *form.Model
}

// New returns the pane.
func New(c *common.Common, set *conn.Set) *Pane { return &Pane{c: c, set: set} }

// Title implements common.Pane.
func (p *Pane) Title() string { return "Subscriptions" }

// SetSize implements common.Pane.
func (p *Pane) SetSize(w, h int) { p.w, p.h = w, h }

// Focus implements common.Pane.
func (p *Pane) Focus() { p.focused = true }

// Blur implements common.Pane.
func (p *Pane) Blur() { p.focused = false }

// Capturing implements common.Pane.
func (p *Pane) Capturing() bool { return p.form != nil }

// ModalOpen reports that the subscribe form is open.
func (p *Pane) ModalOpen() bool { return p.form != nil }

// ShortHelp implements help.KeyMap.
func (p *Pane) ShortHelp() []key.Binding {
	if p.form != nil {
		f := p.c.Keys.Form
		if p.form.OnPairs() {
			return []key.Binding{f.Up, f.Down, f.Edit, f.RemoveRow, f.Done, f.Submit}
		}
		return []key.Binding{f.Up, f.Down, f.Edit, f.Done, f.Submit}
	}
	k := p.c.Keys.Subscription
	return []key.Binding{k.Add, k.Remove, k.Up, k.Down}
}

// FullHelp implements help.KeyMap.
func (p *Pane) FullHelp() [][]key.Binding { return [][]key.Binding{p.ShortHelp()} }

// Update implements common.Pane.
func (p *Pane) Update(msg tea.Msg) tea.Cmd {
	cur := p.set.Current()
	if p.form != nil {
		res, cmd := p.form.Update(msg)
		switch res {
		case form.Cancel:
			p.form = nil
		case form.Submit:
			s, err := p.fromForm()
			if err != nil {
				return common.Status(err.Error(), true)
			}
			p.form = nil
			if cur == nil {
				return common.Status("no connection to subscribe on", true)
			}
			p.cursor = len(cur.Subs)
			return cur.Subscribe(s)
		}
		return cmd
	}
	switch msg := msg.(type) {
	case tea.MouseMsg:
		if cur == nil {
			return nil
		}
		switch {
		case msg.Button == tea.MouseButtonLeft && msg.Action == tea.MouseActionPress:
			if i := p.rowAt(cur, msg.Y); i >= 0 {
				p.cursor = i
			}
		case msg.Button == tea.MouseButtonWheelUp:
			p.cursor = max(p.cursor-1, 0)
		case msg.Button == tea.MouseButtonWheelDown:
			p.cursor = min(p.cursor+1, max(len(cur.Subs)-1, 0))
		}
	case connections.FocusChangedMsg:
		p.cursor = 0
	case tea.KeyMsg:
		k := p.c.Keys.Subscription
		switch {
		case key.Matches(msg, k.Up):
			p.cursor = max(p.cursor-1, 0)
		case key.Matches(msg, k.Down):
			if cur != nil {
				p.cursor = min(p.cursor+1, max(len(cur.Subs)-1, 0))
			}
		case key.Matches(msg, k.Add):
			return p.OpenForm()
		case key.Matches(msg, k.Remove) && cur != nil:
			cmd := cur.Unsubscribe(p.cursor)
			p.cursor = min(p.cursor, max(len(cur.Subs)-1, 0))
			return cmd
		}
	}
	return nil
}

// OpenForm opens the subscribe form with the cursor on the empty filter
// field: typing (or enter) edits it, enter commits it. It opens empty, the
// example is a placeholder: a pre-filled "#" once subscribed to everything
// when what was typed went elsewhere.
func (p *Pane) OpenForm() tea.Cmd {
	p.form = form.New(p.c,
		form.NewField(form.Text, "filter", "Topic filter", "a/+/c, #, $share/g/a, $filter/..., a/b,c/d"),
		form.NewField(form.Choice, "qos", "QoS", "", "0", "1", "2"),
		form.NewField(form.Toggle, "no_local", "No local", ""),
		form.NewField(form.Toggle, "rap", "Retain as published", ""),
		form.NewField(form.Choice, "rh", "Retain handling", "", "0 send", "1 if new", "2 never"),
		form.NewField(form.Text, "id", "Subscription id", "0: none"),
		form.NewField(form.Pairs, "user", "User properties", ""),
	)
	p.form.AreaHeight = 3
	return nil
}

func (p *Pane) fromForm() (profiles.Subscription, error) {
	f := p.form
	s := profiles.Subscription{Filter: f.Value("filter"), NoLocal: f.Bool("no_local"), RetainAsPublished: f.Bool("rap")}
	if s.Filter == "" {
		return s, fmt.Errorf("topic filter is empty")
	}
	q, _ := strconv.Atoi(f.Value("qos"))
	s.QoS = byte(q)
	s.RetainHandling = f.Value("rh")[0] - '0'
	if v := f.Value("id"); v != "" {
		id, err := strconv.Atoi(v)
		if err != nil || id < 0 || id > 268_435_455 {
			return s, fmt.Errorf("subscription id %q: want 1..268435455", v)
		}
		s.ID = id
	}
	s.User = f.UserProps("user")
	return s, nil
}

// ModalView renders the subscribe form full size.
func (p *Pane) ModalView(w, h int) string {
	name := ""
	if c := p.set.Current(); c != nil {
		name = " on " + common.Safe(c.Name())
	}
	p.form.SetSize(w, h-2)
	return common.Lines([]string{p.c.Styles.Title.Render("Subscribe" + name), ""}, w, 2) + "\n" + p.form.View(true)
}

// rowAt is the subscription shown at content row y (the selected one's
// error takes a row under it), or -1.
func (p *Pane) rowAt(cur *conn.Conn, y int) int {
	row := 0
	for i, s := range cur.Subs {
		if row == y {
			return i
		}
		row++
		if s.Err != "" && i == p.cursor {
			row++
		}
	}
	return -1
}

// View implements common.Pane.
func (p *Pane) View() string {
	st := p.c.Styles
	cur := p.set.Current()
	if cur == nil {
		return common.Lines(nil, p.w, p.h)
	}
	if len(cur.Subs) == 0 {
		return common.Lines([]string{st.Dim.Render("none yet: press a"), st.Dim.Render("to subscribe")}, p.w, p.h)
	}
	var lines []string
	for i, s := range cur.Subs {
		var code string
		switch {
		case s.Pending:
			code = st.Warn.Render("…")
		case s.Err != "" || s.Code.IsError():
			code = st.Error.Render("✗ " + s.Code.String())
		default:
			code = st.OK.Render(fmt.Sprintf("q%d", byte(s.Code)))
		}
		count := strconv.FormatUint(s.Count, 10)
		fw := max(p.w-len(count)-8, 4)
		row := common.Fit(common.Safe(s.Filter), fw) + " " + code + " " + count
		if i == p.cursor && p.focused {
			row = st.Selected.Render(common.Fit(row, p.w))
		}
		lines = append(lines, row)
		if s.Err != "" && i == p.cursor {
			lines = append(lines, st.Error.Render("  "+common.Safe(s.Err)))
		}
	}
	return common.Lines(lines, p.w, p.h)
}
