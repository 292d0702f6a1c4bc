package enginebench

import (
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
)

// kvFSM is the smallest state machine: it counts applied entries.
type kvFSM struct{ applied atomic.Int64 }

func (f *kvFSM) Apply(*raft.Log) any                 { f.applied.Add(1); return nil }
func (f *kvFSM) Snapshot() (raft.FSMSnapshot, error) { return snap{}, nil }
func (f *kvFSM) Restore(r io.ReadCloser) error       { return r.Close() }

type snap struct{}

func (snap) Persist(s raft.SnapshotSink) error { return s.Close() }
func (snap) Release()                          {}

type raftNode struct {
	r  *raft.Raft
	tr *raft.NetworkTransport
}

// newRaftCluster starts three raft nodes over TCP on loopback with
// in-memory log and stable stores (no fsync: the same footing as
// JetStream's default, which syncs every 2 minutes and relies on
// replication).
func newRaftCluster(t *testing.T) []*raftNode {
	var nodes []*raftNode
	var servers []raft.Server
	for i := range 3 {
		tr, err := raft.NewTCPTransport("127.0.0.1:0", nil, 3, 5*time.Second, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		cfg := raft.DefaultConfig()
		cfg.LocalID = raft.ServerID(fmt.Sprint("r", i))
		cfg.LogOutput = io.Discard
		// LAN-tuned timeouts, as a broker cluster on one network would use
		// (the defaults are 1 s heartbeat / election).
		cfg.HeartbeatTimeout = 200 * time.Millisecond
		cfg.ElectionTimeout = 200 * time.Millisecond
		cfg.LeaderLeaseTimeout = 100 * time.Millisecond
		store := raft.NewInmemStore()
		r, err := raft.NewRaft(cfg, &kvFSM{}, store, store, raft.NewInmemSnapshotStore(), tr)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, &raftNode{r: r, tr: tr})
		servers = append(servers, raft.Server{ID: cfg.LocalID, Address: tr.LocalAddr()})
	}
	nodes[0].r.BootstrapCluster(raft.Configuration{Servers: servers})
	t.Cleanup(func() {
		for _, n := range nodes {
			n.r.Shutdown().Error()
			n.tr.Close()
		}
	})
	return nodes
}

func raftLeader(t *testing.T, nodes []*raftNode, skip map[int]bool) int {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for i, n := range nodes {
			if !skip[i] && n.r.State() == raft.Leader {
				return i
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("no leader")
	return -1
}

// TestRaftReplicatedWrites: Apply on the leader returns once a quorum has
// the entry and the leader applied it.
func TestRaftReplicatedWrites(t *testing.T) {
	nodes := newRaftCluster(t)
	l := nodes[raftLeader(t, nodes, nil)].r
	payload := make([]byte, 80)
	const N = 2000
	var lat []time.Duration
	for range N {
		start := time.Now()
		if err := l.Apply(payload, 5*time.Second).Error(); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	report(t, "raft Apply 3 nodes (sequential, on the leader)", lat)
	const M = 20000
	start := time.Now()
	for i := 0; i < M; i += 1000 {
		var fs []raft.ApplyFuture
		for range 1000 {
			fs = append(fs, l.Apply(payload, 5*time.Second))
		}
		for _, f := range fs {
			if err := f.Error(); err != nil {
				t.Fatal(err)
			}
		}
	}
	el := time.Since(start)
	t.Logf("raft Apply pipelined (1000 in flight): %d in %v = %.0f/s", M, el, float64(M)/el.Seconds())
}

// TestRaftFailover: kill the leader, time until a new leader applies; then
// kill another: the lone node must refuse.
func TestRaftFailover(t *testing.T) {
	nodes := newRaftCluster(t)
	li := raftLeader(t, nodes, nil)
	nodes[li].r.Shutdown().Error()
	nodes[li].tr.Close()
	killed := time.Now()
	dead := map[int]bool{li: true}
	nl := raftLeader(t, nodes, dead)
	for nodes[nl].r.Apply([]byte("x"), time.Second).Error() != nil {
		nl = raftLeader(t, nodes, dead)
	}
	t.Logf("raft failover (200 ms election timeout): new leader applied %v after the leader died", time.Since(killed))
	other := 3 - li - nl
	nodes[other].r.Shutdown().Error()
	nodes[other].tr.Close()
	start := time.Now()
	var ok, refused int
	for time.Since(start) < 2*time.Second {
		if nodes[nl].r.Apply([]byte("y"), 200*time.Millisecond).Error() == nil {
			ok++
		} else {
			refused++
		}
	}
	t.Logf("raft minority (1 of 3) for 2 s: %d applied, %d refused", ok, refused)
	if ok > 0 {
		t.Errorf("minority applied %d", ok)
	}
}

// TestMemberlist: join time, failure detection time, and the cost of its
// reliable message path (one TCP connection per message) that a raft
// design would need for MQTT traffic unless it builds its own mesh.
func TestMemberlist(t *testing.T) {
	var lists []*memberlist.Memberlist
	got := make(chan []byte, 1024)
	for i := range 3 {
		cfg := memberlist.DefaultLANConfig()
		cfg.Name = fmt.Sprint("m", i)
		cfg.BindAddr = "127.0.0.1"
		cfg.BindPort = 0
		cfg.AdvertisePort = 0
		cfg.LogOutput = io.Discard
		if i == 1 {
			cfg.Delegate = delegate{got}
		}
		l, err := memberlist.Create(cfg)
		if err != nil {
			t.Fatal(err)
		}
		lists = append(lists, l)
		t.Cleanup(func() { l.Shutdown() })
	}
	start := time.Now()
	for _, l := range lists[1:] {
		if _, err := l.Join([]string{lists[0].LocalNode().Address()}); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(20 * time.Second); lists[2].NumMembers() < 3 || lists[1].NumMembers() < 3; {
		if time.Now().After(deadline) {
			t.Fatal("memberlist: 3 members never joined")
		}
		time.Sleep(time.Millisecond) // memberlist signals no join event here
	}
	t.Logf("memberlist: 3 members joined in %v", time.Since(start))
	var lat []time.Duration
	to := lists[1].LocalNode()
	for range 500 {
		s := time.Now()
		if err := lists[0].SendReliable(to, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatal("lost")
		}
		lat = append(lat, time.Since(s))
	}
	report(t, "memberlist SendReliable (TCP connection per message)", lat)
	lists[2].Shutdown()
	dead := time.Now()
	for deadline := time.Now().Add(60 * time.Second); lists[0].NumMembers() > 2; {
		if time.Now().After(deadline) {
			t.Fatal("memberlist: the dead member was never detected")
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("memberlist (LAN defaults): a dead member detected by another in %v", time.Since(dead))
	_ = net.IPv4len
}

type delegate struct{ got chan []byte }

func (delegate) NodeMeta(int) []byte             { return nil }
func (d delegate) NotifyMsg(b []byte)            { d.got <- append([]byte(nil), b...) }
func (delegate) GetBroadcasts(int, int) [][]byte { return nil }
func (delegate) LocalState(bool) []byte          { return nil }
func (delegate) MergeRemoteState([]byte, bool)   {}
