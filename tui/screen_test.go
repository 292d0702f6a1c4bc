package tui

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest"
)

// screen wraps the board for teatest and keeps the last frame it rendered.
// Flow tests wait on what the screen shows now. teatest's Output is the
// renderer's byte stream instead: it redraws only the lines that changed,
// and bytes one wait has read are gone for the next, so a wait on text that
// was drawn together with the previous wait's text (a fast CONNACK arriving
// in the same frame as the new connection's row) never ends. That was
// TestFlowFirstRun's flake.
type screen struct {
	*Model
	mu   *sync.Mutex
	last *string
}

// Update implements tea.Model and returns the wrapper, so the program
// keeps calling View on it.
func (s screen) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, cmd := s.Model.Update(msg)
	return s, cmd
}

// View implements tea.Model; bubbletea calls it on the program's goroutine
// after every Update.
func (s screen) View() string {
	v := s.Model.View()
	s.mu.Lock()
	*s.last = ansi.Strip(v)
	s.mu.Unlock()
	return v
}

// Text is the screen as last rendered, colour stripped.
func (s screen) Text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.last
}

// flow is a running board under test.
type flow struct {
	t  *testing.T
	tm *teatest.TestModel
	s  screen
	m  *Model
}

func startBoard(t *testing.T, w, h int) *flow {
	t.Helper()
	m := New(Options{ProfilesPath: t.TempDir() + "/profiles.json"})
	t.Cleanup(m.Close)
	s := screen{Model: m, mu: new(sync.Mutex), last: new(string)}
	tm := teatest.NewTestModel(t, s, teatest.WithInitialTermSize(w, h))
	t.Cleanup(func() { tm.Quit() })
	return &flow{t: t, tm: tm, s: s, m: m}
}

// flowTimeout bounds every wait: generous for a loaded 2-core CI runner
// under -race, and a wait that succeeds returns as soon as the screen shows
// the text.
const flowTimeout = 20 * time.Second

// waitScreen waits, bounded, until ok holds for the current screen.
func (f *flow) waitScreen(what string, ok func(string) bool) {
	f.t.Helper()
	deadline := time.Now().Add(flowTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if s := f.s.Text(); ok(s) {
			return
		} else if time.Now().After(deadline) {
			f.t.Fatalf("the screen never showed %s in %v; it shows:\n%s", what, flowTimeout, s)
		}
		<-tick.C
	}
}

// waitText waits until the screen shows every one of texts.
func (f *flow) waitText(texts ...string) {
	f.t.Helper()
	f.waitScreen(strings.Join(quoteAll(texts), ", "), func(s string) bool {
		for _, x := range texts {
			if !strings.Contains(s, x) {
				return false
			}
		}
		return true
	})
}

// waitLine waits until one line of the screen matches re: for text that
// must appear together (a subscription and its SUBACK code, a connection's
// name and its status glyph).
func (f *flow) waitLine(re string) {
	f.t.Helper()
	rx := regexp.MustCompile(re)
	f.waitScreen("a line matching "+re, func(s string) bool {
		for l := range strings.SplitSeq(s, "\n") {
			if rx.MatchString(l) {
				return true
			}
		}
		return false
	})
}

// keys sends key types and typed text, in order.
func (f *flow) keys(ks ...any) {
	for _, k := range ks {
		switch k := k.(type) {
		case tea.KeyType:
			f.tm.Send(tea.KeyMsg{Type: k})
		case string:
			f.tm.Type(k)
		}
	}
}

// quit ends the program and waits for it, so the test may then read the
// model without racing the program's goroutine.
func (f *flow) quit() {
	f.t.Helper()
	f.tm.Send(tea.KeyMsg{Type: tea.KeyCtrlC})
	f.tm.WaitFinished(f.t, teatest.WithFinalTimeout(flowTimeout))
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = `"` + x + `"`
	}
	return out
}
