package cluster

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/broker/topics"
	"github.com/nats-io/nats.go"
)

// Shared groups across nodes (docs/cluster.md, "Shared subscriptions").
//
// Each node tells every other node the $share members its sessions hold
// (client id, filter, account, online) as a whole table, sent as a request
// on "c.grp.<peer>" whenever it changes and to each peer that has not got
// the current one (a new peer, a restarted one). The receiver adds the
// members to its topic index as [remoteMember]s and answers after that,
// so SUBACK (which waits for the answers, see [Node.SyncInterest]) means
// every node balances over the new member.
//
// The node a message is published on then picks the member among all of
// them with the one-node rules (round robin; a sticky group's rendezvous
// hash over the same members, hence the same winner on every node) and,
// for a member on another node, sends the message on "g.<node>" to that
// node only, which delivers it to that member: one delivery per group
// cluster-wide.

// memberEntry is one member in a table.
type memberEntry struct {
	Client  string `json:"c"`
	Filter  string `json:"f"`
	Account uint64 `json:"a,omitempty"`
	Online  bool   `json:"o,omitempty"`
}

// memberTable is a node's whole list of members (JSON: it is sent when
// membership changes, rare next to messages).
type memberTable struct {
	Node string `json:"n"`
	// Inc is the node's incarnation (its start time), so a peer tells a
	// restarted node, which knows nothing of the peer's table, from a
	// late copy of an old one.
	Inc     int64         `json:"i"`
	Ver     uint64        `json:"v"`
	Members []memberEntry `json:"m"`
}

// memberKey is one member: a client's shared filter.
type memberKey struct{ client, filter string }

// sentTo is what a peer has of this node's table: the version, and the
// peer's incarnation that answered.
type sentTo struct {
	ver uint64
	inc int64
}

// groupState is a node's share of the shared-group protocol.
type groupState struct {
	inc int64

	mu     sync.Mutex // guards local..round; taken under the index lock (Node.Interest)
	local  map[memberKey]uint64
	online map[string]topics.Subscriber // local members' sessions, by client id
	count  map[string]int               // local members per client id
	rounds                              // local changes (members, online) and the peers' confirmations
	wake   chan struct{}

	pmu   sync.Mutex // guards peers, sent; taken before the index lock (adding remote members)
	peers map[string]*peerMembers
	sent  map[string]sentTo

	ver uint64 // this node's table version; the group loop's own (read under mu)

	// filters is each peer's members' topic filters as of its last table,
	// kept when the peer is gone, for the failover (failover.go). Its own
	// lock, taken under no other lock's order: a leaf.
	fmu     sync.Mutex
	filters map[string][]string

	// For tests (heldshare_test.go): hold answers the peers' tables
	// without applying them, so this node goes on picking members where
	// they were, as a node does for the moments a change travels.
	hold atomic.Bool
}

// peerMembers is what this node holds of one peer's table.
type peerMembers struct {
	inc     int64
	ver     uint64
	subs    map[memberKey]*topics.Subscription
	clients map[string]*remoteMember
}

// remoteMember is a client on another node with shared-group members: the
// Subscriber of its subscriptions in this node's index.
type remoteMember struct {
	n      *Node
	node   string
	client string
	online atomic.Bool
}

func (r *remoteMember) SubscriberID() string { return r.client }
func (r *remoteMember) Online() bool         { return r.online.Load() }
func (r *remoteMember) Node() string         { return r.node }

// Forward implements [broker.RemoteMember].
func (r *remoteMember) Forward(m *message.Message, sub *topics.Subscription, final bool) {
	r.n.forward(r.node, r.client, sub.Filter, sub.Account, final, m)
}

// groupsTick is how often the group loop checks for peers that came or
// went: NATS sends no event for a route, and a peer that joins must get
// this node's table soon after (a message published meanwhile still goes
// to the members already known).
const groupsTick = 200 * time.Millisecond

