package cluster

import (
	"time"

	"github.com/nats-io/nats.go"
)

// Replica is state the nodes share by sending each other its changes:
// the token registry (package broker/auth's Registry) with --auth token.
// Changes and snapshots are opaque bytes to the cluster.
type Replica interface {
	// Replicate makes the replica hand each change made on this node to
	// send, in order; send must not block.
	Replicate(send func(changes []byte))
	// ApplyReplica applies changes another node made.
	ApplyReplica(changes []byte) error
	// Snapshot returns the whole state, for a node that joins.
	Snapshot() []byte
	// RestoreSnapshot makes the replica hold what a peer's Snapshot held.
	RestoreSnapshot(snapshot []byte) error
}

// Tokens and accounts (docs/cluster.md, "Tokens and accounts"): each
// node's registry sends its changes on "c.auth" to every node, which
// applies them in the order sent (one subscription, one NATS connection,
// one route per pair); a node that joins pulls the first peer's snapshot
// on "c.authdump.<peer>" before anything else it hears on "c.auth" is
// applied, so no change is lost between the two.

// startTokens wires cfg.Tokens to the cluster.
func (n *Node) startTokens() error {
	r := n.cfg.Tokens
	n.tokensReady = make(chan struct{})
	if r == nil {
		close(n.tokensReady)
		return nil
	}
	if _, err := n.nc.Subscribe("c.authdump."+n.cfg.NodeName, func(m *nats.Msg) {
		m.Respond(r.Snapshot())
	}); err != nil {
		return err
	}
	// Changes from others queue here until the catch-up is done.
	changes := make(chan *nats.Msg, 4096)
	if _, err := n.nc.ChanSubscribe("c.auth", changes); err != nil {
		return err
	}
	r.Replicate(func(b []byte) {
		if err := n.nc.Publish("c.auth", b); err != nil {
			n.log.Warn("cluster: a token change was not sent to the other nodes", "err", err)
		}
	})
	n.wg.Go(func() {
		n.tokensCatchUp(r)
		close(n.tokensReady)
		for {
			select {
			case <-n.closed:
				return
			case m := <-changes:
				if err := r.ApplyReplica(m.Data); err != nil {
					n.log.Warn("cluster: a token change from another node was malformed", "err", err)
				}
			}
		}
	})
	return nil
}

// tokensCatchUp takes the first ready peer's tokens and accounts (a node
// started without peers is the first of its cluster: nothing to take).
func (n *Node) tokensCatchUp(r Replica) {
	if len(n.cfg.Peers) == 0 {
		return
	}
	deadline := time.Now().Add(dumpTimeout)
	for time.Now().Before(deadline) {
		for _, p := range n.readyPeers() {
			m, err := n.nc.Request("c.authdump."+p, nil, syncTimeout)
			if err != nil {
				continue
			}
			if err := r.RestoreSnapshot(m.Data); err != nil {
				n.log.Warn("cluster: the tokens of a peer were malformed", "peer", p, "err", err)
				continue
			}
			return
		}
		select {
		case <-n.closed:
			return
		case <-time.After(20 * time.Millisecond): // routes have no event to wait on
		}
	}
	n.log.Warn("cluster: no peer gave its tokens and accounts; this node serves with its own", "timeout", dumpTimeout)
}
