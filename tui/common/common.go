// Package common holds what every pane of the board shares: the pane
// contract, the messages panes exchange with the root, and the Common value
// (keymaps, styles, clock) the root hands to each pane.
package common

import (
	"time"

	"github.com/charmbracelet/bubbles/help"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/muesli/termenv"
)

// Pane is the contract every pane of the board follows (soft-serve's
// common.Component). The root calls Update with the keys of the focused
// pane only and with every other message for every pane.
type Pane interface {
	help.KeyMap
	// Update handles one message and returns the commands it starts.
	Update(msg tea.Msg) tea.Cmd
	// View renders the pane's content, without border, in the size last
	// given to SetSize.
	View() string
	// SetSize sets the content area (inside the border).
	SetSize(width, height int)
	// Focus and Blur tell the pane whether it gets the keys.
	Focus()
	Blur()
	// Capturing reports that a text field of the pane is being edited: the
	// root then passes it every key but the quit key and focus keys, so
	// typing "q" or "?" into a topic works.
	Capturing() bool
	// Title is the pane's border title.
	Title() string
}

// Common is what the root gives every pane: values, never globals, so tests
// can use their own keys, styles and clock.
type Common struct {
	Keys   KeyMap
	Styles Styles
	// Now is the clock used for times shown and recorded; tests fix it so
	// golden views do not change.
	Now func() time.Time
	// ExportDir is where exported JSON Lines files go ("": the user's data
	// directory, messages.DefaultExportDir).
	ExportDir string
	// Copy puts text on the clipboard; the default writes OSC 52 to the
	// terminal. Tests record what was copied.
	Copy func(text string) error
}

// Default returns the Common of a real run.
func Default() *Common {
	return &Common{Keys: DefaultKeyMap(), Styles: DefaultStyles(), Now: time.Now, Copy: osc52}
}

// osc52 copies with the terminal's OSC 52 (tmux passes it on when its
// set-clipboard option allows).
func osc52(text string) error {
	termenv.DefaultOutput().Copy(text)
	return nil
}

// ConnID identifies a connection of the board for its lifetime; IDs are not
// reused after a connection is removed.
type ConnID int

// ConnMsg is the result of an asynchronous request on one connection
// (connect, subscribe, publish, ...), tagged with the connection so that a
// result arriving after the user moved elsewhere lands on the right one
// (gh-dash's SectionMsg).
type ConnMsg struct {
	ConnID ConnID
	Msg    tea.Msg
}

// FrameMsg is the ~30 Hz frame tick. The root drains every connection's
// ring before passing it on, so panes see the new state in one step.
type FrameMsg struct{ Time time.Time }

// StatusMsg is a one-line notice for the status bar ("exported 12 messages
// to x.jsonl", an error).
type StatusMsg struct {
	Text  string
	Error bool
}

// Status returns a command that shows text in the status bar.
func Status(format string, err bool) tea.Cmd {
	return func() tea.Msg { return StatusMsg{Text: format, Error: err} }
}
