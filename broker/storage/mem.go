package storage

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"
)

// Mem is the in-memory [Store]: the broker without --data, and the
// reference the embedded store is tested against. Every commit is durable
// at once (there is no disk); it keeps nothing across a restart.
type Mem struct {
	mu       sync.RWMutex
	closed   bool
	sessions map[string]Session
	queues   map[string]map[uint64]Message
	inbound  map[string]map[uint16]struct{}
	retained map[string]Retained
	kv       map[string]map[string][]byte
}

// NewMem returns an empty in-memory store.
func NewMem() *Mem {
	return &Mem{
		sessions: map[string]Session{},
		queues:   map[string]map[uint64]Message{},
		inbound:  map[string]map[uint16]struct{}{},
		retained: map[string]Retained{},
		kv:       map[string]map[string][]byte{},
	}
}

var _ Store = (*Mem)(nil)

// Apply implements [Store.Apply].
func (s *Mem) Apply(b *Batch) *Commit {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return resolved(ErrClosed)
	}
	for _, o := range b.ops {
		switch o.kind {
		case opPutSession:
			ss := cloneSession(*o.session)
			ss.InboundQoS2 = nil
			s.sessions[o.clientID] = ss
		case opDeleteSession:
			delete(s.sessions, o.clientID)
			delete(s.queues, o.clientID)
			delete(s.inbound, o.clientID)
		case opPutMessage:
			q := s.queues[o.clientID]
			if q == nil {
				q = map[uint64]Message{}
				s.queues[o.clientID] = q
			}
			q[o.seq] = cloneMessage(*o.message)
		case opDeleteMessage:
			delete(s.queues[o.clientID], o.seq)
		case opMarkInbound:
			in := s.inbound[o.clientID]
			if in == nil {
				in = map[uint16]struct{}{}
				s.inbound[o.clientID] = in
			}
			in[uint16(o.seq)] = struct{}{}
		case opClearInbound:
			delete(s.inbound[o.clientID], uint16(o.seq))
		case opPutRetained:
			s.retained[o.key] = cloneRetained(*o.retained)
		case opDeleteRetained:
			delete(s.retained, o.key)
		case opPutKV:
			sp := s.kv[o.clientID]
			if sp == nil {
				sp = map[string][]byte{}
				s.kv[o.clientID] = sp
			}
			sp[o.key] = cloneBytes(o.value)
		case opDeleteKV:
			delete(s.kv[o.clientID], o.key)
		case opSweepSession:
			if ss, ok := s.sessions[o.clientID]; ok && sessionExpired(ss, o.now) {
				delete(s.sessions, o.clientID)
				delete(s.queues, o.clientID)
				delete(s.inbound, o.clientID)
			}
		case opSweepMessage:
			if m, ok := s.queues[o.clientID][o.seq]; ok && messageExpired(m, o.now) {
				delete(s.queues[o.clientID], o.seq)
			}
		case opSweepRetained:
			if r, ok := s.retained[o.key]; ok && expired(r.Expires, o.now) {
				delete(s.retained, o.key)
			}
		}
	}
	return resolved(nil)
}

// Sessions implements [Store.Sessions].
func (s *Mem) Sessions(fn func(Session) error) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	out := make([]Session, 0, len(s.sessions))
	for _, id := range slices.Sorted(maps.Keys(s.sessions)) {
		ss := cloneSession(s.sessions[id])
		ss.InboundQoS2 = slices.Sorted(maps.Keys(s.inbound[id]))
		out = append(out, ss)
	}
	s.mu.RUnlock()
	// fn runs without the lock so it may call back into the store.
	return each(out, nil, fn)
}

// Messages implements [Store.Messages].
func (s *Mem) Messages(clientID string, fn func(Message) error) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	q := s.queues[clientID]
	out := make([]Message, 0, len(q))
	for _, seq := range slices.Sorted(maps.Keys(q)) {
		out = append(out, cloneMessage(q[seq]))
	}
	s.mu.RUnlock()
	return each(out, nil, fn)
}

// Retained implements [Store.Retained].
func (s *Mem) Retained(fn func(Retained) error) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	out := make([]Retained, 0, len(s.retained))
	for _, t := range slices.Sorted(maps.Keys(s.retained)) {
		out = append(out, cloneRetained(s.retained[t]))
	}
	s.mu.RUnlock()
	return each(out, nil, fn)
}

// GetKV implements [Store.GetKV].
func (s *Mem) GetKV(space, key string) ([]byte, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, false, ErrClosed
	}
	v, ok := s.kv[space][key]
	return cloneBytes(v), ok, nil
}

// ScanKV implements [Store.ScanKV].
func (s *Mem) ScanKV(space string, fn func(string, []byte) error) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	sp := s.kv[space]
	keys := slices.Sorted(maps.Keys(sp))
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = cloneBytes(sp[k])
	}
	s.mu.RUnlock()
	for i, k := range keys {
		if err := fn(k, vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// Sweep implements [Store.Sweep].
func (s *Mem) Sweep(ctx context.Context, now time.Time) (SweepStats, error) {
	return sweep(ctx, s, now)
}

// Compact implements [Store.Compact]; memory has nothing to compact.
func (s *Mem) Compact(context.Context) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// Close implements [Store.Close].
func (s *Mem) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}
