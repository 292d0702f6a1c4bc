package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// The replicated store (docs/cluster.md, "Replicated state"): one
// JetStream stream, file storage under the node's data directory,
// replicated on min(3, cluster size) nodes, keeping the last message of
// each subject (max_msgs_per_subject 1), so the stream is a replicated
// key-value map. The subjects:
//
//	x.<client id>.s         a session record (header Mb-Owner: the node that wrote it)
//	x.<client id>.q.<seq>   a queued or in-flight message of that session
//	x.<client id>.i.<id>    an inbound QoS 2 packet id awaiting PUBREL
//	t.<key>                 a retained message (key: storage's topic key)
//	v.<space>.<key>         the opaque keyspace (tokens, accounts)
//	b.<nonce>               read barriers
//
// Each name is one subject token, escaped as MQTT levels are (subject.go).
// A deletion replaces the value with an empty tombstone (header Mb-Del)
// that expires after tombstoneTTL; a session's deletion purges x.<id>.>.
//
// Writes go in Apply order through one writer goroutine, which gathers
// the batches applied while earlier ones are on their way into a group
// and publishes each group as one JetStream atomic batch (ADR-50: the
// messages go out as plain publishes carrying Nats-Batch-Id and
// Nats-Batch-Sequence, the last one with Nats-Batch-Commit, and only that
// one is acknowledged): the stream leader proposes the group as one raft
// append and the replicas apply all of it or none of it, so a batch is
// atomic across the crash of its writer. Up to maxInflight groups are
// published before the first is acknowledged. A group drops what cancels
// out inside it: a new queued message (the first record of its seq) and
// its deletion never reach the stream, as in the embedded store, and a
// subject written twice is written once with its last value. A Commit
// resolves when JetStream acknowledged the group holding the end of its
// batch (and every group before it), which it does once a quorum of the
// stream's replicas stored the group. Without a quorum (a partitioned
// minority, two of three nodes down) the publishes fail or time out and
// the Commit fails with storage.ErrWrite: the broker then answers 0x97
// instead of acknowledging what would not survive.
//
// Reads publish a barrier message first and read the stream, in order, up
// to it: whichever replica answers, it has everything acknowledged before
// the read began.

const (
	streamName = "MQTTBOARD"
	// tombstoneTTL is how long a deletion marker stays: it only has to
	// outlive the value it replaced on every replica, which happens when
	// it is stored.
	tombstoneTTL = 30 * time.Second
	// commitTimeout bounds how long a write waits for JetStream's
	// acknowledgement: longer than a leader election (~0.3 s in the spike),
	// short enough that a publisher in a minority hears 0x97 in seconds.
	commitTimeout = 5 * time.Second
	// readTimeout bounds a read of the replicated state: a replica that
	// catches up (a node that restarts) may take a while to reach the
	// barrier.
	readTimeout = time.Minute
	// readStall is how long an attempt of a read may receive nothing
	// before the read starts over (read): longer than a raft election
	// (4 to 9 s in NATS), so a healthy read is not abandoned while the
	// stream elects a leader.
	readStall = 10 * time.Second
	// readAsk bounds one request of a read (its barrier, its consumer):
	// a request sent while the stream or JetStream's meta group has no
	// leader (a node was just lost) is answered by nobody, so it is sent
	// again after readAsk, and the read goes on as soon as a leader is
	// elected instead of readStall later.
	readAsk = time.Second
	// barrierTTL is how long a read barrier stays in the stream: longer
	// than a read may take, or a lagging replica would never see it.
	barrierTTL = 2 * readTimeout
	// applyQueue is the number of batches waiting for the writer: Apply
	// blocks beyond (back-pressure, like the embedded store's queue).
	applyQueue = 4096
	// maxInflight bounds the groups published and not acknowledged yet:
	// while that many are out, the writer gathers the next group, so that
	// under load groups grow (fewer raft appends per operation, more
	// deliveries acknowledged before they were written). JetStream allows
	// 50 open atomic batches per stream.
	maxInflight = 4
	// lazyDelay is how long a group of acknowledged deliveries' deletions
	// alone may wait for other writes before it is published (write):
	// nothing waits for such a deletion, and riding with the next
	// message's record saves a raft round per delivery at low rates
	// (and lets more deletions cancel their puts under load). A crash
	// within it delivers those messages again (DUP): at least once.
	lazyDelay = 20 * time.Millisecond
	// maxGroupMsgs and maxGroupBytes end a group: JetStream's largest
	// atomic batch is 1,000 messages, and a raft append of more than a
	// few megabytes delays every replica's heartbeat.
	maxGroupMsgs  = 1000
	maxGroupBytes = 4 << 20
	hdrOwner      = "Mb-Owner"
	hdrDel        = "Mb-Del"
	hdrBatchID    = "Nats-Batch-Id"
	hdrBatchSeq   = "Nats-Batch-Sequence"
	hdrBatchEnd   = "Nats-Batch-Commit"
)

