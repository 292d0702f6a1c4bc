package listeners

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/mqttboard/mqttboard/internal/wsconn"
)

// WebSocket listens for MQTT over WebSocket on addr at path (port 80 by
// convention, path "/mqtt"); with cfg it is secure WebSocket (443). MQTT
// travels in binary messages with the "mqtt" subprotocol [MQTT-6.0.0-3].
func WebSocket(addr, path string, cfg *tls.Config) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		l = tls.NewListener(l, cfg)
	}
	if path == "" {
		path = "/mqtt"
	}
	w := &wsListener{ln: l, conns: make(chan net.Conn), done: make(chan struct{})}
	up := &websocket.Upgrader{
		Subprotocols: []string{"mqtt", "mqttv3.1"},
		// A broker serves any origin: MQTT authenticates in CONNECT, not
		// with browser cookies.
		CheckOrigin:     func(*http.Request) bool { return true },
		ReadBufferSize:  1024,
		WriteBufferSize: 1024,
	}
	mux := http.NewServeMux()
	mux.HandleFunc(path, func(rw http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(rw, r, nil)
		if err != nil {
			return // Upgrade has answered with an HTTP error
		}
		select {
		case w.conns <- NewWSConn(ws):
		case <-w.done:
			ws.Close()
		}
	})
	w.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go w.srv.Serve(l)
	return w, nil
}

type wsListener struct {
	ln    net.Listener
	srv   *http.Server
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (w *wsListener) Accept() (net.Conn, error) {
	select {
	case c := <-w.conns:
		return c, nil
	case <-w.done:
		return nil, net.ErrClosed
	}
}

func (w *wsListener) Close() error {
	w.once.Do(func() { close(w.done) })
	return w.srv.Close()
}

func (w *wsListener) Addr() net.Addr { return w.ln.Addr() }

// NewWSConn adapts a WebSocket connection to a net.Conn carrying MQTT (see
// [wsconn.New]).
func NewWSConn(ws *websocket.Conn) net.Conn { return wsconn.New(ws) }
