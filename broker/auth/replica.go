package auth

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/mqttboard/mqttboard/broker/storage"
)

// Tokens and accounts in a cluster (docs/cluster.md, "Tokens and
// accounts"): every change made through this registry's API (a token or a
// subaccount created, changed or deleted) is handed, as it happens and in
// order, to the function given to [Registry.Replicate], which sends it to
// the other nodes; they apply it with [Registry.ApplyReplica], ending the
// connections of a token that was deleted, disabled or given other
// rights, as this node does. A node that joins takes a peer's whole state
// with [Registry.Snapshot] and [Registry.RestoreSnapshot].
//
// What is not replicated: a token's "accessed" time and the connections
// holding it (each node's own), and expiry, which each node applies
// itself from the same records and the same clock (expire is the same
// moment everywhere; a ttl counts from the last use on that node).

// change is one record that changed, on the wire (JSON).
type change struct {
	Token          *Token   `json:"t,omitempty"`  // created or updated
	Account        *Account `json:"a,omitempty"`  // created
	DeletedToken   uint64   `json:"dt,omitempty"` // deleted
	DeletedAccount uint64   `json:"da,omitempty"` // deleted
}

// replica is what a change list and a snapshot are.
type replica struct {
	Changes []change `json:"c"`
	// Full marks a snapshot: records the receiver has and the snapshot
	// lacks are deleted.
	Full bool `json:"full,omitempty"`
}

// Replicate makes the registry hand every change made through its API to
// send (JSON, for [Registry.ApplyReplica] on another node), under its
// lock so changes go out in the order they happened: send must not block.
func (r *Registry) Replicate(send func(changes []byte)) {
	r.mu.Lock()
	r.replicate = send
	r.mu.Unlock()
}

// sendLocked hands cs to the replication function, if any (r.mu held).
func (r *Registry) sendLocked(cs []change) {
	if r.replicate == nil || len(cs) == 0 {
		return
	}
	b, _ := json.Marshal(replica{Changes: cs})
	r.replicate(b)
}

// Snapshot returns every account and token, for a node that joins.
func (r *Registry) Snapshot() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := replica{Full: true}
	ids := make([]uint64, 0, len(r.accounts))
	for id := range r.accounts {
		ids = append(ids, id)
	}
	slices.Sort(ids) // parents before their subaccounts
	for _, id := range ids {
		a := *r.accounts[id]
		rep.Changes = append(rep.Changes, change{Account: &a})
	}
	for _, t := range r.tokens {
		tc := *t
		rep.Changes = append(rep.Changes, change{Token: &tc})
	}
	b, _ := json.Marshal(rep)
	return b
}

// RestoreSnapshot makes the registry hold what a peer's [Registry.Snapshot]
// holds: the cluster's state wins over what this node had, so a node that
// was away cannot bring back what was deleted meanwhile.
func (r *Registry) RestoreSnapshot(b []byte) error { return r.ApplyReplica(b) }

// ApplyReplica applies changes another node made (see
// [Registry.Replicate]) and ends the connections of the tokens they
// deleted, disabled or changed the rights of. The store gets them too.
func (r *Registry) ApplyReplica(data []byte) error {
	var rep replica
	if err := json.Unmarshal(data, &rep); err != nil {
		return err
	}
	r.mu.Lock()
	var b storage.Batch
	ended := map[uint64]string{}
	seenT, seenA := map[uint64]bool{}, map[uint64]bool{}
	for _, c := range rep.Changes {
		switch {
		case c.Account != nil:
			a := *c.Account
			seenA[a.ID] = true
			r.accounts[a.ID] = &a
			v, _ := json.Marshal(a)
			b.PutKV(spaceAccounts, idKey(a.ID), v)
			r.next = max(r.next, a.ID+1)
		case c.Token != nil:
			t := *c.Token
			seenT[t.ID] = true
			if old := r.tokens[t.ID]; old != nil {
				if (old.Enabled && !t.Enabled) || !accessEqual(old.Access, t.Access) || old.Key != t.Key {
					ended[t.ID] = "token changed"
				}
				delete(r.byKey, old.Key)
				t.Accessed = max(t.Accessed, old.Accessed)
			}
			if other := r.byKey[t.Key]; other != nil && other.ID != t.ID {
				// One key, two ids (a master token given to two nodes
				// that each created it): keep the lower id everywhere.
				if other.ID < t.ID {
					seenT[other.ID] = true
					continue
				}
				r.dropTokenLocked(&b, other.ID)
				ended[other.ID] = "token deleted"
			}
			r.tokens[t.ID], r.byKey[t.Key] = &t, &t
			r.putToken(&b, &t)
			r.next = max(r.next, t.ID+1)
		case c.DeletedToken != 0:
			if r.tokens[c.DeletedToken] != nil {
				r.dropTokenLocked(&b, c.DeletedToken)
				ended[c.DeletedToken] = "token deleted"
			}
		case c.DeletedAccount != 0:
			if r.accounts[c.DeletedAccount] != nil {
				delete(r.accounts, c.DeletedAccount)
				b.DeleteKV(spaceAccounts, idKey(c.DeletedAccount))
			}
		}
	}
	if rep.Full {
		for id := range r.tokens {
			if !seenT[id] {
				r.dropTokenLocked(&b, id)
				ended[id] = "token deleted"
			}
		}
		for id := range r.accounts {
			if !seenA[id] {
				delete(r.accounts, id)
				b.DeleteKV(spaceAccounts, idKey(id))
			}
		}
	}
	b.PutKV(spaceMeta, "next", []byte(strconv.FormatUint(r.next, 10)))
	r.schedule()
	revoke := r.revoke
	r.store.Apply(&b) // as expire: the records come back from the cluster at the next join if this write fails
	r.mu.Unlock()
	if revoke != nil {
		for id, why := range ended {
			revoke(id, why)
		}
	}
	return nil
}
