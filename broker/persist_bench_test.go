//go:build linux

package broker

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/session"
	"github.com/mqttboard/mqttboard/broker/storage"
	"github.com/mqttboard/mqttboard/broker/topics"
	"github.com/mqttboard/mqttboard/packet"
)

// BenchmarkPersistDelivery is the whole life of a QoS 1 delivery to
// persistent sessions in one process, without sockets: route (stored
// queued), Take (sent), Puback (deleted), with the publisher waiting for
// its commit every 100 messages, as a window of 100 unacknowledged
// PUBLISHes would. cpu-ns/delivery is the process's CPU time (getrusage:
// every goroutine, the store's committer and the GC included) over the
// deliveries; "memory" is the same without a store. ack=early takes and
// acknowledges the 100 deliveries before waiting for their commit, so a
// put and its delete mostly meet in one group; ack=late waits first, so
// every delete comes in a later group than its put (as over sockets,
// where the subscriber's PUBACK follows the publisher's commit).
//
//	go test -run '^$' -bench PersistDelivery -benchtime 200000x ./broker/
func BenchmarkPersistDelivery(b *testing.B) {
	for _, subs := range []int{1, 10} {
		for _, engine := range []string{"memory", "batch", "never", "batch/ack=late"} {
			late := engine == "batch/ack=late"
			b.Run(fmt.Sprintf("subs=%d/%s", subs, engine), func(b *testing.B) {
				var st storage.Store
				switch engine {
				case "batch", "batch/ack=late":
					st = openBenchStore(b, storage.FsyncBatch)
				case "never":
					st = openBenchStore(b, storage.FsyncNever)
				}
				s := New(Options{Store: st})
				defer s.Close()
				sessions := make([]*session.Session, subs)
				for i := range sessions {
					sess := session.New(fmt.Sprint("s", i), uint64(i+1), session.Limits{MaxQueueBytes: 1 << 30, MaxInflightBytes: 1 << 30})
					if st != nil {
						sess.SetStore(st)
					}
					sess.Attach(nopConn{})
					s.index.Add(&topics.Subscription{Subscriber: sess, Filter: "bench/#", Topic: "bench/#", QoS: 1})
					sessions[i] = sess
				}
				var r router
				out := make([]session.Outgoing, 0, 128)
				var last *storage.Commit
				u0, s0 := rusage()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					m := &message.Message{Topic: "bench/1", Payload: make([]byte, 64), QoS: 1}
					s.stamp(m, time.Now())
					s.route(m, &r)
					if cs := r.takeCommits(); len(cs) > 0 {
						last = cs[len(cs)-1]
					}
					if i%100 == 99 {
						if late && last != nil {
							if err := last.Wait(context.Background()); err != nil {
								b.Fatal(err)
							}
						}
						for _, sess := range sessions {
							for more := true; more; {
								out, more = sess.Take(out[:0], 128, 65535, time.Now())
								for _, o := range out {
									sess.Puback(o.PacketID)
								}
							}
						}
						if last != nil {
							if err := last.Wait(context.Background()); err != nil {
								b.Fatal(err)
							}
						}
					}
				}
				b.StopTimer()
				u1, s1 := rusage()
				n := float64(b.N) * float64(subs)
				b.ReportMetric(float64(u1-u0+s1-s0)/n, "cpu-ns/delivery")
				b.ReportMetric(n/b.Elapsed().Seconds(), "deliveries/s")
			})
		}
	}
}

func openBenchStore(b *testing.B, mode storage.FsyncMode) storage.Store {
	st, err := storage.Open(b.TempDir(), storage.Options{Fsync: mode})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

func rusage() (user, sys int64) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano(), ru.Stime.Nano()
}

var _ = packet.QoS(0)
