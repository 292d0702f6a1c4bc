package broker

// SetHookBeforeRetained makes s call h with the subscriber's client id in
// every SUBSCRIBE between its SUBACK and its retained lookup.
func SetHookBeforeRetained(s *Server, h func(clientID string)) { s.hookBeforeRetained.Store(&h) }

// WritingConns returns how many of s's connections have a write loop
// running (conn.writing): 0 once every loop that had something to write
// ended (after writerLinger on the goroutine transport) and gave its
// buffers back.
func WritingConns(s *Server) int {
	s.mu.Lock()
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	n := 0
	for _, c := range cs {
		c.mu.Lock()
		if c.writing {
			n++
		}
		c.mu.Unlock()
	}
	return n
}
