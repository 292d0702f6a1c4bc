package broker

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/topics"
	"github.com/mqttboard/mqttboard/packet"
)

// Bridge connects a Server to the other nodes of a cluster (package
// broker/cluster implements it on embedded NATS; docs/cluster.md has the
// design). The broker calls it at a few points of its own work and the
// bridge calls back [Server.RouteRemote], [Server.DeleteRetainedLocal]
// and [Server.Evict] for what other nodes did. Without a bridge (the
// default) none of this runs: each hook is one nil check, off the routing
// loop's per-subscription work.
type Bridge interface {
	// Publish is called once for each message this node routes on
	// behalf of a local publisher (a client, a will, the REST API, the
	// broker's own $SYS and log messages), before local delivery. The
	// message is immutable; Publish must not block on the network.
	Publish(m *message.Message)
	// DeleteRetained is called after a flespi wildcard deletion (an
	// empty-payload PUBLISH to a filter) was applied on this node, within
	// account (0: every account, as without token authentication).
	DeleteRetained(filter string, account uint64)
	// Interest is called under the topic index's lock whenever a
	// subscription is added or removed on this node, by any path; it must
	// not block or call into the Server.
	Interest(sub *topics.Subscription, added bool)
	// SyncInterest returns once every member of the cluster knows the
	// interest announced so far (bounded in time): SUBACK waits for it,
	// so a message published anywhere after SUBACK reaches the new
	// subscription.
	SyncInterest()
	// Claim makes clientID unique cluster-wide before a CONNECT's session
	// is attached: every other node disconnects a connection with that id
	// (0x8E) and ends its session. It returns an error when a later claim
	// for the same id on another node won the race. Otherwise the caller
	// attaches the session and then calls release: a later claim that
	// arrived in between evicts the new connection then, so two
	// connections racing on two nodes never both stay.
	Claim(clientID string, cleanStart bool) (release func(), err error)
	// Members returns the names of the cluster's nodes that this node is
	// connected to, this node's first.
	Members() []string
	// Remote is called for a QoS 1/2 MQTT 5 PUBLISH once it was routed
	// here: with count, it returns how many subscriptions on the other
	// nodes received m (flespi's count_subscribers; it waits for their
	// answers, bounded); without, 1 when another node may have
	// subscribers and 0 when none has any interest, so that PUBACK says
	// "no matching subscribers" (0x10) only when that is known.
	Remote(m *message.Message, count bool) int
}

// remoteSubscribers is the cluster's part of a PUBLISH's acknowledgement
// (see [Bridge.Remote]).
func (s *Server) remoteSubscribers(m *message.Message, p *packet.Publish, v packet.Version) int {
	if s.bridge == nil || p.QoS == 0 || v != packet.V5 {
		return 0
	}
	count := false
	if p.QoS == 1 {
		if x, ok := p.Props.UserValue("count_subscribers"); ok && x == "1" {
			count = true
		}
	}
	return s.bridge.Remote(m, count)
}

// SetBridge joins s to a cluster. Call it once, before [Server.Serve] and
// before any connection is served. The subscriptions the server already
// has (sessions recovered from its store, or made through the API) are
// announced to the bridge at once.
func (s *Server) SetBridge(b Bridge) {
	s.bridge = b
	s.index.Watch(b.Interest)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sess := range s.sessions {
		for _, sub := range sess.Subs() {
			b.Interest(sub, true)
		}
	}
}

// RouteRemote delivers a message that another node of the cluster
// received from its publisher to the matching subscriptions of this node
// (and retains it if asked), without handing it back to the bridge. Shared
// groups are left out: the publishing node picked their member among every
// node's and forwarded the message to it ([Server.DeliverShared]). It
// returns the number of deliveries.
func (s *Server) RouteRemote(m *message.Message) int {
	r := routerPool.Get().(*router)
	r.remote = true
	n := s.route(m, r)
	r.remote = false
	routerPool.Put(r)
	return n
}

// DeleteRetainedLocal applies another node's wildcard deletion of retained
// messages (see [Bridge.DeleteRetained]) to this node's store.
func (s *Server) DeleteRetainedLocal(filter string, account uint64) int {
	if account == 0 {
		return s.retained.DeleteMatching(filter)
	}
	return s.retained.DeleteMatchingIn(filter, account)
}

