package cli

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mqttboard/mqttboard/internal/testproc"
)

// TestClusterKill9 runs three `mqttboard broker` processes with --data (the
// replicated store), persistent QoS 1 subscribers on the node that is
// killed (paho, reconnecting to a survivor), on a survivor (paho) and on
// the third node (mosquitto_sub -c), and publishers on the killed node
// (paho, moving to a survivor) and on a survivor (paho, and mosquitto_pub
// before the kill). Node a gets kill -9 halfway. Counted by sequence
// number at each subscriber: every acknowledged message arrives (duplicates
// allowed, QoS 1); the retained message set on the killed node survives;
// the node restarts with its data and has what changed while it was away.
// A third publisher on a survivor publishes on "kept/p2", which only a
// persistent subscriber on the third node receives: the killed node's
// sessions could not, so the survivors do not refuse it while they take
// them over; the test logs its longest wait for an acknowledgement around
// the kill (the failover as that publisher sees it).
func TestClusterKill9(t *testing.T) {
	subBin, err1 := exec.LookPath("mosquitto_sub")
	pubBin, err2 := exec.LookPath("mosquitto_pub")
	if err1 != nil || err2 != nil {
		t.Skip("mosquitto_sub/mosquitto_pub not installed (Debian package mosquitto-clients); skipping")
	}
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	names := []string{"a", "b", "c"}
	var mqtt, route, dirs []string
	for range names {
		// The MQTT port is the kernel's choice, read from the node's output
		// (a node listens only after its store is ready, seconds later: a
		// port picked in advance may be taken by then); the cluster ports
		// must be known to the peers in advance.
		mqtt = append(mqtt, "127.0.0.1:0")
		route = append(route, "127.0.0.1:"+freePort(t))
		dirs = append(dirs, t.TempDir())
	}
	procs := make([]*exec.Cmd, 3)
	var logs [3]*syncBuffer
	startNode := func(i int) {
		args := []string{"broker", "--log-level", "debug", "--listen", mqtt[i], "--node-name", names[i], "--cluster-listen", route[i], "--data", dirs[i]}
		for j := range names {
			if j != i {
				args = append(args, "--cluster-peer", route[j])
			}
		}
		cmd := testproc.Tie(exec.Command(bin.path, args...))
		logs[i] = newSyncBuffer()
		cmd.Stdout, cmd.Stderr = logs[i], logs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[i] = cmd
	}
	t.Cleanup(func() {
		for _, p := range procs {
			if p != nil && p.ProcessState == nil {
				p.Process.Signal(syscall.SIGTERM)
				done := make(chan struct{})
				go func() { p.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(20 * time.Second):
					p.Process.Kill()
					<-done
				}
			}
		}
	})
	t.Cleanup(func() {
		// What the nodes said about the failover (and any error).
		for i := range names {
			if logs[i] == nil {
				continue
			}
			for _, l := range strings.Split(logs[i].String(), "\n") {
				if strings.Contains(l, "took over") || strings.Contains(l, "no node confirmed") || strings.Contains(l, "was lost") ||
					strings.Contains(l, "level=ERROR") || strings.Contains(l, "taken from") ||
					strings.Contains(l, "waited") || strings.Contains(l, "new stream leader") || strings.Contains(l, "new metadata leader") {
					t.Logf("%s: %s", names[i], l)
				}
			}
		}
	})
	waitReady := func(i int) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			out := logs[i].String()
			if _, rest, ok := strings.Cut(out, "listening on mqtt://"); ok {
				mqtt[i], _, _ = strings.Cut(rest, "\n") // a restart keeps this port
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s not ready:\n%s", names[i], out)
			}
			time.Sleep(50 * time.Millisecond) // the process's output has no event to wait on here; bounded
		}
	}
	for i := range names {
		startNode(i)
	}
	for i := range names {
		waitReady(i)
	}
	mosq := func(bin string, args ...string) string {
		t.Helper()
		out, err := testproc.Tie(exec.CommandContext(ctx, bin, args...)).CombinedOutput()
		if err != nil && bin == pubBin {
			t.Fatalf("%s %v: %v %s", bin, args, err, out)
		}
		return string(out)
	}
	mosq(pubBin, append(mosqAddr(mqtt[0]), "-q", "1", "-r", "-t", "ret/a", "-m", "A")...)

	// Subscribers, persistent, QoS 1, on "load/#".
	s0 := newSeqSub(t, ctx, mqtt[0], "s0", "load/#")
	s1 := newSeqSub(t, ctx, mqtt[1], "s1", "load/#")
	s2 := newSeqSub(t, ctx, mqtt[2], "s2", "kept/#")
	msub := testproc.Tie(exec.CommandContext(ctx, subBin, append(mosqAddr(mqtt[2]), "-c", "-i", "msub", "-q", "1", "-t", "load/#", "-v")...))
	mout, _ := msub.StdoutPipe()
	if err := msub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { msub.Process.Kill(); msub.Wait() })
	mseen := newSeen()
	go func() {
		sc := bufio.NewScanner(mout)
		for sc.Scan() {
			topic, payload, _ := strings.Cut(sc.Text(), " ")
			mseen.add(topic, payload)
		}
	}()
	// mosquitto_sub's SUBACK is not visible: wait until a probe arrives.
	for i := 0; !mseen.has("load/probe", "x"); i++ {
		if i > 200 {
			t.Fatal("mosquitto_sub never subscribed")
		}
		mosq(pubBin, append(mosqAddr(mqtt[1]), "-q", "1", "-t", "load/probe", "-m", "x")...)
		time.Sleep(50 * time.Millisecond) // bounded; waits for the probe to be seen
	}
	// mosquitto_pub on b: 100 messages, all acknowledged when it exits 0.
	var lines strings.Builder
	for i := range 100 {
		fmt.Fprintf(&lines, "%d\n", i)
	}
	mp := testproc.Tie(exec.CommandContext(ctx, pubBin, append(mosqAddr(mqtt[1]), "-q", "1", "-t", "load/mq", "-l")...))
	mp.Stdin = strings.NewReader(lines.String())
	if out, err := mp.CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub -l: %v %s", err, out)
	}
	acked := map[string][]int{"load/mq": seqs(100)}

	// Publishers with sequence numbers: p0 on a (moves to c after the
	// kill), p1 on b.
	const N = 400
	killAt := make(chan struct{})
	var killOnce sync.Once
	var killed time.Time
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstAfter time.Duration
	// refusedUntil: the first acknowledgement after the kill of a
	// publisher on a survivor that was refused (0x97) after the kill, i.e.
	// how long the survivors refused during the takeover.
	var refusedUntil time.Duration
	publish := func(name string, addrs []string) {
		defer wg.Done()
		topic := "load/" + name
		var got []int
		addr := 0
		c, err := connectPub(ctx, addrs[addr], name)
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
		refused := false
		for i := 0; i < N; {
			if i == N/2 && name == "p0" {
				killOnce.Do(func() { close(killAt) })
			}
			pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
			pa, err := c.Publish(pctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(fmt.Sprint(i))})
			pcancel()
			if err == nil && pa.ReasonCode < 0x80 {
				got = append(got, i)
				i++
				mu.Lock()
				if addr > 0 && firstAfter == 0 {
					firstAfter = time.Since(killed)
				}
				if refused && refusedUntil == 0 {
					refusedUntil = time.Since(killed)
				}
				mu.Unlock()
				continue
			}
			if ctx.Err() != nil {
				t.Errorf("%s: message %d never acknowledged", name, i)
				return
			}
			mu.Lock()
			refused = refused || (pa != nil && pa.ReasonCode >= 0x80 && !killed.IsZero() && name == "p1")
			mu.Unlock()
			if c.connErr() != nil && addr+1 < len(addrs) {
				addr++
				if c, err = connectPub(ctx, addrs[addr], name); err != nil {
					t.Error(err)
					return
				}
				t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
			}
		}
		mu.Lock()
		acked[topic] = got
		mu.Unlock()
	}
	// p2 on b, on a topic only s2 (on c) subscribes: it publishes until
	// p0 and p1 are done, and notes its longest wait for an
	// acknowledgement that ended after the kill, and its refusals.
	var p2Gap time.Duration
	p2Refused := 0
	var p2wg sync.WaitGroup
	p0p1Done := make(chan struct{})
	p2wg.Go(func() {
		c, err := connectPub(ctx, mqtt[1], "p2")
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
		var got []int
		last := time.Now()
		for i := 0; ; {
			select {
			case <-p0p1Done:
				mu.Lock()
				acked["kept/p2"] = got
				mu.Unlock()
				return
			default:
			}
			pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
			pa, err := c.Publish(pctx, &paho.Publish{Topic: "kept/p2", QoS: 1, Payload: []byte(fmt.Sprint(i))})
			pcancel()
			mu.Lock()
			after := !killed.IsZero()
			mu.Unlock()
			if err == nil && pa.ReasonCode < 0x80 {
				got = append(got, i)
				i++
				if after {
					p2Gap = max(p2Gap, time.Since(last))
				}
				last = time.Now()
				continue
			}
			if ctx.Err() != nil || c.connErr() != nil {
				t.Errorf("p2: message %d never acknowledged: %v", i, err)
				return
			}
			if after {
				p2Refused++
			}
		}
	})
	wg.Add(2)
	go publish("p0", []string{mqtt[0], mqtt[2]})
	go publish("p1", []string{mqtt[1]})
	<-killAt
	mu.Lock()
	killed = time.Now()
	mu.Unlock()
	t.Logf("kill -9 of a at %s", killed.UTC().Format("15:04:05.000"))
	if err := procs[0].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	procs[0].Wait()
	// s0 was on a: it resumes its session on b.
	s0.resume(t, ctx, mqtt[1])
	resumed := time.Since(killed)
	wg.Wait()
	close(p0p1Done)
	p2wg.Wait()
	if t.Failed() {
		return
	}
	mosq(pubBin, append(mosqAddr(mqtt[1]), "-q", "1", "-r", "-t", "ret/b", "-m", "B")...) // while a is down

	for _, sub := range []struct {
		name   string
		seen   *seen
		prefix string
	}{{"s0 (on a, then b)", s0.seen, "load/"}, {"s1 (on b)", s1.seen, "load/"}, {"mosquitto_sub (on c)", mseen, "load/"}, {"s2 (on c)", s2.seen, "kept/"}} {
		for topic, ids := range acked {
			if !strings.HasPrefix(topic, sub.prefix) {
				continue
			}
			for _, i := range ids {
				sub.seen.waitFor(t, topic, fmt.Sprint(i), sub.name)
			}
		}
	}
	t.Logf("acknowledged: p0 %d, p1 %d, mosquitto_pub 100, p2 %d; every one at each subscriber; a publisher's first acknowledgement after the kill %v after it (the survivors' publisher was refused until %v after it), the killed node's subscriber resumed on a survivor %v after it; p2 (a topic the killed node's sessions could not receive) waited at most %v for an acknowledgement after the kill, refused %d times",
		len(acked["load/p0"]), len(acked["load/p1"]), len(acked["kept/p2"]), firstAfter.Round(time.Millisecond), refusedUntil.Round(time.Millisecond), resumed.Round(time.Millisecond), p2Gap.Round(time.Millisecond), p2Refused)

	if out := mosq(subBin, append(mosqAddr(mqtt[2]), "-t", "ret/#", "-C", "2", "-W", "10", "-v")...); !strings.Contains(out, "ret/a A") || !strings.Contains(out, "ret/b B") {
		t.Fatalf("retained on c after the kill: %q", out)
	}
	// a comes back with its data directory and has ret/b.
	startNode(0)
	waitReady(0)
	if out := mosq(subBin, append(mosqAddr(mqtt[0]), "-t", "ret/#", "-C", "2", "-W", "10", "-v")...); !strings.Contains(out, "ret/a A") || !strings.Contains(out, "ret/b B") {
		t.Fatalf("retained on a after its restart: %q\n%s", out, logs[0].String())
	}
}