func (g *groupState) init() {
	g.inc = time.Now().UnixNano()
	g.local = make(map[memberKey]uint64)
	g.online = make(map[string]topics.Subscriber)
	g.count = make(map[string]int)
	g.round = make(chan struct{})
	g.wake = make(chan struct{}, 1)
	g.peers = make(map[string]*peerMembers)
	g.sent = make(map[string]sentTo)
	g.filters = make(map[string][]string)
}

// memberFilters returns the topic filters of peer's $share members as of
// its last table (kept after it is gone).
func (g *groupState) memberFilters(peer string) []string {
	g.fmu.Lock()
	defer g.fmu.Unlock()
	return g.filters[peer]
}

func (g *groupState) kick() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// subscribeGroups subscribes this node's share of the protocol.
func (n *Node) subscribeGroups() error {
	if _, err := n.nc.Subscribe("c.grp."+n.cfg.NodeName, n.onMembers); err != nil {
		return err
	}
	// Forwarded messages share the inbox with the rest, so a publisher's
	// messages keep their order whichever way they came.
	_, err := n.nc.ChanSubscribe("g."+n.cfg.NodeName, n.inbox)
	return err
}

// localMember follows this node's own shared-group members (from
// [Node.Interest], under the index lock).
func (n *Node) localMember(sub *topics.Subscription, added bool) {
	if _, remote := sub.Subscriber.(*remoteMember); remote {
		return
	}
	g := &n.grp
	g.mu.Lock()
	k := memberKey{sub.Subscriber.SubscriberID(), sub.Filter}
	_, had := g.local[k]
	switch {
	case added && !had:
		g.local[k] = sub.Account
		g.online[k.client] = sub.Subscriber
		g.count[k.client]++
	case added:
		g.local[k] = sub.Account
	case had:
		delete(g.local, k)
		if g.count[k.client]--; g.count[k.client] <= 0 {
			delete(g.count, k.client)
			delete(g.online, k.client)
		}
	}
	g.gen++
	g.mu.Unlock()
	g.kick()
}

// OnlineChanged implements [broker.OnlineWatcher]: a member's online
// state changes which member a group prefers, on every node.
func (n *Node) OnlineChanged(clientID string) {
	g := &n.grp
	g.mu.Lock()
	_, member := g.online[clientID]
	if member {
		g.gen++
	}
	g.mu.Unlock()
	if member {
		g.kick()
	}
}

// syncGroupsWait returns once every peer has this node's members as they
// were when it was called (bounded by syncTimeout).
func (n *Node) syncGroupsWait() {
	g := &n.grp
	if !g.rounds.await(&g.mu, g.kick, n.closed) {
		n.log.Warn("cluster: a peer did not confirm a shared-group member in time", "timeout", syncTimeout)
	}
}

