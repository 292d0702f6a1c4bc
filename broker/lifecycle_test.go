package broker_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/internal/testproc"
	"github.com/mqttboard/mqttboard/packet"
)

// The resource tests run the broker in a child process (this test binary,
// re-executed with lifecycleChildEnv set) so that the RSS measured is the
// broker's alone, not the test clients'.
const lifecycleChildEnv = "MQTTBOARD_LIFECYCLE_CHILD"

// heavyEnv runs the resource tests at the full scale (20,000
// connections of each kind, a 30 s stalled subscriber); without it they run
// a smaller version that still fails on a leak.
const heavyEnv = "MQTTBOARD_HEAVY"

func heavy() bool { return os.Getenv(heavyEnv) != "" }

// TestLifecycleChild is the broker side of the resource tests; it does
// nothing unless started by [startChild]. It serves a broker with the
// options in the environment and answers "measure" lines on stdin with the
// broker's figures after a garbage collection.
func TestLifecycleChild(t *testing.T) {
	if os.Getenv(lifecycleChildEnv) == "" {
		t.Skip("the broker process of the resource tests")
	}
	var opts broker.Options
	opts.Listen = "127.0.0.1:0"
	opts.ShutdownLinger = 50 * time.Millisecond
	if v := os.Getenv("MQTTBOARD_MAX_QUEUE"); v != "" {
		opts.MaxQueueBytes, _ = strconv.Atoi(v)
		opts.MaxInflightBytes = opts.MaxQueueBytes
	}
	if os.Getenv("MQTTBOARD_LIFECYCLE_EVENTS") != "" {
		opts.OnEvent = func(e broker.Event) {
			if e.Kind != broker.EventDropped {
				fmt.Fprintf(os.Stderr, "event %v %s %v %s\n", e.Kind, e.ClientID, e.Reason, e.Detail)
			}
		}
	}
	if os.Getenv("MQTTBOARD_LIFECYCLE_LOGS") != "" {
		// The broker's warnings as "log ..." lines on stdout (see child.waitLog).
		opts.Logger = slog.New(slog.NewTextHandler(logLines{}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if v := os.Getenv("MQTTBOARD_NOFILE"); v != "" {
		setNoFile(t, v) // rlimit_test.go
	}
	srv := broker.New(opts)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { srv.Serve(ctx); close(served) }()
	fmt.Printf("addr %s\n", srv.Addr())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "measure":
			// Connections end asynchronously after the client's close:
			// wait (bounded) until the broker holds none.
			deadline := time.Now().Add(20 * time.Second)
			for srv.Stats().Connections > 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			fmt.Printf("measure %s\n", figures(srv))
		case "peek": // the same, with connections open
			fmt.Printf("measure %s\n", figures(srv))
		case "goroutines": // a failing test's evidence: what the broker was doing
			pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
			fmt.Printf("goroutines done\n")
		case "rusage": // the process's CPU time so far (bench_lowrate_test.go)
			user, sys := cpuNanos()
			fmt.Printf("rusage %d %d\n", user, sys)
		}
		// Wait (bounded) until the broker accepted every connection the
		// test opened, so that none is still in the kernel's accept queue
		// when the test closes them.
		if n, ok := strings.CutPrefix(sc.Text(), "accepted "); ok {
			want, _ := strconv.Atoi(n)
			deadline := time.Now().Add(20 * time.Second)
			for srv.Stats().Connections < want && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			fmt.Printf("accepted %d\n", srv.Stats().Connections)
		}
	}
	cancel()
	<-served
}

// logLines writes the child broker's log records to stdout, each line
// prefixed "log ". One Write is one record (slog's text handler).
type logLines struct{}

var stdoutMu sync.Mutex

func (logLines) Write(b []byte) (int, error) {
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	os.Stdout.Write(append([]byte("log "), b...))
	return len(b), nil
}

// waitLog reads the child's output until a log line containing text,
// bounded by 30 s.
func (c *child) waitLog(text string) {
	c.t.Helper()
	found := make(chan bool, 1)
	go func() {
		for c.out.Scan() {
			if l := c.out.Text(); strings.HasPrefix(l, "log ") && strings.Contains(l, text) {
				found <- true
				return
			}
		}
		found <- false
	}()
	select {
	case ok := <-found:
		if !ok {
			c.t.Fatal("broker process ended")
		}
	case <-time.After(30 * time.Second):
		c.t.Fatalf("the broker logged no %q in 30 s", text)
	}
}

func figures(srv *broker.Server) string {
	runtime.GC()
	debug.FreeOSMemory()
	st := srv.Stats()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return fmt.Sprintf("rss=%d goroutines=%d conns=%d heap=%d hwm=%d stats=%+v", procKB("VmRSS:"), runtime.NumGoroutine(), st.Connections, (ms.HeapInuse+ms.StackInuse)>>10, procKB("VmHWM:"), st)
}

// procKB is a figure of /proc/self/status in KiB (Linux), 0 elsewhere:
// VmRSS the resident set, VmHWM its peak.
func procKB(key string) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, key); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