func seqs(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// seen is what a subscriber received, by topic and payload.
type seen struct {
	mu      sync.Mutex
	m       map[string]bool
	changed chan struct{}
}

func newSeen() *seen { return &seen{m: map[string]bool{}, changed: make(chan struct{})} }

func (s *seen) add(topic, payload string) {
	s.mu.Lock()
	s.m[topic+" "+payload] = true
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *seen) has(topic, payload string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[topic+" "+payload]
}

func (s *seen) waitFor(t *testing.T, topic, payload, who string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		s.mu.Lock()
		ok, ch := s.m[topic+" "+payload], s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("%s never got %s %s (acknowledged to its publisher)", who, topic, payload)
		}
	}
}

// seqSub is a persistent paho subscriber of one filter.
type seqSub struct {
	id   string
	seen *seen
	c    *paho.Client
}

func newSeqSub(t *testing.T, ctx context.Context, addr, id, filter string) *seqSub {
	t.Helper()
	s := &seqSub{id: id, seen: newSeen()}
	s.connect(t, ctx, addr, true)
	sctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if _, err := s.c.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *seqSub) connect(t *testing.T, ctx context.Context, addr string, first bool) bool {
	t.Helper()
	// A client retries a refused CONNECT, as the survivors may answer
	// 0x88 while they read the session.
	for try := 0; ; try++ {
		present, err := s.try(ctx, addr, first)
		if err == nil {
			t.Cleanup(func() { s.c.Disconnect(&paho.Disconnect{}) })
			return present
		}
		if try == 20 {
			t.Fatalf("%s connect to %s: %v", s.id, addr, err)
		}
		time.Sleep(500 * time.Millisecond) // a client's reconnect delay
	}
}