// groupsLoop sends this node's table to the peers that lack it and
// forgets the members of peers that left.
func (n *Node) groupsLoop() {
	g := &n.grp
	tick := time.NewTicker(groupsTick)
	defer tick.Stop()
	var sentGen uint64
	var members []string
	for {
		select {
		case <-n.closed:
			return
		case <-g.wake:
		case <-tick.C:
		}
		peers := n.readyPeers()
		if !slices.Equal(peers, members) {
			members = peers
			n.srv.PublishClusterSys() // $SYS/broker/cluster/members now, not at the next interval
		}
		g.pmu.Lock()
		for p := range g.peers {
			if !slices.Contains(peers, p) {
				n.applyMembers(p, nil) // gone: its members with it
				delete(g.peers, p)
			}
		}
		for p := range g.sent {
			if !slices.Contains(peers, p) {
				delete(g.sent, p)
			}
		}
		g.pmu.Unlock()

		g.mu.Lock()
		gen := g.gen
		if gen != sentGen || g.ver == 0 {
			g.ver++
			sentGen = gen
		}
		ver := g.ver
		done := g.round // whoever waits is woken when this round ends
		g.round = make(chan struct{})
		g.mu.Unlock()
		var lacking []string
		g.pmu.Lock()
		for _, p := range peers {
			if g.sent[p].ver != ver {
				lacking = append(lacking, p)
			}
		}
		g.pmu.Unlock()
		if len(lacking) == 0 {
			// Every peer has the table: nothing to build or send.
			g.mu.Lock()
			g.synced = max(g.synced, gen)
			g.mu.Unlock()
			close(done)
			continue
		}
		// The table may hold changes newer than gen: the next round sends
		// them again under the next version, harmlessly.
		t := memberTable{Node: n.cfg.NodeName, Inc: g.inc, Ver: ver}
		g.mu.Lock()
		for k, acct := range g.local {
			on := false
			if s := g.online[k.client]; s != nil {
				on = s.Online()
			}
			t.Members = append(t.Members, memberEntry{Client: k.client, Filter: k.filter, Account: acct, Online: on})
		}
		g.mu.Unlock()
		b, _ := json.Marshal(t)
		var wg sync.WaitGroup
		for _, p := range lacking {
			wg.Go(func() {
				r, err := n.nc.Request("c.grp."+p, b, syncTimeout)
				if err != nil {
					n.log.Debug("cluster: shared-group members not sent", "peer", p, "err", err)
					return
				}
				var inc int64
				json.Unmarshal(r.Data, &inc)
				g.pmu.Lock()
				g.sent[p] = sentTo{ver: t.Ver, inc: inc}
				g.pmu.Unlock()
			})
		}
		wg.Wait()
		g.mu.Lock()
		g.synced = max(g.synced, gen)
		g.mu.Unlock()
		close(done)
	}
}

// onMembers takes a peer's table and answers with this node's
// incarnation once its index has the members.
func (n *Node) onMembers(m *nats.Msg) {
	var t memberTable
	if json.Unmarshal(m.Data, &t) != nil || t.Node == n.cfg.NodeName || !nodeName.MatchString(t.Node) {
		return
	}
	g := &n.grp
	g.pmu.Lock()
	pm := g.peers[t.Node]
	stale := pm != nil && (t.Inc < pm.inc || t.Inc == pm.inc && t.Ver <= pm.ver)
	if !stale && !g.hold.Load() {
		n.applyMembers(t.Node, &t)
	}
	if s, ok := g.sent[t.Node]; ok && s.inc != t.Inc {
		delete(g.sent, t.Node) // it restarted: it lost this node's table
		g.kick()
	}
	g.pmu.Unlock()
	b, _ := json.Marshal(g.inc)
	m.Respond(b)
}

// applyMembers makes this node's index hold exactly the members of t for
// peer (none when t is nil). The caller holds g.pmu.
func (n *Node) applyMembers(peer string, t *memberTable) {
	g := &n.grp
	pm := g.peers[peer]
	if pm == nil {
		pm = &peerMembers{subs: make(map[memberKey]*topics.Subscription), clients: make(map[string]*remoteMember)}
		g.peers[peer] = pm
	}
	want := map[memberKey]memberEntry{}
	if t != nil {
		pm.inc, pm.ver = t.Inc, t.Ver
		var fs []string
		for _, e := range t.Members {
			want[memberKey{e.Client, e.Filter}] = e
			if _, topic := topics.ParseShared(e.Filter); topic != "" && !slices.Contains(fs, topic) {
				fs = append(fs, topic)
			}
		}
		g.fmu.Lock()
		g.filters[peer] = fs
		g.fmu.Unlock()
	}
	for k, sub := range pm.subs {
		if e, ok := want[k]; !ok || e.Account != sub.Account {
			n.srv.RemoveRemoteMember(sub)
			delete(pm.subs, k)
		}
	}
	online := map[string]bool{}
	for k, e := range want {
		online[k.client] = online[k.client] || e.Online
		if pm.subs[k] != nil {
			continue
		}
		group, topic := topics.ParseShared(e.Filter)
		if group == "" || topic == "" {
			continue
		}
		rm := pm.clients[k.client]
		if rm == nil {
			rm = &remoteMember{n: n, node: peer, client: k.client}
			pm.clients[k.client] = rm
		}
		sub := &topics.Subscription{Subscriber: rm, Filter: e.Filter, Topic: topic, Group: group, QoS: 2, Account: e.Account}
		pm.subs[k] = sub
		n.srv.AddRemoteMember(sub)
	}
	for c, rm := range pm.clients {
		on, ok := online[c]
		if !ok {
			delete(pm.clients, c)
			continue
		}
		rm.online.Store(on)
	}
}

