// Package cluster joins brokers into one MQTT service over an embedded
// NATS server per node (docs/cluster.md): NATS routes between the nodes
// carry subscription interest and messages, and control requests (client
// id claims, interest barriers) travel the same routes. It implements
// [broker.Bridge].
package cluster

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/broker/topics"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Config configures a node.
type Config struct {
	// NodeName names this node: letters, digits, '-' and '_', unique in
	// the cluster (it is a NATS subject token and the server name).
	NodeName string
	// Listen is the host:port other nodes connect their routes to; port 0
	// picks a free one ([Node.ClusterAddr] reports it).
	Listen string
	// Peers are other nodes' Listen addresses. Naming any live node is
	// enough: NATS tells the new node about the rest. A peer that is down
	// is retried for as long as the node runs.
	Peers []string
	// Secret, when set, authenticates the routes: a node accepts a route
	// only from a node with the same secret, and presents it on the
	// routes it makes (see [ValidSecret]). It is not encryption: routes
	// are plain TCP.
	Secret string
	// MaxPayload is the broker's largest payload; the NATS limits are
	// raised to carry it with its envelope (0: 1 MB).
	MaxPayload int
	// Logger receives the node's warnings (nil: slog.Default()).
	Logger *slog.Logger
	// Tokens, when set, is shared with the other nodes: tokens and
	// accounts created, changed or deleted on any node apply on every node
	// (tokens.go).
	Tokens Replica
	// JoinWarnAfter is how long a node given Peers may run without a
	// single route before it warns that it is alone (0: 5 s). Peers refuse
	// a node whose name is already in the cluster by closing its route,
	// and NATS tells the refused node nothing, so this warning is the only
	// sign it gets.
	JoinWarnAfter time.Duration
	// DataDir, when set, turns on JetStream with its files under this
	// directory (DataDir/jetstream): the node's replicated state
	// ([Node.Store], store.go). Empty: no JetStream, nothing replicated
	// beyond the retained broadcast.
	DataDir string
	// Replicas is how many nodes keep each replicated record (0: 3, or
	// fewer when the node was told of fewer peers: min(3, 1+len(Peers))).
	Replicas int
	// SyncAlways makes JetStream fsync every write (--fsync always);
	// otherwise it syncs every 2 minutes and relies on the replicas.
	SyncAlways bool

	// For tests (flow_test.go): the inbox's length (0: inboxLen), and a
	// function the inbox goroutine runs before each message.
	inboxLen int
	onHandle func(*Node)
}

// nodeName is what a node name may be.
var nodeName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Tuning, each with why.
const (
	// inboxLen is the channel between the NATS client and the goroutine
	// that routes other nodes' messages: NATS drops (and reports) what
	// does not fit, so the senders' windows (flow.go) are sized to fit it.
	inboxLen = 1 << 16
	// syncTimeout bounds how long SUBACK waits for the peers to confirm
	// new interest: a peer that does not answer is being lost anyway.
	syncTimeout = 2 * time.Second
	// claimTimeout bounds how long CONNECT waits for the peers' answers
	// to a claim: as long as a local takeover waits for the old
	// connection.
	claimTimeout = 5 * time.Second
	// envelopeRoom is what an envelope adds to a payload at most, for the
	// NATS payload limit: a 65,535-byte topic and client id, properties.
	envelopeRoom = 1 << 20
)