// Store is the cluster's replicated [storage.Shared] (see above). Get it
// from [Node.Store].
type Store struct {
	node     string
	log      *slog.Logger
	replicas int // of the stream, when this node found or made it
	js       jetstream.JetStream
	st       jetstream.Stream

	nc       *nats.Conn
	mu       sync.Mutex // orders Apply; guards closed
	closed   bool
	in       chan *job
	out      chan *group
	done     chan struct{}
	inflight chan struct{} // a token per group published and not resolved yet
	purged   chan struct{} // resolveLoop's answer to a purge barrier
	resolved atomic.Uint64 // groups answered, in order (resolveLoop)

	// The writer's own: the number of groups published (the pending one
	// gets gno+1), the last group that wrote each session prefix, and
	// the bound of the entries pruned from it (purgeNeeded).
	gno      uint64
	touched  map[string]uint64
	prunedTo uint64

	cacheMu sync.Mutex
	queues  map[string][]storage.Message // read by Sessions/Session, taken by Messages
	recSeq  map[string]uint64            // the session record's stream sequence as read (take.go)

	stats storeStats
}

// storeStats counts what the writer did (for tests and measurements).
type storeStats struct {
	groups, published, applied atomic.Int64
	purges, purgesSkipped      atomic.Int64
	ackWait                    atomic.Int64 // ns from publishing to the answer, summed over groups
}

var _ storage.Shared = (*Store)(nil)

// job is one applied batch on its way through the writer and resolver.
type job struct {
	msgs    []*nats.Msg
	kinds   []msgKind
	purges  []int // indexes into msgs before which x.<id>.> is purged: purgeSubj
	purgeOf []string
	// skipBelow[i], when not 0, lets the writer leave purge i out: the
	// stream held nothing of the session once the first skipBelow[i]-1
	// groups were answered (Apply asked), so the purge is needed only if
	// a later group wrote the session.
	skipBelow []uint64
	err       error // the first failure of a group holding part of it
	resolve   func(error)
	// lazy: the batch only deletes queued messages (acknowledged
	// deliveries), which nobody waits for (lazyDelay).
	lazy bool
}

// msgKind tells the writer what may cancel a message inside a group.
type msgKind byte

const (
	kindPut   msgKind = iota // replaces whatever the subject held
	kindFresh                // a new queued message: nothing of its subject is stored yet
	kindTomb                 // a deletion marker
)

// group is what the writer publishes as one atomic batch.
type group struct {
	msgs  []*nats.Msg // nil where a later message of the group cancelled it
	live  int         // non-nil msgs
	bytes int
	// last indexes the group's message of each subject; fresh says that
	// nothing of the subject was stored before the group (its first
	// message was a kindFresh put), so a deletion cancels it entirely.
	last map[string]slot
	// jobs holds part of the group (its failure fails them); ends are the
	// jobs whose last part it holds (they resolve with it).
	jobs []*job
	ends []*job
	fut  jetstream.PubAckFuture
	err  error
	sent time.Time
	no   uint64 // its place among the published groups (1, 2, ...)
	// purge, when set, is not published: the writer asks resolveLoop to
	// tell it when every group before this marker resolved.
	purge bool
	// eager: a job of the group is not lazy (it is published as soon as
	// fewer than maxInflight groups are out); lazy: a group of lazy jobs
	// only has its lazyDelay running.
	eager, lazy bool
}

type slot struct {
	i     int
	fresh bool
}

func (g *group) empty() bool { return len(g.jobs) == 0 && !g.purge }

func (g *group) full() bool { return g.live >= maxGroupMsgs || g.bytes >= maxGroupBytes }

// add puts m into the group, cancelling what it supersedes.
func (g *group) add(m *nats.Msg, k msgKind) {
	if g.last == nil {
		g.last = make(map[string]slot)
	}
	prev, had := g.last[m.Subject]
	if had {
		g.drop(prev.i)
		if k == kindTomb && prev.fresh {
			delete(g.last, m.Subject) // never stored: nothing to delete
			return
		}
	}
	g.last[m.Subject] = slot{i: len(g.msgs), fresh: (had && prev.fresh) || (!had && k == kindFresh)}
	g.msgs = append(g.msgs, m)
	g.live++
	g.bytes += len(m.Subject) + len(m.Data) + 64
}

