package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
	"github.com/mqttboard/mqttboard/broker/session"
	"github.com/mqttboard/mqttboard/broker/topics"
	"github.com/mqttboard/mqttboard/packet"
)

type nopConn struct{}

func (nopConn) Kick(packet.ReasonCode, string) {}
func (nopConn) Wake()                          {}

// BenchmarkRoute measures the per-message routing path alone: trie match,
// merge of overlapping subscriptions, and one enqueue per subscriber, with
// the subscribers' queues drained as a write loop would. allocs/op must not
// grow with the number of subscribers.
func BenchmarkRoute(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		for _, qos := range []packet.QoS{0, 1} {
			b.Run(fmt.Sprintf("subs=%d/qos=%d", n, qos), func(b *testing.B) {
				s := New(Options{})
				sessions := make([]*session.Session, n)
				for i := range sessions {
					sess := session.New(fmt.Sprint("s", i), uint64(i+1), session.Limits{MaxQueueBytes: 1 << 30, MaxInflightBytes: 1 << 30})
					sess.Attach(nopConn{})
					s.index.Add(&topics.Subscription{Subscriber: sess, Filter: "bench/+/temp", Topic: "bench/+/temp", QoS: 1})
					sessions[i] = sess
				}
				m := &message.Message{Topic: "bench/room/temp", Payload: make([]byte, 64), QoS: qos}
				var r router
				out := make([]session.Outgoing, 0, 64)
				now := time.Now()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					s.route(m, &r)
					if i%32 == 31 {
						b.StopTimer()
						for _, sess := range sessions {
							for more := true; more; {
								out, more = sess.Take(out[:0], 64, 65535, now)
								for _, o := range out {
									if o.PacketID != 0 {
										sess.Puback(o.PacketID)
									}
								}
							}
						}
						b.StartTimer()
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
			})
		}
	}
}

// BenchmarkRouteACL is BenchmarkRoute with an ACL: "#" subscribers of a
// client whose rules deny "secret/#" get each delivery's topic checked
// against their read rights (checked), while "bench/+/temp" subscribers,
// which the rules grant every topic of, are not checked per message
// (granted).
func BenchmarkRouteACL(b *testing.B) {
	acl := &ACL{Default: "allow", Rules: []ACLRule{{Action: "subscribe", Allow: false, Topics: []string{"secret/#"}}}}
	rights := acl.forClient("u", "c")
	for _, filter := range []string{"bench/+/temp", "#"} {
		name := map[string]string{"#": "checked", "bench/+/temp": "granted"}[filter]
		b.Run(fmt.Sprintf("%s/subs=100", name), func(b *testing.B) {
			s := New(Options{ACL: acl})
			sessions := make([]*session.Session, 100)
			for i := range sessions {
				sess := session.New(fmt.Sprint("s", i), uint64(i+1), session.Limits{MaxQueueBytes: 1 << 30, MaxInflightBytes: 1 << 30})
				sess.Attach(nopConn{})
				sub := &topics.Subscription{Subscriber: sess, Filter: filter, Topic: filter, QoS: 1}
				if rights.readChecked(filter) {
					sub.Cond = &condition{read: rights}
				}
				s.index.Add(sub)
				sessions[i] = sess
			}
			m := &message.Message{Topic: "bench/room/temp", Payload: make([]byte, 64)}
			var r router
			out := make([]session.Outgoing, 0, 64)
			now := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				s.route(m, &r)
				if i%32 == 31 {
					b.StopTimer()
					for _, sess := range sessions {
						for more := true; more; {
							out, more = sess.Take(out[:0], 64, 65535, now)
						}
					}
					b.StartTimer()
				}
			}
		})
	}
}