// Node is one broker's membership in a cluster.
type Node struct {
	cfg   Config
	log   *slog.Logger
	srv   *broker.Server
	ns    *server.Server
	nc    *nats.Conn
	queue string // the queue group all this node's data subscriptions share

	inbox  chan *nats.Msg
	wake   chan struct{}
	closed chan struct{}
	wg     sync.WaitGroup

	mu     sync.Mutex // guards below; taken under the topic index's lock (Interest)
	refs   map[string]int
	dirty  map[string]struct{}
	rounds // interest changes and the peers' confirmations of them
	claims map[string]*claim
	ready  map[string]bool // peers that answered a ping: they know our interest and we theirs
	// count_subscribers (count.go): ids of this node's counted messages,
	// the answers awaited, and (inbox goroutine only) other nodes' counts.
	countSeq  uint64
	counting  map[*message.Message]uint64
	countWait map[uint64]chan countAnswer
	counted   map[countKey]routed
	relayed   map[uint64]*storage.Commit // a passed-on forward's confirmation, by its count id (groups.go)
	unconf    map[string]*unconfirmed    // stored.go, inbox goroutine only
	conf      confirmer                  // stored.go
	waiting   map[uint64]chan struct{}
	claimSeq  uint64

	subs map[string]*nats.Subscription // the interest loop's own

	grp         groupState    // shared groups across nodes (groups.go)
	tokensReady chan struct{} // closed once the tokens were taken from a peer (tokens.go)
	store       *Store        // the replicated store (store.go), nil without DataDir
	fo          failover      // lost members (failover.go), under mu
	// Sessions being adopted here, and other nodes' recent claims (take.go), under mu.
	adopting  map[string]*adoption
	claimedAt map[string]claimSeen
	// For tests (take_test.go): adopt a lost node's sessions whatever
	// this node's name, as two survivors that disagree on who is the
	// smallest would.
	adoptAlways atomic.Bool
	adoptRead   atomic.Pointer[func()] // runs after the adoption read the lost node's sessions
	forwardHook atomic.Pointer[func()] // runs before a forwarded message is delivered (heldshare_test.go)

	dropped  atomic.Int64  // messages NATS could not hand to the inbox
	flow     flow          // flow control to the other nodes' inboxes (flow.go)
	caughtUp chan struct{} // closed once the retained catch-up ended
	bufPool  sync.Pool
}

// claim is a CONNECT of this node from its claim until its session is
// attached: a later claim from another node in that time marks it lost.
type claim struct {
	at        int64
	lost      bool
	lostClean bool // the winning claim's clean start, for the eviction
}

// claimMsg is a claim on the wire (JSON: claims are per CONNECT, rare
// next to messages).
type claimMsg struct {
	ID    string `json:"id"`
	Node  string `json:"node"`
	At    int64  `json:"at"`
	Clean bool   `json:"clean"`
	Seq   uint64 `json:"seq"`
}

