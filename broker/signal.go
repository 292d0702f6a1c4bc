package broker

// signal names a one-shot event of a connection (see the table on [conn]).
// Which have fired is a bit each (conn.fired); channels are made only for
// a wait that comes before the event, all three behind one pointer made
// then (conn.more, which the goroutine transport makes at once for its
// wake-up channel): most connections end without anyone waiting, and an
// idle one holds one nil pointer. Guarded by the connection's mu.
type signal uint8

const (
	readerDone signal = iota // end: nothing reads the socket any more
	writerDone               // no write loop runs, none will start
	connDone                 // end, last: everything is released
)

// closedCh is what waiting for a signal that has fired returns.
var closedCh = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// wait returns a channel closed when s fires.
func (c *conn) wait(s signal) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fired&(1<<s) != 0 {
		return closedCh
	}
	m := c.moreMade()
	if m.sig[s] == nil {
		m.sig[s] = make(chan struct{})
	}
	return m.sig[s]
}

// fire fires s; once only (a second call does nothing).
func (c *conn) fire(s signal) {
	c.mu.Lock()
	if c.fired&(1<<s) == 0 {
		c.fired |= 1 << s
		if c.more != nil && c.more.sig[s] != nil {
			close(c.more.sig[s])
		}
	}
	c.mu.Unlock()
}

// hasFired reports whether s has fired.
func (c *conn) hasFired(s signal) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fired&(1<<s) != 0
}
