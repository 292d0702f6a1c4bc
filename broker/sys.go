package broker

import (
	"strconv"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
)

// Version is reported in $SYS/broker/version.
var Version = "mqttboard"

// sysLoop publishes the broker's figures ([Metrics.SysTopics]) as
// retained messages under $SYS/broker/ every Options.SysInterval, with
// the topics mosquitto uses where it has them, so existing dashboards
// work. Filters starting with a wildcard do not match
// them [MQTT-4.7.2-1].
func (s *Server) sysLoop() {
	if s.opts.SysInterval < 0 {
		return
	}
	t := time.NewTicker(s.opts.SysInterval)
	defer t.Stop()
	r := new(router)
	s.publishSys(r)
	for {
		select {
		case <-t.C:
			s.publishSys(r)
		case <-s.done:
			return
		}
	}
}

func (s *Server) publishSys(r *router) {
	m := s.Metrics()
	for _, kv := range append(m.SysTopics(), s.clusterSys()...) {
		s.route(&message.Message{Topic: "$SYS/broker/" + kv[0], Payload: []byte(kv[1]), Retain: true}, r)
	}
}

// SysTopics returns the topics under $SYS/broker/ and their payloads for
// m, as the broker publishes them: mosquitto's names where mosquitto has
// the figure (clients/total is, as in mosquitto, the sessions online and
// offline), mqttboard's for the rest. The REST API's /metrics renders the
// same [Metrics], so the two never disagree about one snapshot.
func (m *Metrics) SysTopics() [][2]string {
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	topics := [][2]string{
		{"version", Version},
		{"uptime", i(int64(m.Uptime.Seconds())) + " seconds"},
		{"clients/connected", i(int64(m.SessionsOnline))},
		{"clients/disconnected", i(int64(m.SessionsOffline))},
		{"clients/total", i(int64(m.SessionsOnline + m.SessionsOffline))},
		{"connections/total", i(m.ClientsTotal)},
		{"connections/open", i(int64(m.Connections))},
		{"messages/received", i(m.MessagesReceived)},
		{"messages/sent", i(m.MessagesSent)},
		{"messages/dropped", i(m.MessagesDropped)},
		{"messages/queued", i(m.Queued)},
		{"messages/inflight", i(m.Inflight)},
		{"bytes/received", i(m.BytesReceived)},
		{"bytes/sent", i(m.BytesSent)},
		{"subscriptions/count", i(int64(m.Subscriptions))},
		{"shared groups/count", i(int64(m.SharedGroups))},
		{"retained messages/count", i(int64(m.Retained))},
		{"retained messages/bytes", i(m.RetainedBytes)},
	}
	if m.HasStore {
		topics = append(topics, [2]string{"store/bytes", i(m.StoreBytes)})
	}
	return topics
}
