package broker

import (
	"testing"
	"unsafe"

	"github.com/mqttboard/mqttboard/broker/session"
)

// TestIdleStateSizes: an idle connection's two structs stay within the
// allocator's size classes they were cut down to (issue 15: memory per
// idle connection). Growing past one costs the next class for every
// connection: 384 -> 416 for conn, 192 -> 208 for a session. Move what an
// idle connection does not need behind a pointer made on use instead.
func TestIdleStateSizes(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > 384 {
		t.Errorf("conn is %d bytes, more than its 384-byte size class", n)
	}
	if n := unsafe.Sizeof(session.Session{}); n > 192 {
		t.Errorf("session.Session is %d bytes, more than its 192-byte size class", n)
	}
	// The log ring's 4096 entries: 360 KB, 36 B per connection at 10,000.
	if n := unsafe.Sizeof(logEntry{}); n > 88 {
		t.Errorf("logEntry is %d bytes, more than 88", n)
	}
}

// TestInputFindsItsConn: input reaches its connection from its own
// address (it lives only as conn.in).
func TestInputFindsItsConn(t *testing.T) {
	c := new(conn)
	if c.in.conn() != c {
		t.Fatal("input.conn is not the conn it is embedded in")
	}
}
