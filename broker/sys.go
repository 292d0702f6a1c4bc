package broker

import (
	"strconv"
	"time"

	"github.com/mqttboard/mqttboard/broker/message"
)

// Version is reported in $SYS/broker/version.
var Version = "mqttboard"

// sysLoop publishes the broker's counters as retained messages under
// $SYS/broker/ every Options.SysInterval, the topics mosquitto uses, so
// existing dashboards work. Filters starting with a wildcard do not match
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
	st := s.Stats()
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	for _, kv := range [...][2]string{
		{"version", Version},
		{"uptime", i(int64(time.Since(s.started).Seconds())) + " seconds"},
		{"clients/connected", i(st.ClientsConnected)},
		{"clients/total", i(st.ClientsTotal)},
		{"messages/received", i(st.MessagesReceived)},
		{"messages/sent", i(st.MessagesSent)},
		{"messages/dropped", i(st.MessagesDropped)},
		{"bytes/received", i(st.BytesReceived)},
		{"bytes/sent", i(st.BytesSent)},
		{"subscriptions/count", i(int64(st.Subscriptions))},
		{"retained messages/count", i(int64(st.Retained))},
	} {
		s.route(&message.Message{Topic: "$SYS/broker/" + kv[0], Payload: []byte(kv[1]), Retain: true}, r)
	}
}