// forward flags.
const (
	fwdFinal   = 1 // the member's node must not forward it again
	fwdCounted = 2 // a count id and the publishing node follow (stored.go)
)

// fwdHead is what a forwarded message carries besides the message: the
// member (client id, shared filter, account), whether it is final, and,
// for a message whose publisher's acknowledgement waits for the nodes
// that store it (stored.go, count.go), its count id and the publishing
// node.
type fwdHead struct {
	final     bool
	client    string
	filter    string
	account   uint64
	countID   uint64
	countNode string
}

// forward sends m to node for client's shared filter. A counted message
// (its publisher's acknowledgement waits for the nodes that store it,
// stored.go) carries its count id. When this node passes on a message
// another node forwarded to it (final: the second hop, onForward), it
// also asks node to confirm that it stored it, and onForward adds the
// commit that resolves with that answer to this node's own answer.
func (n *Node) forward(node, client, filter string, account uint64, final bool, m *message.Message) {
	h := fwdHead{final: final, client: client, filter: filter, account: account}
	if n.store != nil {
		// The member's node stores it for an offline member: the
		// PUBACK waits for that as for any other node's deliveries.
		n.mu.Lock()
		h.countID = n.counting[m]
		n.mu.Unlock()
		if h.countID != 0 {
			h.countNode = n.cfg.NodeName
		}
	}
	bp, _ := n.bufPool.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b := appendForward((*bp)[:0], h, m)
	err := n.send("g."+node, b, false) // never waits (flow.go)
	if err != nil {
		n.log.Warn("cluster: forward to a shared-group member's node failed", "node", node, "client", client, "err", err)
	}
	if cap(b) <= 64<<10 {
		*bp = b
		n.bufPool.Put(bp)
	}
	if final && h.countID != 0 {
		c := n.askStored(node, h.countID, err)
		n.mu.Lock()
		n.relayed[h.countID] = c
		n.mu.Unlock()
	}
}

// askStored asks node whether it stored the message with count id id
// that this node sent it just before on the same connection (the count
// request of [Node.Stored], to node alone: "k.<node>"), and returns a
// commit that resolves with the answer. It fails when node could not
// store it, does not answer within commitTimeout (it is being lost), or
// the message was not sent (sent).
func (n *Node) askStored(node string, id uint64, sent error) *storage.Commit {
	c, resolve := storage.NewCommit()
	if sent != nil {
		resolve(fmt.Errorf("%w: not passed on to the member's node (%v)", storage.ErrWrite, sent))
		return c
	}
	ch := make(chan countAnswer, 1)
	n.mu.Lock()
	n.countWait[id] = ch
	lost := n.fo.lostCh
	n.mu.Unlock()
	req := binary.AppendUvarint(nil, id)
	if err := n.send("k."+node, append(req, n.cfg.NodeName...), false); err != nil {
		n.forgetCount(id)
		resolve(fmt.Errorf("%w: the member's node was not asked (%v)", storage.ErrWrite, err))
		return c
	}
	n.wg.Go(func() {
		defer n.forgetCount(id)
		t := time.NewTimer(commitTimeout)
		defer t.Stop()
		var err error
	wait:
		for {
			select {
			case a := <-ch:
				if a.n == failedAnswer {
					err = fmt.Errorf("%w: the member's node could not store it", storage.ErrWrite)
				}
				break wait
			case <-lost:
				n.mu.Lock()
				_, gone := n.fo.lost[node]
				lost = n.fo.lostCh
				n.mu.Unlock()
				if gone { // it never answers
					err = fmt.Errorf("%w: the member's node was lost before it confirmed it stored it", storage.ErrWrite)
					break wait
				}
				continue
			case <-t.C:
				err = fmt.Errorf("%w: the member's node did not confirm it stored it within %v", storage.ErrWrite, commitTimeout)
				break wait
			case <-n.closed:
				err = storage.ErrClosed
				break wait
			}
		}
		resolve(err)
	})
	return c
}

