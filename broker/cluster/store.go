package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
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
// Writes go in Apply order through one writer goroutine, as asynchronous
// JetStream publishes; a Commit resolves when JetStream acknowledged every
// publish of its batch, which it does once a quorum of the stream's
// replicas stored them. Without a quorum (a partitioned minority, two of
// three nodes down) the publishes fail or time out and the Commit fails
// with storage.ErrWrite: the broker then answers 0x97 instead of
// acknowledging what would not survive.
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
	// barrierTTL is how long a read barrier stays in the stream: longer
	// than a read may take, or a lagging replica would never see it.
	barrierTTL = 2 * readTimeout
	// applyQueue is the number of batches waiting for the writer: Apply
	// blocks beyond (back-pressure, like the embedded store's queue).
	applyQueue = 4096
	hdrOwner   = "Mb-Owner"
	hdrDel     = "Mb-Del"
)

// Store is the cluster's replicated [storage.Shared] (see above). Get it
// from [Node.Store].
type Store struct {
	node     string
	replicas int // of the stream, when this node found or made it
	js       jetstream.JetStream
	st       jetstream.Stream

	mu     sync.Mutex // orders Apply; guards closed
	closed bool
	in     chan *job
	out    chan *job
	done   chan struct{}

	cacheMu sync.Mutex
	queues  map[string][]storage.Message // read by Sessions/Session, taken by Messages
}

var _ storage.Shared = (*Store)(nil)

// job is one applied batch on its way through the writer and resolver.
type job struct {
	msgs    []*nats.Msg
	purges  []int // indexes into msgs before which x.<id>.> is purged: purgeSubj
	purgeOf []string
	futs    []jetstream.PubAckFuture
	err     error
	resolve func(error)
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
	s := &Store{node: n.cfg.NodeName, js: js, st: st, replicas: st.CachedInfo().Config.Replicas,
		in: make(chan *job, applyQueue), out: make(chan *job, applyQueue), done: make(chan struct{}),
		queues: make(map[string][]storage.Message)}
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
		AllowDirect:       false,
		Discard:           jetstream.DiscardOld,
	}
	start := time.Now()
	told := start
	for {
		cfg.Replicas = n.replicas()
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := js.Stream(actx, streamName)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			st, err = js.CreateStream(actx, cfg)
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
	j := &job{resolve: resolve}
	b.Ops(func(o storage.Op) {
		switch o.Kind {
		case storage.OpPutSession:
			m := nats.NewMsg(sessionPrefix(o.ClientID) + "s")
			m.Header.Set(hdrOwner, s.node)
			m.Data = storage.EncodeSession(o.Session)
			j.msgs = append(j.msgs, m)
		case storage.OpDeleteSession, storage.OpSweepSession:
			j.purges = append(j.purges, len(j.msgs))
			j.purgeOf = append(j.purgeOf, sessionPrefix(o.ClientID)+">")
		case storage.OpPutMessage:
			m := nats.NewMsg(sessionPrefix(o.ClientID) + "q." + strconv.FormatUint(o.Seq, 10))
			m.Data = storage.EncodeMessage(o.Message)
			j.msgs = append(j.msgs, m)
		case storage.OpDeleteMessage, storage.OpSweepMessage:
			j.msgs = append(j.msgs, tombstone(sessionPrefix(o.ClientID)+"q."+strconv.FormatUint(o.Seq, 10)))
		case storage.OpMarkInbound:
			m := nats.NewMsg(sessionPrefix(o.ClientID) + "i." + strconv.FormatUint(o.Seq, 10))
			m.Data = []byte{1}
			j.msgs = append(j.msgs, m)
		case storage.OpClearInbound:
			j.msgs = append(j.msgs, tombstone(sessionPrefix(o.ClientID)+"i."+strconv.FormatUint(o.Seq, 10)))
		case storage.OpPutRetained:
			m := nats.NewMsg("t." + token(o.Key))
			m.Data = storage.EncodeRetained(o.Retained)
			j.msgs = append(j.msgs, m)
		case storage.OpDeleteRetained, storage.OpSweepRetained:
			j.msgs = append(j.msgs, tombstone("t."+token(o.Key)))
		case storage.OpPutKV:
			m := nats.NewMsg("v." + token(o.ClientID) + "." + token(o.Key))
			m.Data = append([]byte(nil), o.Value...)
			j.msgs = append(j.msgs, m)
		case storage.OpDeleteKV:
			j.msgs = append(j.msgs, tombstone("v."+token(o.ClientID)+"."+token(o.Key)))
		}
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		resolve(storage.ErrClosed)
		return c
	}
	s.in <- j
	return c
}

// tombstone is the deletion marker of subj.
func tombstone(subj string) *nats.Msg {
	m := nats.NewMsg(subj)
	m.Header.Set(hdrDel, "1")
	m.Header.Set(jetstream.MsgTTLHeader, tombstoneTTL.String())
	return m
}

// write publishes the batches in Apply order. A session's purge is a
// JetStream API request, not a publish, so it waits until every earlier
// publish was answered: then it cannot overtake them. (Only resolveLoop
// reads the futures: each delivers its answer once.)
func (s *Store) write() {
	defer close(s.out)
	for j := range s.in {
		p := 0
		for i, m := range j.msgs {
			for p < len(j.purges) && j.purges[p] == i {
				s.purge(j, j.purgeOf[p])
				p++
			}
			f, err := s.js.PublishMsgAsync(m)
			if err != nil {
				j.err = cmp.Or(j.err, err)
				continue
			}
			j.futs = append(j.futs, f)
		}
		for ; p < len(j.purges); p++ {
			s.purge(j, j.purgeOf[p])
		}
		s.out <- j
	}
}

func (s *Store) purge(j *job, filter string) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	select {
	case <-s.js.PublishAsyncComplete():
	case <-ctx.Done():
	}
	if err := s.st.Purge(ctx, jetstream.WithPurgeSubject(filter)); err != nil {
		j.err = cmp.Or(j.err, err)
	}
}

