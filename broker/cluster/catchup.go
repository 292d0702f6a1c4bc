package cluster

import (
	"encoding/binary"
	"time"

	"github.com/nats-io/nats.go"
)

// A node that starts holds no retained messages (or, with --data, those it
// had when it stopped): it asks the first peer it meets for all of its
// retained messages and keeps each unless it already has a newer one for
// the topic (docs/cluster.md). It only pulls, never pushes, so a node that
// was away cannot bring back messages deleted meanwhile.

const (
	// dumpChunk is the size of one message of a retained dump: well under
	// the NATS payload limit, big enough for few round trips.
	dumpChunk = 256 << 10
	// dumpTimeout bounds the whole catch-up: a peer that stops sending is
	// left, and the node serves with what it has.
	dumpTimeout = 30 * time.Second
)

// CaughtUp is closed once the node has taken the retained messages of a
// peer (or given up after dumpTimeout, or it closed).
func (n *Node) CaughtUp() <-chan struct{} { return n.caughtUp }

// catchUp waits for the first peer and pulls its retained messages.
func (n *Node) catchUp() {
	defer close(n.caughtUp)
	var peer string
	for peer == "" {
		if len(n.cfg.Peers) == 0 {
			return // the first node of a cluster has nobody to ask
		}
		if p := n.readyPeers(); len(p) > 0 {
			peer = p[0]
			break
		}
		select {
		case <-n.closed:
			return
		case <-time.After(20 * time.Millisecond): // routes have no event to wait on
		}
	}
	inbox := nats.NewInbox()
	ch := make(chan *nats.Msg, 64)
	sub, err := n.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		n.log.Warn("cluster: retained catch-up", "err", err)
		return
	}
	defer sub.Unsubscribe()
	if err := n.nc.PublishRequest("c.dump."+peer, inbox, nil); err != nil {
		n.log.Warn("cluster: retained catch-up", "err", err)
		return
	}
	deadline := time.NewTimer(dumpTimeout)
	defer deadline.Stop()
	got := 0
	for {
		select {
		case <-n.closed:
			return
		case <-deadline.C:
			n.log.Warn("cluster: retained catch-up incomplete", "peer", peer, "messages", got)
			return
		case m := <-ch:
			if m.Header.Get("Status") == "503" {
				// No responders: the peer's subscription has not crossed
				// the route yet (or it left). Ask again, a little later.
				select {
				case <-n.closed:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if err := n.nc.PublishRequest("c.dump."+peer, inbox, nil); err != nil {
					return
				}
				continue
			}
			if len(m.Data) == 0 {
				n.log.Debug("cluster: retained catch-up", "peer", peer, "messages", got)
				return
			}
			for b := m.Data; len(b) > 0; {
				l, k := binary.Uvarint(b)
				if k <= 0 || l > uint64(len(b)-k) {
					n.log.Warn("cluster: malformed retained dump", "peer", peer)
					return
				}
				if msg, err := decodeEnvelope(b[k : k+int(l)]); err == nil {
					n.srv.RestoreRetained(msg)
					got++
				}
				b = b[k+int(l):]
			}
		}
	}
}

// onDump answers a joining node with every retained message of this node,
// in chunks, then an empty message.
func (n *Node) onDump(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	reply := m.Reply
	n.wg.Go(func() {
		var b []byte
		for _, msg := range n.srv.RetainedMessages() {
			e := appendEnvelope(nil, msg)
			b = binary.AppendUvarint(b, uint64(len(e)))
			b = append(b, e...)
			if len(b) >= dumpChunk {
				if n.nc.Publish(reply, b) != nil {
					return
				}
				b = nil
			}
		}
		if len(b) > 0 {
			n.nc.Publish(reply, b)
		}
		n.nc.Publish(reply, nil)
	})
}
