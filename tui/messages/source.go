package messages

import (
	"slices"

	"github.com/mqttboard/mqttboard/tui/common"
	"github.com/mqttboard/mqttboard/tui/conn"
)

// source is what the list shows: one connection's history, or the merged
// view of every connection. Items are numbered (Seq) in the order the list
// shows them; a Seq no longer held is gone for good.
type source interface {
	First() uint64
	End() uint64
	// Get returns the message numbered seq and the connection it came on.
	Get(seq uint64) (*conn.Conn, conn.Message, bool)
}

// single is one connection's history.
type single struct{ c *conn.Conn }

func (s single) First() uint64 { return s.c.Messages.First() }
func (s single) End() uint64   { return s.c.Messages.End() }
func (s single) Get(seq uint64) (*conn.Conn, conn.Message, bool) {
	m, ok := s.c.Messages.Get(seq)
	return s.c, m, ok
}

// ref points at a message in a connection's history.
type ref struct {
	c   *conn.Conn
	seq uint64
}

// merged is every connection's messages in one list, ordered by arrival
// time. It holds references, not messages, and at most conn.HistorySize of
// them: the newest across all connections, each of which its own
// connection's history (also conn.HistorySize) still holds. It is kept
// incrementally on the frame tick; it is rebuilt when a connection is added
// or removed or a history is cleared, which are rare.
type merged struct {
	refs   *conn.History[ref]
	next   map[common.ConnID]uint64 // per connection: the next Seq to take
	ids    []common.ConnID          // the connections it was built over
	clears map[common.ConnID]uint64 // per connection: History.Clears when taken
	batch  []ref
}

func newMerged() *merged {
	return &merged{refs: conn.NewHistory[ref](conn.HistorySize), next: map[common.ConnID]uint64{}, clears: map[common.ConnID]uint64{}}
}

func (m *merged) First() uint64 { return m.refs.First() }
func (m *merged) End() uint64   { return m.refs.End() }
func (m *merged) Get(seq uint64) (*conn.Conn, conn.Message, bool) {
	r, ok := m.refs.Get(seq)
	if !ok {
		return nil, conn.Message{}, false
	}
	msg, ok := r.c.Messages.Get(r.seq)
	return r.c, msg, ok
}

// collect takes what arrived on every connection since the last call, in
// time order. It reports whether it had to start over (the list's Seqs
// then mean other messages).
func (m *merged) collect(set *conn.Set) (rebuilt bool) {
	same := len(m.ids) == len(set.List)
	for i, c := range set.List {
		same = same && m.ids[i] == c.ID && m.clears[c.ID] == c.Messages.Clears && m.next[c.ID] >= c.Messages.First()
	}
	if !same {
		m.ids = m.ids[:0]
		clear(m.next)
		clear(m.clears)
		for _, c := range set.List {
			m.ids = append(m.ids, c.ID)
			m.next[c.ID] = c.Messages.First()
			m.clears[c.ID] = c.Messages.Clears
		}
		m.refs.Clear()
	}
	m.batch = m.batch[:0]
	for _, c := range set.List {
		h := c.Messages
		for s := max(m.next[c.ID], h.First()); s < h.End(); s++ {
			m.batch = append(m.batch, ref{c, s})
		}
		m.next[c.ID] = h.End()
	}
	if len(set.List) > 1 {
		slices.SortStableFunc(m.batch, func(a, b ref) int {
			x, _ := a.c.Messages.Get(a.seq)
			y, _ := b.c.Messages.Get(b.seq)
			return x.Time.Compare(y.Time)
		})
	}
	for i, r := range m.batch {
		m.refs.Add(r)
		m.batch[i] = ref{}
	}
	return !same
}
