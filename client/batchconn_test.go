package client

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
)

func TestBatchConnKeepsOrderAndFlushesOnClose(t *testing.T) {
	a, b := net.Pipe()
	bc := newBatchConn(a)
	got := make(chan []byte, 1)
	go func() {
		all, _ := io.ReadAll(b)
		got <- all
	}()
	var want bytes.Buffer
	for i := range 5000 {
		p := []byte{byte(i), byte(i >> 8), 0xAA}
		want.Write(p)
		if _, err := bc.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	if all := <-got; !bytes.Equal(all, want.Bytes()) {
		t.Fatalf("read %d bytes, want %d in order", len(all), want.Len())
	}
	if _, err := bc.Write([]byte{1}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

func TestBatchConnReportsWriteError(t *testing.T) {
	a, b := net.Pipe()
	bc := newBatchConn(a)
	b.Close() // the peer goes away: the flusher's write fails
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		_, err = bc.Write(make([]byte, 1024))
	}
	if err == nil {
		t.Fatal("writes kept succeeding after the peer closed")
	}
	bc.Close()
}

// paho.mqtt.golang closes the connection twice at once (after writing
// DISCONNECT, and when stopping its workers); the second Close must wait
// for the first one's flush instead of closing the socket under it.
func TestBatchConnConcurrentClosesBothFlush(t *testing.T) {
	a, b := net.Pipe()
	bc := newBatchConn(a)
	want := bytes.Repeat([]byte("0123456789abcdef"), 8<<10)
	if _, err := bc.Write(want); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		// Slowly, in small reads, so that the closes run mid-flush.
		var all []byte
		buf := make([]byte, 256)
		for {
			n, err := b.Read(buf)
			all = append(all, buf[:n]...)
			if err != nil {
				got <- all
				return
			}
			runtime.Gosched()
		}
	}()
	closed := make(chan error, 2)
	for range 2 {
		go func() { closed <- bc.Close() }()
	}
	for range 2 {
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
	}
	if all := <-got; !bytes.Equal(all, want) {
		t.Fatalf("peer read %d bytes, want %d", len(all), len(want))
	}
}
