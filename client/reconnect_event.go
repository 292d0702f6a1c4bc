package client

import "time"

// ReconnectFailedEvent reports one failed attempt of the reconnect loop
// (Options.Reconnect): which attempt since the connection was lost, why it
// failed, and how long until the next. A view of the connection shows it
// ("retry 3 in 4s: connection refused") instead of a bare "reconnecting".
type ReconnectFailedEvent struct {
	Attempt int
	Err     error
	Next    time.Duration
	Time    time.Time
}

func (*ReconnectFailedEvent) event() {}
