// Package eventloop is the broker's readiness-notification transport: an
// idle connection owns no goroutine and no buffer, only its socket (a
// raw descriptor in a [Socket]), a slot in a [Poller] (epoll on Linux)
// and an [Entry] on a shared [Wheel] for its keep alive. When bytes
// arrive the poller calls the connection's [Handler], which hands a read
// burst to a [Pool] of goroutines that keep their grown stacks between
// bursts; writes go through the same pool.
//
// The socket is accepted ([Acceptor]), read and written with system
// calls of its own, not through the runtime's poller (a net.TCPConn costs
// a netFD, two TCPAddrs and a pollDesc with two timers per connection): a burst that
// stops inside a packet, or a write to a full socket, waits in the
// [Socket] for the poller's next event or its deadline, so the code above
// sees a net.Conn. One goroutine waits for all idle connections
// (mosquitto's and gnet's design).
//
// Where epoll is missing, [NewPoller] returns [ErrUnsupported] and the
// broker uses a goroutine per connection.
package eventloop