// Start starts this node's NATS server and joins s to the cluster. Call
// it before s serves; call [Node.Close] after s has shut down. It is
// [Open] then [Node.Join].
func Start(s *broker.Server, cfg Config) (*Node, error) {
	n, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	if err := n.Join(s); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// Open starts this node's NATS server (and JetStream, with
// Config.DataDir) without a broker yet: [Node.Store] is then available for
// the broker's Options.Store, and [Node.Join] joins the broker made with
// it.
func Open(cfg Config) (*Node, error) {
	if !nodeName.MatchString(cfg.NodeName) {
		return nil, fmt.Errorf("cluster: node name %q: use 1 to 64 letters, digits, '-' or '_'", cfg.NodeName)
	}
	host, port, err := splitAddr(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("cluster: listen address %q: %w", cfg.Listen, err)
	}
	if err := ValidSecret(cfg.Secret); err != nil {
		return nil, fmt.Errorf("cluster: secret: %w", err)
	}
	var routes []*url.URL
	for _, p := range cfg.Peers {
		if _, _, err := splitAddr(p); err != nil {
			return nil, fmt.Errorf("cluster: peer %q: %w", p, err)
		}
		u := &url.URL{Scheme: "nats", Host: p}
		if cfg.Secret != "" {
			u.User = url.UserPassword(routeUserName, cfg.Secret)
		}
		routes = append(routes, u)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// A live member with this node's name refuses it without a word:
	// find out before serving (dupname.go).
	up, err := probePeers(cfg)
	if err != nil {
		return nil, err
	}
	maxPayload := max(cfg.MaxPayload, 1<<20) + envelopeRoom
	var tb [24]byte
	rand.Read(tb[:])
	token := hex.EncodeToString(tb[:])
	o := &server.Options{
		ServerName: cfg.NodeName,
		// The broker talks to its NATS server in-process. NATS starts
		// routing only once its client listener is up, so one listens on
		// a free loopback port, closed to anyone without this process's
		// random token.
		Host:          "127.0.0.1",
		Port:          -1,
		Authorization: token,
		NoSigs:        true,
		Cluster: server.ClusterOpts{
			Name: "mqttboard",
			Host: host,
			Port: port,
			// One route per pair of nodes: every message and interest
			// change between two nodes travels one TCP connection in
			// order, which the per-topic order and the interest barrier
			// rely on.
			PoolSize: -1,
			// With a secret, NATS refuses a route whose CONNECT lacks
			// it, and presents it on the routes it learns by gossip.
			Username: routeUser(cfg.Secret),
			Password: cfg.Secret,
		},
		Routes:         routes,
		MaxPayload:     int32(min(maxPayload, 1<<30)),
		MaxPending:     int64(max(maxPayload, 64<<20)),
		MaxControlLine: 1 << 20, // subjects of long (escaped) topics
	}
	if cfg.DataDir != "" {
		o.JetStream = true
		o.StoreDir = cfg.DataDir // NATS keeps its files in StoreDir/jetstream
		o.SyncAlways = cfg.SyncAlways
	}
	ns, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	ns.SetLogger(natsLogger{cfg.Logger}, false, false)
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("cluster: the NATS server did not start on %s (is the address in use?)", cfg.Listen)
	}
	n := &Node{
		cfg: cfg, log: cfg.Logger, ns: ns,
		queue:  "n." + cfg.NodeName,
		inbox:  make(chan *nats.Msg, cmp.Or(cfg.inboxLen, inboxLen)),
		wake:   make(chan struct{}, 1),
		closed: make(chan struct{}),
		refs:   make(map[string]int),
		dirty:  make(map[string]struct{}),
		rounds: rounds{round: make(chan struct{})},
		claims: make(map[string]*claim),
		ready:  make(map[string]bool),

		counting:  make(map[*message.Message]uint64),
		countWait: make(map[uint64]chan countAnswer),
		counted:   make(map[countKey]routed),
		relayed:   make(map[uint64]*storage.Commit),
		waiting:   make(map[uint64]chan struct{}),
		subs:      make(map[string]*nats.Subscription),

		caughtUp: make(chan struct{}),
		fo:       failover{lostCh: make(chan struct{})},
	}
	n.grp.init()
	n.initFlow(cap(n.inbox))
	n.nc, err = nats.Connect("", nats.InProcessServer(ns), nats.Token(token), nats.NoEcho(), nats.Name(cfg.NodeName),
		nats.MaxReconnects(-1), nats.ErrorHandler(n.natsError))
	if err != nil {
		ns.Shutdown()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if err := n.checkName(up); err != nil {
		n.nc.Close()
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, err
	}
	return n, nil
}

// SetTokens sets Config.Tokens of a node made by [Open], before [Node.Join].
func (n *Node) SetTokens(r Replica) { n.cfg.Tokens = r }

// Join joins s to the cluster: the node starts serving the other nodes'
// messages, claims and requests for s. Call it once, before s serves.
func (n *Node) Join(s *broker.Server) error {
	n.srv = s
	if err := errors.Join(n.subscribeControl(), n.subscribeFlow(), n.subscribeGroups(), n.startTokens()); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	s.SetBridge(n)
	if len(n.cfg.Peers) > 0 {
		n.wg.Go(n.watchJoin)
	}
	n.wg.Go(n.receive)
	n.wg.Go(n.interestLoop)
	n.wg.Go(n.groupsLoop)
	if n.store != nil {
		n.wg.Go(n.watchPeers) // failover.go
		// The retained messages came from the replicated store, which is
		// newer than any peer's copy and has every deletion.
		close(n.caughtUp)
	} else {
		n.wg.Go(n.catchUp)
	}
	return nil
}

// watchJoin warns once if the node has joined no peer JoinWarnAfter
// after its start: a peer that is down is retried quietly, and a node
// whose name is taken is refused without a word to it, so without this
// warning it would serve alone, its clients cut off from the cluster.
func (n *Node) watchJoin() {
	after := n.cfg.JoinWarnAfter
	if after <= 0 {
		after = 5 * time.Second
	}
	deadline := time.NewTimer(after)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-n.closed:
			return
		case <-tick.C:
			if n.ns.NumRoutes() > 0 {
				return
			}
		case <-deadline.C:
			if n.ns.NumRoutes() == 0 {
				n.log.Warn(fmt.Sprintf("cluster: node %q has joined none of its peers (%s) after %v: this node serves alone until one answers; check that a peer runs at that address, that every node has the same --cluster-secret (or none has one), and that no other node is already named %q (each node needs its own --node-name; a peer refuses a duplicate)",
					n.cfg.NodeName, strings.Join(n.cfg.Peers, ", "), after, n.cfg.NodeName))
			}
			return
		}
	}
}

