package broker

// signal is a one-shot event of a connection (see the table on [conn])
// whose channel is made only when someone waits for it before it fires:
// most connections end without anyone waiting, and an idle one holds a nil
// pointer instead of a channel (96 bytes each). A signal that fires before
// anyone waited points at closedCh. Guarded by the connection's mu.
type signal struct{ ch chan struct{} }

// closedCh is the channel of every signal that fired before anyone waited.
var closedCh = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// wait returns a channel closed when s fires.
func (c *conn) wait(s *signal) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// fire fires s; once only.
func (c *conn) fire(s *signal) {
	c.mu.Lock()
	if s.ch == nil {
		s.ch = closedCh
	} else {
		close(s.ch)
	}
	c.mu.Unlock()
}

// fired reports whether s has fired.
func (c *conn) fired(s *signal) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.ch == nil {
		return false
	}
	select {
	case <-s.ch:
		return true
	default:
		return false
	}
}
