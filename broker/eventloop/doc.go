// Package eventloop is the broker's readiness-notification transport: an
// idle connection owns no goroutine and no buffer, only a slot in a
// [Poller] (epoll on Linux) and an [Entry] on a shared [Wheel] for its
// keep alive. When bytes arrive the poller calls the connection's
// [Handler], which hands a read burst to a [Pool] of goroutines that keep
// their grown stacks between bursts; writes go through the same pool.
//
// The reads and writes themselves stay on the connection's net.Conn, so
// the runtime's own poller still parks a burst that stops inside a packet
// and enforces the read and write deadlines; this package only replaces
// the goroutine that would otherwise wait, parked, for the next packet of
// every idle connection (mosquitto's and gnet's design: one thread waits
// for all of them).
//
// Where epoll is missing, [NewPoller] returns [ErrUnsupported] and the
// broker uses a goroutine per connection.
package eventloop
