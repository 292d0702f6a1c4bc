package broker

import (
	"slices"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/session"
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/broker/topics"
)

// Shared groups in a cluster (docs/cluster.md, "Shared subscriptions"):
// the bridge adds each member another node holds to this node's index as a
// [RemoteMember], so the index's own pick (round robin, or the sticky
// rendezvous hash) chooses among the members of every node. When it
// chooses a remote one, routing hands the message to the member's
// Forward instead of a local queue, and the member's node delivers it
// with [Server.DeliverShared]. A message is so delivered once per group
// cluster-wide, and every node picks the same sticky winner from the same
// members.

// RemoteMember is a shared-group member whose session is on another node
// of the cluster.
type RemoteMember interface {
	topics.RemoteSubscriber
	// Forward sends m to the member's node for sub (the member's
	// subscription as this node's index holds it); final tells that node
	// not to forward it again (see [Server.DeliverShared]). It runs on
	// the routing path: it must not block.
	Forward(m *message.Message, sub *topics.Subscription, final bool)
}

// OnlineWatcher is implemented by a [Bridge] that wants to know when a
// client connects or disconnects on this node: a shared group prefers
// online members, so the other nodes must learn a member's state.
type OnlineWatcher interface {
	// OnlineChanged is called after clientID's connection attached to
	// or detached from its session. It must not block.
	OnlineChanged(clientID string)
}

// forwardShared hands m to the remote member sub the index picked; it
// reports false when sub is no remote member (nothing to deliver).
func forwardShared(m *message.Message, sub *topics.Subscription, final bool) bool {
	rm, ok := sub.Subscriber.(RemoteMember)
	if !ok {
		return false
	}
	rm.Forward(m, sub, final)
	return true
}

// onlineChanged tells the bridge about a connect or disconnect (events.go).
func (s *Server) onlineChanged(e *Event) {
	if e.Kind != EventConnected && e.Kind != EventDisconnected {
		return
	}
	if w, ok := s.bridge.(OnlineWatcher); ok {
		w.OnlineChanged(e.ClientID)
	}
}

// AddRemoteMember adds sub, a shared-group member another node holds
// (its Subscriber a [RemoteMember]), to this node's index.
func (s *Server) AddRemoteMember(sub *topics.Subscription) { s.index.Add(sub) }

// RemoveRemoteMember removes what [Server.AddRemoteMember] added.
func (s *Server) RemoveRemoteMember(sub *topics.Subscription) {
	s.index.Remove(sub.Subscriber, sub.Filter)
}

// DeliverShared delivers m, which another node's index picked for the
// shared-group subscription filter of clientID on this node, to that
// subscription. When the member is no longer here (it left while the
// message travelled), the group's current pick on this node gets it
// instead; a remote pick is forwarded once more, as final, unless m came
// as final itself, so a message travels at most two hops. It reports
// whether m was delivered or forwarded.
func (s *Server) DeliverShared(m *message.Message, clientID, filter string, account uint64, final bool) bool {
	ok, _ := s.DeliverSharedStored(m, clientID, filter, account, final)
	return ok
}

// DeliverSharedStored is [Server.DeliverShared] that also returns the
// commits that stored m for the member's persistent session (a copy; none
// without a store, or when m went on to another node), for the publishing
// node's acknowledgement: held for an offline member, m is then
// replicated before the publisher's PUBACK. When m goes on, the
// [RemoteMember]'s Forward (final) is what must confirm that the next
// node stored it (broker/cluster asks that node and waits for its answer).
func (s *Server) DeliverSharedStored(m *message.Message, clientID, filter string, account uint64, final bool) (bool, []*storage.Commit) {
	var sub *topics.Subscription
	s.mu.Lock()
	sess := s.sessions[clientID]
	s.mu.Unlock()
	if sess != nil {
		sub = sess.Sub(filter)
	}
	if sub == nil {
		sub = s.index.PickShared(filter, account, m.Topic)
		if sub == nil {
			return false, nil
		}
		if _, local := sub.Subscriber.(*session.Session); !local {
			return !final && forwardShared(m, sub, true), nil
		}
	}
	r := routerPool.Get().(*router)
	r.msg, r.fm = m, nil
	if s.store != nil {
		r.resetCommits()
	}
	r.matches = append(r.matches[:0], match{sub: sub})
	ok := s.deliver(m, r.matches, r)
	clear(r.matches)
	r.matches = r.matches[:0]
	r.msg, r.fm = nil, nil
	var cs []*storage.Commit
	if s.store != nil {
		r.applyRoute(s)
		cs = slices.Clone(r.takeCommits())
		r.resetCommits()
	}
	routerPool.Put(r)
	return ok, cs
}

// PublishClusterSys publishes the $SYS/broker/cluster/... topics now: the
// bridge calls it when the members change, so a dashboard sees a node
// leave or come back at once rather than at the next $SYS interval.
func (s *Server) PublishClusterSys() {
	r := routerPool.Get().(*router)
	for _, kv := range s.clusterSys() {
		s.route(&message.Message{Topic: "$SYS/broker/" + kv[0], Payload: []byte(kv[1]), Retain: true}, r)
	}
	routerPool.Put(r)
}

// nodeName is this node's name in a cluster, "" outside one.
func (s *Server) nodeName() string {
	if s.bridge == nil {
		return ""
	}
	if n, ok := s.bridge.(interface{ Name() string }); ok {
		return n.Name()
	}
	if m := s.bridge.Members(); len(m) > 0 {
		return m[0]
	}
	return ""
}
