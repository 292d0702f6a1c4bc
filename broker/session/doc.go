// Package session holds an MQTT session's state that outlives a network
// connection [MQTT-4.1]: subscriptions, the bounded outgoing queue, the
// QoS 1/2 inflight table with its packet identifiers, the QoS 2 packet
// identifiers received and not yet released, expiry and the will.
//
// All of it is guarded by one mutex per session, taken for short critical
// sections with no I/O: publishers enqueue from their own goroutines and the
// connection's write loop takes batches out (see broker/LOCKS.md).
package session
