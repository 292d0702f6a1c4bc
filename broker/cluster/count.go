package cluster

import (
	"encoding/binary"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/nats-io/nats.go"
)

// count_subscribers across nodes: the publishing node sends the message
// with a count id, then a count request ("k") to every node, on the same
// connection. Each node handles both through its one inbox, in that
// order, so when it reads the request it has routed the message (or never
// received it: no interest) and answers with its number of deliveries.

const (
	// countTimeout bounds how long a PUBACK with count_subscribers waits
	// for the other nodes' counts.
	countTimeout = 2 * time.Second
	// maxCounting bounds the counts remembered on either side, against a
	// leak when an answer or a request never comes.
	maxCounting = 4096
)

// wantsCount reports whether m asks for count_subscribers (QoS 1).
func wantsCount(m *message.Message) bool {
	if m.QoS != 1 {
		return false
	}
	for _, u := range m.Props.User {
		if u.Key == "count_subscribers" && u.Value == "1" {
			return true
		}
	}
	return false
}

// countID assigns m a count id (under n.mu). The id is odd when m asks
// for count_subscribers, so that a receiving node keeps its number of
// deliveries and commits for a request about that id only then; an even
// id only asks for the confirmation that m was stored (stored.go), which
// covers many messages at once.
func (n *Node) countID(m *message.Message) uint64 {
	return n.newCountID(m, wantsCount(m))
}

// askedID is countID for a message whose receiving node will be asked
// about it alone (a shared-group message passed on: groups.go).
func (n *Node) askedID(m *message.Message) uint64 { return n.newCountID(m, true) }

func (n *Node) newCountID(m *message.Message, asked bool) uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.counting) >= maxCounting {
		clear(n.counting)
	}
	n.countSeq++
	id := n.countSeq << 1
	if asked {
		id |= 1
	}
	n.counting[m] = id
	return id
}

// asked reports whether a request will ask about count id id alone
// (countID).
func asked(id uint64) bool { return id&1 == 1 }

// Remote implements [broker.Bridge].
func (n *Node) Remote(m *message.Message, count bool) int {
	n.mu.Lock()
	id := n.counting[m]
	if count || n.store == nil {
		delete(n.counting, m) // else Stored (stored.go) asks the nodes
	}
	n.mu.Unlock()
	if !count || id == 0 {
		// Any interest at all, ours included: NATS knows the union of
		// every node's subjects, so 0 here means nobody anywhere.
		if n.ns.GlobalAccount().Interest(subject("m.", m.Topic)) > 0 {
			return 1
		}
		return 0
	}
	peers := n.readyPeers()
	if len(peers) == 0 {
		return 0
	}
	ch := make(chan countAnswer, len(peers))
	n.mu.Lock()
	n.countWait[id] = ch
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.countWait, id)
		n.mu.Unlock()
	}()
	req := binary.AppendUvarint(nil, id)
	if n.send("k", append(req, n.cfg.NodeName...), false) != nil {
		return 0
	}
	t := time.NewTimer(countTimeout)
	defer t.Stop()
	sum := 0
	for range peers {
		select {
		case c := <-ch:
			if c.n != failedAnswer {
				sum += c.n
			}
		case <-t.C:
			n.log.Warn("cluster: not every node answered count_subscribers", "timeout", countTimeout)
			return sum
		case <-n.closed:
			return sum
		}
	}
	return sum
}

// routed is what routing a counted message here did: its deliveries,
// and the commits that stored it for persistent sessions (stored.go).
type routed struct {
	deliveries int
	commits    []*storage.Commit
}

// remember keeps the deliveries of a counted message (inbox goroutine):
// its commits for node's next confirmation request (stored.go), and its
// deliveries and commits for the count request when it asked for one.
func (n *Node) remember(node string, id uint64, deliveries int, commits []*storage.Commit) {
	n.unconfirm(node, commits)
	if !asked(id) {
		return
	}
	if len(n.counted) >= maxCounting {
		clear(n.counted)
	}
	n.counted[countKey{node, id}] = routed{deliveries, commits}
}

// rememberMore adds to a counted message's entry the commits of a
// shared-group delivery forwarded here (groups.go; inbox goroutine). The
// publishing node counted that delivery itself.
func (n *Node) rememberMore(node string, id uint64, commits []*storage.Commit) {
	if len(commits) == 0 {
		return
	}
	n.unconfirm(node, commits)
	if !asked(id) {
		return
	}
	key := countKey{node, id}
	r, ok := n.counted[key]
	if !ok && len(n.counted) >= maxCounting {
		clear(n.counted)
	}
	r.commits = append(r.commits, commits...)
	n.counted[key] = r
}

// answerCount answers a count request, or with count id 0 a
// confirmation request (stored.go) (inbox goroutine).
func (n *Node) answerCount(data []byte) {
	id, k := binary.Uvarint(data)
	if k <= 0 {
		return
	}
	confirm := id == 0
	if confirm {
		var k2 int
		id, k2 = binary.Uvarint(data[k:])
		if k2 <= 0 {
			return
		}
		k += k2
	}
	node := string(data[k:])
	if !nodeName.MatchString(node) {
		return
	}
	if confirm {
		n.answerConfirm(node, id)
		return
	}
	key := countKey{node, id}
	r := n.counted[key]
	delete(n.counted, key)
	answer := func(failed bool) {
		b := binary.AppendUvarint(nil, id)
		b = binary.AppendUvarint(b, uint64(r.deliveries))
		var fl byte
		if failed {
			fl = 1 // stored.go: a delivery was not stored
		}
		b = append(b, fl)
		n.nc.Publish("c.cnt."+node, append(b, n.cfg.NodeName...))
	}
	if len(r.commits) == 0 {
		answer(false)
		return
	}
	// The answer waits until this node's deliveries are stored (stored.go),
	// off the inbox goroutine.
	n.wg.Go(func() { answer(!commitsOK(r.commits, n.closed)) })
}

// countAnswer is a node's answer to a count request: its deliveries (or
// failedAnswer) and its name ("" from a node of an older version, whose
// answer has no name).
type countAnswer struct {
	node string
	n    int
}

// onCount takes a node's answer to this node's count request: the id,
// the deliveries, then a flag byte (1: a delivery was not stored) and
// the answering node's name (a node of an older version sends the flag
// only when it is 1, and no name).
func (n *Node) onCount(m *nats.Msg) {
	id, k := binary.Uvarint(m.Data)
	if k <= 0 {
		return
	}
	c, k2 := binary.Uvarint(m.Data[k:])
	if k2 <= 0 {
		return
	}
	a := countAnswer{n: int(min(c, failedAnswer))}
	if rest := m.Data[k+k2:]; len(rest) > 0 {
		if rest[0] == 1 {
			a.n = failedAnswer
		}
		a.node = string(rest[1:])
	}
	n.mu.Lock()
	ch := n.countWait[id]
	n.mu.Unlock()
	if ch != nil {
		select {
		case ch <- a:
		default:
		}
	}
}

type countKey struct {
	node string
	id   uint64
}