// onForward delivers a message another node picked one of this node's
// members for (inbox goroutine). What storing it for the member's
// persistent session committed is added to the publishing node's count,
// whose request comes after it on the same route. When the member has
// gone (it left or moved while the message travelled) and the message
// goes on to the member's new node ([broker.Server.DeliverShared]: at most
// once more), this node's answer also waits for that node's: the
// publisher's acknowledgement covers every hop.
func (n *Node) onForward(data []byte) {
	h, m, err := decodeForward(data)
	if err != nil {
		n.log.Warn("cluster: dropped a malformed forwarded message", "err", err)
		return
	}
	if f := n.forwardHook.Load(); f != nil {
		(*f)()
	}
	counted := h.countID != 0 && nodeName.MatchString(h.countNode)
	var relay uint64
	if counted && !h.final {
		relay = n.askedID(m) // forward finds it if m goes on; asked alone (askStored)
	}
	ok, commits := n.srv.DeliverSharedStored(m, h.client, h.filter, h.account, h.final)
	if !ok {
		n.log.Debug("cluster: a forwarded message found no member of its group", "client", h.client, "filter", h.filter)
	}
	if relay != 0 {
		n.mu.Lock()
		delete(n.counting, m)
		if c := n.relayed[relay]; c != nil {
			commits = append(commits, c)
			delete(n.relayed, relay)
		}
		n.mu.Unlock()
	}
	if counted {
		n.rememberMore(h.countNode, h.countID, commits) // count.go
	}
}

// appendForward encodes a message forwarded to a shared-group member:
// flags, the member's client id and filter, its account, the count id and
// publishing node when counted, the envelope.
func appendForward(b []byte, h fwdHead, m *message.Message) []byte {
	var fl byte
	if h.final {
		fl |= fwdFinal
	}
	if h.countID != 0 {
		fl |= fwdCounted
	}
	b = append(b, fl)
	b = appendString(b, h.client)
	b = appendString(b, h.filter)
	b = binary.AppendUvarint(b, h.account)
	if h.countID != 0 {
		b = binary.AppendUvarint(b, h.countID)
		b = appendString(b, h.countNode)
	}
	return appendEnvelope(b, m)
}

// decodeForward decodes what [appendForward] encodes.
func decodeForward(data []byte) (fwdHead, *message.Message, error) {
	var h fwdHead
	d := decoder{b: data}
	fl := d.byte()
	h.final = fl&fwdFinal != 0
	h.client = d.string()
	h.filter = d.string()
	h.account = d.uvarint()
	if fl&fwdCounted != 0 {
		h.countID = d.uvarint()
		h.countNode = d.string()
		if h.countID == 0 {
			d.err = true
		}
	}
	if d.err {
		return fwdHead{}, nil, errEnvelope
	}
	m, err := decodeEnvelope(d.b)
	if err != nil {
		return fwdHead{}, nil, err
	}
	return h, m, nil
}

// remoteMembers returns how many members of other nodes this node holds.
func (n *Node) remoteMembers() int {
	g := &n.grp
	g.pmu.Lock()
	defer g.pmu.Unlock()
	k := 0
	for _, pm := range g.peers {
		k += len(pm.subs)
	}
	return k
}

// remoteOnline reports whether this node sees client, a member on another
// node, online, and whether it knows the member at all.
func (n *Node) remoteOnline(client string) (online, known bool) {
	g := &n.grp
	g.pmu.Lock()
	defer g.pmu.Unlock()
	for _, pm := range g.peers {
		if rm := pm.clients[client]; rm != nil {
			return rm.Online(), true
		}
	}
	return false, false
}
