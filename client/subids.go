package client

import (
	"net"
	"sync"
	"sync/atomic"

	"github.com/mqttboard/mqttboard/packet"
)

// subIDTap recovers every Subscription Identifier of an inbound PUBLISH.
// paho.golang keeps only the last one when a PUBLISH carries several (a
// broker that sends one copy for overlapping subscriptions, as ours and
// flespi do), so the tap reads the same bytes paho reads, decodes the
// PUBLISH packets with package packet, and queues their identifier lists for
// the publish handler to pick up in order.
//
// It only frames packets (no copy) until a subscription with an identifier
// is made; connections that never use identifiers pay nothing more.
//
// It also decodes a DISCONNECT from the broker and hands it to
// onDisconnect before paho reads it: paho reports a server DISCONNECT only
// after it has shut down (from a goroutine of its own), so a request that
// ends because the connection closed could not otherwise know why.
type subIDTap struct {
	net.Conn
	active       atomic.Bool
	keepOrder    bool // Options.KeepPropertyOrder: queue every PUBLISH's property order
	onDisconnect func(*packet.Disconnect)

	// Read side state; only the reading goroutine touches it.
	hdr        [5]byte
	hn         int
	skip       int
	collecting bool
	kind       packet.Type // of the packet being collected
	need       int
	body       []byte
	broken     bool

	mu    sync.Mutex
	queue []publishIDs
}

// publishIDs identifies a PUBLISH as paho will report it, with its
// identifiers.
type publishIDs struct {
	qos        byte
	packetID   uint16
	topic      string
	payloadLen int
	ids        []uint32
	order      []packet.PropID
}

func (t *subIDTap) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	if n > 0 && !t.broken {
		t.feed(p[:n])
	}
	return n, err
}

func (t *subIDTap) feed(b []byte) {
	for len(b) > 0 {
		switch {
		case t.skip > 0:
			n := min(t.skip, len(b))
			t.skip -= n
			b = b[n:]
		case t.collecting:
			n := min(t.need, len(b))
			t.body = append(t.body, b[:n]...)
			t.need -= n
			b = b[n:]
			if t.need == 0 {
				t.collecting = false
				t.collected()
			}
		default:
			t.hdr[t.hn] = b[0]
			t.hn++
			b = b[1:]
			if t.hn < 2 || t.hdr[t.hn-1]&0x80 != 0 {
				if t.hn == len(t.hdr) {
					t.broken = true // malformed length: paho will fail too
					return
				}
				continue
			}
			rl, mul := 0, 1
			for _, c := range t.hdr[1:t.hn] {
				rl += int(c&0x7f) * mul
				mul <<= 7
			}
			kind := packet.Type(t.hdr[0] >> 4)
			if (kind == packet.PUBLISH && t.active.Load()) || (kind == packet.DISCONNECT && t.onDisconnect != nil) {
				t.body = append(t.body[:0], t.hdr[:t.hn]...)
				t.kind, t.need, t.collecting = kind, rl, rl > 0
				if rl == 0 {
					t.collected()
				}
			} else {
				t.skip = rl
			}
			t.hn = 0
		}
	}
}

func (t *subIDTap) collected() {
	if t.kind == packet.DISCONNECT {
		if p, err := packet.Decode(t.body, packet.V5); err == nil {
			t.onDisconnect(p.(*packet.Disconnect))
		}
		return
	}
	t.publish(t.body)
}

func (t *subIDTap) publish(frame []byte) {
	p, err := packet.Decode(frame, packet.V5)
	if err != nil {
		return
	}
	pub, ok := p.(*packet.Publish)
	if !ok || (len(pub.Props.SubscriptionIDs) == 0 && !t.keepOrder) {
		return
	}
	e := publishIDs{
		qos: byte(pub.QoS), packetID: pub.PacketID, topic: pub.Topic,
		payloadLen: len(pub.Payload), ids: pub.Props.SubscriptionIDs,
	}
	if t.keepOrder {
		e.order = propertyOrder(frame)
	}
	t.mu.Lock()
	t.queue = append(t.queue, e)
	t.mu.Unlock()
}

// propertyOrder lists the property identifiers of a well-formed 5.0
// PUBLISH frame (already decoded once) in wire order.
func propertyOrder(frame []byte) []packet.PropID {
	i := 1
	for i < len(frame) && frame[i]&0x80 != 0 { // remaining length
		i++
	}
	i++
	if i+2 > len(frame) {
		return nil
	}
	i += 2 + (int(frame[i])<<8 | int(frame[i+1]))
	if (frame[0]>>1)&3 > 0 {
		i += 2 // packet identifier
	}
	n, mul := 0, 1
	for i < len(frame) {
		c := frame[i]
		i++
		n += int(c&0x7f) * mul
		mul <<= 7
		if c&0x80 == 0 {
			break
		}
	}
	end := min(i+n, len(frame))
	var order []packet.PropID
	for i < end {
		id := packet.PropID(frame[i])
		i++
		order = append(order, id)
		switch id {
		case packet.PropPayloadFormat:
			i++
		case packet.PropTopicAlias:
			i += 2
		case packet.PropMessageExpiry:
			i += 4
		case packet.PropSubscriptionID:
			for i < end && frame[i]&0x80 != 0 {
				i++
			}
			i++
		case packet.PropUser:
			for range 2 {
				if i+2 > end {
					return order
				}
				i += 2 + (int(frame[i])<<8 | int(frame[i+1]))
			}
		default: // strings and binary data: content type, response topic, correlation data
			if i+2 > end {
				return order
			}
			i += 2 + (int(frame[i])<<8 | int(frame[i+1]))
		}
	}
	return order
}

// lookup returns what the tap saw of the PUBLISH paho delivered as m:
// all its subscription identifiers and its property order. Entries before
// the match belong to packets paho did not deliver (a QoS 2 duplicate) and
// are dropped.
func (t *subIDTap) lookup(m *Message, packetID uint16) (publishIDs, bool) {
	var last uint32
	if ids := m.Props.SubscriptionIDs; len(ids) > 0 {
		last = ids[len(ids)-1]
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, e := range t.queue {
		lastOK := len(e.ids) == 0 && last == 0 || len(e.ids) > 0 && e.ids[len(e.ids)-1] == last
		if e.qos == m.QoS && e.packetID == packetID && e.payloadLen == len(m.Payload) &&
			(e.topic == "" || e.topic == m.Topic) && lastOK {
			t.queue = t.queue[i+1:]
			if len(t.queue) == 0 {
				t.queue = nil
			}
			return e, true
		}
	}
	return publishIDs{}, false
}