// splitAddr parses host:port; port 0 becomes NATS's "any free port".
func splitAddr(a string) (string, int, error) {
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, errors.New("the port is 0 (any free one) to 65535")
	}
	if port == 0 {
		port = -1
	}
	if h == "" {
		h = "0.0.0.0"
	}
	return h, port, nil
}

func (n *Node) subscribeControl() error {
	// Every node's retained messages and wildcard deletions reach every
	// node, through the same inbox as messages so their order holds.
	for _, subj := range []string{"r.>", "d", "k", "k." + n.cfg.NodeName} {
		if _, err := n.nc.ChanQueueSubscribe(subj, n.queue, n.inbox); err != nil {
			return err
		}
	}
	if _, err := n.nc.Subscribe("c.ping."+n.cfg.NodeName, n.onPing); err != nil { // failover.go
		return err
	}
	if _, err := n.nc.Subscribe("c.name."+n.cfg.NodeName, n.onName); err != nil { // dupname.go
		return err
	}
	if _, err := n.nc.Subscribe("c.claim", n.onClaim); err != nil {
		return err
	}
	if _, err := n.nc.Subscribe("c.ack."+n.cfg.NodeName, n.onClaimAck); err != nil {
		return err
	}
	if _, err := n.nc.Subscribe("c.dump."+n.cfg.NodeName, n.onDump); err != nil {
		return err
	}
	if _, err := n.nc.Subscribe("c.cnt."+n.cfg.NodeName, n.onCount); err != nil {
		return err
	}
	return n.nc.Flush()
}

// ClusterAddr returns the address the node accepts routes on.
func (n *Node) ClusterAddr() net.Addr { return n.ns.ClusterAddr() }

// Name returns the node's name.
func (n *Node) Name() string { return n.cfg.NodeName }

// Dropped returns how many messages from other nodes were dropped because
// this node could not route them as fast as they came.
func (n *Node) Dropped() int64 { return n.dropped.Load() }

// Close leaves the cluster: the routes close and the other nodes forget
// this node's interest. Call it after the broker has shut down, so its
// last messages (wills) still reach the other nodes.
func (n *Node) Close() error {
	select {
	case <-n.closed:
		return nil
	default:
	}
	n.nc.Flush()
	close(n.closed)
	if n.store != nil {
		n.store.Close()
	}
	n.nc.Close()
	n.wg.Wait()
	n.ns.Shutdown()
	n.ns.WaitForShutdown()
	return nil
}

// Members implements [broker.Bridge]: this node, then the nodes it has a
// route to, sorted.
func (n *Node) Members() []string {
	return append([]string{n.cfg.NodeName}, n.peers()...)
}

// peers returns the names of the nodes this node has routes to, sorted.
func (n *Node) peers() []string {
	rz, err := n.ns.Routez(nil)
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range rz.Routes {
		if r.RemoteName != "" && !slices.Contains(out, r.RemoteName) {
			out = append(out, r.RemoteName)
		}
	}
	slices.Sort(out)
	return out
}

// Publish implements [broker.Bridge]. $SYS topics stay on their node: each
// node's counters are its own.
func (n *Node) Publish(m *message.Message) {
	if strings.HasPrefix(m.Topic, "$SYS/") {
		return
	}
	prefix := "m."
	if m.Retain {
		prefix = "r." // every node keeps every retained message
	}
	bp, _ := n.bufPool.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	var b []byte
	if wantsCount(m) || (n.store != nil && m.QoS > 0) { // count.go, stored.go
		b = appendCounted((*bp)[:0], m, n.countID(m), n.cfg.NodeName)
	} else {
		b = appendEnvelope((*bp)[:0], m)
	}
	// The NATS client copies b into its write buffer before returning.
	// send waits while a peer's inbox has no room (flow.go).
	if err := n.send(subject(prefix, m.Topic), b, true); err != nil {
		n.log.Warn("cluster: publish to the other nodes failed", "topic", m.Topic, "err", err)
	}
	if cap(b) <= 64<<10 {
		*bp = b
		n.bufPool.Put(bp)
	}
}

