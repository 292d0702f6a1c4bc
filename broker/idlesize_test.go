package broker

import (
	"testing"
	"unsafe"

	"github.com/mqttboard/mqttboard/broker/session"
)

// TestIdleStateSizes: an idle connection's two structs stay within the
// allocator's size classes they were cut down to (issue 15: memory per
// idle connection). Growing past one costs the next class for every
// connection: 512 -> 576 for conn, 256 -> 288 for a session. Move what an
// idle connection does not need behind a pointer made on use instead.
func TestIdleStateSizes(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > 512 {
		t.Errorf("conn is %d bytes, more than its 512-byte size class", n)
	}
	if n := unsafe.Sizeof(session.Session{}); n > 256 {
		t.Errorf("session.Session is %d bytes, more than its 256-byte size class", n)
	}
}
