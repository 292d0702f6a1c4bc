// Package wsconn presents a WebSocket connection as the byte stream MQTT
// runs on, for both ends: the client's ws:// and wss:// dialers and the
// broker's WebSocket listeners.
package wsconn

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// New adapts ws to a net.Conn. Reads run across message boundaries: an MQTT
// packet may span WebSocket messages and one message may hold several
// packets [MQTT-6.0.0-2]. Each Write is one binary message
// [MQTT-6.0.0-1]; writes are serialised, as gorilla allows one writer at a
// time.
func New(ws *websocket.Conn) net.Conn { return &conn{ws: ws} }

type conn struct {
	ws *websocket.Conn
	r  io.Reader
	mu sync.Mutex // one writer at a time
}

// errTextMessage is a peer sending text frames: MQTT needs binary ones.
var errTextMessage = errors.New("websocket: MQTT needs binary messages, got a text message [MQTT-6.0.0-1]")

func (c *conn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			t, r, err := c.ws.NextReader()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					return 0, io.EOF // the peer closed the WebSocket: end of stream
				}
				return 0, err
			}
			if t != websocket.BinaryMessage {
				return 0, errTextMessage
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *conn) Close() error                      { return c.ws.Close() }
func (c *conn) LocalAddr() net.Addr               { return c.ws.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr              { return c.ws.RemoteAddr() }
func (c *conn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// SetWriteDeadline is a writer's method in gorilla (it must not run beside
// a write), so it takes the write lock.
func (c *conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ws.SetWriteDeadline(t)
}

func (c *conn) SetDeadline(t time.Time) error {
	if err := c.ws.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}
