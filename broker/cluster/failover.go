package cluster

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats-server/v2/server/gsl"
	"github.com/nats-io/nats.go"
)

// Failover with the replicated store (docs/cluster.md, "Failure"). When a
// node is lost, the persistent sessions it held are in the replicated
// store but in no node's memory: messages published meanwhile would reach
// no queue of theirs. So:
//
//   - the surviving node with the smallest name adopts them (reads them
//     from the store and holds them offline, as after a restart; their
//     clients reconnect anywhere and take them from there), then tells the
//     others ("c.adopted");
//   - from the moment a node sees the loss until the adoption is done, its
//     QoS 1/2 PUBLISHes that could reach one of those sessions are
//     answered 0x97 (Refusing, Stored), and the publisher sends them
//     again. Which could: a topic that matches a subject of the lost
//     node's NATS interest or the topic filter of one of its $share
//     members, as this node last knew them. The interest is taken from
//     the route when the lost node pinged this node after an interest
//     change (its SUBACK waits for that ping's answer, so every
//     subscription it acknowledged is in it, onPing), the members from
//     its last member table (groups.go). Interest is a superset of the
//     node's sessions (its clean sessions too), so this refuses more than
//     needed, never less. Without a snapshot (a peer that never pinged
//     since it joined) every QoS 1/2 PUBLISH is refused, as before;
//   - a node that reaches no majority of the store's replicas (itself
//     included) answers every QoS 1/2 PUBLISH 0x97 until it does again: a
//     partitioned minority stops acknowledging instead of diverging. QoS 0
//     still flows between the nodes it reaches.
//
// A message published before the loss was seen is covered by Stored's
// request to every node: the lost one never answers, so that publish is
// answered 0x97 too.

const (
	// watchEvery is how often a node compares its peers with those it
	// knew: routes have no event to wait on.
	watchEvery = 100 * time.Millisecond
	// adoptTimeout bounds how long the nodes wait for an adoption before
	// they acknowledge again without it. The adoption reads the store,
	// which first needs a stream leader: after a kill -9 of the leader,
	// JetStream elects one after its election timeout (4 to 9 s), so this
	// is well above that.
	adoptTimeout = 90 * time.Second
)

// failover is a node's view of lost peers (guarded by Node.mu).
type failover struct {
	known map[string]bool     // peers that answered: members
	lost  map[string]lostNode // members gone whose sessions are not adopted yet
	// minority: this node and the peers it reaches are no majority of the
	// replicated store's nodes; it acknowledges no QoS 1/2 PUBLISH then.
	minority bool
	// interest is each peer's "m." subjects as of its last ping (onPing).
	interest map[string][]string
	// lostCh is closed (and replaced) whenever a member is lost: a wait
	// for that member's answer (Stored) then ends.
	lostCh chan struct{}
}

// lostNode is a member gone whose sessions are not adopted yet.
type lostNode struct {
	since time.Time
	// topics holds the subjects its sessions could receive (its interest
	// and its $share members' filters); nil: unknown, anything could.
	topics *gsl.SimpleSublist
}

// could reports whether its sessions could receive a message on subj
// (an "m." subject): failingOver's and lostCould's one test.
func (l lostNode) could(subj string) bool {
	return l.topics == nil || l.topics.HasInterest(subj)
}

// watchPeers runs with the replicated store: it notices lost members.
func (n *Node) watchPeers() {
	if _, err := n.nc.Subscribe("c.adopted", n.onAdopted); err != nil {
		n.log.Warn("cluster: adoption notices", "err", err)
	}
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		select {
		case <-n.closed:
			return
		case <-t.C:
			n.readyPeers() // notes losses (noteMembers)
		}
	}
}

