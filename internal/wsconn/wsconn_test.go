package wsconn

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// serve starts a WebSocket server that runs fn on the server side.
func serve(t *testing.T, fn func(*websocket.Conn)) *websocket.Conn {
	t.Helper()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		fn(ws)
	}))
	t.Cleanup(srv.Close)
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func TestStreamAcrossMessages(t *testing.T) {
	// One packet split over two messages, then two packets in one message,
	// then a normal close: the reader sees one stream and then EOF.
	ws := serve(t, func(s *websocket.Conn) {
		s.WriteMessage(websocket.BinaryMessage, []byte{0x20, 0x02})
		s.WriteMessage(websocket.BinaryMessage, []byte{0x00, 0x00})
		s.WriteMessage(websocket.BinaryMessage, []byte{0xd0, 0x00, 0xd0, 0x00})
		s.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	})
	got, err := io.ReadAll(New(ws))
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x20, 2, 0, 0, 0xd0, 0, 0xd0, 0}; string(got) != string(want) {
		t.Fatalf("read % x, want % x", got, want)
	}
}

func TestTextMessageRefused(t *testing.T) {
	ws := serve(t, func(s *websocket.Conn) {
		s.WriteMessage(websocket.TextMessage, []byte("hello"))
		s.ReadMessage() // wait for the client to go
	})
	_, err := New(ws).Read(make([]byte, 8))
	if err != errTextMessage {
		t.Fatalf("got %v, want %v", err, errTextMessage)
	}
}

func TestWriteIsOneBinaryMessage(t *testing.T) {
	got := make(chan []byte, 1)
	ws := serve(t, func(s *websocket.Conn) {
		typ, b, _ := s.ReadMessage()
		if typ == websocket.BinaryMessage {
			got <- b
		}
		close(got)
	})
	if _, err := New(ws).Write([]byte{0xc0, 0x00}); err != nil {
		t.Fatal(err)
	}
	if b := <-got; string(b) != "\xc0\x00" {
		t.Fatalf("server got % x", b)
	}
}
