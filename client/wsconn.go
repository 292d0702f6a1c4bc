package client

import (
	"io"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// wsConn presents a WebSocket as a byte stream: MQTT packets may span
// WebSocket messages and one message may hold several packets
// [MQTT-6.0.0-2], so reads continue across message boundaries.
type wsConn struct {
	*websocket.Conn
	r  io.Reader
	mu sync.Mutex // gorilla allows one concurrent writer
}

func newWSConn(c *websocket.Conn) *wsConn { return &wsConn{Conn: c} }

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			_, r, err := c.NextReader()
			if err != nil {
				if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
					return 0, io.EOF
				}
				return 0, err
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

func (c *wsConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}