// noteMembers updates the failover view from the current peers and the
// ready ones (under n.mu), starting an adoption for each member lost.
func (n *Node) noteMembers(peers []string) {
	if n.store == nil {
		return
	}
	if n.fo.known == nil {
		n.fo.known = make(map[string]bool)
		n.fo.lost = make(map[string]lostNode)
	}
	for p := range n.ready {
		if !n.fo.known[p] {
			n.fo.known[p] = true
			delete(n.fo.lost, p) // back
		}
	}
	reach := 1
	for _, p := range peers {
		if n.ready[p] {
			reach++
		}
	}
	n.fo.minority = 2*reach <= n.store.replicas
	for p := range n.fo.known {
		if slices.Contains(peers, p) {
			continue
		}
		delete(n.fo.known, p)
		n.fo.lost[p] = lostNode{since: time.Now(), topics: n.lostTopics(p)}
		close(n.fo.lostCh)
		n.fo.lostCh = make(chan struct{})
		n.log.Warn("cluster: a node was lost; its persistent sessions are taken over from the replicated store", "node", p)
		n.wg.Go(func() { n.adopt(p) })
	}
}

// Refusing implements the broker's refusal of QoS 1/2 PUBLISHes before
// they are routed (cluster_store.go): see failingOver.
func (n *Node) Refusing(topic string) bool { return n.store != nil && n.failingOver(topic) }

// failingOver reports whether this node is in a minority, or a lost
// member's sessions, one of which topic could reach, are still being
// adopted: the QoS 1/2 publishes of that time are refused (Stored).
func (n *Node) failingOver(topic string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fo.minority {
		return true
	}
	var subj string
	for p, l := range n.fo.lost {
		if time.Since(l.since) > adoptTimeout {
			n.log.Warn("cluster: no node confirmed it took over a lost node's sessions", "node", p, "timeout", adoptTimeout)
			delete(n.fo.lost, p)
			continue
		}
		if subj == "" {
			subj = subject("m.", topic)
		}
		if l.could(subj) {
			return true
		}
	}
	return false
}

// lostCould reports whether peer was lost and its sessions are not
// adopted yet (gone), and then calls could(i) for each message of batch
// with a topic they could receive (every one when its interest is not
// known), all from one look at peer's state: a peer whose sessions are
// adopted meanwhile does not leave some messages judged and others not.
func (n *Node) lostCould(peer string, batch []awaiting, could func(i int)) (gone bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l, gone := n.fo.lost[peer]
	if !gone {
		return false
	}
	for i, a := range batch {
		if l.could(subject("m.", a.topic)) {
			could(i)
		}
	}
	return true
}

// takingOver reports whether this node is in a minority or a lost
// member's sessions are still being adopted, whatever the topic.
func (n *Node) takingOver() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.fo.minority || len(n.fo.lost) > 0
}

// onPing answers a peer's ping. A ping that names its sender ("i" and
// the name) follows an interest change of that node's on the same
// route: the route's subscriptions then hold every subject it
// acknowledged so far, and a copy of them is what this node refuses
// for while that node's sessions are taken over (failingOver).
func (n *Node) onPing(m *nats.Msg) {
	if from, ok := strings.CutPrefix(string(m.Data), "i"); ok && n.store != nil && nodeName.MatchString(from) {
		n.noteInterest(from)
	}
	m.Respond(nil)
}

// noteInterest keeps peer's "m." subjects, as its route has them.
func (n *Node) noteInterest(peer string) {
	rz, err := n.ns.Routez(&server.RoutezOptions{Subscriptions: true})
	if err != nil {
		return
	}
	var subs []string
	found := false
	for _, r := range rz.Routes {
		if r.RemoteName != peer {
			continue
		}
		found = true
		for _, s := range r.Subs {
			if strings.HasPrefix(s, "m.") {
				subs = append(subs, s)
			}
		}
	}
	if !found {
		return
	}
	n.mu.Lock()
	if n.fo.interest == nil {
		n.fo.interest = make(map[string][]string)
	}
	n.fo.interest[peer] = subs
	n.mu.Unlock()
}