func (g *group) drop(i int) {
	m := g.msgs[i]
	g.msgs[i] = nil
	g.live--
	g.bytes -= len(m.Subject) + len(m.Data) + 64
}

// Store returns the node's replicated store, made on first call: it waits
// (within ctx) until JetStream has a quorum and the stream exists. It
// needs Config.DataDir. The broker made with it owns it ([storage.Store]
// Close); the node closes it too when it closes.
func (n *Node) Store(ctx context.Context) (*Store, error) {
	if n.cfg.DataDir == "" {
		return nil, errors.New("cluster: the replicated store needs a data directory")
	}
	if n.store != nil {
		return n.store, nil
	}
	js, err := jetstream.New(n.nc, jetstream.WithPublishAsyncMaxPending(1<<14),
		jetstream.WithPublishAsyncTimeout(commitTimeout))
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	st, err := n.ensureStream(ctx, js)
	if err != nil {
		return nil, err
	}
	s := &Store{node: n.cfg.NodeName, log: n.log, nc: n.nc, js: js, st: st, replicas: st.CachedInfo().Config.Replicas,
		in: make(chan *job, applyQueue), out: make(chan *group, maxInflight+2), done: make(chan struct{}),
		inflight: make(chan struct{}, maxInflight), purged: make(chan struct{}),
		queues: make(map[string][]storage.Message), recSeq: make(map[string]uint64)}
	go s.write()
	go s.resolveLoop()
	n.store = s
	return s, nil
}

// replicas is how many copies the stream keeps: 3, or fewer in a smaller
// cluster (the nodes this one was told of, or JetStream knows).
func (n *Node) replicas() int {
	if n.cfg.Replicas > 0 {
		return n.cfg.Replicas
	}
	return min(3, max(1+len(n.cfg.Peers), len(n.ns.JetStreamClusterPeers())))
}

