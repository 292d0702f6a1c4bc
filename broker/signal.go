package broker

// signal is a one-shot event of a connection (see the table on [conn])
// whose channel is made only when someone waits for it before it fires:
// most connections end without anyone waiting, and an idle one holds a nil
// pointer instead of a channel (96 bytes each). Guarded by the
// connection's mu.
type signal struct {
	ch    chan struct{}
	fired bool
}

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
		if s.fired {
			return closedCh
		}
		s.ch = make(chan struct{})
	}
	return s.ch
}

// fire fires s; once only.
func (c *conn) fire(s *signal) {
	c.mu.Lock()
	s.fired = true
	if s.ch != nil {
		close(s.ch)
	}
	c.mu.Unlock()
}

// fired reports whether s has fired.
func (c *conn) fired(s *signal) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return s.fired
}