// DeleteRetained implements [broker.Bridge].
func (n *Node) DeleteRetained(filter string, account uint64) {
	b := binary.BigEndian.AppendUint64(nil, account)
	if err := n.send("d", append(b, filter...), false); err != nil {
		n.log.Warn("cluster: wildcard deletion not sent to the other nodes", "filter", filter, "err", err)
	}
}

// receive routes what other nodes send, in the order it arrives.
func (n *Node) receive() {
	for {
		select {
		case <-n.closed:
			return
		case m := <-n.inbox:
			n.handle(m)
		}
	}
}

func (n *Node) handle(nm *nats.Msg) {
	if n.cfg.onHandle != nil {
		n.cfg.onHandle(n)
	}
	if len(nm.Subject) > 2 && nm.Subject[:2] == "g." {
		n.onForward(nm.Data) // groups.go
		return
	}
	if nm.Subject == "f" {
		n.onMarker(nm.Data) // flow.go
		return
	}
	if nm.Subject == "k" || strings.HasPrefix(nm.Subject, "k.") { // count.go; k.<this node>: groups.go
		n.answerCount(nm.Data)
		return
	}
	if nm.Subject == "d" {
		if len(nm.Data) < 8 {
			return
		}
		n.srv.DeleteRetainedLocal(string(nm.Data[8:]), binary.BigEndian.Uint64(nm.Data))
		return
	}
	m, countID, node, err := decodeCounted(nm.Data)
	if err != nil {
		n.log.Warn("cluster: dropped a malformed message from another node", "subject", nm.Subject, "err", err)
		return
	}
	if countID == 0 {
		n.srv.RouteRemote(m)
		return
	}
	d, commits := n.srv.RouteRemoteStored(m)
	n.remember(node, countID, d, commits)
}

func (n *Node) natsError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrSlowConsumer) {
		if p, _, e := sub.Pending(); e == nil && p == 0 {
			return
		}
		n.dropped.Add(1)
		n.log.Warn("cluster: messages from other nodes dropped: this node routes them slower than they arrive")
		return
	}
	n.log.Warn("cluster: NATS client", "err", err)
}

// Interest implements [broker.Bridge]. Shared-group members announce no
// NATS interest: the publishing node picks the member and forwards the
// message to its node (groups.go).
func (n *Node) Interest(sub *topics.Subscription, added bool) {
	if sub.Group != "" {
		n.localMember(sub, added)
		return
	}
	d := -1
	if added {
		d = 1
	}
	n.mu.Lock()
	for _, subj := range filterSubjects("m.", sub.Topic) {
		old := n.refs[subj]
		n.refs[subj] = old + d
		if old+d == 0 {
			delete(n.refs, subj)
		}
		if (old == 0) != (old+d == 0) {
			n.dirty[subj] = struct{}{}
			n.gen++
		}
	}
	n.mu.Unlock()
	n.kick()
}

func (n *Node) kick() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// SyncInterest implements [broker.Bridge].
func (n *Node) SyncInterest() {
	n.syncGroupsWait() // groups.go
	if !n.rounds.await(&n.mu, n.kick, n.closed) {
		n.log.Warn("cluster: a peer did not confirm a new subscription in time", "timeout", syncTimeout)
	}
}

// rounds counts changes that every peer must confirm, and the rounds that
// send them (interest here, shared-group members in groups.go). Its owner's
// mutex guards it.
type rounds struct {
	gen    uint64        // changes so far
	synced uint64        // changes every peer has confirmed
	round  chan struct{} // closed when the next round ends
}

// await returns once every peer has confirmed the changes made before it
// was called, kicking the owner's loop into new rounds: a round that began
// before those changes ends without them. It takes mu, which guards r. It
// is false when syncTimeout passed first; true too when closed is.
func (r *rounds) await(mu *sync.Mutex, kick func(), closed <-chan struct{}) bool {
	t := time.NewTimer(syncTimeout)
	defer t.Stop()
	mu.Lock()
	want := r.gen
	for r.synced < want {
		round := r.round
		mu.Unlock()
		kick()
		select {
		case <-round:
		case <-t.C:
			return false
		case <-closed:
			return true
		}
		mu.Lock()
	}
	mu.Unlock()
	return true
}

