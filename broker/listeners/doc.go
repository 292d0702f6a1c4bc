// Package listeners makes the net.Listeners the broker accepts MQTT
// connections from: plain TCP, TLS, WebSocket and secure WebSocket. Each is
// one small file; the broker only sees net.Listener and net.Conn, so a
// different transport (an event loop for plain TCP) can replace one without
// touching sessions or routing.
package listeners
