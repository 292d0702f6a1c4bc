package client

import (
	"time"

	"github.com/mqttboard/mqttboard/packet"
)

// Event is something that happened on a connection, delivered on
// [Client.Events]: *MessageEvent, *AckEvent, *DisconnectEvent,
// *ConnectionLostEvent, *ReconnectFailedEvent or *ConnectedEvent.
type Event interface{ event() }

// MessageEvent is an application message received from the broker.
type MessageEvent struct {
	Message
	Time time.Time
}

// AckEvent is an acknowledgement the broker sent for one of our requests.
// It is the same value the request returned; it is on the channel so a
// view of the connection (the TUI) sees every ack in one place.
type AckEvent struct {
	Ack
	Time time.Time
}

// DisconnectEvent is a DISCONNECT sent by the broker (MQTT 5 only), with
// its reason.
type DisconnectEvent struct {
	Code  packet.ReasonCode
	Props packet.Properties
	Time  time.Time
}

// ConnectionLostEvent reports that the network connection ended without
// us asking for it. With Options.Reconnect a ConnectedEvent follows once
// the connection is back.
type ConnectionLostEvent struct {
	Err  error
	Time time.Time
}

// ConnectedEvent reports a (re)connection: the first one from
// [Client.Connect] and each one made by the reconnect loop.
type ConnectedEvent struct {
	Connack Connack
	Time    time.Time
}

func (*MessageEvent) event()        {}
func (*AckEvent) event()            {}
func (*DisconnectEvent) event()     {}
func (*ConnectionLostEvent) event() {}
func (*ConnectedEvent) event()      {}