// Evict ends the session of clientID on this node because a connection on
// another node of the cluster took it over: a live connection gets
// DISCONNECT 0x8E [MQTT-3.1.4-3], then the session and its subscriptions
// are dropped. As for a local takeover, a pending will is sent when the
// new connection asked for a clean start and cancelled when it resumes
// [MQTT-3.1.3-9]. It reports whether there was a session, and waits at
// most 5 s for the connection to end.
func (s *Server) Evict(clientID string, cleanStart bool) bool {
	kicked := false
	for range 3 {
		s.mu.Lock()
		sess := s.sessions[clientID]
		if sess == nil {
			s.mu.Unlock()
			return kicked
		}
		if c, _ := sess.Conn().(*conn); c != nil {
			s.mu.Unlock()
			c.Kick(packet.SessionTakenOver, "another connection with the same client id took the session over on another node")
			kicked = true
			select {
			case <-c.wait(connDone):
			case <-time.After(5 * time.Second):
				s.opts.Logger.Warn("takeover", "client", clientID, "err", errTakeoverTimeout)
				c.nc.Close()
				<-c.wait(connDone)
			}
			continue
		}
		delete(s.sessions, clientID)
		if s.shared == nil {
			s.persistEnd(sess) // persist.go: the session lives on the other node now
		}
		will := sess.Resume()
		s.mu.Unlock()
		s.dropSubscriptions(sess)
		s.handOver(sess) // cluster_store.go: the other node reads it from the shared store
		s.forgetMeta(sess)
		if cleanStart {
			s.publishWill(will)
		}
		s.logEvent(LogRecord{EventCode: LogSessionDeleted, ClientID: clientID, Detail: "taken over on another node of the cluster"})
		return true
	}
	return kicked
}

// errClaimLost refuses a CONNECT whose client id was claimed at the same
// time on another node by a later connection.
var errClaimLost = errors.New("a later connection with this client id on another node took it")

// claim is the cluster's part of CONNECT (see [Bridge.Claim]).
func (s *Server) claim(clientID string, cleanStart bool) (release func(), err error) {
	if s.bridge == nil {
		return noRelease, nil
	}
	release, err = s.bridge.Claim(clientID, cleanStart)
	if err != nil {
		return noRelease, errors.Join(errClaimLost, err)
	}
	return release, nil
}

func noRelease() {}

// syncInterest is the cluster's part of SUBSCRIBE (see
// [Bridge.SyncInterest]).
func (s *Server) syncInterest() {
	if s.bridge != nil {
		s.bridge.SyncInterest()
	}
}

// deletedRetained is the cluster's part of a wildcard deletion.
func (s *Server) deletedRetained(filter string, account uint64) {
	if s.bridge != nil {
		s.bridge.DeleteRetained(filter, account)
	}
}

// clusterSys returns the $SYS/broker/cluster/... topics: this node's name
// and the members it is connected to (sorted, comma-separated).
func (s *Server) clusterSys() [][2]string {
	if s.bridge == nil {
		return nil
	}
	m := s.bridge.Members()
	if len(m) == 0 {
		return nil
	}
	sorted := slices.Sorted(slices.Values(m))
	return [][2]string{{"cluster/node", m[0]}, {"cluster/members", strings.Join(sorted, ",")}, {"cluster/size", itoa(len(m))}}
}

// ClusterMembers returns the names of the cluster's nodes this node is
// connected to, this node's first; nil when it is not in a cluster.
func (s *Server) ClusterMembers() []string {
	if s.bridge == nil {
		return nil
	}
	return s.bridge.Members()
}

// RetainedMessages returns every retained message of this node, in every
// account (not those under '$' topics, which a "#" does not match), for a
// node that joins the cluster and catches up.
func (s *Server) RetainedMessages() []*message.Message {
	var out []*message.Message
	s.retained.Match("#", time.Now(), func(m *message.Message) { out = append(out, m) })
	return out
}

// RestoreRetained keeps m, a retained message another node had before this
// one joined, unless this node already retains a newer one for its topic
// (see [retained.Store.Set]). It is not delivered to anyone: it is no new
// publication. With a store it is kept in memory only: the node catches up
// again when it restarts.
func (s *Server) RestoreRetained(m *message.Message) {
	if m.Retain && len(m.Payload) > 0 {
		s.retained.Set(m)
	}
}
