package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/packet"
)

// Keyspaces of the store ([storage.Store.PutKV]).
const (
	spaceTokens   = "auth.tokens"   // id (20 digits) -> Token JSON
	spaceAccounts = "auth.accounts" // id (20 digits) -> Account JSON
	spaceMeta     = "auth.meta"     // "next" -> the next id to give
)

// MaxDepth is how many levels an account tree has, the root account
// included (flespi: "subaccounts support up to four levels of hierarchy").
const MaxDepth = 4

// Account is a subaccount, in flespi's shape: its id, its name, and cid,
// the id of the account that owns it.
type Account struct {
	ID      uint64 `json:"id"`
	CID     uint64 `json:"cid"`
	Name    string `json:"name"`
	Created int64  `json:"created"`
}

// Errors the REST API tells apart with errors.Is.
var (
	ErrNotFound  = errors.New("not found")
	ErrForbidden = errors.New("forbidden")
	ErrInvalid   = errors.New("invalid")
)

// Registry holds the tokens and accounts, implements
// [broker.Authenticator], and writes every change through to its store.
// The root account (the broker's [broker.Options.AccountID]) always exists
// and is not a subaccount.
type Registry struct {
	store storage.Store
	root  uint64
	now   func() time.Time

	mu       sync.RWMutex // read-locked by Sees, on the delivery path
	tokens   map[uint64]*Token
	byKey    map[string]*Token
	accounts map[uint64]*Account
	next     uint64         // the next id for a token or an account
	inUse    map[uint64]int // connections holding each token
	revoke   func(tokenID uint64, reason string)
	timer    *time.Timer // fires at the next token's end of validity
	closed   bool
	// replicate sends this registry's changes to a cluster's other nodes
	// (replica.go); nil outside a cluster.
	replicate func(changes []byte)
}

var _ broker.Authenticator = (*Registry)(nil)

// Options configure [Open].
type Options struct {
	// Root is the root account's id (flespi cid); 0 means 1, the broker's
	// default [broker.Options.AccountID].
	Root uint64
	// MasterKey, when set, is a master token of the root account that is
	// created if the store does not hold it (--master-token,
	// MQTTBOARD_MASTER_TOKEN). It must be a [ValidKey].
	MasterKey string
	// Now is the clock; nil is time.Now. Tests move it.
	Now func() time.Time
}

// Open loads the registry from store. Without a MasterKey, when the store
// holds no enabled master token of the root account, it creates one and
// returns its key in generated, for the caller to print once: a store
// that keeps it (--data) never generates another.
func Open(store storage.Store, o Options) (r *Registry, generated string, err error) {
	if o.Root == 0 {
		o.Root = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MasterKey != "" && !ValidKey(o.MasterKey) {
		return nil, "", fmt.Errorf("master token: %d characters; a token key is %d printable characters without spaces", len(o.MasterKey), KeyLen)
	}
	r = &Registry{store: store, root: o.Root, now: o.Now, tokens: map[uint64]*Token{}, byKey: map[string]*Token{},
		accounts: map[uint64]*Account{}, inUse: map[uint64]int{}, next: max(o.Root+1, 2)}
	if err := r.load(); err != nil {
		return nil, "", err
	}
	switch {
	case o.MasterKey != "":
		if r.byKey[o.MasterKey] == nil {
			if _, err := r.create(r.root, Token{Key: o.MasterKey, Info: "master token (--master-token)", Enabled: true, Access: Access{Type: Master}}); err != nil {
				return nil, "", err
			}
		}
	case !r.hasMaster():
		t, err := r.create(r.root, Token{Key: NewKey(), Info: "master token generated at first start", Enabled: true, Access: Access{Type: Master}})
		if err != nil {
			return nil, "", err
		}
		generated = t.Key
	}
	r.mu.Lock()
	r.schedule()
	r.mu.Unlock()
	return r, generated, nil
}

func idKey(id uint64) string { return fmt.Sprintf("%020d", id) }

func (r *Registry) load() error {
	if v, ok, err := r.store.GetKV(spaceMeta, "next"); err != nil {
		return err
	} else if ok {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return &storage.CorruptError{File: spaceMeta + "/next", Detail: err.Error()}
		}
		r.next = max(r.next, n)
	}
	err := r.store.ScanKV(spaceAccounts, func(k string, v []byte) error {
		var a Account
		if err := json.Unmarshal(v, &a); err != nil {
			return &storage.CorruptError{File: spaceAccounts + "/" + k, Detail: err.Error()}
		}
		r.accounts[a.ID] = &a
		r.next = max(r.next, a.ID+1)
		return nil
	})
	if err != nil {
		return err
	}
	return r.store.ScanKV(spaceTokens, func(k string, v []byte) error {
		var t Token
		if err := json.Unmarshal(v, &t); err != nil {
			return &storage.CorruptError{File: spaceTokens + "/" + k, Detail: err.Error()}
		}
		r.tokens[t.ID] = &t
		r.byKey[t.Key] = &t
		r.next = max(r.next, t.ID+1)
		return nil
	})
}