// interestLoop applies interest changes to NATS and, after each batch,
// makes sure every peer has them: NATS sends a subscription to a peer on
// the route before anything sent after it, and the peer handles route
// traffic in order, so its answer to a ping sent after the SUB means it
// knows the interest.
func (n *Node) interestLoop() {
	for {
		select {
		case <-n.closed:
			return
		case <-n.wake:
		}
		n.mu.Lock()
		gen := n.gen
		if gen == n.synced {
			done := n.round // wake whoever waits: nothing was pending
			n.round = make(chan struct{})
			n.mu.Unlock()
			close(done)
			continue
		}
		dirty := n.dirty
		n.dirty = make(map[string]struct{})
		want := make(map[string]bool, len(dirty))
		for subj := range dirty {
			want[subj] = n.refs[subj] > 0
		}
		done := n.round
		n.round = make(chan struct{})
		n.mu.Unlock()
		for subj, w := range want {
			s := n.subs[subj]
			switch {
			case w && s == nil:
				s, err := n.nc.ChanQueueSubscribe(subj, n.queue, n.inbox)
				if err != nil {
					n.log.Warn("cluster: subscribe", "subject", subj, "err", err)
					continue
				}
				n.subs[subj] = s
			case !w && s != nil:
				s.Unsubscribe()
				delete(n.subs, subj)
			}
		}
		n.pingPeers()
		n.mu.Lock()
		n.synced = max(n.synced, gen)
		n.mu.Unlock()
		close(done)
	}
}

// readyPeers returns the peers this node has a route to and that have
// answered a ping since: a route is listed as soon as it connects, but
// the two nodes' subscriptions cross it just after, and until then a
// claim or a ping would not reach the peer (or its answer not come back).
func (n *Node) readyPeers() []string {
	peers := n.peers()
	n.mu.Lock()
	for p := range n.ready {
		if !slices.Contains(peers, p) {
			delete(n.ready, p) // gone: when it comes back it must answer again
		}
	}
	var unknown []string
	for _, p := range peers {
		if !n.ready[p] {
			unknown = append(unknown, p)
		}
	}
	n.mu.Unlock()
	for _, p := range unknown {
		// Without the peer's interest known yet, NATS answers "no
		// responders" at once: this costs a round trip only once per peer.
		if _, err := n.nc.Request("c.ping."+p, n.pingData(), 200*time.Millisecond); err == nil {
			n.mu.Lock()
			n.ready[p] = true
			n.mu.Unlock()
		}
	}
	n.mu.Lock()
	n.noteMembers(peers) // failover.go
	peers = slices.DeleteFunc(peers, func(p string) bool { return !n.ready[p] })
	n.mu.Unlock()
	n.flowPeers(peers) // flow.go
	return peers
}

// pingData is what an interest barrier's ping carries: "i" and this
// node's name, so the peer keeps a copy of this node's interest for when
// it is lost (failover.go).
func (n *Node) pingData() []byte { return []byte("i" + n.cfg.NodeName) }

// pingPeers returns once every peer answered a ping (or syncTimeout).
func (n *Node) pingPeers() {
	var wg sync.WaitGroup
	for _, p := range n.readyPeers() {
		wg.Go(func() {
			if _, err := n.nc.Request("c.ping."+p, n.pingData(), syncTimeout); err != nil {
				n.log.Debug("cluster: ping", "peer", p, "err", err)
			}
		})
	}
	wg.Wait()
}

// Claim implements [broker.Bridge].
func (n *Node) Claim(clientID string, cleanStart bool) (release func(), err error) {
	peers := n.readyPeers()
	if len(peers) == 0 {
		return func() {}, nil
	}
	c := &claim{at: time.Now().UnixNano()}
	ack := make(chan struct{}, len(peers))
	n.mu.Lock()
	n.claimSeq++
	seq := n.claimSeq
	n.claims[clientID] = c
	n.waiting[seq] = ack
	n.mu.Unlock()
	// release forgets the claim once the session is attached; a later
	// claim that came meanwhile found no session to evict, so the
	// eviction happens now (in its own goroutine: the caller is the new
	// connection's own loop, which Evict waits for).
	release = func() {
		n.mu.Lock()
		if n.claims[clientID] == c {
			delete(n.claims, clientID)
		}
		lost, clean := c.lost, c.lostClean
		n.mu.Unlock()
		if lost {
			n.wg.Go(func() { n.srv.Evict(clientID, clean) })
		}
	}
	defer func() {
		n.mu.Lock()
		delete(n.waiting, seq)
		n.mu.Unlock()
		if err != nil {
			release = nil
			n.mu.Lock()
			if n.claims[clientID] == c {
				delete(n.claims, clientID)
			}
			n.mu.Unlock()
		}
	}()
	b, _ := json.Marshal(claimMsg{ID: clientID, Node: n.cfg.NodeName, At: c.at, Clean: cleanStart, Seq: seq})
	if err := n.nc.Publish("c.claim", b); err != nil {
		return nil, err
	}
	t := time.NewTimer(claimTimeout)
	defer t.Stop()
wait:
	for range peers {
		select {
		case <-ack:
		case <-t.C:
			n.log.Warn("cluster: not every node answered a client id claim", "client", clientID, "timeout", claimTimeout)
			break wait // the nodes that did not answer are being lost
		case <-n.closed:
			break wait
		}
	}
	n.mu.Lock()
	lost := c.lost
	n.mu.Unlock()
	if lost {
		return nil, errors.New("claimed at the same time on another node")
	}
	return release, nil
}