func (s *seqSub) try(ctx context.Context, addr string, first bool) (bool, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return false, err
	}
	s.c = paho.NewClient(paho.ClientConfig{Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			s.seen.add(pr.Packet.Topic, string(pr.Packet.Payload))
			return true, nil
		}}})
	cctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	se := uint32(600)
	ca, err := s.c.Connect(cctx, &paho.Connect{ClientID: s.id, CleanStart: first, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &se}})
	if err != nil {
		nc.Close()
		return false, err
	}
	return ca.SessionPresent, nil
}

// resume reconnects to addr without a clean start: the session must be
// there.
func (s *seqSub) resume(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	if !s.connect(t, ctx, addr, false) {
		t.Fatalf("%s: no session present on %s after its node was killed", s.id, addr)
	}
}

// pubConn is a clean paho publisher that remembers whether its connection
// failed.
type pubConn struct {
	*paho.Client
	mu  sync.Mutex
	err error
}

func (p *pubConn) connErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func connectPub(ctx context.Context, addr, id string) (*pubConn, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &pubConn{}
	p.Client = paho.NewClient(paho.ClientConfig{Conn: nc,
		OnClientError: func(err error) { p.mu.Lock(); p.err = err; p.mu.Unlock() },
		OnServerDisconnect: func(d *paho.Disconnect) {
			p.mu.Lock()
			p.err = fmt.Errorf("disconnect %#x", d.ReasonCode)
			p.mu.Unlock()
		}})
	cctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if _, err := p.Connect(cctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}); err != nil {
		return nil, fmt.Errorf("%s connect to %s: %w", id, addr, err)
	}
	return p, nil
}