// ensureStream creates the stream or finds it, raising its replicas when
// the cluster has grown; it retries while JetStream has no quorum yet
// (nodes still starting), telling the operator every 10 s.
func (n *Node) ensureStream(ctx context.Context, js jetstream.JetStream) (jetstream.Stream, error) {
	cfg := jetstream.StreamConfig{
		Name:              streamName,
		Subjects:          []string{"x.>", "t.>", "v.>", "b.>"},
		Storage:           jetstream.FileStorage,
		MaxMsgsPerSubject: 1,
		AllowMsgTTL:       true,
		// Each group of writes is one atomic batch (write). A stream
		// made by the first version of the replicated store lacks it:
		// ensureStream turns it on; the records are the same.
		AllowAtomicPublish: true,
		AllowDirect:        false,
		Discard:            jetstream.DiscardOld,
	}
	start := time.Now()
	told := start
	for {
		cfg.Replicas = n.replicas()
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := js.Stream(actx, streamName)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			st, err = js.CreateStream(actx, cfg)
		} else if err == nil && !st.CachedInfo().Config.AllowAtomicPublish {
			// Written by the first version (one publish per record):
			// the same records, now also written in atomic batches.
			have := st.CachedInfo().Config
			have.AllowAtomicPublish = true
			have.Replicas = max(have.Replicas, cfg.Replicas)
			st, err = js.UpdateStream(actx, have)
		} else if err == nil && st.CachedInfo().Config.Replicas < cfg.Replicas {
			have := st.CachedInfo().Config
			have.Replicas = cfg.Replicas
			if _, uerr := js.UpdateStream(actx, have); uerr != nil {
				n.log.Warn("cluster: could not raise the replicated store's replicas", "to", cfg.Replicas, "err", uerr)
			}
		}
		cancel()
		if err == nil {
			return st, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("cluster: the replicated store is not available (%v): a majority of the cluster's nodes must run", err)
		}
		if time.Since(told) >= 10*time.Second {
			told = time.Now()
			n.log.Warn("cluster: waiting for a majority of the nodes to reach the replicated store", "waited", time.Since(start).Round(time.Second), "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// token escapes a name (client id, topic key, KV key) into one subject token.
func token(s string) string { return string(appendLevel(nil, s)) }

func sessionPrefix(clientID string) string { return "x." + token(clientID) + "." }

// Apply implements [storage.Store].
func (s *Store) Apply(b *storage.Batch) *storage.Commit {
	c, resolve := storage.NewCommit()
	j := &job{resolve: resolve, lazy: true}
	add := func(m *nats.Msg, k msgKind) {
		j.msgs = append(j.msgs, m)
		j.kinds = append(j.kinds, k)
	}
	b.Ops(func(o storage.Op) {
		if o.Kind != storage.OpDeleteMessage {
			j.lazy = false
		}
		switch o.Kind {
		case storage.OpPutSession:
			m := nats.NewMsg(sessionPrefix(o.ClientID) + "s")
			m.Header.Set(hdrOwner, s.node)
			m.Data = storage.EncodeSession(o.Session)
			add(m, kindPut)
		case storage.OpDeleteSession, storage.OpSweepSession:
			j.purges = append(j.purges, len(j.msgs))
			j.purgeOf = append(j.purgeOf, sessionPrefix(o.ClientID)+">")
			j.skipBelow = append(j.skipBelow, 0)
		case storage.OpPutMessage:
			m := nats.NewMsg(sessionPrefix(o.ClientID) + "q." + strconv.FormatUint(o.Seq, 10))
			m.Data = storage.EncodeMessage(o.Message)
			// A Queued put is the first record of its seq (Batch.PutMessage).
			k := kindPut
			if o.Message.State == storage.Queued {
				k = kindFresh
			}
			add(m, k)
		case storage.OpDeleteMessage, storage.OpSweepMessage:
			add(tombstone(sessionPrefix(o.ClientID)+"q."+strconv.FormatUint(o.Seq, 10)), kindTomb)
		case storage.OpMarkInbound:
			m := nats.NewMsg(sessionPrefix(o.ClientID) + "i." + strconv.FormatUint(o.Seq, 10))
			m.Data = []byte{1}
			add(m, kindPut)
		case storage.OpClearInbound:
			add(tombstone(sessionPrefix(o.ClientID)+"i."+strconv.FormatUint(o.Seq, 10)), kindTomb)
		case storage.OpPutRetained:
			m := nats.NewMsg("t." + token(o.Key))
			m.Data = storage.EncodeRetained(o.Retained)
			add(m, kindPut)
		case storage.OpDeleteRetained, storage.OpSweepRetained:
			add(tombstone("t."+token(o.Key)), kindTomb)
		case storage.OpPutKV:
			m := nats.NewMsg("v." + token(o.ClientID) + "." + token(o.Key))
			m.Data = append([]byte(nil), o.Value...)
			add(m, kindPut)
		case storage.OpDeleteKV:
			add(tombstone("v."+token(o.ClientID)+"."+token(o.Key)), kindTomb)
		}
	})
	j.lazy = j.lazy && len(j.msgs) > 0
	s.submit(j)
	return c
}

// submit hands j to the writer, or resolves it with ErrClosed once the
// store is closed.
func (s *Store) submit(j *job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		j.resolve(storage.ErrClosed)
		return
	}
	s.in <- j
}

// EndSession implements the broker's sessionEnder (cluster_store.go): it
// is Apply of a batch that deletes the session clientID, for a clean
// start on this node of a session another node may have stored. It asks
// the stream first (an API request, not a write) whether it holds
// anything of the session; when it does not, the writer leaves the purge
// out unless a group published since wrote the session, instead of
// stopping this node's writes until every group in flight is answered
// and the purge is done. The caller holds no lock of the broker's.
func (s *Store) EndSession(clientID string) *storage.Commit {
	c, resolve := storage.NewCommit()
	s.submit(&job{resolve: resolve, purges: []int{0}, purgeOf: []string{sessionPrefix(clientID) + ">"},
		skipBelow: []uint64{s.nothingStored(sessionPrefix(clientID))}})
	return c
}

// nothingStored asks the stream whether it holds anything of the
// session prefix (x.<id>.). It returns 0 when it does or did not
// answer, else 1 + the number of groups answered before it asked: the
// answer covers those (the stream's leader answers after applying what
// it acknowledged).
func (s *Store) nothingStored(prefix string) uint64 {
	acked := s.resolved.Load()
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	info, err := s.st.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil || len(info.State.Subjects) > 0 {
		return 0
	}
	return acked + 1
}

// tombstone is the deletion marker of subj.
func tombstone(subj string) *nats.Msg {
	m := nats.NewMsg(subj)
	m.Header.Set(hdrDel, "1")
	m.Header.Set(jetstream.MsgTTLHeader, tombstoneTTL.String())
	return m
}

// write gathers the applied batches into groups and publishes them in
// Apply order (see the top of this file). A group is published as soon
// as fewer than maxInflight are out; until then it grows with every
// batch applied meanwhile. A session's purge is a JetStream API request,
// not a publish: the group before it is published, and the purge waits
// until every group before it was answered, so that it can overtake
// none of them and nothing after it can overtake it.
func (s *Store) write() {
	defer close(s.out)
	g := new(group)
	lazy := time.NewTimer(lazyDelay)
	lazy.Stop()
	for {
		if g.empty() {
			j, ok := <-s.in
			if !ok {
				return
			}
			g = s.take(g, j)
			s.startLazy(g, lazy)
			continue
		}
		if g.full() {
			s.inflight <- struct{}{}
			g = s.flush(g)
			continue
		}
		// A group of acknowledged deliveries' deletions alone waits
		// for other writes, or lazyDelay.
		slot, timeout := s.inflight, (<-chan time.Time)(nil)
		if !g.eager {
			slot, timeout = nil, lazy.C
		}
		select {
		case j, ok := <-s.in:
			if !ok {
				s.inflight <- struct{}{}
				s.flush(g)
				return
			}
			g = s.take(g, j)
			s.startLazy(g, lazy)
		case slot <- struct{}{}:
			g = s.flush(g)
		case <-timeout:
			s.inflight <- struct{}{}
			g = s.flush(g)
		}
	}
}

// startLazy starts the lazyDelay of a group of lazy jobs only, once.
func (s *Store) startLazy(g *group, t *time.Timer) {
	if !g.eager && !g.lazy && !g.empty() {
		g.lazy = true
		t.Reset(lazyDelay)
	}
}

// take adds j to g and returns the group to continue with: j's purges
// and full groups publish what came before them.
func (s *Store) take(g *group, j *job) *group {
	g.jobs = append(g.jobs, j)
	g.eager = g.eager || !j.lazy
	s.stats.applied.Add(int64(len(j.msgs)))
	p := 0
	for i, m := range j.msgs {
		for p < len(j.purges) && j.purges[p] == i {
			g = s.purgeAt(g, j, p)
			p++
		}
		if g.full() {
			s.inflight <- struct{}{}
			g = s.flush(g)
			g.jobs = append(g.jobs, j)
			g.eager = !j.lazy
		}
		g.add(m, j.kinds[i])
		s.touch(m.Subject)
	}
	for ; p < len(j.purges); p++ {
		g = s.purgeAt(g, j, p)
	}
	g.ends = append(g.ends, j)
	return g
}

// touch notes that the pending group writes subj's session (purgeNeeded).
func (s *Store) touch(subj string) {
	rest, ok := strings.CutPrefix(subj, "x.")
	if !ok {
		return
	}
	i := strings.IndexByte(rest, '.')
	if i < 0 {
		return
	}
	if s.touched == nil {
		s.touched = make(map[string]uint64)
	}
	if len(s.touched) >= maxTouched {
		done := s.resolved.Load()
		for k, n := range s.touched {
			if n <= done {
				delete(s.touched, k)
			}
		}
		s.prunedTo = max(s.prunedTo, done)
	}
	s.touched[subj[:2+i+1]] = s.gno + 1
}

// maxTouched bounds the writer's map of session prefixes written: beyond,
// it forgets those whose last group was answered.
const maxTouched = 1 << 16

// purgeNeeded reports whether purge p of j must be done: unless the
// stream held nothing of the session when Apply asked, and no group
// published since (nor the pending one) wrote it.
func (s *Store) purgeNeeded(j *job, p int) bool {
	below := j.skipBelow[p]
	if below == 0 {
		return true
	}
	last, ok := s.touched[strings.TrimSuffix(j.purgeOf[p], ">")]
	if !ok {
		last = s.prunedTo
	}
	return last >= below
}

// purgeAt publishes g, waits until it and every group before it were
// answered, does purge p of j, and returns a new group holding j; or
// returns g when the purge is not needed (purgeNeeded).
func (s *Store) purgeAt(g *group, j *job, p int) *group {
	if !s.purgeNeeded(j, p) {
		s.stats.purgesSkipped.Add(1)
		return g
	}
	filter := j.purgeOf[p]
	s.stats.purges.Add(1)
	s.inflight <- struct{}{}
	g = s.flush(g)
	g.purge = true
	s.inflight <- struct{}{} // the barrier takes a token like a group
	s.out <- g
	<-s.purged
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	if err := s.st.Purge(ctx, jetstream.WithPurgeSubject(filter)); err != nil {
		j.err = cmp.Or(j.err, err)
	}
	return &group{jobs: []*job{j}, eager: true}
}

// flush publishes g (the caller holds an inflight token for it), hands
// it to resolveLoop and returns an empty group.
func (s *Store) flush(g *group) *group {
	switch g.live {
	case 0:
	case 1:
		for _, m := range g.msgs {
			if m != nil {
				g.fut, g.err = s.js.PublishMsgAsync(m)
			}
		}
	default:
		id := nuid.Next()
		n := 0
		for _, m := range g.msgs {
			if m == nil {
				continue
			}
			n++
			m.Header.Set(hdrBatchID, id)
			m.Header.Set(hdrBatchSeq, strconv.Itoa(n))
			if n < g.live {
				// Not acknowledged one by one: the commit's answer
				// covers the whole batch (or says it is incomplete).
				if err := s.nc.PublishMsg(m); err != nil {
					g.err = err
					break
				}
				continue
			}
			m.Header.Set(hdrBatchEnd, "1")
			g.fut, g.err = s.js.PublishMsgAsync(m)
		}
	}
	g.sent = time.Now()
	s.gno++
	g.no = s.gno
	s.stats.groups.Add(1)
	s.stats.published.Add(int64(g.live))
	s.out <- g
	return new(group)
}

// resolveLoop resolves the groups in order, and answers purge barriers.
func (s *Store) resolveLoop() {
	defer close(s.done)
	for g := range s.out {
		err := g.err
		if g.fut != nil && err == nil {
			select {
			case <-g.fut.Ok():
			case e := <-g.fut.Err():
				err = e
			}
		}
		<-s.inflight
		if g.purge {
			s.purged <- struct{}{}
			continue
		}
		s.stats.ackWait.Add(int64(time.Since(g.sent)))
		if w := time.Since(g.sent); w > time.Second {
			s.log.Warn("cluster: a write to the replicated store waited for its commit", "waited", w.Round(time.Millisecond), "err", err)
		}
		s.resolved.Store(g.no)
		if err != nil {
			for _, j := range g.jobs {
				j.err = cmp.Or(j.err, err)
			}
		}
		for _, j := range g.ends {
			err := j.err
			if err != nil {
				err = fmt.Errorf("%w: the cluster did not confirm it (%v): is a majority of the nodes reachable?", storage.ErrWrite, err)
			}
			j.resolve(err)
		}
	}
}

// Close implements [storage.Store]: it waits for the commits applied so
// far. The node's NATS connection stays the node's.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closed = true
	close(s.in)
	s.mu.Unlock()
	<-s.done
	return nil
}

// record is the last value of one subject, as read.
type record struct {
	subj  string
	data  []byte
	owner string
	seq   uint64 // stream sequence
}

// read returns the live records of the subjects matching filters, as of
// the read's start (a barrier) or later.
//
// A read is tried again, from the same barrier, when an attempt makes no
// progress for readStall: right after a node was lost, the consumer of
// an attempt may have been placed on it, or the stream may still be
// electing a leader, and such an attempt would otherwise wait out the
// whole readTimeout.
func (s *Store) read(filters ...string) ([]record, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, storage.ErrClosed
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	barrier := "b." + nuid.Next()
	bm := nats.NewMsg(barrier)
	bm.Header.Set(jetstream.MsgTTLHeader, barrierTTL.String())
	// While the stream elects a leader (a node was just lost), JetStream
	// answers "no responders" at once: retry within the read's time.
	for {
		actx, acancel := context.WithTimeout(ctx, readAsk)
		_, err := s.js.PublishMsg(actx, bm)
		acancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("cluster: reading the replicated store: %w", err)
		}
		s.log.Debug("cluster: the replicated store's read barrier was not taken yet; trying again", "err", err, "waited", time.Since(start).Round(time.Millisecond))
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	for attempt := 1; ; attempt++ {
		out, err := s.readTo(ctx, barrier, filters)
		if err == nil || ctx.Err() != nil {
			if err != nil {
				err = fmt.Errorf("cluster: reading the replicated store: %w", err)
			}
			return out, err
		}
		s.log.Debug("cluster: reading the replicated store again", "attempt", attempt, "err", err, "waited", time.Since(start).Round(time.Millisecond))
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// errStalled: an attempt of read received nothing for readStall.
var errStalled = errors.New("no progress")

// readTo is one attempt of read: the records up to barrier.
//
// It reads through one ephemeral pull consumer (one replica, in memory,
// no acknowledgements), created once, its creation asked again every
// readAsk while nobody answers (no meta leader yet). An ordered consumer
// was used before: it creates a new consumer for each Fetch, with a
// fixed 10 s timeout and by default without end, so a read after a
// node's loss hung there (96 s in a kill -9 test), and each 1,024
// records cost a meta-group request. What an ordered consumer adds is
// the detection of a gap, done here instead: the consumer's sequence
// must grow by one from message to message, else the attempt fails and
// the read starts over.
func (s *Store) readTo(ctx context.Context, barrier string, filters []string) ([]record, error) {
	cfg := jetstream.ConsumerConfig{
		FilterSubjects:    append(slices.Clip(filters), barrier),
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: 5 * time.Second, // a read's consumer is gone soon after it (an unanswered one too)
	}
	var cons jetstream.Consumer
	var err error
	for asked := time.Now(); ; {
		cfg.Name = nuid.Next()
		actx, cancel := context.WithTimeout(ctx, readAsk)
		cons, err = s.st.CreateConsumer(actx, cfg)
		cancel()
		if err == nil || ctx.Err() != nil || time.Since(asked) >= readStall {
			break
		}
		select { // an error that came at once ("no responders"): not in a loop
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		go func() { // not waited for: it expires anyway
			dctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
			s.st.DeleteConsumer(dctx, cfg.Name)
			cancel()
		}()
	}()
	var delivered uint64 // the consumer sequence of the last message
	live := make(map[string]record)
	progress := time.Now()
	for {
		batch, err := cons.Fetch(1024, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, err
		}
		for m := range batch.Messages() {
			progress = time.Now()
			md, err := m.Metadata()
			if err != nil {
				return nil, err
			}
			if md.Sequence.Consumer != delivered+1 {
				// A message the server sent to a fetch that had expired: lost.
				return nil, fmt.Errorf("a gap in the read (consumer sequence %d after %d)", md.Sequence.Consumer, delivered)
			}
			delivered = md.Sequence.Consumer
			subj := m.Subject()
			if subj == barrier {
				out := make([]record, 0, len(live))
				for _, r := range live {
					out = append(out, r)
				}
				slices.SortFunc(out, func(a, b record) int { return strings.Compare(a.subj, b.subj) })
				return out, nil
			}
			h := m.Headers()
			if h.Get(hdrDel) != "" {
				delete(live, subj)
				continue
			}
			live[subj] = record{subj: subj, data: m.Data(), owner: h.Get(hdrOwner), seq: md.Sequence.Stream}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if time.Since(progress) >= readStall {
			return nil, errStalled
		}
	}
}

// sessionState is one session's records, as read.
type sessionState struct {
	rec     *record
	msgs    []storage.Message
	inbound []uint16
}

// sessions groups x.> records by client id token.
func sessions(recs []record) (map[string]*sessionState, error) {
	out := make(map[string]*sessionState)
	for _, r := range recs {
		rest, ok := strings.CutPrefix(r.subj, "x.")
		if !ok {
			continue
		}
		id, kind, ok := strings.Cut(rest, ".")
		if !ok {
			continue
		}
		st := out[id]
		if st == nil {
			st = new(sessionState)
			out[id] = st
		}
		switch {
		case kind == "s":
			st.rec = &r
		case strings.HasPrefix(kind, "q."):
			m, err := storage.DecodeMessage(r.data)
			if err != nil {
				return nil, &storage.CorruptError{File: "replicated store " + r.subj, Detail: err.Error()}
			}
			st.msgs = append(st.msgs, m)
		case strings.HasPrefix(kind, "i."):
			if n, err := strconv.ParseUint(kind[2:], 10, 16); err == nil {
				st.inbound = append(st.inbound, uint16(n))
			}
		}
	}
	for _, st := range out {
		slices.SortFunc(st.msgs, func(a, b storage.Message) int { return cmp.Compare(a.Seq, b.Seq) })
		slices.Sort(st.inbound)
	}
	return out, nil
}

func decodeSession(st *sessionState) (storage.Session, error) {
	ss, err := storage.DecodeSession(st.rec.data)
	if err != nil {
		return ss, &storage.CorruptError{File: "replicated store " + st.rec.subj, Detail: err.Error()}
	}
	ss.InboundQoS2 = st.inbound
	return ss, nil
}

// Sessions implements [storage.Store]: the sessions this node holds (it
// wrote their record last). Their queues are kept for the Messages call
// that follows each, so a restart reads the stream once.
func (s *Store) Sessions(fn func(storage.Session) error) error {
	all, err := s.ownedBy(s.node)
	if err != nil {
		return err
	}
	for _, ss := range all {
		if err := fn(ss); err != nil {
			return err
		}
	}
	return nil
}

// ownedBy returns the sessions whose record node wrote last, keeping
// their queues for the Messages calls that follow.
func (s *Store) ownedBy(node string) ([]storage.Session, error) {
	recs, err := s.read("x.>")
	if err != nil {
		return nil, err
	}
	by, err := sessions(recs)
	if err != nil {
		return nil, err
	}
	var out []storage.Session
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	for _, st := range by {
		if st.rec == nil || st.rec.owner != node {
			continue
		}
		ss, err := decodeSession(st)
		if err != nil {
			return nil, err
		}
		out = append(out, ss)
		s.queues[ss.ClientID] = st.msgs
		s.recSeq[ss.ClientID] = st.rec.seq
	}
	slices.SortFunc(out, func(a, b storage.Session) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out, nil
}

// Session implements [storage.Shared].
func (s *Store) Session(clientID string) (storage.Session, bool, error) {
	recs, err := s.read(sessionPrefix(clientID) + ">")
	if err != nil {
		return storage.Session{}, false, err
	}
	by, err := sessions(recs)
	if err != nil {
		return storage.Session{}, false, err
	}
	st := by[token(clientID)]
	if st == nil || st.rec == nil {
		return storage.Session{}, false, nil
	}
	ss, err := decodeSession(st)
	if err != nil {
		return ss, false, err
	}
	s.cacheMu.Lock()
	s.queues[clientID] = st.msgs
	s.recSeq[clientID] = st.rec.seq
	s.cacheMu.Unlock()
	return ss, true, nil
}

// Messages implements [storage.Store].
func (s *Store) Messages(clientID string, fn func(storage.Message) error) error {
	s.cacheMu.Lock()
	msgs, ok := s.queues[clientID]
	delete(s.queues, clientID)
	s.cacheMu.Unlock()
	if !ok {
		recs, err := s.read(sessionPrefix(clientID) + "q.>")
		if err != nil {
			return err
		}
		by, err := sessions(recs)
		if err != nil {
			return err
		}
		if st := by[token(clientID)]; st != nil {
			msgs = st.msgs
		}
	}
	for _, m := range msgs {
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}

// Retained implements [storage.Store].
func (s *Store) Retained(fn func(storage.Retained) error) error {
	recs, err := s.read("t.>")
	if err != nil {
		return err
	}
	var out []storage.Retained
	for _, r := range recs {
		rt, err := storage.DecodeRetained(r.data)
		if err != nil {
			return &storage.CorruptError{File: "replicated store " + r.subj, Detail: err.Error()}
		}
		out = append(out, rt)
	}
	slices.SortFunc(out, func(a, b storage.Retained) int { return strings.Compare(a.Topic, b.Topic) })
	for _, r := range out {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// GetKV implements [storage.Store].
func (s *Store) GetKV(space, key string) ([]byte, bool, error) {
	recs, err := s.read("v." + token(space) + "." + token(key))
	if err != nil || len(recs) == 0 {
		return nil, false, err
	}
	return recs[0].data, true, nil
}

// ScanKV implements [storage.Store].
func (s *Store) ScanKV(space string, fn func(key string, value []byte) error) error {
	prefix := "v." + token(space) + "."
	recs, err := s.read(prefix + "*")
	if err != nil {
		return err
	}
	type kv struct {
		k string
		v []byte
	}
	var out []kv
	for _, r := range recs {
		k, ok := unescapeToken(strings.TrimPrefix(r.subj, prefix))
		if ok {
			out = append(out, kv{k, r.data})
		}
	}
	slices.SortFunc(out, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	for _, e := range out {
		if err := fn(e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}

// unescapeToken reverses token.
func unescapeToken(t string) (string, bool) {
	if t == "%" {
		return "", true
	}
	if !strings.Contains(t, "%") {
		return t, true
	}
	b := make([]byte, 0, len(t))
	for i := 0; i < len(t); i++ {
		if t[i] != '%' {
			b = append(b, t[i])
			continue
		}
		if i+2 >= len(t) {
			return "", false
		}
		v, err := strconv.ParseUint(t[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b = append(b, byte(v))
		i += 2
	}
	return string(b), true
}

// Sweep implements [storage.Store]: the expired sessions this node holds
// and expired retained messages. Unlike the embedded store's, its
// deletions do not re-check expiry when applied; the broker's own expiry
// timers end sessions first, so this only catches what they missed
// (the node was down).
func (s *Store) Sweep(ctx context.Context, now time.Time) (storage.SweepStats, error) {
	var st storage.SweepStats
	var b storage.Batch
	own, err := s.ownedBy(s.node)
	if err != nil {
		return st, err
	}
	s.cacheMu.Lock()
	clear(s.queues)
	for _, ss := range own {
		delete(s.recSeq, ss.ClientID) // not an adoption's (take.go)
	}
	s.cacheMu.Unlock()
	for _, ss := range own {
		if storage.SessionExpired(ss, now) {
			b.DeleteSession(ss.ClientID)
			st.Sessions++
		}
	}
	if err := s.Retained(func(r storage.Retained) error {
		if storage.RetainedExpired(r, now) {
			b.DeleteRetained(r.Topic)
			st.Retained++
		}
		return ctx.Err()
	}); err != nil {
		return st, err
	}
	if b.Len() == 0 {
		return st, nil
	}
	return st, s.Apply(&b).Wait(ctx)
}

// Compact implements [storage.Store]: JetStream manages its own files.
func (s *Store) Compact(context.Context) error { return nil }