// onClaim handles another node's claim: a later claim wins (ties: the
// greater node name), so two CONNECTs racing on two nodes leave one.
func (n *Node) onClaim(m *nats.Msg) {
	var c claimMsg
	if json.Unmarshal(m.Data, &c) != nil || c.Node == n.cfg.NodeName || !nodeName.MatchString(c.Node) {
		return
	}
	n.mu.Lock()
	mine := n.claims[c.ID]
	keep := mine != nil && (mine.at > c.At || (mine.at == c.At && n.cfg.NodeName > c.Node))
	if mine != nil && !keep {
		mine.lost, mine.lostClean = true, c.Clean
	}
	var adopting *adoption
	if n.store != nil && !keep {
		adopting = n.noteClaim(c.ID, c.Node, c.Clean) // take.go
	}
	n.mu.Unlock()
	reply := func() {
		n.nc.Publish("c.ack."+c.Node, strconv.AppendUint(nil, c.Seq, 10))
	}
	if keep {
		reply()
		return
	}
	n.wg.Go(func() {
		if adopting != nil {
			<-adopting.done // evict the adopted copy, not nothing
		}
		n.srv.Evict(c.ID, c.Clean)
		reply()
	})
}

func (n *Node) onClaimAck(m *nats.Msg) {
	seq, err := strconv.ParseUint(string(m.Data), 10, 64)
	if err != nil {
		return
	}
	n.mu.Lock()
	ch := n.waiting[seq]
	n.mu.Unlock()
	if ch != nil {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// natsLogger sends the NATS server's log to the broker's: warnings and
// errors as such, its notices (routes made and lost) at debug level.
type natsLogger struct{ l *slog.Logger }

func (g natsLogger) Noticef(f string, v ...any) { g.l.Debug("cluster: " + fmt.Sprintf(f, v...)) }
func (g natsLogger) Warnf(f string, v ...any) {
	msg := fmt.Sprintf(f, v...)
	if strings.HasPrefix(msg, "Maximum payloads over") || strings.HasPrefix(msg, "Metalayer blocking snapshot") {
		// The broker's 60 MB payload limit needs NATS's raised: known.
		// JetStream's routine snapshots of its metadata are no warning
		// to the operator.
		g.l.Debug("cluster: " + msg)
		return
	}
	g.l.Warn("cluster: " + msg)
}
func (g natsLogger) Fatalf(f string, v ...any) { g.l.Error("cluster: " + fmt.Sprintf(f, v...)) }
func (g natsLogger) Errorf(f string, v ...any) {
	msg := fmt.Sprintf(f, v...)
	if strings.Contains(msg, "Remote server has a duplicate name") {
		// NATS logs this each time the refused node retries; say what
		// it means for the operator.
		msg += " (a node tried to join with a name this cluster already has and was refused: give each node its own --node-name)"
	}
	if strings.Contains(msg, "rid:") && strings.Contains(msg, "authentication error") {
		msg += " (a node without this cluster's --cluster-secret, or with another one, tried to join and was refused)"
	}
	if strings.Contains(msg, "Authorization Violation") {
		msg += " (a peer refused this node's route: every node needs the same --cluster-secret)"
	}
	g.l.Error("cluster: " + msg)
}
func (g natsLogger) Debugf(f string, v ...any) {}
func (g natsLogger) Tracef(f string, v ...any) {}
