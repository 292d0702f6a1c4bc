package conn

import (
	"slices"

	"github.com/mqttboard/mqttboard/profiles"
	"github.com/mqttboard/mqttboard/tui/common"
)

// Set is the board's connections and which one is focused. The root owns
// it; panes read it and the connections pane moves the focus. It is used on
// the board's goroutine only.
type Set struct {
	List    []*Conn
	Focused int
	c       *common.Common
	nextID  common.ConnID
	made    int
	// LocalURL is the bundled broker's address once it listens ("" when
	// it is not running); local profiles connect there.
	LocalURL string
	// LocalNodes are the URLs of every node when the bundled broker runs
	// as an in-process cluster (LocalURL is the first): local connections
	// are spread over them in turn, so the board shows a cluster at work.
	LocalNodes []string
	localNext  int
	// StartLocal starts the bundled broker when a local connection needs it
	// and returns its URL.
	StartLocal func() (string, error)
	// Offline keeps connections from connecting (golden views, benchmarks).
	Offline bool
	// Wake is signalled when a connection's event or packet ring stops
	// being empty: the idle board waits on it instead of ticking. It is
	// the one field of a Set used from other goroutines.
	Wake chan struct{}
}

// NewSet returns an empty set.
func NewSet(c *common.Common) *Set {
	return &Set{c: c, nextID: 1, Wake: make(chan struct{}, 1)}
}

// Current is the focused connection, nil when there is none.
func (s *Set) Current() *Conn {
	if s.Focused < 0 || s.Focused >= len(s.List) {
		return nil
	}
	return s.List[s.Focused]
}

// Get returns the connection with id.
func (s *Set) Get(id common.ConnID) *Conn {
	for _, c := range s.List {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// Add creates a connection for p, focuses it and returns it.
func (s *Set) Add(p profiles.Profile) *Conn {
	c := New(s.nextID, s.made, s.c.Styles.ConnColor(s.made), p)
	c.events.WakeOn(s.Wake)
	c.packets.WakeOn(s.Wake)
	s.nextID++
	s.made++
	s.List = append(s.List, c)
	s.Focused = len(s.List) - 1
	return c
}

// Remove closes and removes the connection at i.
func (s *Set) Remove(i int) {
	if i < 0 || i >= len(s.List) {
		return
	}
	s.List[i].Close()
	s.List = append(s.List[:i], s.List[i+1:]...)
	if s.Focused >= len(s.List) {
		s.Focused = len(s.List) - 1
	}
}

// ResolveLocal fills in the bundled broker's URL for a local profile,
// starting the broker if needed.
func (s *Set) ResolveLocal(c *Conn) error {
	if !c.Profile.Local {
		return nil
	}
	if s.LocalURL == "" && s.StartLocal != nil {
		u, err := s.StartLocal()
		if err != nil {
			return err
		}
		s.LocalURL = u
	}
	if len(s.LocalNodes) > 1 {
		if slices.Contains(s.LocalNodes, c.Profile.URL) {
			return nil // a reconnect stays on its node
		}
		c.Profile.URL = s.LocalNodes[s.localNext%len(s.LocalNodes)]
		s.localNext++
		return nil
	}
	c.Profile.URL = s.LocalURL
	return nil
}
