// Package broker is mqttboard's bundled MQTT 3.1/3.1.1/5.0 broker: embed it
// with [New] and [Server.Serve] (or [Server.ServeConn] for any net.Conn),
// or run it as `mqttboard broker`.
//
// Each connection has two loops: a read loop that decodes packets and
// routes publishes into subscriber sessions, and a write loop that drains
// the connection's acknowledgements and its session's bounded queue into
// one writev. Idle connections give both loops' buffers back; the write
// loop's goroutine ends after 100 ms without work (the next Wake starts it
// again), and the read loop hands over to a fresh goroutine whenever the
// connection goes idle, so an idle connection costs one parked goroutine
// with a small stack. Routing never blocks: a full queue drops QoS 0
// (counted) and disconnects a consumer that falls behind on QoS 1/2 with
// 0x97, keeping the messages it was given. Lock order: broker/LOCKS.md.
package broker