type child struct {
	t    testing.TB
	addr string
	in   io.WriteCloser
	out  *bufio.Scanner
}

type measure struct {
	rssKB, goroutines, conns, heapKB, hwmKB int
	stats                                   string
}

func (m measure) String() string {
	return fmt.Sprintf("RSS %.1f MiB (peak %.1f), heap+stacks %.1f MiB, %d goroutines, %d connections",
		float64(m.rssKB)/1024, float64(m.hwmKB)/1024, float64(m.heapKB)/1024, m.goroutines, m.conns)
}

// startChild runs the broker process with env and returns its address.
func startChild(t testing.TB, env ...string) *child {
	t.Helper()
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("RSS is read from /proc/self/status (Linux)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := testproc.Tie(exec.Command(exe, "-test.run=^TestLifecycleChild$", "-test.v=false"))
	cmd.Env = append(append(os.Environ(), lifecycleChildEnv+"=1"), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, in: in, out: bufio.NewScanner(out)}
	t.Cleanup(func() {
		in.Close()
		go io.Copy(io.Discard, out)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("broker process: %v", err)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Errorf("broker process did not end")
		}
	})
	for c.out.Scan() {
		if a, ok := strings.CutPrefix(c.out.Text(), "addr "); ok {
			c.addr = a
			return c
		}
	}
	t.Fatal("broker process did not start")
	return nil
}

// accepted waits until the broker holds n connections.
func (c *child) accepted(n int) {
	c.t.Helper()
	fmt.Fprintf(c.in, "accepted %d\n", n)
	for c.out.Scan() {
		if v, ok := strings.CutPrefix(c.out.Text(), "accepted "); ok {
			if got, _ := strconv.Atoi(v); got < n {
				c.dumpGoroutines()
				c.t.Fatalf("broker accepted %d of %d connections", got, n)
			}
			return
		}
	}
	c.t.Fatal("broker process ended")
}

// dumpGoroutines has the broker process print its goroutines' stacks to
// stderr (the test's output), for a test about to fail.
func (c *child) dumpGoroutines() {
	fmt.Fprintln(c.in, "goroutines")
	for c.out.Scan() {
		if c.out.Text() == "goroutines done" {
			return
		}
	}
}

func (c *child) measure(cmd string) measure {
	c.t.Helper()
	fmt.Fprintln(c.in, cmd)
	for c.out.Scan() {
		if v, ok := strings.CutPrefix(c.out.Text(), "measure "); ok {
			var m measure
			fmt.Sscanf(v, "rss=%d goroutines=%d conns=%d heap=%d hwm=%d", &m.rssKB, &m.goroutines, &m.conns, &m.heapKB, &m.hwmKB)
			_, m.stats, _ = strings.Cut(v, "stats=")
			return m
		}
	}
	c.t.Fatal("broker process ended")
	return measure{}
}

// many runs f for n connections, at most width at once.
func many(t *testing.T, n, width int, f func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, width)
	var mu sync.Mutex
	var first error
	fails := 0
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := f(i); err != nil {
				mu.Lock()
				fails++
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if fails > 0 {
		t.Fatalf("%d of %d connections failed, first: %v", fails, n, first)
	}
}

