package client

import (
	"net"
	"sync"

	"github.com/mqttboard/mqttboard/packet"
)

// paho.golang v0.23 packs will properties with the CONNECT property table,
// so a will's payload format, message expiry, content type, response topic
// and correlation data never reach the wire (packet's paho cross-check
// documents it). willFixConn sits under paho: it holds back the first
// packet written — the CONNECT, which paho writes in pieces — and, once it
// is whole, re-encodes it with package packet and the will's full
// properties. Every later write passes straight through.
type willFixConn struct {
	net.Conn
	will *Message

	mu   sync.Mutex
	done bool
	buf  []byte
}

// fixWill wraps conn when o's will has properties paho would drop.
func fixWill(conn net.Conn, will *Message) net.Conn {
	if will == nil {
		return conn
	}
	p := &will.Props
	if !p.Has(packet.PropPayloadFormat) && !p.Has(packet.PropMessageExpiry) && !p.Has(packet.PropContentType) &&
		!p.Has(packet.PropResponseTopic) && !p.Has(packet.PropCorrelationData) {
		return conn
	}
	return &willFixConn{Conn: conn, will: will}
}

func (w *willFixConn) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return w.Conn.Write(p)
	}
	w.buf = append(w.buf, p...)
	n, ok := packetLength(w.buf)
	if !ok || len(w.buf) < n {
		return len(p), nil // the rest of the CONNECT is on its way
	}
	out := w.buf
	if pk, err := packet.Decode(w.buf[:n], 0); err == nil {
		if c, ok := pk.(*packet.Connect); ok && c.WillFlag && c.ProtocolVersion == packet.V5 {
			wp := &w.will.Props
			c.Will.Props.PayloadFormat = wp.PayloadFormat
			c.Will.Props.MessageExpiry = wp.MessageExpiry
			c.Will.Props.ContentType = wp.ContentType
			c.Will.Props.ResponseTopic = wp.ResponseTopic
			c.Will.Props.CorrelationData = wp.CorrelationData
			if b, err := c.AppendTo(nil, packet.V5); err == nil {
				out = append(b, w.buf[n:]...)
			}
		}
	}
	w.done, w.buf = true, nil
	if _, err := w.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// packetLength returns the total length of the packet starting b, once its
// fixed header is complete.
func packetLength(b []byte) (int, bool) {
	rl, mult := 0, 1
	for i := 1; i < len(b) && i <= 4; i++ {
		rl += int(b[i]&0x7f) * mult
		if b[i]&0x80 == 0 {
			return 1 + i + rl, true
		}
		mult *= 128
	}
	return 0, false
}
