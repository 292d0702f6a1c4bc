package tui

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
	"github.com/mqttboard/mqttboard/tui/conn"
)

func benchMessages(n int) []*client.MessageEvent {
	out := make([]*client.MessageEvent, n)
	for i := range out {
		e := &client.MessageEvent{Time: t0.Add(time.Duration(i) * time.Microsecond)}
		e.Topic = fmt.Sprintf("bench/sensor/%d", i%50)
		e.QoS = 1
		e.Payload = fmt.Appendf(nil, `{"v": %d}`, i)
		e.Props.User = []packet.UserProperty{{Key: "k", Value: "v"}}
		out[i] = e
	}
	return out
}

// BenchmarkFrame1000 measures one frame in which 1,000 new messages arrived
// on one connection (10,000 msg/s at 10 frames/s, three times the real
// 30 Hz load): drain the ring, update every pane, render the screen at
// 120×40. 100,000 messages are fed in all, so the history is full and
// dropping.
func BenchmarkFrame1000(b *testing.B) {
	m := fixture(b, 120, 40)
	cn := m.Set().List[0]
	cn.SetTracing(false)
	msgs := benchMessages(100_000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		base := (i * 1000) % len(msgs)
		for _, e := range msgs[base : base+1000] {
			cn.Push(e)
		}
		m.Frame(t0)
		_ = m.View()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/frame")
}

// TestSustained10kPerSecond pushes 10,000 messages/s through a real
// connection to the bundled broker for three seconds while the frame path
// runs at 30 Hz, and reports frame times and heap. It asserts only that the
// history stays bounded, never a time: the numbers are for BENCHMARKS.md.
func TestSustained10kPerSecond(t *testing.T) {
	if testing.Short() {
		t.Skip("3 s load test")
	}
	m := New(Options{NoFrameTick: true})
	t.Cleanup(m.Close)
	cn := m.Set().List[0]
	cn.Subs[0].Filter = "load/#"
	connectNow(t, m, cn)

	pub, err := client.New(client.Options{URL: cn.Profile.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	done := make(chan int)
	go func() {
		sent := 0
		payload := []byte(`{"v": 1}`)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		end := time.Now().Add(3 * time.Second)
		for now := range tick.C {
			if now.After(end) {
				break
			}
			for range 100 { // 100 per 10 ms = 10,000/s
				pub.Publish(t.Context(), &client.Message{Topic: "load/a", Payload: payload})
				sent++
			}
		}
		done <- sent
	}()
	var worst, total time.Duration
	frames := 0
	var ms runtime.MemStats
	var heapMax uint64
	frame := time.NewTicker(FrameInterval)
	defer frame.Stop()
	var sent int
loop:
	for {
		select {
		case sent = <-done:
			break loop
		case now := <-frame.C:
			start := time.Now()
			m.Frame(now)
			_ = m.View()
			d := time.Since(start)
			total += d
			worst = max(worst, d)
			frames++
			if frames%30 == 0 {
				runtime.ReadMemStats(&ms)
				heapMax = max(heapMax, ms.HeapAlloc)
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for cn.Received+cn.RingDrops < uint64(sent) && time.Now().Before(deadline) {
		m.Frame(<-frame.C) // drain on the board's own frame tick
	}
	t.Logf("sent %d in 3 s; received %d, history %d (dropped from history %d, ring drops %d); %d frames, mean %v, worst %v; heap max %.1f MiB",
		sent, cn.Received, cn.Messages.Len(), cn.Messages.Dropped, cn.RingDrops, frames, total/time.Duration(max(frames, 1)), worst, float64(heapMax)/(1<<20))
	if cn.Messages.Len() > conn.HistorySize {
		t.Fatalf("history %d > %d", cn.Messages.Len(), conn.HistorySize)
	}
}

// connectNow connects c and subscribes it outside a tea.Program, running
// the commands the board would run.
func connectNow(t *testing.T, m *Model, c *conn.Conn) {
	t.Helper()
	m.Update(m.connect(c)())
	for _, cmd := range c.ResubscribeCmds() {
		m.Update(cmd())
	}
	if c.Status != conn.Connected || c.Subs[0].Pending {
		t.Fatalf("connect: %v %s", c.Status, c.Err)
	}
}