// readToEnd reads until the broker closes, bounded by wait.
func readToEnd(nc net.Conn) error {
	nc.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, nc)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return fmt.Errorf("broker did not close the connection within %v", wait)
	}
	return nil
}

// TestLifecycleResources is the resource test: after many refused,
// half-open, stalled-after-CONNECT and normal connections, the broker is
// back to its baseline goroutines, connections and (within a margin for
// the runtime's own caches) RSS.
func TestLifecycleResources(t *testing.T) {
	n := 2000
	if heavy() {
		n = 20000
	} else if testing.Short() {
		n = 300
	}
	c := startChild(t)
	dial := func() (net.Conn, error) { return net.Dial("tcp", c.addr) }
	normal := func(i int) error {
		nc, err := dial()
		if err != nil {
			return err
		}
		defer nc.Close()
		b, _ := (&packet.Connect{ProtocolVersion: packet.V5, ClientID: fmt.Sprint("n", i), CleanStart: true, KeepAlive: 30}).AppendTo(nil, packet.V5)
		b, _ = (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "life/" + strconv.Itoa(i), QoS: 1}}}).AppendTo(b, packet.V5)
		b, _ = (&packet.Publish{Topic: "life/" + strconv.Itoa(i), QoS: 1, PacketID: 2, Payload: []byte("hello")}).AppendTo(b, packet.V5)
		if _, err := nc.Write(b); err != nil {
			return err
		}
		r := packet.NewReader(bufio.NewReader(nc))
		r.Version = packet.V5
		nc.SetReadDeadline(time.Now().Add(wait))
		for got := 0; got < 4; got++ { // CONNACK, SUBACK, PUBACK, PUBLISH
			if _, err := r.ReadPacket(); err != nil {
				return fmt.Errorf("normal connection: %v after %d packets", err, got)
			}
		}
		b, _ = (&packet.Disconnect{}).AppendTo(nil, packet.V5)
		nc.Write(b)
		return readToEnd(nc)
	}
	many(t, 200, 50, normal) // warm the pools and the runtime
	base := c.measure("measure")
	t.Logf("baseline: %v", base)
	check := func(what string, start time.Time) {
		t.Helper()
		m := c.measure("measure")
		t.Logf("after %d %s connections (%v): %v", n, what, time.Since(start).Round(time.Millisecond), m)
		if m.conns != 0 {
			t.Errorf("%s: broker still holds %d connections", what, m.conns)
		}
		if m.goroutines > base.goroutines+2 {
			t.Errorf("%s: %d goroutines, baseline %d", what, m.goroutines, base.goroutines)
		}
		// The runtime keeps some freed memory (stacks, spans): a margin
		// of 16 MiB, where a leak of 119 MB per 20,000 is 6 KB each.
		if m.heapKB > base.heapKB+8<<10 {
			t.Errorf("%s: heap and stacks %.1f MiB, baseline %.1f MiB", what, float64(m.heapKB)/1024, float64(base.heapKB)/1024)
		}
		if !raceEnabled && m.rssKB > base.rssKB+16<<10 {
			t.Errorf("%s: RSS %.1f MiB, baseline %.1f MiB", what, float64(m.rssKB)/1024, float64(base.rssKB)/1024)
		}
	}

	// Two rounds at full scale: what the runtime keeps after the first must
	// not grow in the second.
	rounds := 1
	if heavy() {
		rounds = 2
	}
	for round := range rounds {
		t.Logf("round %d", round+1)
		// Refused at CONNECT in each way: bad protocol name, bad protocol
		// level (CONNACK 0x01), malformed, and closed in the middle.
		badName := []byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'X', 4, 2, 0, 10, 0, 0}
		badLevel := []byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 9, 2, 0, 10, 0, 0}
		malformed := []byte{0x10, 3, 0, 0xff, 0xff}
		half := []byte{0x10, 40, 0, 4, 'M', 'Q', 'T', 'T'}
		start := time.Now()
		many(t, n, 100, func(i int) error {
			nc, err := dial()
			if err != nil {
				return err
			}
			defer nc.Close()
			switch i % 4 {
			case 0:
				nc.Write(badName)
			case 1:
				nc.Write(badLevel)
			case 2:
				nc.Write(malformed)
			case 3:
				nc.Write(half)
				return nil // closed early by the client
			}
			return readToEnd(nc)
		})
		check("refused", start)

		// Half-open: TCP connect and nothing, held open together, then
		// closed by the clients.
		start = time.Now()
		batch := min(n, 5000)
		for done := 0; done < n; done += batch {
			conns := make([]net.Conn, 0, batch)
			for range batch {
				nc, err := dial()
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, nc)
			}
			c.accepted(batch)
			for _, nc := range conns {
				nc.Close()
			}
		}
		check("half-open", start)

		// Stalled after CONNECT: CONNACK received, then nothing, held open
		// together; then closed by the clients.
		start = time.Now()
		for done := 0; done < n; done += batch {
			conns := make([]net.Conn, batch)
			many(t, batch, 100, func(i int) error {
				nc, err := dial()
				if err != nil {
					return err
				}
				conns[i] = nc
				b, _ := (&packet.Connect{ProtocolVersion: packet.V311, ClientID: fmt.Sprint("s", done+i), CleanStart: true, KeepAlive: 60}).AppendTo(nil, packet.V311)
				nc.Write(b)
				nc.SetReadDeadline(time.Now().Add(wait))
				var ack [4]byte
				_, err = io.ReadFull(nc, ack[:])
				return err
			})
			for _, nc := range conns {
				nc.Close()
			}
		}
		check("stalled", start)

		start = time.Now()
		many(t, n, 100, normal)
		check("normal", start)
	}

	// Item 6: 16 sockets streaming into CONNECTs that announce 60 MB (under
	// the packet size limit) and never finish (1.45 GB RSS before CONNECT
	// had its own limit): each is closed at its header, and the peak RSS
	// stays low.
	start := time.Now()
	junk := make([]byte, 64<<10)
	many(t, 16, 16, func(int) error {
		nc, err := dial()
		if err != nil {
			return err
		}
		defer nc.Close()
		nc.Write([]byte{0x10, 0x80, 0x80, 0x80, 0x1e, 0, 4, 'M', 'Q', 'T', 'T', 5}) // 60 MB announced
		deadline := time.Now().Add(wait)
		for sent := 0; sent < 32<<20; sent += len(junk) {
			nc.SetWriteDeadline(deadline)
			if _, err := nc.Write(junk); err != nil {
				return nil // closed by the broker
			}
		}
		return fmt.Errorf("the broker read 32 MB of one CONNECT")
	})
	m := c.measure("measure")
	t.Logf("after 16 streaming CONNECTs (%v): %v", time.Since(start).Round(time.Millisecond), m)
	if m.conns != 0 {
		t.Errorf("streaming CONNECTs: %d connections held", m.conns)
	}
	if !raceEnabled && m.hwmKB > base.hwmKB+64<<10 {
		t.Errorf("streaming CONNECTs: peak RSS %.1f MiB", float64(m.hwmKB)/1024)
	}
}

