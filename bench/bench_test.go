package bench

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker/brokertest"
	"github.com/mqttboard/mqttboard/client/clienttest"
	"github.com/mqttboard/mqttboard/packet"
)

// The generator must count exactly: every QoS 1 delivery arrives once, in
// every scenario, on our broker and on mosquitto.

func checkRun(t *testing.T, addr string) {
	for _, sc := range []Scenario{FanOut, FanIn, Pairs} {
		for _, v := range []packet.Version{packet.V311, packet.V5} {
			t.Run(fmt.Sprintf("%s-v%s", sc, v), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				res, err := Run(ctx, Config{Addr: addr, Version: v, Scenario: sc, Publishers: 3, Subscribers: 3,
					QoS: 1, Duration: 200 * time.Millisecond, Rate: 3000, Drain: 10 * time.Second,
					Prefix: fmt.Sprintf("t%d", time.Now().UnixNano())})
				if err != nil {
					t.Fatal(err)
				}
				if res.Sent == 0 || res.Delivered != res.Expected || res.Lost() != 0 || res.Dups != 0 {
					t.Fatalf("%s", res)
				}
				if want := res.Sent * uint64(map[Scenario]int{FanOut: 3, FanIn: 3, Pairs: 1}[sc]); res.Expected != want {
					t.Fatalf("expected %d deliveries, want %d", res.Expected, want)
				}
				if res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 {
					t.Fatalf("latencies out of order: %s", res)
				}
				// At a rate on Linux every delivery's arrival is
				// timestamped, before its read.
				if runtime.GOOS == "linux" {
					if all := res.Delivered + res.Dups; res.Arrived != all {
						t.Fatalf("%d arrivals timestamped of %d deliveries", res.Arrived, all)
					}
					if res.ArrP50 <= 0 || res.ArrMax > res.Max {
						t.Fatalf("arrival p50 %v max %v against read %s", res.ArrP50, res.ArrMax, res)
					}
				}
			})
		}
	}
}

func TestRunOurBroker(t *testing.T) { checkRun(t, brokertest.Start(t)) }

func TestRunMosquitto(t *testing.T) { checkRun(t, clienttest.Start(t, clienttest.Config{}).Addr) }

func TestHistogram(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}} {
		got := h.quantile(tc.q)
		if got < tc.want || float64(got) > float64(tc.want)*1.05 {
			t.Errorf("quantile(%v) = %v, want %v within 5%%", tc.q, got, tc.want)
		}
	}
	if h.quantile(1) != time.Millisecond || h.max != time.Millisecond {
		t.Errorf("max %v / q1 %v, want 1ms", h.max, h.quantile(1))
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{Scenario: "nope"}, {Scenario: Pairs, Publishers: 2, Subscribers: 3}, {Size: 8}, {QoS: 2},
	} {
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

// TestStagger: with Stagger, publisher i of n starts i/n of its interval
// late, so their messages interleave one at a time; without it, all start
// together (the bursts of issue 17's synchronised runs). A staggered run
// still counts exactly.
func TestStagger(t *testing.T) {
	now := time.Unix(1000, 0)
	c := Config{Publishers: 4, Stagger: true}
	for i, want := range []time.Duration{0, 25, 50, 75} {
		if got := c.firstAt(now, i, 100*time.Millisecond).Sub(now); got != want*time.Millisecond {
			t.Errorf("publisher %d starts %v late, want %v", i, got, want*time.Millisecond)
		}
	}
	c.Stagger = false
	if got := c.firstAt(now, 3, 100*time.Millisecond); !got.Equal(now) {
		t.Errorf("without stagger publisher 3 starts %v late", got.Sub(now))
	}
	c.Stagger = true
	if got := c.firstAt(now, 3, 0); !got.Equal(now) {
		t.Errorf("unpaced: publisher 3 starts %v late", got.Sub(now))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, Config{Addr: brokertest.Start(t), Scenario: Pairs, Publishers: 4, Subscribers: 4, QoS: 1,
		Duration: 200 * time.Millisecond, Rate: 400, Stagger: true, Drain: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent == 0 || res.Delivered != res.Expected || res.Lost() != 0 || res.Dups != 0 {
		t.Fatalf("%s", res)
	}
}