func (r *Registry) hasMaster() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for _, t := range r.tokens {
		if t.CID == r.root && t.Access.Type == Master && r.validLocked(t, now) == "" {
			return true
		}
	}
	return false
}

// Close stops the expiry timer. The store is the caller's to close.
func (r *Registry) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.timer != nil {
		r.timer.Stop()
	}
}

func (r *Registry) putToken(b *storage.Batch, t *Token) {
	v, _ := json.Marshal(t)
	b.PutKV(spaceTokens, idKey(t.ID), v)
}

// newID takes the next id (under r.mu), writing the counter into b.
func (r *Registry) newID(b *storage.Batch) uint64 {
	id := r.next
	r.next++
	b.PutKV(spaceMeta, "next", []byte(strconv.FormatUint(r.next, 10)))
	return id
}

// create stores a new token of account cid from t (its key, info,
// lifetime, enabled and access); it fills id, cid, created and a key when
// t has none.
func (r *Registry) create(cid uint64, t Token) (Token, error) {
	if err := t.Access.Validate(); err != nil {
		return Token{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	r.mu.Lock()
	if t.Key == "" {
		t.Key = NewKey()
	}
	if r.byKey[t.Key] != nil {
		r.mu.Unlock()
		return Token{}, fmt.Errorf("%w: a token with this key exists", ErrInvalid)
	}
	var b storage.Batch
	t.ID = r.newID(&b)
	t.CID = cid
	t.Created = r.now().Unix()
	nt := t
	r.putToken(&b, &nt)
	stored := nt // the registry's own: nt is returned after unlocking
	r.tokens[nt.ID], r.byKey[nt.Key] = &stored, &stored
	r.schedule()
	r.sendLocked([]change{{Token: &nt}})
	// Queued under the lock, so writes reach the store in the order the
	// registry changed, and waited for without it (deliveries read it):
	// the token is usable a moment before it is durable, and forgotten
	// if the write fails.
	cm := r.store.Apply(&b)
	r.mu.Unlock()
	if err := cm.Wait(context.Background()); err != nil {
		r.mu.Lock()
		delete(r.tokens, nt.ID)
		delete(r.byKey, nt.Key)
		r.mu.Unlock()
		return Token{}, err
	}
	return nt, nil
}

// validLocked says why t is not valid at now ("" when it is): disabled,
// or past both its expire and its ttl (flespi: valid while either is).
func (r *Registry) validLocked(t *Token, now time.Time) string {
	if !t.Enabled {
		return "token is disabled"
	}
	if end, ok := r.endLocked(t); ok && !now.Before(end) {
		return "token expired"
	}
	return ""
}

// endLocked is when t stops being valid; ok is false when it never does
// (no lifetime, or a ttl kept fresh by a connection using it).
func (r *Registry) endLocked(t *Token) (end time.Time, ok bool) {
	if t.Expire == 0 && t.TTL == 0 {
		return time.Time{}, false
	}
	if t.TTL != 0 && r.inUse[t.ID] > 0 {
		return time.Time{}, false
	}
	var e time.Time
	if t.Expire != 0 {
		e = time.Unix(t.Expire, 0)
	}
	if t.TTL != 0 {
		ttl := time.Duration(min(t.TTL, math.MaxInt64/int64(time.Second))) * time.Second
		if te := time.Unix(max(t.Created, t.Accessed), 0).Add(ttl); te.After(e) {
			e = te
		}
	}
	return e, true
}

// schedule sets the timer for the next token to become invalid (r.mu
// held).
func (r *Registry) schedule() {
	if r.closed {
		return
	}
	var next time.Time
	for _, t := range r.tokens {
		if e, ok := r.endLocked(t); ok && t.Enabled && (next.IsZero() || e.Before(next)) {
			next = e
		}
	}
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	if next.IsZero() {
		return
	}
	// Expiry is in whole seconds; a little after the moment it is past.
	d := max(next.Sub(r.now()), 0) + 10*time.Millisecond
	r.timer = time.AfterFunc(d, r.expire)
}

// expire deletes the tokens that are past their lifetime (flespi deletes
// expired tokens) and ends their connections.
func (r *Registry) expire() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	now := r.now()
	var doomed []uint64
	var b storage.Batch
	for id, t := range r.tokens {
		if e, ok := r.endLocked(t); ok && !now.Before(e) {
			doomed = append(doomed, id)
			delete(r.tokens, id)
			delete(r.byKey, t.Key)
			b.DeleteKV(spaceTokens, idKey(id))
		}
	}
	r.schedule()
	revoke := r.revoke
	if b.Len() > 0 {
		// Not waited for: a failed write leaves the token on disk,
		// expired, refused and deleted again at the next start.
		r.store.Apply(&b)
	}
	r.mu.Unlock()
	if revoke != nil {
		for _, id := range doomed {
			revoke(id, "token expired")
		}
	}
}

// Authenticate implements [broker.Authenticator].
func (r *Registry) Authenticate(username string, password []byte, hasPassword bool) (*broker.Identity, packet.ReasonCode, string) {
	cands := parseMQTT(username, password, hasPassword)
	if len(cands) == 0 {
		return nil, packet.BadUserNameOrPassword, "no token: give it as the user name or the password"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var t *Token
	for _, c := range cands {
		if c.key != "" {
			t = r.byKey[c.key]
		} else if x := r.tokens[c.id]; x != nil && subtle.ConstantTimeCompare([]byte(x.Key[:ShortLen]), []byte(c.short)) == 1 {
			t = x
		}
		if t != nil {
			break
		}
	}
	if t == nil {
		return nil, packet.BadUserNameOrPassword, "unknown token"
	}
	if why := r.validLocked(t, r.now()); why != "" {
		return nil, packet.NotAuthorized, why
	}
	return r.identityLocked(t), packet.Success, ""
}

func (r *Registry) identityLocked(t *Token) *broker.Identity {
	pub := *t
	pub.Key = ""
	j, _ := json.Marshal(pub)
	return &broker.Identity{TokenID: t.ID, Account: t.CID, Type: t.Access.Type, Grants: t.Access.grants(), Token: j}
}

// Acquire implements [broker.Authenticator]: the token is in use.
func (r *Registry) Acquire(tokenID uint64) { r.touch(tokenID, 1) }

// Release implements [broker.Authenticator]: one connection of the token
// ended; its ttl counts from now.
func (r *Registry) Release(tokenID uint64) { r.touch(tokenID, -1) }

func (r *Registry) touch(tokenID uint64, d int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.inUse[tokenID] + d; n > 0 {
		r.inUse[tokenID] = n
	} else {
		delete(r.inUse, tokenID)
	}
	t := r.tokens[tokenID]
	if t == nil {
		return
	}
	t.Accessed = r.now().Unix()
	var b storage.Batch
	r.putToken(&b, t)
	r.store.Apply(&b) // accessed is advisory: not waited for
	r.schedule()
}

// Sees implements [broker.Authenticator]: viewer sees its own account and
// every account below it.
func (r *Registry) Sees(viewer, owner uint64) bool {
	if viewer == owner {
		return true
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.inBranchLocked(viewer, owner)
}

// inBranchLocked reports whether id is viewer or below it.
func (r *Registry) inBranchLocked(viewer, id uint64) bool {
	for range MaxDepth + 1 {
		if id == viewer {
			return true
		}
		a := r.accounts[id]
		if a == nil {
			return false
		}
		id = a.CID
	}
	return false
}

// Watch implements [broker.Authenticator].
func (r *Registry) Watch(revoke func(tokenID uint64, reason string)) {
	r.mu.Lock()
	r.revoke = revoke
	r.mu.Unlock()
}

// Root is the root account's id.
func (r *Registry) Root() uint64 { return r.root }

// Caller is who an API request acts as: its token, and the account it
// acts in (the token's, or a subaccount named by x-flespi-cid).
type Caller struct {
	Token Token // without its key
	CID   uint64
}

// Master reports whether the caller's token is a master token.
func (c *Caller) Master() bool { return c.Token.Access.Type == Master }

// Authorize finds the caller of an API request from its Authorization
// header value and its x-flespi-cid header value ("" when absent). It
// counts as a use of the token (its ttl runs from now).
func (r *Registry) Authorize(authorization, cidHeader string) (*Caller, error) {
	key, ok := ParseAuthorization(authorization)
	if !ok {
		return nil, fmt.Errorf("%w: send the header Authorization: FlespiToken <key>", ErrNotFound)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.byKey[key]
	if t == nil {
		return nil, fmt.Errorf("%w: unknown token", ErrNotFound)
	}
	now := r.now()
	if why := r.validLocked(t, now); why != "" {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, why)
	}
	t.Accessed = now.Unix()
	r.schedule()
	c := &Caller{Token: *t, CID: t.CID}
	c.Token.Key = ""
	if cidHeader != "" {
		cid, err := strconv.ParseUint(strings.TrimSpace(cidHeader), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: x-flespi-cid %q is not an account id", ErrInvalid, cidHeader)
		}
		if t.Access.Type != Master || !r.inBranchLocked(t.CID, cid) {
			return nil, fmt.Errorf("%w: x-flespi-cid %d: only a master token acts in its own subaccounts", ErrForbidden, cid)
		}
		c.CID = cid
	}
	return c, nil
}

// Token returns a copy of token id with its key.
func (r *Registry) Token(id uint64) (Token, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tokens[id]
	if t == nil {
		return Token{}, false
	}
	return *t, true
}

// TokenSpec is the body of POST /platform/tokens and PUT
// /platform/tokens/{selector}: what a caller may set.
type TokenSpec struct {
	Info    *string `json:"info"`
	TTL     *int64  `json:"ttl"`
	Expire  *int64  `json:"expire"`
	Enabled *bool   `json:"enabled"`
	Access  *Access `json:"access"`
}

// CreateToken creates a token in account cid. As on flespi a token needs
// a lifetime: ttl, expire or both.
func (r *Registry) CreateToken(cid uint64, s TokenSpec) (Token, error) {
	t := Token{Enabled: true}
	if err := apply(&t, s); err != nil {
		return Token{}, err
	}
	if t.TTL == 0 && t.Expire == 0 {
		return Token{}, fmt.Errorf("%w: a token needs a lifetime: give ttl (seconds), expire (UNIX time) or both", ErrInvalid)
	}
	return r.create(cid, t)
}

func apply(t *Token, s TokenSpec) error {
	if s.Info != nil {
		t.Info = *s.Info
	}
	if s.TTL != nil {
		if *s.TTL < 0 {
			return fmt.Errorf("%w: ttl: %d is negative", ErrInvalid, *s.TTL)
		}
		t.TTL = *s.TTL
	}
	if s.Expire != nil {
		if *s.Expire < 0 {
			return fmt.Errorf("%w: expire: %d is negative", ErrInvalid, *s.Expire)
		}
		t.Expire = *s.Expire
	}
	if s.Enabled != nil {
		t.Enabled = *s.Enabled
	}
	if s.Access != nil {
		if err := s.Access.Validate(); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		t.Access = *s.Access
	}
	return nil
}

// selectIDs parses a selector: "all", or ids separated by commas.
func selectIDs(sel string) (all bool, ids []uint64, err error) {
	if sel == "all" {
		return true, nil, nil
	}
	for s := range strings.SplitSeq(sel, ",") {
		id, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
		if err != nil || id == 0 {
			return false, nil, fmt.Errorf("%w: selector %q: give all or ids separated by commas", ErrInvalid, sel)
		}
		ids = append(ids, id)
	}
	return false, ids, nil
}

// Tokens returns the tokens of account cid that the selector names, in id
// order, with their keys.
func (r *Registry) Tokens(cid uint64, sel string) ([]Token, error) {
	all, ids, err := selectIDs(sel)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Token
	for id, t := range r.tokens {
		if t.CID == cid && (all || slices.Contains(ids, id)) {
			out = append(out, *t)
		}
	}
	slices.SortFunc(out, func(a, b Token) int { return cmpID(a.ID, b.ID) })
	return out, nil
}

func cmpID(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// UpdateTokens changes the selected tokens of account cid. Connections of
// a token that is disabled or whose access changed are ended (0x87): they
// reconnect under the new rights.
func (r *Registry) UpdateTokens(cid uint64, sel string, s TokenSpec) ([]Token, error) {
	if err := apply(&Token{}, s); err != nil {
		return nil, err // before any token changes: all or none
	}
	ts, err := r.Tokens(cid, sel)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	var b storage.Batch
	var out []Token
	var ended []uint64
	for _, old := range ts {
		t := r.tokens[old.ID]
		if t == nil {
			continue
		}
		nt := *t
		if err := apply(&nt, s); err != nil {
			r.mu.Unlock()
			return nil, err
		}
		if (t.Enabled && !nt.Enabled) || (s.Access != nil && !accessEqual(t.Access, nt.Access)) {
			ended = append(ended, t.ID)
		}
		*t = nt
		r.putToken(&b, t)
		out = append(out, nt)
	}
	r.schedule()
	cs := make([]change, len(out))
	for i := range out {
		cs[i].Token = &out[i]
	}
	r.sendLocked(cs)
	revoke := r.revoke
	cm := r.store.Apply(&b) // queued in order under the lock, waited for without it
	r.mu.Unlock()
	// What changed in memory applies even if the write failed.
	err = cm.Wait(context.Background())
	for _, id := range ended {
		if revoke != nil {
			revoke(id, "token changed")
		}
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func accessEqual(a, b Access) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// DeleteTokens deletes the selected tokens of account cid and ends their
// connections; it returns the deleted ones.
func (r *Registry) DeleteTokens(cid uint64, sel string) ([]Token, error) {
	ts, err := r.Tokens(cid, sel)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	var b storage.Batch
	var cs []change
	for _, t := range ts {
		r.dropTokenLocked(&b, t.ID)
		cs = append(cs, change{DeletedToken: t.ID})
	}
	r.schedule()
	r.sendLocked(cs)
	revoke := r.revoke
	cm := r.store.Apply(&b) // queued in order under the lock, waited for without it
	r.mu.Unlock()
	err = cm.Wait(context.Background())
	if revoke != nil { // deleted in memory even if the write failed
		for _, t := range ts {
			revoke(t.ID, "token deleted")
		}
	}
	if err != nil {
		return nil, err
	}
	return ts, nil
}

func (r *Registry) dropTokenLocked(b *storage.Batch, id uint64) {
	if t := r.tokens[id]; t != nil {
		delete(r.byKey, t.Key)
		delete(r.tokens, id)
		b.DeleteKV(spaceTokens, idKey(id))
	}
}

// CreateAccount creates a subaccount of account parent.
func (r *Registry) CreateAccount(parent uint64, name string) (Account, error) {
	if strings.TrimSpace(name) == "" {
		return Account{}, fmt.Errorf("%w: name: empty; a subaccount needs a name", ErrInvalid)
	}
	r.mu.Lock()
	if parent != r.root && r.accounts[parent] == nil {
		r.mu.Unlock()
		return Account{}, fmt.Errorf("%w: account %d", ErrNotFound, parent)
	}
	if d := r.depthLocked(parent); d+1 > MaxDepth {
		r.mu.Unlock()
		return Account{}, fmt.Errorf("%w: account %d is at level %d: subaccounts go at most %d levels deep", ErrInvalid, parent, d, MaxDepth)
	}
	var b storage.Batch
	a := Account{ID: r.newID(&b), CID: parent, Name: name, Created: r.now().Unix()}
	v, _ := json.Marshal(a)
	b.PutKV(spaceAccounts, idKey(a.ID), v)
	stored := a
	r.accounts[a.ID] = &stored
	r.sendLocked([]change{{Account: &a}})
	cm := r.store.Apply(&b) // as in create
	r.mu.Unlock()
	if err := cm.Wait(context.Background()); err != nil {
		r.mu.Lock()
		delete(r.accounts, a.ID)
		r.mu.Unlock()
		return Account{}, err
	}
	return a, nil
}

// depthLocked is the level of account id: 1 for the root.
func (r *Registry) depthLocked(id uint64) int {
	d := 1
	for a := r.accounts[id]; a != nil && d <= MaxDepth; a = r.accounts[a.CID] {
		d++
	}
	return d
}

// Accounts returns the subaccounts below account cid (at any depth) that
// the selector names, in id order.
func (r *Registry) Accounts(cid uint64, sel string) ([]Account, error) {
	all, ids, err := selectIDs(sel)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Account
	for id, a := range r.accounts {
		if id != cid && r.inBranchLocked(cid, id) && (all || slices.Contains(ids, id)) {
			out = append(out, *a)
		}
	}
	slices.SortFunc(out, func(a, b Account) int { return cmpID(a.ID, b.ID) })
	return out, nil
}

// DeleteAccounts deletes the selected subaccounts below cid, with their
// own subaccounts and every token of them all, ending those tokens'
// connections.
func (r *Registry) DeleteAccounts(cid uint64, sel string) ([]Account, error) {
	as, err := r.Accounts(cid, sel)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	var b storage.Batch
	doomed := map[uint64]bool{}
	for _, a := range as {
		for id := range r.accounts {
			if r.inBranchLocked(a.ID, id) {
				doomed[id] = true
			}
		}
	}
	var tokens []uint64
	var cs []change
	for id, t := range r.tokens {
		if doomed[t.CID] {
			tokens = append(tokens, id)
			r.dropTokenLocked(&b, id)
			cs = append(cs, change{DeletedToken: id})
		}
	}
	for id := range doomed {
		delete(r.accounts, id)
		b.DeleteKV(spaceAccounts, idKey(id))
		cs = append(cs, change{DeletedAccount: id})
	}
	r.schedule()
	r.sendLocked(cs)
	revoke := r.revoke
	cm := r.store.Apply(&b) // queued in order under the lock, waited for without it
	r.mu.Unlock()
	err = cm.Wait(context.Background())
	if revoke != nil { // deleted in memory even if the write failed
		for _, id := range tokens {
			revoke(id, "account deleted")
		}
	}
	if err != nil {
		return nil, err
	}
	return as, nil
}