// TestStalledSubscriber is the slow consumer: a QoS 1 subscriber
// that stops reading its socket while two publishers send QoS 1 as fast as
// they can, with max_queue_bytes and max_inflight_bytes of 1 MB. The broker
// cuts the subscriber off (its socket closed, whatever it had unsent), its
// memory stays bounded by the limits (it reached 850 MB in 10 s), and
// every publisher's message is acknowledged.
func TestStalledSubscriber(t *testing.T) {
	d := 3 * time.Second
	if heavy() {
		d = 30 * time.Second
	} else if testing.Short() {
		d = time.Second
	}
	c := startChild(t, "MQTTBOARD_MAX_QUEUE=1048576")
	base := c.measure("measure")
	t.Logf("baseline: %v", base)

	sub, err := net.Dial("tcp", c.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	b, _ := (&packet.Connect{ProtocolVersion: packet.V5, ClientID: "stalled", Props: packet.Properties{SessionExpiry: 300}}).AppendTo(nil, packet.V5)
	b, _ = (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "flood/#", QoS: 1}}}).AppendTo(b, packet.V5)
	sub.Write(b)
	sr := packet.NewReader(bufio.NewReaderSize(sub, 16))
	sr.Version = packet.V5
	sub.SetReadDeadline(time.Now().Add(wait))
	for range 2 { // CONNACK, SUBACK; then the subscriber never reads again
		if _, err := sr.ReadPacket(); err != nil {
			t.Fatal(err)
		}
	}

	type publisher struct {
		nc    net.Conn
		sent  int
		acked chan int // PUBACKs counted when PINGRESP came back
		end   error    // what ended its reading, read after acked closed
		first packet.Packet
	}
	pubs := make([]*publisher, 2)
	payload := make([]byte, 1024)
	for i := range pubs {
		nc, err := net.Dial("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		p := &publisher{nc: nc, acked: make(chan int, 1)}
		pubs[i] = p
		b, _ := (&packet.Connect{ProtocolVersion: packet.V5, ClientID: fmt.Sprint("flood", i), CleanStart: true}).AppendTo(nil, packet.V5)
		nc.Write(b)
		go func() {
			r := packet.NewReader(bufio.NewReader(nc))
			r.Version = packet.V5
			nc.SetReadDeadline(time.Now().Add(d + 2*wait))
			n := 0
			for {
				pk, err := r.ReadPacket()
				if err != nil {
					p.end = err
					break
				}
				if p.first == nil {
					p.first = pk
				}
				switch pk.(type) {
				case *packet.Puback:
					n++
				case *packet.Pingresp:
					p.acked <- n // the broker answers in order: every PUBACK came first
				}
			}
			close(p.acked)
		}()
	}
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for i, p := range pubs {
		wg.Go(func() {
			var batch []byte
			id := uint16(0)
			for time.Now().Before(stop) {
				batch = batch[:0]
				for range 64 {
					id++
					if id == 0 {
						id = 1
					}
					batch, _ = (&packet.Publish{Topic: fmt.Sprint("flood/", i), QoS: 1, PacketID: id, Payload: payload}).AppendTo(batch, packet.V5)
				}
				p.nc.SetWriteDeadline(time.Now().Add(wait))
				if _, err := p.nc.Write(batch); err != nil {
					t.Errorf("publisher %d blocked or refused: %v", i, err)
					return
				}
				p.sent += 64
			}
		})
	}
	wg.Wait()
	for i, p := range pubs {
		b, _ := (&packet.Pingreq{}).AppendTo(nil, packet.V5)
		p.nc.Write(b)
		if n := brokertest.Recv(t, p.acked, 2*wait); n != p.sent {
			c.dumpGoroutines()
			for range p.acked { // until the reader ends (its deadline bounds it): then p.first and p.end are set
			}
			t.Fatalf("publisher %d: %d of %d messages acknowledged (its first packet %v, its reading ended by %v)", i, n, p.sent, p.first, p.end)
		}
		t.Logf("publisher %d: %d QoS 1 messages sent and acknowledged", i, p.sent)
	}
	m := c.measure("peek")
	t.Logf("after %v of flooding a stalled subscriber: %v; broker %s", d, m, m.stats)
	if !raceEnabled && m.hwmKB > 96<<10 {
		t.Errorf("peak RSS %.1f MiB with 1 MB limits", float64(m.hwmKB)/1024)
	}
	if m.heapKB > base.heapKB+16<<10 {
		t.Errorf("heap and stacks %.1f MiB, baseline %.1f MiB", float64(m.heapKB)/1024, float64(base.heapKB)/1024)
	}
	// The subscriber was cut off: what the kernel holds for it, then the
	// end of the connection.
	sub.SetReadDeadline(time.Now().Add(wait))
	if n, err := io.Copy(io.Discard, sub); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the stalled subscriber's connection is still open (%d bytes read)", n)
		}
	}
}
