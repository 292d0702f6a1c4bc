package session

import "github.com/mqttboard/mqttboard/packet"

// Outbound reports the state of the broker-to-client delivery with packet
// identifier id: its QoS and, for QoS 2, whether the client's PUBREC came
// (a PUBREL is owed until PUBCOMP). ok is false when no delivery has that
// identifier. The connection uses it to tell an acknowledgement of the
// wrong type for the flow (a protocol error) from a late or stray one.
func (s *Session) Outbound(id uint16) (qos packet.QoS, released, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return 0, false, false
	}
	f, ok := s.f.inflight[id]
	return f.QoS, f.released, ok
}