// lostTopics returns what lost's sessions could receive, as this node
// last knew it (under n.mu): nil when it never learnt lost's interest.
func (n *Node) lostTopics(lost string) *gsl.SimpleSublist {
	subs, ok := n.fo.interest[lost]
	delete(n.fo.interest, lost) // a node that comes back pings again
	if !ok {
		return nil
	}
	sl := gsl.NewSimpleSublist()
	for _, s := range subs {
		sl.Insert(s, struct{}{})
	}
	for _, f := range n.grp.memberFilters(lost) {
		for _, s := range filterSubjects("m.", f) {
			sl.Insert(s, struct{}{})
		}
	}
	return sl
}

// adopt takes over lost's sessions if this node is the surviving member
// with the smallest name, and tells every node when done.
func (n *Node) adopt(lost string) {
	if n.answers(lost) { // take.go: its route only flapped (duplicate routes at start)
		n.mu.Lock()
		delete(n.fo.lost, lost)
		n.mu.Unlock()
		n.log.Info("cluster: a node thought lost answers again; nothing taken over", "node", lost)
		return
	}
	ready := n.readyPeers()
	if !n.adoptAlways.Load() && slices.ContainsFunc(ready, func(p string) bool { return p < n.cfg.NodeName }) {
		return // another node adopts; onAdopted clears the loss
	}
	start := time.Now()
	sessions, err := n.store.ownedBy(lost)
	for err != nil && !errors.Is(err, storage.ErrClosed) && time.Since(start) < adoptTimeout {
		n.log.Warn("cluster: reading a lost node's sessions failed; trying again", "node", lost, "err", err)
		select {
		case <-n.closed:
			return
		case <-time.After(time.Second):
		}
		sessions, err = n.store.ownedBy(lost)
	}
	if err != nil {
		n.log.Error("cluster: could not read a lost node's sessions", "node", lost, "err", err)
		return
	}
	if f := n.adoptRead.Load(); f != nil {
		(*f)()
	}
	adopted := 0
	for _, ss := range sessions {
		// Exclusive: skipped when another node took it since (take.go).
		end, ok := n.beginAdopt(ss.ClientID, lost)
		if !ok {
			continue
		}
		took, err := n.store.takeSession(ss.ClientID, lost)
		for err != nil && !errors.Is(err, errMoved) && time.Since(start) < adoptTimeout {
			// The store did not answer (a leader election): the session
			// is still the lost node's, held by no node, and the
			// refusals last until it is taken, so try again rather than
			// end the adoption without it.
			n.log.Warn("cluster: taking a lost node's session failed; trying again", "node", lost, "client", ss.ClientID, "err", err)
			select {
			case <-n.closed:
				end()
				return
			case <-time.After(100 * time.Millisecond):
			}
			took, err = n.store.takeSession(ss.ClientID, lost)
		}
		if !took || err != nil {
			end()
			if err != nil && !errors.Is(err, errMoved) {
				n.log.Error("cluster: could not take over a lost node's session", "node", lost, "client", ss.ClientID, "err", err)
			} else {
				n.log.Debug("cluster: a lost node's session was taken by another node", "client", ss.ClientID, "err", err)
			}
			continue
		}
		err = n.srv.AdoptSession(ss)
		end()
		if err != nil {
			n.log.Error("cluster: could not take over a lost node's session", "node", lost, "client", ss.ClientID, "err", err)
			continue
		}
		adopted++
	}
	n.log.Info("cluster: took over a lost node's persistent sessions", "node", lost, "sessions", adopted, "took", time.Since(start).Round(time.Millisecond))
	n.mu.Lock()
	delete(n.fo.lost, lost)
	n.mu.Unlock()
	n.nc.Publish("c.adopted", []byte(lost))
}

func (n *Node) onAdopted(m *nats.Msg) {
	n.mu.Lock()
	delete(n.fo.lost, string(m.Data))
	n.mu.Unlock()
}
