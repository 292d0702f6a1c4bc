// Package form is the field editor used by every form of the board: the
// connection form, the subscription form and the publish form. A form is a
// list of fields; the cursor moves between them, enter edits a text field or
// flips a toggle or choice, esc ends editing.
package form

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textarea"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/mqttboard/mqttboard/profiles"
	"github.com/mqttboard/mqttboard/tui/common"
)

// Kind is how a field is edited.
type Kind int

// Field kinds.
const (
	Text      Kind = iota
	Secret         // text shown as dots
	Multiline      // several lines: a payload, or key=value rows
	Toggle         // on/off
	Choice         // one of Options
	Pairs          // key/value rows added with enter on "+ add", removed with x
)

// pair is one key/value row of a Pairs field.
type pair struct{ key, value textinput.Model }

// Field is one row of a form.
type Field struct {
	Key     string
	Label   string
	Kind    Kind
	Options []string // Choice
	Hint    string   // shown when the value is empty

	input  textinput.Model
	area   textarea.Model
	on     bool
	choice int
	pairs  []*pair
}

// Model is a form.
type Model struct {
	c       *common.Common
	fields  []*Field
	cursor  int
	sub     int // Pairs field under the cursor: the row; len(pairs) is "+ add"
	col     int // the pair being edited: 0 key, 1 value
	editing bool
	width   int
	height  int
	labelW  int
	// AreaHeight is the number of lines of an edited multi-line field.
	AreaHeight int
}

// New returns a form with fields.
func New(c *common.Common, fields ...*Field) *Model {
	m := &Model{c: c, fields: fields, AreaHeight: 4}
	for _, f := range fields {
		m.labelW = max(m.labelW, len(f.Label))
		switch f.Kind {
		case Text, Secret:
			f.input = textinput.New()
			f.input.Prompt = ""
			f.input.Placeholder = f.Hint
			if f.Kind == Secret {
				f.input.EchoMode = textinput.EchoPassword
			}
		case Multiline:
			f.area = textarea.New()
			f.area.Prompt = ""
			f.area.Placeholder = f.Hint
			f.area.ShowLineNumbers = false
			f.area.CharLimit = 0
			f.area.MaxHeight = 0
		}
	}
	return m
}

// NewField is a shorthand for a Field literal.
func NewField(k Kind, key, label, hint string, options ...string) *Field {
	return &Field{Key: key, Label: label, Kind: k, Hint: hint, Options: options}
}

func (m *Model) field(key string) *Field {
	for _, f := range m.fields {
		if f.Key == key {
			return f
		}
	}
	panic("form: no field " + key)
}

// Value is a field's text (Text, Secret, Multiline), "on"/"" (Toggle) or
// the chosen option (Choice).
func (m *Model) Value(key string) string {
	f := m.field(key)
	switch f.Kind {
	case Multiline:
		return f.area.Value()
	case Toggle:
		if f.on {
			return "on"
		}
		return ""
	case Choice:
		return f.Options[f.choice]
	case Pairs:
		var b strings.Builder
		for i, kv := range m.Pairs(key) {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(kv[0] + "=" + kv[1])
		}
		return b.String()
	}
	return strings.TrimSpace(f.input.Value())
}