// resolveLoop resolves the commits in Apply order.
func (s *Store) resolveLoop() {
	defer close(s.done)
	for j := range s.out {
		err := j.err
		for _, f := range j.futs {
			select {
			case <-f.Ok():
			case e := <-f.Err():
				err = cmp.Or(err, e)
			}
		}
		if err != nil {
			err = fmt.Errorf("%w: the cluster did not confirm it (%v): is a majority of the nodes reachable?", storage.ErrWrite, err)
		}
		j.resolve(err)
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
}

// read returns the live records of the subjects matching filters, as of
// the read's start (a barrier) or later.
func (s *Store) read(filters ...string) ([]record, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, storage.ErrClosed
	}
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	barrier := "b." + nuid.Next()
	bm := nats.NewMsg(barrier)
	bm.Header.Set(jetstream.MsgTTLHeader, barrierTTL.String())
	// While the stream elects a leader (a node was just lost), JetStream
	// answers "no responders" at once: retry within the read's time.
	for {
		_, err := s.js.PublishMsg(ctx, bm)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("cluster: reading the replicated store: %w", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	cons, err := s.st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: append(filters, barrier),
		InactiveThreshold: 5 * time.Second}) // a read's consumer is gone soon after it
	if err != nil {
		return nil, fmt.Errorf("cluster: reading the replicated store: %w", err)
	}
	live := make(map[string]record)
	for {
		batch, err := cons.Fetch(1024, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, fmt.Errorf("cluster: reading the replicated store: %w", err)
		}
		for m := range batch.Messages() {
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
			live[subj] = record{subj: subj, data: m.Data(), owner: h.Get(hdrOwner)}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("cluster: reading the replicated store: %w", err)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("cluster: reading the replicated store: %w", ctx.Err())
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