// Pairs is a Pairs field's rows in order; rows with neither key nor value
// are left out.
func (m *Model) Pairs(key string) [][2]string {
	var out [][2]string
	for _, p := range m.field(key).pairs {
		k, v := strings.TrimSpace(p.key.Value()), strings.TrimSpace(p.value.Value())
		if k != "" || v != "" {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

// SetPairs replaces a Pairs field's rows.
func (m *Model) SetPairs(key string, kvs [][2]string) {
	f := m.field(key)
	f.pairs = f.pairs[:0]
	for _, kv := range kvs {
		p := m.newPair()
		p.key.SetValue(kv[0])
		p.value.SetValue(kv[1])
		f.pairs = append(f.pairs, p)
	}
	if m.fields[m.cursor] == f {
		m.sub = min(m.sub, len(f.pairs))
	}
}

func (m *Model) newPair() *pair {
	p := &pair{key: textinput.New(), value: textinput.New()}
	p.key.Prompt, p.value.Prompt = "", ""
	p.key.Placeholder, p.value.Placeholder = "key", "value"
	kw, vw := m.pairWidths()
	p.key.Width, p.value.Width = kw-1, vw-1
	return p
}

// pairWidths are the key and value columns of a Pairs row.
func (m *Model) pairWidths() (int, int) {
	vw := max(m.width-m.labelW-4, 4)
	kw := max(vw/3, 2)
	return kw, max(vw-kw-3, 2)
}

// Bool is a Toggle field's state.
func (m *Model) Bool(key string) bool { return m.field(key).on }

// Set sets a field's value (a Toggle is on for any non-empty value but
// "false"; a Choice picks the matching option).
func (m *Model) Set(key, v string) {
	f := m.field(key)
	switch f.Kind {
	case Multiline:
		f.area.SetValue(v)
	case Toggle:
		f.on = v != "" && v != "false"
	case Choice:
		for i, o := range f.Options {
			if o == v {
				f.choice = i
			}
		}
	case Pairs:
		var kvs [][2]string
		for line := range strings.SplitSeq(v, "\n") {
			if k, val, ok := strings.Cut(line, "="); ok {
				kvs = append(kvs, [2]string{k, val})
			}
		}
		m.SetPairs(key, kvs)
	default:
		f.input.SetValue(v)
	}
}

// SetBool sets a Toggle field.
func (m *Model) SetBool(key string, on bool) { m.field(key).on = on }

// Editing reports whether a text field has the keys.
func (m *Model) Editing() bool { return m.editing }

// OnPairs reports whether the cursor is on a row of a Pairs field (for the
// help bar: x removes it).
func (m *Model) OnPairs() bool { return m.fields[m.cursor].Kind == Pairs }

// UserProps converts a Pairs field's rows to user properties.
func (m *Model) UserProps(key string) []profiles.UserProperty {
	var out []profiles.UserProperty
	for _, kv := range m.Pairs(key) {
		out = append(out, profiles.UserProperty{Key: kv[0], Value: kv[1]})
	}
	return out
}

// SetUserProps fills a Pairs field with user properties.
func (m *Model) SetUserProps(key string, u []profiles.UserProperty) {
	kvs := make([][2]string, len(u))
	for i, p := range u {
		kvs[i] = [2]string{p.Key, p.Value}
	}
	m.SetPairs(key, kvs)
}

// Cursor is the key of the field under the cursor.
func (m *Model) Cursor() string { return m.fields[m.cursor].Key }

// SetSize sets the form's area.
func (m *Model) SetSize(w, h int) {
	m.width, m.height = w, h
	vw := max(w-m.labelW-4, 4)
	for _, f := range m.fields {
		switch f.Kind {
		case Text, Secret:
			f.input.Width = vw - 1
		case Multiline:
			f.area.SetWidth(vw)
			f.area.SetHeight(m.AreaHeight)
		case Pairs:
			kw, pw := m.pairWidths()
			for _, p := range f.pairs {
				p.key.Width, p.value.Width = kw-1, pw-1
			}
		}
	}
}

// Blur stops editing.
func (m *Model) Blur() { m.stopEditing() }

func (m *Model) stopEditing() {
	f := m.fields[m.cursor]
	f.input.Blur()
	f.area.Blur()
	for _, p := range f.pairs {
		p.key.Blur()
		p.value.Blur()
	}
	m.editing = false
}

// Result says what a key did to the form.
type Result int

// Results of Update.
const (
	None Result = iota
	Submit
	Cancel
)

// Update handles a key. Submit and Cancel are for the form's owner to act
// on; Cancel is esc when no field is being edited. On a text field that is
// not being edited, enter starts editing and a typed character starts
// editing with that character; while editing, enter commits the field and
// moves to the next.
func (m *Model) Update(msg tea.Msg) (Result, tea.Cmd) {
	keys := m.c.Keys.Form
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		if m.editing {
			return None, m.forward(msg)
		}
		return None, nil
	}
	if key.Matches(km, keys.Submit) {
		m.stopEditing()
		return Submit, nil
	}
	if key.Matches(km, keys.Cancel) {
		m.stopEditing()
		return Cancel, nil
	}
	f := m.fields[m.cursor]
	if m.editing && f.Kind != Multiline && (key.Matches(km, keys.Up) || key.Matches(km, keys.Down)) {
		// On a one-line field (or a key/value row) the arrows end the edit
		// and move on, as they do when not editing: down from a row lands
		// on the next row or "+ add", never nowhere.
		m.stopEditing()
		if key.Matches(km, keys.Up) {
			m.move(-1)
		} else {
			m.move(1)
		}
		return None, nil
	}
	if m.editing && f.Kind == Pairs {
		return None, m.updatePair(km)
	}
	if m.editing {
		switch {
		case key.Matches(km, keys.Done):
			m.stopEditing()
			return None, nil
		case f.Kind != Multiline && key.Matches(km, keys.Edit):
			m.stopEditing()
			m.move(1)
			return None, nil
		}
		return None, m.forward(msg)
	}
	text := f.Kind == Text || f.Kind == Secret || f.Kind == Multiline
	if text && km.Type == tea.KeyRunes {
		// Typing on a text field edits it: what is typed is never lost to
		// a field that was not in edit mode (nor taken as j/k).
		m.editing = true
		var cmd tea.Cmd
		if f.Kind == Multiline {
			cmd = f.area.Focus()
		} else {
			f.input.CursorEnd()
			cmd = f.input.Focus()
		}
		return None, tea.Batch(cmd, m.forward(msg))
	}
	switch {
	case key.Matches(km, keys.Up), km.String() == "k":
		m.move(-1)
	case key.Matches(km, keys.Down), km.String() == "j":
		m.move(1)
	case key.Matches(km, keys.Done):
		return Cancel, nil
	case f.Kind == Pairs && key.Matches(km, keys.RemoveRow):
		if m.sub < len(f.pairs) {
			f.pairs = append(f.pairs[:m.sub], f.pairs[m.sub+1:]...)
		}
	case key.Matches(km, keys.Edit), km.String() == " ":
		switch f.Kind {
		case Pairs:
			if m.sub == len(f.pairs) {
				f.pairs = append(f.pairs, m.newPair())
			}
			m.editing, m.col = true, 0
			return None, f.pairs[m.sub].key.Focus()
		case Toggle:
			f.on = !f.on
		case Choice:
			f.choice = (f.choice + 1) % len(f.Options)
		case Multiline:
			m.editing = true
			return None, f.area.Focus()
		default:
			m.editing = true
			f.input.CursorEnd()
			return None, f.input.Focus()
		}
	}
	return None, nil
}

// updatePair handles a key while a Pairs row is edited: enter goes from
// the key to the value and from the value to the next row, esc ends.
func (m *Model) updatePair(km tea.KeyMsg) tea.Cmd {
	keys := m.c.Keys.Form
	f := m.fields[m.cursor]
	p := f.pairs[m.sub]
	switch {
	case key.Matches(km, keys.Done):
		m.stopEditing()
		return nil
	case key.Matches(km, keys.Edit) && m.col == 0:
		p.key.Blur()
		m.col = 1
		p.value.CursorEnd()
		return p.value.Focus()
	case key.Matches(km, keys.Edit):
		m.stopEditing()
		m.move(1)
		return nil
	}
	return m.forward(km)
}

func (m *Model) forward(msg tea.Msg) tea.Cmd {
	f := m.fields[m.cursor]
	var cmd tea.Cmd
	if f.Kind == Pairs {
		p := f.pairs[m.sub]
		if m.col == 0 {
			p.key, cmd = p.key.Update(msg)
		} else {
			p.value, cmd = p.value.Update(msg)
		}
		return cmd
	}
	if f.Kind == Multiline {
		f.area, cmd = f.area.Update(msg)
	} else {
		f.input, cmd = f.input.Update(msg)
	}
	return cmd
}

// move goes d rows up or down; the rows of a Pairs field, and its "+ add"
// row, are rows of their own.
func (m *Model) move(d int) {
	f := m.fields[m.cursor]
	if f.Kind == Pairs {
		if s := m.sub + d; s >= 0 && s <= len(f.pairs) {
			m.sub = s
			return
		}
	}
	c := min(max(m.cursor+d, 0), len(m.fields)-1)
	if c == m.cursor {
		return
	}
	m.cursor, m.sub = c, 0
	if f := m.fields[c]; f.Kind == Pairs && d < 0 {
		m.sub = len(f.pairs)
	}
}

// Focus puts the cursor on the field key and starts editing it when it is
// a text field.
func (m *Model) Focus(k string) tea.Cmd {
	for i, f := range m.fields {
		if f.Key == k {
			m.stopEditing()
			m.cursor = i
			switch f.Kind {
			case Text, Secret:
				m.editing = true
				f.input.CursorEnd()
				return f.input.Focus()
			case Multiline:
				m.editing = true
				return f.area.Focus()
			}
		}
	}
	return nil
}

// View renders the fields, scrolled so that the cursor is visible.
func (m *Model) View(focused bool) string {
	st := m.c.Styles
	var rows []string
	cursorRow := 0
	vw := max(m.width-m.labelW-4, 4)
	for i, f := range m.fields {
		mark := "  "
		if i == m.cursor && focused {
			mark = "▸ "
			cursorRow = len(rows)
		}
		label := st.Label.Render(common.Fit(f.Label, m.labelW))
		var val []string
		switch f.Kind {
		case Pairs:
			kw, pw := m.pairWidths()
			for j, p := range f.pairs {
				k, v := common.Safe(p.key.Value()), common.Safe(p.value.Value())
				if m.editing && i == m.cursor && j == m.sub {
					k, v = p.key.View(), p.value.View()
				}
				row := common.Fit(k, kw) + st.Dim.Render(" = ") + common.Fit(v, pw)
				if i == m.cursor && j == m.sub && focused && !m.editing {
					row = st.Selected.Render(common.Fit(k, kw) + " = " + common.Fit(v, pw))
				}
				val = append(val, row)
			}
			add := st.Dim.Render("+ add (enter)")
			if len(f.pairs) > 0 {
				add = st.Dim.Render("+ add (enter) · x removes a row")
			}
			if i == m.cursor && m.sub == len(f.pairs) && focused {
				add = st.Selected.Render("+ add (enter)")
				if i == m.cursor {
					cursorRow = len(rows) + len(f.pairs)
				}
			} else if i == m.cursor && focused {
				cursorRow = len(rows) + m.sub
			}
			val = append(val, add)
		case Toggle:
			if f.on {
				val = []string{"[x]"}
			} else {
				val = []string{"[ ]"}
			}
		case Choice:
			val = []string{"‹" + f.Options[f.choice] + "›"}
		case Multiline:
			if m.editing && i == m.cursor {
				val = strings.Split(f.area.View(), "\n")
			} else if v := f.area.Value(); v == "" {
				val = []string{st.Dim.Render(f.Hint)}
			} else {
				lines := strings.Split(v, "\n")
				if len(lines) > m.AreaHeight {
					lines = append(lines[:m.AreaHeight-1], st.Dim.Render("…"))
				}
				val = lines
			}
		default:
			if m.editing && i == m.cursor {
				val = []string{f.input.View()}
			} else if f.input.Value() == "" {
				val = []string{st.Dim.Render(f.Hint)}
			} else if f.Kind == Secret {
				val = []string{strings.Repeat("•", min(len(f.input.Value()), 8))}
			} else {
				val = []string{common.Safe(f.input.Value())}
			}
		}
		for j, v := range val {
			if j == 0 {
				rows = append(rows, mark+label+"  "+common.Fit(v, vw))
			} else {
				rows = append(rows, strings.Repeat(" ", m.labelW+4)+common.Fit(v, vw))
			}
		}
	}
	start := 0
	if cursorRow >= m.height {
		start = cursorRow - m.height + 1
	}
	return common.Lines(rows[start:], m.width, m.height)
}
